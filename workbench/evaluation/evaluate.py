"""``evaluate``: generate every held-out prompt with a model and score the clips against the real
held-out clips: classifier accuracy, FD, KL and IS, and text-audio similarity under an independent CLAP."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from audioldm_daw.engine import Engine, GenerateRequest
from audioldm_daw.engine.decode import TorchDecoder
from audioldm_daw.workbench.evaluation.classifier import Classifier
from audioldm_daw.workbench.evaluation.metrics import frechet_distance, inception_score, mean_kl


class MelRecorder(TorchDecoder):
    """The torch decoder, keeping each log-mel it hands the vocoder (one clip per decode in plain generation)."""

    def __init__(self, vae: torch.nn.Module, vocoder: torch.nn.Module) -> None:
        super().__init__(vae, vocoder, graphs=False)  # a replayed graph would not call mel() again
        self.mels: list[torch.Tensor] = []

    def mel(self, latents: torch.Tensor) -> torch.Tensor:
        mel = super().mel(latents)
        self.mels.extend(m.float().cpu() for m in mel)
        return mel


def read_prompts(path: Path) -> list[dict[str, Any]]:
    """JSON lines with at least ``prompt`` and ``category`` (``file``: the real clip, for FD/KL)."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    for i, r in enumerate(rows):
        if "prompt" not in r or "category" not in r:
            raise ValueError(f"{path}: line {i + 1} needs 'prompt' and 'category'")
    return rows


@torch.no_grad()
def clap_similarity(clap_dir: Path, waves: list[np.ndarray], prompts: list[str], sr: int = 16000) -> list[float]:
    """Cosine similarity of each clip to its prompt under the CLAP in ``clap_dir``, embedded exactly as the
    engine embeds audio and text (:mod:`audioldm_daw.engine.clap`, features in float64)."""
    from audioldm_daw.engine.clap import ClapAudioFeatures, embed_audio, embed_text
    from audioldm_daw.workbench.training.components import load_clap

    clap, tok, fe = load_clap(clap_dir)
    clap.eval()
    features = ClapAudioFeatures(fe, torch.float64)
    out: list[float] = []
    for i in range(0, len(waves), 16):
        chunk = [torch.as_tensor(np.asarray(w, dtype=np.float32)) for w in waves[i : i + 16]]
        a = embed_audio(clap, features, chunk, sr)
        t = embed_text(clap, tok, prompts[i : i + 16]).float()
        out.extend(float(s) for s in (a * t).sum(-1))
    return out


def evaluate(
    model: str | Path,
    prompts_file: Path,
    classifier: Classifier,
    *,
    data: Path | None = None,
    eval_clap: Path | None = None,
    steps: int = 50,
    guidance: float = 2.5,
    seed: int = 0,
    duration: float = 5.12,
    limit: int | None = None,
    device: str | None = None,
    save_dir: Path | None = None,
    vocoder: str = "auto",
) -> dict[str, Any]:
    """Metrics for one model on the held-out prompts (clips optionally saved to ``save_dir``), decoded with the
    ``vocoder`` the engine would use (``auto``: the model folder's choice)."""
    rows = read_prompts(prompts_file)[:limit]
    recorder: list[MelRecorder] = []

    def record(m: Any) -> MelRecorder:
        recorder.append(MelRecorder(m.vae, m.vocoder))
        return recorder[0]

    engine = Engine.load(model, device=device, decoder_factory=record, vocoder=vocoder)
    sr = engine.model.sampling_rate
    gen = []
    for i, r in enumerate(rows):
        req = GenerateRequest(
            r["prompt"],
            duration=duration,
            steps=steps,
            guidance=guidance,
            seed=seed + i,
            sample_rate=sr,
            normalize_db=None,
        )
        gen.append(engine.generate(req).audio)
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            sf.write(save_dir / f"{i:03d}-{r['category']}.wav", gen[-1], sr)
    emb, probs = classifier.embed(gen)
    labels = classifier.labels
    hits = [labels[k] == r["category"] for k, r in zip(probs.argmax(1), rows, strict=True)]
    _, mel_probs = classifier.embed_mels(recorder[0].mels)
    mel_hits = [labels[k] == r["category"] for k, r in zip(mel_probs.argmax(1), rows, strict=True)]
    per_cat: dict[str, list[bool]] = defaultdict(list)
    for h, r in zip(hits, rows, strict=True):
        per_cat[r["category"]].append(h)
    report: dict[str, Any] = {
        "model": str(model),
        "vocoder": engine.model.vocoder_name,
        "prompts": len(rows),
        "steps": steps,
        "guidance": guidance,
        "accuracy": float(np.mean(hits)),
        "accuracy_per_category": {c: float(np.mean(v)) for c, v in sorted(per_cat.items())},
        # The classifier on the VAE's decoded mels, before the vocoder: what a perfect vocoder would score.
        # Far above ``accuracy`` means the vocoder, not the diffusion model, loses the category.
        "accuracy_decoded_mel": float(np.mean(mel_hits)),
        "inception_score": inception_score(probs),
    }
    if data is not None and all("file" in r for r in rows):
        real = [sf.read(Path(data) / r["file"], dtype="float32")[0] for r in rows]
        real_emb, real_probs = classifier.embed(real)
        report["fd"] = frechet_distance(emb, real_emb)
        report["kl"] = mean_kl(real_probs, probs)
    if eval_clap is not None:
        report["clap_score"] = float(np.mean(clap_similarity(eval_clap, gen, [r["prompt"] for r in rows], sr)))
    return report
