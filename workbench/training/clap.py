"""Stage ``clap``: contrastive text-audio training of a transformers ClapModel on (audio, caption) pairs.

Any size down to the tiny test configs (the preset's text and HTSAT audio towers). The tokenizer is a
byte-level BPE trained on the captions (or given with ``tokenizer``), padded as every CLAP text is
(:func:`audioldm_daw.engine.clap.tokenize`). Audio is a seeded random window of up to the feature extractor's
``max_length_s``, resampled to 48 kHz and featurised in torch, in float32, on the training device
(:mod:`audioldm_daw.engine.clap`); clips that fit the window whole are featurised once and cached. The loss
is the symmetric InfoNCE of CLIP/CLAP over the batch: transformers' ``return_loss`` averages the text->audio
direction twice, so it is computed here from the logits.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from audioldm_daw.engine.architecture import PRESETS, SAMPLE_RATE, build_clap, clap_feature_extractor, train_tokenizer
from audioldm_daw.engine.clap import ClapAudioFeatures, audio_features, tokenize
from audioldm_daw.workbench.training.data import BatchPlan, DataError, crop_start, load_folder
from audioldm_daw.workbench.training.loop import OptimGroup, Stage, TrainConfig, UpdateFn

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp: keeps the temperature from running away


@dataclass
class ClapOptions:
    """``tokenizer``: an existing tokenizer folder to reuse instead of training one on the captions.

    ``text_noise``: for each word of a caption, the chance that it is dropped and the chance that an
    unknown made-up word is inserted after it, drawn afresh at every visit. With a few hundred distinct
    phrasings a text tower learns exact strings; prompts then bring words it never saw, which a BPE
    splits into unfamiliar fragments that pull the embedding off. Training through such noise teaches it
    to rest on the words it knows.
    """

    tokenizer: Path | None = None
    vocab_size: int = 1000
    text_noise: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.text_noise < 0.5:
            raise ValueError("text_noise: expected 0 <= p < 0.5")


LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def noisy_caption(caption: str, p: float, rng: np.random.Generator) -> str:
    """``caption`` with each word dropped with chance ``p`` and a made-up word inserted after it with chance
    ``p`` (never empty: the first word stays when all would go)."""
    words = caption.split()
    out: list[str] = []
    for w in words:
        if rng.random() >= p:
            out.append(w)
        if rng.random() < p:
            out.append("".join(rng.choice(LETTERS, size=int(rng.integers(3, 9)))))
    return " ".join(out) if out else words[0]


def symmetric_contrastive_loss(logits_per_audio: torch.Tensor, logits_per_text: torch.Tensor) -> torch.Tensor:
    """Mean of audio->text and text->audio cross-entropy with the diagonal as targets."""
    target = torch.arange(len(logits_per_audio), device=logits_per_audio.device)
    return 0.5 * (F.cross_entropy(logits_per_audio.float(), target) + F.cross_entropy(logits_per_text.float(), target))


class ClapStage(Stage):
    name = "clap"
    default_lr = 3e-4

    def __init__(self, options: ClapOptions | None = None) -> None:
        super().__init__()
        self.opt = options or ClapOptions()

    def setup(self, acc: Any, cfg: TrainConfig) -> None:
        from transformers import AutoTokenizer

        if cfg.data is None:
            raise ValueError("clap: --data is required")
        arch = PRESETS[cfg.preset]
        folder = load_folder(cfg.data, cfg.cache, cfg.captions, quiet=cfg.quiet, exclude=[cfg.out])
        self.items = [i for i, c in enumerate(folder.caption_sets) if c]
        if len(self.items) < 2:
            raise DataError(
                f"clap: needs captioned audio (metadata.jsonl or captions.csv beside the files, or --captions); "
                f"found {len(self.items)} captioned of {len(folder)} clips"
            )
        self.folder = folder
        self.uncaptioned = len(folder) - len(self.items)
        tok_dir = cfg.out / "tokenizer"
        if self.opt.tokenizer is not None:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.opt.tokenizer))
        elif cfg.resume and (tok_dir / "tokenizer_config.json").is_file():
            self.tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        else:
            words = " ".join(c for i in self.items for c in folder.caption_sets[i]).split()
            self.tokenizer = train_tokenizer(tok_dir, words, arch.max_tokens, self.opt.vocab_size)
        self.fe = clap_feature_extractor(arch)
        self.features = ClapAudioFeatures(self.fe).to(acc.device)
        self.max_samples = int(self.fe.max_length_s * SAMPLE_RATE)
        # Every caption of every item, tokenised once; item k's captions are rows first[k] .. first[k+1]-1.
        self.captions = [c for i in self.items for c in folder.caption_sets[i]]
        self.first = np.cumsum([0] + [len(folder.caption_sets[i]) for i in self.items])
        self.input_ids, self.attention = self._tokenize(self.captions)
        self._cache_whole_clip_features(cfg.cache, cfg.quiet)
        self.plan = BatchPlan(len(self.items), cfg.batch_size, cfg.seed, acc.num_processes, acc.process_index)
        self.models = {"clap": build_clap(arch, len(self.tokenizer))}
        self.groups = {"main": OptimGroup(["clap"], betas=(0.9, 0.98))}

    def _tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask), padded to the tokenizer's fixed length so every batch has one shape."""
        tok = tokenize(self.tokenizer, texts)
        return tok.input_ids, tok.attention_mask

    @torch.no_grad()
    def _cache_whole_clip_features(self, cache: Path, quiet: bool) -> None:
        """Clips no longer than CLAP's window are featurised whole at every visit: do it once, on disk.

        Longer clips get a fresh random window per visit and are featurised in the step.
        """
        from tqdm import tqdm

        short = [k for k, i in enumerate(self.items) if self.folder.lengths[i] <= self.max_samples]
        self.row = {k: r for r, k in enumerate(short)}
        self.cached: np.ndarray | None = None
        if not short:
            return
        audio_key = json.loads((cache / "audio.json").read_text())["key"]
        key = hashlib.sha256(f"{audio_key}|{self.fe.to_json_string()}|{short}".encode()).hexdigest()[:16]
        data, meta = cache / f"clap-{key}.f32", cache / f"clap-{key}.json"
        if not meta.is_file():
            tmp = data.with_suffix(f".{os.getpid()}.tmp")
            shape: list[int] = []
            with tmp.open("wb") as f:
                chunks = range(0, len(short), 16)
                for b in tqdm(chunks, desc="CLAP features", disable=quiet or len(chunks) < 4, leave=False):
                    waves = [self._wave(short[j]) for j in range(b, min(b + 16, len(short)))]
                    feats = audio_features(self.features, waves, SAMPLE_RATE)["input_features"]
                    shape = list(feats.shape[1:])
                    f.write(feats.cpu().numpy().astype(np.float32).tobytes())
            os.replace(tmp, data)
            meta.write_text(json.dumps({"shape": [len(short), *shape]}))
        shape = json.loads(meta.read_text())["shape"]
        self.cached = np.memmap(data, dtype=np.float32, mode="r", shape=tuple(shape))

    def _wave(self, k: int, rng: np.random.Generator | None = None) -> torch.Tensor:
        w = self.folder.wave(self.items[k])
        s = crop_start(len(w), self.max_samples, rng) if rng is not None else 0
        return torch.from_numpy(np.array(w[s : s + self.max_samples])).to(self.acc.device)

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        rng = self.plan.rng(step)
        idx = self.plan.items(step)
        dev = self.acc.device
        rows: list[torch.Tensor | None] = [None] * len(idx)
        longer = torch.zeros(len(idx), 1, dtype=torch.bool)
        fresh = []
        for j, k in enumerate(idx):
            if k in self.row and self.cached is not None:
                rows[j] = torch.from_numpy(np.array(self.cached[self.row[k]]))
            else:
                fresh.append((j, self._wave(k, rng)))
        if fresh:
            with torch.no_grad():
                feats = audio_features(self.features, [w for _, w in fresh], SAMPLE_RATE)
            for (j, _), f, lg in zip(fresh, feats["input_features"], feats["is_longer"], strict=True):
                rows[j], longer[j] = f, lg
        # One caption per item: the only one, or one drawn from this step's generator.
        n_caps = self.first[np.asarray(idx) + 1] - self.first[idx]
        pick = [int(self.first[k]) + (int(rng.integers(n)) if n > 1 else 0) for k, n in zip(idx, n_caps, strict=True)]
        if self.opt.text_noise > 0:
            ids, mask = self._tokenize([noisy_caption(self.captions[r], self.opt.text_noise, rng) for r in pick])
        else:
            ids, mask = self.input_ids[pick], self.attention[pick]
        return {
            "input_ids": ids.to(dev),
            "attention_mask": mask.to(dev),
            "input_features": torch.stack([r.to(dev) for r in rows if r is not None]),
            "is_longer": longer.to(dev),
        }

    def train_step(self, batch: dict[str, torch.Tensor], step: int, update: UpdateFn) -> dict[str, float]:
        out = self.models["clap"](**batch)
        loss = symmetric_contrastive_loss(out.logits_per_audio, out.logits_per_text)
        update("main", loss)
        model = self.acc.unwrap_model(self.models["clap"])
        with torch.no_grad():
            model.logit_scale_a.clamp_(0, MAX_LOGIT_SCALE)
            model.logit_scale_t.clamp_(0, MAX_LOGIT_SCALE)
            acc = out.logits_per_audio.argmax(1) == torch.arange(len(out.logits_per_audio), device=loss.device)
        return {"loss": loss.item(), "a2t_acc": acc.float().mean().item()}

    def export(self, acc: Any, cfg: TrainConfig) -> dict[str, Any]:
        clap = acc.unwrap_model(self.models["clap"])
        d = cfg.out / "clap"
        clap.save_pretrained(d)
        self.tokenizer.save_pretrained(str(d))
        self.fe.save_pretrained(str(d))
        self.tokenizer.save_pretrained(str(cfg.out / "tokenizer"))
        return {"clap": str(d), "captioned_clips": len(self.items), "uncaptioned_clips": self.uncaptioned}
