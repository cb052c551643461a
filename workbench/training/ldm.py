"""Stage ``ldm``: diffusers UNet2DConditionModel on VAE latents, conditioned on CLAP embeddings.

The paper's recipe: the condition of each training crop is the CLAP *audio* embedding of that crop (48 kHz,
L2-normalised), fed as the UNet's projected class embedding concatenated to the time embedding (FiLM); it
is replaced by the embedding of the empty text ``""`` 10% of the time, which is the unconditional branch at
sampling time; epsilon prediction under the 1000-step scaled-linear schedule 0.0015..0.0195.
``condition="text"`` trains on the CLAP text embedding of the caption instead, for comparison.

``prediction="v_prediction"`` trains the UNet to predict v = sqrt(a) eps - sqrt(1 - a) z0 instead of eps. This
schedule ends at a signal-to-noise ratio of 1.4e-4, where an epsilon model's error reaches the clean-latent
estimate multiplied by sqrt((1 - a) / a), about 80 at the last step: a small model on a small budget then
samples latents several times too loud (on the bundled recipe their spread is a multiple of the data's and the
categories are lost). v carries the clean latent itself at high noise, so its error is not amplified.
The choice travels with the UNet: the run writes ``scheduler/scheduler_config.json`` with its
``prediction_type`` and assembling copies it into the model folder, which the engine's schedulers read.
``snr_gamma`` weights the loss by min-SNR-gamma (Hang et al. 2023), which speeds convergence.

Everything frozen is computed once per dataset, exactly: the crops are fixed windows per clip (one per
clip when clips are no longer than the crop, as in the bundled dataset), and for each the VAE posterior
(mean, std) and the condition embedding are cached in the run folder. A step then draws a latent from the
cached posterior, noise and a timestep, and runs only the UNet.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from audioldm_daw.engine.architecture import (
    HOP,
    MEL_BINS,
    PRESETS,
    SAMPLE_RATE,
    SCHEDULER_CONFIG,
    build_unet,
    write_scheduler_config,
)
from audioldm_daw.engine.clap import ClapAudioFeatures, embed_audio, embed_text
from audioldm_daw.engine.geometry import Geometry
from audioldm_daw.engine.mel import log_mel
from audioldm_daw.workbench.training.components import (
    ComponentError,
    component_dir,
    load_clap,
    load_tokenizer,
    load_unet,
    load_vae,
)
from audioldm_daw.workbench.training.data import BatchPlan, DataError, fit, load_folder, plan_segments
from audioldm_daw.workbench.training.loop import OptimGroup, Stage, TrainConfig, UpdateFn

CONDITIONS = ("audio", "text")
PREDICTIONS = ("epsilon", "v_prediction")
PRECOMPUTE_BATCH = 8


@dataclass
class LdmOptions:
    """Inputs and recipe of the LDM stage.

    ``vae``/``clap``: run or model folders (see :mod:`.components`). ``init_unet``: start from these weights
    (fine-tuning) instead of the preset's random UNet. ``text_encoder``: a model folder whose text encoder
    and tokenizer make the unconditional (and ``text``) embeddings, so they match what that folder samples
    with. ``vocoder``: when given, the stage also assembles a complete model folder ``OUT/model``.
    """

    vae: Path
    clap: Path
    condition: str = "audio"
    seconds: float = 5.12
    crops_per_clip: int = 4
    cond_drop: float = 0.1
    cond_noise: float = 0.0
    cond_seconds: float | None = None  # None: the crop itself (the paper's 10 s crops are CLAP's window)
    init_unet: Path | None = None
    text_encoder: Path | None = None
    vocoder: Path | None = None
    scheduler_config: dict[str, Any] = field(default_factory=lambda: dict(SCHEDULER_CONFIG))
    prediction: str | None = None  # None: the scheduler config's (a fine-tune keeps its parent's)
    snr_gamma: float | None = None

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition: expected one of {', '.join(CONDITIONS)}, got {self.condition!r}")
        if not 0.0 <= self.cond_drop < 1.0:
            raise ValueError("cond_drop: expected 0 <= p < 1")
        if self.cond_seconds is not None and not self.cond_seconds > 0:
            raise ValueError(f"cond_seconds: expected a positive number of seconds, got {self.cond_seconds}")
        if not 0.0 <= self.cond_noise <= 4.0:
            raise ValueError(f"cond_noise: expected a noise level in [0, 4], got {self.cond_noise}")
        if self.prediction is not None:
            self.scheduler_config = {**self.scheduler_config, "prediction_type": self.prediction}
        kind = self.scheduler_config.get("prediction_type", "epsilon")
        if kind not in PREDICTIONS:
            raise ValueError(f"prediction: expected one of {', '.join(PREDICTIONS)}, got {kind!r}")
        if self.snr_gamma is not None and not self.snr_gamma > 0:
            raise ValueError("snr_gamma: expected a positive number")


def perturb_condition(cond: torch.Tensor, level: float) -> torch.Tensor:
    """Each L2-normalised condition moved by Gaussian noise of a random relative size in [0, ``level``],
    then normalised again.

    An LDM trained on CLAP *audio* embeddings is sampled with *text* embeddings, which sit off the audio
    ones (a small CLAP's paired text and audio embeddings have a cosine near 0.7). Trained on exact audio
    embeddings, the UNet learns each training clip's point and treats the text's as unknown; trained on
    perturbed ones, it learns what a neighbourhood of an audio embedding sounds like, and a text embedding
    falls in one (the language-free training of LAFITE, Zhou et al., CVPR 2022). Relative size r gives a
    cosine of about 1/sqrt(1 + r^2) to the original: r = 1 is 0.71.
    """
    eps = torch.randn(cond.shape)
    size = torch.rand(len(cond), 1) * level
    moved = cond + size * cond.norm(dim=-1, keepdim=True) * eps / eps.norm(dim=-1, keepdim=True)
    return F.normalize(moved, dim=-1)


def noise_scheduler(config: dict[str, Any]) -> Any:
    """The training (DDPM) view of a model folder's noise schedule: same betas, epsilon prediction."""
    from diffusers import DDPMScheduler

    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "prediction_type")
    return DDPMScheduler(**{k: config[k] for k in keys if k in config})


def training_geometry(unet_config: Any, vae_config: Any) -> Geometry:
    """The latent grid training crops on: the project's mel (16 kHz, hop 160, 64 bins) through this VAE and
    UNet. The vocoder may not exist yet, but a model assembled from these parts has exactly this geometry."""
    return Geometry.of_mel(SAMPLE_RATE, HOP, MEL_BINS, vae_config, unet_config)


def _stamp(path: Path) -> str:
    """Cheap identity of a component folder (names, sizes, mtimes) for cache keys."""
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(path)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class LdmStage(Stage):
    name = "ldm"
    ema_models = ("unet",)
    default_lr = 2e-4

    def __init__(self, options: LdmOptions) -> None:
        super().__init__()
        self.opt = options

    # -- setup: frozen parts, cached latents and conditions ---------------------------------------------
    def setup(self, acc: Any, cfg: TrainConfig) -> None:
        if cfg.data is None:
            raise ValueError("ldm: --data is required")
        dev = acc.device
        vae = load_vae(self.opt.vae).to(dev).eval().requires_grad_(False)
        clap, clap_tok, fe = load_clap(self.opt.clap)
        clap.to(dev).eval().requires_grad_(False)
        self.scaling = float(vae.config.scaling_factor)
        embed_dim = int(clap.config.projection_dim)
        if self.opt.init_unet is not None:
            unet = load_unet(self.opt.init_unet)
        else:
            arch = replace(PRESETS[cfg.preset], latent_channels=int(vae.config.latent_channels), embed_dim=embed_dim)
            unet = build_unet(arch)
        self._check_shapes(unet, vae, embed_dim)
        geom = training_geometry(unet.config, vae.config)
        cells = geom.unet_cells(self.opt.seconds)
        self.frames = cells * geom.vae_factor  # mel frames per crop
        crop = self.frames * geom.hop

        text_fn = self._text_embedder(clap, clap_tok, dev)
        folder = load_folder(cfg.data, cfg.cache, cfg.captions, quiet=cfg.quiet, exclude=[cfg.out])
        segments = plan_segments(folder.lengths.tolist(), crop, self.opt.crops_per_clip, cfg.seed)
        self.uncaptioned = 0
        if self.opt.condition == "text":
            keep = [s for s in segments if folder.captions[s[0]]]
            self.uncaptioned = len({s[0] for s in segments}) - len({s[0] for s in keep})
            segments = keep
            if not segments:
                raise DataError("ldm --condition text: no captioned clips (metadata.jsonl / captions.csv)")
        self.folder, self.segments = folder, segments
        self.uncond = text_fn([""]).cpu()[0]
        key_src = json.dumps(
            {
                "audio": json.loads((cfg.cache / "audio.json").read_text())["key"],
                "vae": _stamp(component_dir(self.opt.vae, "vae")),
                "clap": _stamp(component_dir(self.opt.clap, "clap")),
                "text_encoder": str(self.opt.text_encoder),
                "frames": self.frames,
                "segments": segments,
                "condition": self.opt.condition,
                "cond_seconds": self.opt.cond_seconds,
            }
        )
        key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
        self.cache = cfg.cache / f"ldm-{key}"
        shape = geom.latent_shape(len(segments), cells)
        if not (self.cache / "done.json").is_file():
            self._precompute(vae, clap, fe, text_fn, shape, crop, dev, cfg.quiet)
        self.mean = np.memmap(self.cache / "mean.f32", dtype=np.float32, mode="r", shape=shape)
        self.std = np.memmap(self.cache / "std.f32", dtype=np.float32, mode="r", shape=shape)
        self.cond = torch.from_numpy(np.fromfile(self.cache / "cond.f32", dtype=np.float32).reshape(len(segments), -1))
        self.plan = BatchPlan(len(segments), cfg.batch_size, cfg.seed, acc.num_processes, acc.process_index)
        self.sched = noise_scheduler(self.opt.scheduler_config)
        self.models = {"unet": unet}
        self.groups = {"main": OptimGroup(["unet"])}

    def _text_embedder(self, clap: Any, clap_tok: Any, dev: torch.device) -> Callable[[list[str]], torch.Tensor]:
        """Text -> L2-normalised embedding, for the unconditional "" and for ``condition="text"``.

        With ``text_encoder`` (fine-tuning) the parent folder's own text encoder and tokenizer are used, so
        the dropped condition is exactly the unconditional embedding that folder samples with.
        """
        from transformers import ClapTextModelWithProjection

        if self.opt.text_encoder is None:
            return lambda texts: embed_text(clap, clap_tok, texts).float()
        root = Path(self.opt.text_encoder)
        # as a torch module: transformers' decorated ``to`` is typed for a model, not a device
        te: torch.nn.Module = ClapTextModelWithProjection.from_pretrained(component_dir(root, "text_encoder"))
        te = te.to(dev).eval()
        tok = load_tokenizer(root / "tokenizer", root)
        return lambda texts: embed_text(te, tok, texts).float()

    @staticmethod
    def _check_shapes(unet: Any, vae: Any, embed_dim: int) -> None:
        if int(unet.config.in_channels) != int(vae.config.latent_channels):
            raise ComponentError(
                f"ldm: UNet takes {unet.config.in_channels} channels, VAE makes {vae.config.latent_channels}"
            )
        if int(unet.config.projection_class_embeddings_input_dim or 0) != embed_dim:
            raise ComponentError(
                f"ldm: UNet conditions on {unet.config.projection_class_embeddings_input_dim}-d embeddings, "
                f"CLAP makes {embed_dim}-d"
            )
        geom = training_geometry(unet.config, vae.config)
        if geom.latent_bins % geom.unet_multiple:
            raise ComponentError(f"ldm: {geom.latent_bins} latent bins do not divide by the UNet's downsampling")

    @torch.no_grad()
    def _precompute(
        self,
        vae: Any,
        clap: Any,
        fe: Any,
        text_fn: Any,
        shape: tuple[int, ...],
        crop: int,
        dev: torch.device,
        quiet: bool,
    ) -> None:
        from tqdm import tqdm

        self.cache.mkdir(parents=True, exist_ok=True)
        features = ClapAudioFeatures(fe, torch.float32).to(dev)
        tmp = {n: (self.cache / f"{n}.f32.{os.getpid()}.tmp") for n in ("mean", "std", "cond")}
        files = {n: p.open("wb") for n, p in tmp.items()}
        try:
            todo = range(0, len(self.segments), PRECOMPUTE_BATCH)
            for b in tqdm(todo, desc="latents + CLAP embeddings", disable=quiet or len(todo) < 4, leave=False):
                chunk = self.segments[b : b + PRECOMPUTE_BATCH]
                raw = [np.array(self.folder.wave(i)[s : s + crop]) for i, s in chunk]
                waves = torch.from_numpy(np.stack([fit(r, crop) for r in raw])).to(dev)
                post = vae.encode(log_mel(waves).unsqueeze(1)).latent_dist
                if self.opt.condition == "audio":
                    heard = [self._condition_window(i, s, crop) for i, s in chunk]
                    cond = embed_audio(clap, features, [torch.from_numpy(r).to(dev) for r in heard], SAMPLE_RATE)
                else:
                    cond = text_fn([self.folder.captions[i] or "" for i, _ in chunk])
                files["mean"].write(post.mean.float().cpu().numpy().tobytes())
                files["std"].write(post.std.float().cpu().numpy().tobytes())
                files["cond"].write(cond.float().cpu().numpy().tobytes())
        finally:
            for f in files.values():
                f.close()
        for n, p in tmp.items():
            os.replace(p, self.cache / f"{n}.f32")
        (self.cache / "done.json").write_text(json.dumps({"segments": len(self.segments), "shape": shape}) + "\n")

    def _condition_window(self, clip: int, start: int, crop: int) -> np.ndarray:
        """The audio whose CLAP embedding conditions the crop at ``start`` of ``clip``: the crop itself, or with
        ``cond_seconds`` a window of that length centred on it within the clip (the whole clip when shorter).

        A CLAP that learned on whole clips embeds a short crop poorly: on the bundled data, a crop of half a
        clip drifts away from its clip's embedding and loses the instrument (its category, by nearest centroid,
        is recognised far less often than a whole clip's), and it sits farther from the captions' text
        embeddings, which are what the LDM is sampled with.
        """
        wave = self.folder.wave(clip)
        if self.opt.cond_seconds is None:
            return np.array(wave[start : start + crop])
        n = len(wave)
        window = min(n, max(crop, round(self.opt.cond_seconds * SAMPLE_RATE)))
        first = min(max(0, start + crop // 2 - window // 2), n - window)
        return np.array(wave[first : first + window])

    # -- training -------------------------------------------------------------------------------------
    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.plan.items(step)
        mean = torch.from_numpy(np.stack([self.mean[i] for i in idx]))
        std = torch.from_numpy(np.stack([self.std[i] for i in idx]))
        # Drawn on the CPU from the step-seeded generator: the same batch on any device.
        z = (mean + std * torch.randn(mean.shape)) * self.scaling
        cond = self.cond[idx].clone()
        if self.opt.cond_noise > 0:  # draws only when asked: runs without it keep their exact batches
            cond = perturb_condition(cond, self.opt.cond_noise)
        drop = torch.rand(len(idx)) < self.opt.cond_drop
        cond[drop] = self.uncond
        return z.to(self.acc.device), cond.to(self.acc.device)

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int, update: UpdateFn) -> dict[str, float]:
        z, cond = batch
        noise = torch.randn(z.shape).to(z.device)
        t = torch.randint(0, self.sched.config.num_train_timesteps, (len(z),)).to(z.device)
        noisy = self.sched.add_noise(z, noise, t)
        pred = self.models["unet"](noisy, t, encoder_hidden_states=None, class_labels=cond).sample
        v_pred = self.sched.config.prediction_type == "v_prediction"
        target = self.sched.get_velocity(z, noise, t) if v_pred else noise
        per_item = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        if self.opt.snr_gamma is not None:
            a = self.sched.alphas_cumprod.to(z.device)[t]
            snr = a / (1 - a)
            # min-SNR-gamma in x0 terms, expressed for the target trained on (eps: / snr, v: / (snr + 1)).
            per_item = per_item * snr.clamp(max=self.opt.snr_gamma) / (snr + 1 if v_pred else snr)
        loss = per_item.mean()
        update("main", loss)
        return {"loss": loss.item()}

    def export(self, acc: Any, cfg: TrainConfig) -> dict[str, Any]:
        from audioldm_daw.workbench.training.assemble import assemble

        unet = acc.unwrap_model(self.models["unet"])
        unet.save_pretrained(cfg.out / "unet")
        write_scheduler_config(cfg.out, self.opt.scheduler_config)
        out: dict[str, Any] = {
            "unet": str(cfg.out / "unet"),
            "condition": self.opt.condition,
            "crop_frames": self.frames,
            "segments": len(self.segments),
            "uncaptioned_clips_left_out": self.uncaptioned,
            "data": self.folder.info(),
        }
        if self.opt.vocoder is not None and self.opt.init_unet is None:
            # summary.json is written after export: record what this run exported instead.
            training = {"stages": {"ldm": {"condition": self.opt.condition, "exported": dict(out)}}}
            out["model"] = str(
                assemble(
                    cfg.out / "model",
                    clap=self.opt.clap,
                    vae=self.opt.vae,
                    vocoder=self.opt.vocoder,
                    unet=cfg.out,
                    training=training,
                )
            )
        return out
