"""``audioldm-daw train STAGE``: train one stage of an AudioLDM model, or assemble the stages into a folder.

Stages, in order: ``clap`` (needs captions), ``vae`` and ``vocoder`` (any audio), ``ldm`` (needs the vae and
clap runs; no captions: it conditions on CLAP audio embeddings), then ``assemble`` (or ``ldm --vocoder``)
writes the model folder the engine loads. Each run folder keeps ``losses.jsonl``, checkpoints (``--resume``
continues exactly), a cache of decoded audio and precomputed features, and the trained component.

Runs on CPU or one GPU as is; for several GPUs or mixed precision, the same command under accelerate::

    accelerate launch --num_processes 4 $(which audioldm-daw) train ldm --mixed-precision bf16 ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audioldm_daw.workbench.training.loop import Stage, TrainConfig, TrainResult

HELP = "train a model stage (clap, vae, vocoder, ldm) on a folder of audio, or assemble the stages"

STAGE_HELP = {
    "clap": "contrastive text-audio CLAP on (audio, caption) pairs",
    "vae": "mel-spectrogram VAE (AutoencoderKL): reconstruction + KL, optional adversarial",
    "vocoder": "HiFi-GAN (SpeechT5HifiGan) from mel to waveform: mel + multi-resolution STFT, optional GAN",
    "ldm": "latent diffusion UNet on VAE latents, conditioned on CLAP audio embeddings (no captions needed)",
    "assemble": "combine clap, vae, vocoder and ldm runs into one model folder the engine loads",
    "text-offset": "measure a model folder's CLAP text-to-audio offset on captioned clips and write it into the "
    "folder (for a UNet trained on audio embeddings: prompts then land where its conditions lie)",
}
STAGE_DEFAULTS = {
    "clap": {"batch_size": 16, "steps": 2000},
    "vae": {"batch_size": 8, "steps": 2000},
    "vocoder": {"batch_size": 8, "steps": 3000},
    "ldm": {"batch_size": 8, "steps": 3000},
}


# The names of engine/architecture.py's PRESETS, smallest first. Spelled out because that module imports
# torch at the top and building the parser (``--help``) must not; tests/test_startup.py checks they match.
PRESET_NAMES = ("tiny", "micro", "mini", "s-full")
DEFAULT_PRESET = "mini"
PRESET_HELP = (
    "architecture size: tiny (tests, ~1.3 M parameters), micro (~4 M; the project's small model, which "
    "scripts/train_bundled.sh trains into models/audioldm-daw-mini), mini (~15 M), s-full (the public "
    f"AudioLDM-S-full shapes, 185 M in the UNet alone); default {DEFAULT_PRESET}"
)


def add_common_options(p: argparse.ArgumentParser, defaults: dict[str, int], preset: bool = True) -> None:
    """Options every training run shares (TrainConfig); ``defaults`` holds the stage's steps and batch size."""
    p.add_argument("--data", type=Path, required=True, help="folder of audio files (searched recursively)")
    p.add_argument("--out", type=Path, required=True, help="run folder (created; holds checkpoints, logs, result)")
    if preset:
        p.add_argument("--preset", default=DEFAULT_PRESET, choices=PRESET_NAMES, help=PRESET_HELP)
    steps, batch = defaults["steps"], defaults["batch_size"]
    p.add_argument("--steps", type=int, default=steps, help=f"total optimizer steps (default {steps})")
    p.add_argument("--batch-size", type=int, default=batch, help=f"clips per step per process (default {batch})")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the stage's)")
    p.add_argument("--seed", type=int, default=0, help="seed for init, data order, crops and noise (default 0)")
    p.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (default 500)")
    p.add_argument("--keep-checkpoints", type=int, default=2, help="newest checkpoints kept (0: all)")
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="CHECKPOINT",
        help="continue from the newest checkpoint in --out (or the one given); starts fresh when there is none",
    )
    p.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"], help="autocast (default no)")
    p.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm, 0 for none (default 1)")
    p.add_argument("--warmup", type=int, default=0, help="linear LR warmup steps (default 0)")
    p.add_argument(
        "--decay",
        type=int,
        default=0,
        metavar="STEPS",
        help="anneal the LR to zero along a half cosine over the last STEPS of --steps (default 0: constant); "
        "a resumed run keeps its checkpoint's base LR and takes the tail from where it is",
    )
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--cache", type=Path, default=None, help="cache for decoded audio/features (default OUT/cache)")
    p.add_argument("--captions", type=Path, default=None, help="captions file (.jsonl or .csv with file,caption)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this much wall-clock training time: checkpoint, export and exit (default: none)",
    )
    p.add_argument(
        "--deadline",
        type=float,
        default=None,
        metavar="EPOCH_SECONDS",
        help="stop at the first step past this moment (seconds since the epoch, as `date +%%s` prints), like "
        "--time-limit; stages started at different times on one machine all end by then (default: none)",
    )
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        metavar="DECAY",
        help="export a moving average of the weights with this decay, e.g. 0.999 (ldm and finetune; default off)",
    )


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, text in STAGE_HELP.items():
        sp = sub.add_parser(name, help=text, description=text)
        if name == "assemble":
            _configure_assemble(sp)
            continue
        if name == "text-offset":
            _configure_text_offset(sp)
            continue
        add_common_options(sp, STAGE_DEFAULTS[name])
        globals()[f"_configure_{name}"](sp)


def _configure_clap(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", type=Path, default=None, help="reuse this tokenizer folder (default: train one)")
    p.add_argument("--vocab-size", type=int, default=1000, help="BPE vocabulary size when training one")
    p.add_argument(
        "--text-noise",
        type=float,
        default=0.0,
        help="per word: chance to drop it and chance to insert an unknown word (small caption sets; default 0)",
    )


def _configure_vae(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=2.56, help="crop length (default 2.56)")
    p.add_argument("--kl-weight", type=float, default=1e-6, help="KL weight (default 1e-6)")
    _adversarial_options(p, 0.1)
    p.add_argument("--init", type=Path, default=None, help="start from this VAE (run, model or vae folder)")
    p.add_argument(
        "--decoder-only",
        action="store_true",
        help="with --init: freeze the encoder and train the decoder on; the latent space and scaling factor "
        "stay the same, so LDMs trained on that VAE stay valid and decode better",
    )


def _configure_vocoder(p: argparse.ArgumentParser) -> None:
    p.add_argument("--segment-frames", type=int, default=64, help="mel frames per segment (default 64 = 0.64 s)")
    _adversarial_options(p, 0.05)
    p.add_argument("--fm-weight", type=float, default=0.1, help="feature-matching weight with --adversarial")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this vocoder (run, model or vocoder folder), e.g. a reconstruction-only run before the GAN",
    )


def _adversarial_options(p: argparse.ArgumentParser, weight: float) -> None:
    p.add_argument("--adversarial", action="store_true", help="add a discriminator and its GAN loss")
    p.add_argument("--adv-weight", type=float, default=weight, help=f"adversarial loss weight (default {weight})")
    p.add_argument("--adv-start", type=int, default=0, help="step after which the GAN loss starts (default 0)")


def _configure_ldm(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vae", type=Path, required=True, help="vae run folder (or model folder)")
    p.add_argument("--clap", type=Path, required=True, help="clap run folder (or model folder)")
    p.add_argument("--vocoder", type=Path, default=None, help="vocoder run: also assemble OUT/model at the end")
    p.add_argument("--condition", default="audio", choices=["audio", "text"], help="CLAP audio (paper) or text")
    p.add_argument("--seconds", type=float, default=5.12, help="crop length (default 5.12)")
    p.add_argument("--crops-per-clip", type=int, default=4, help="fixed crops of clips longer than a crop")
    p.add_argument("--cond-drop", type=float, default=0.1, help="condition drop rate for CFG (default 0.1)")
    p.add_argument(
        "--cond-seconds",
        type=float,
        default=None,
        help="with --condition audio: embed a window of this many seconds around each crop, within its clip "
        "(default: the crop itself; use the length the CLAP was trained on when crops are shorter)",
    )
    p.add_argument(
        "--cond-noise",
        type=float,
        default=0.0,
        help="perturb each condition by noise of relative size up to this (default 0; 1.2 lets an LDM trained on "
        "audio embeddings follow text ones)",
    )
    p.add_argument(
        "--prediction",
        default="epsilon",
        choices=["epsilon", "v_prediction"],
        help="what the UNet predicts (default epsilon, the paper's; v_prediction samples better on small budgets)",
    )
    p.add_argument("--snr-gamma", type=float, default=None, help="min-SNR-gamma loss weighting, e.g. 5 (default off)")


def _configure_text_offset(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="assembled model folder (with clap/); written into")
    p.add_argument("--data", type=Path, required=True, help="folder of captioned clips (the CLAP's training data)")
    p.add_argument("--captions", type=Path, default=None, help="captions file (default: those found under --data)")


def _configure_assemble(p: argparse.ArgumentParser) -> None:
    for name in ("clap", "vae", "vocoder", "ldm"):
        p.add_argument(f"--{name}", type=Path, required=True, help=f"{name} run folder")
    p.add_argument(
        "--decode-with",
        default="griffin-lim",
        choices=["griffin-lim", "hifigan"],
        help="the vocoder the model asks the engine for (decode.json; default griffin-lim: a small HiFi-GAN renders "
        "steady notes at 100 Hz); the folder keeps the HiFi-GAN either way",
    )
    p.add_argument("--out", type=Path, required=True, help="model folder to write")


def train_config(args: argparse.Namespace) -> TrainConfig:
    """TrainConfig from parsed common options."""
    from audioldm_daw.workbench.training.loop import TrainConfig

    return TrainConfig(
        out=args.out,
        data=args.data,
        preset=getattr(args, "preset", DEFAULT_PRESET),
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        resume=args.resume or False,
        mixed_precision=args.mixed_precision,
        grad_clip=args.grad_clip,
        warmup=args.warmup,
        decay=args.decay,
        cpu=args.cpu,
        cache_dir=args.cache,
        captions=args.captions,
        quiet=args.quiet,
        threads=args.threads,
        ema=args.ema,
        time_limit=args.time_limit,
        deadline=args.deadline,
    )


def make_stage(args: argparse.Namespace) -> Stage:
    """The Stage object for the parsed stage name and options."""
    if args.stage == "clap":
        from audioldm_daw.workbench.training.clap import ClapOptions, ClapStage

        return ClapStage(ClapOptions(tokenizer=args.tokenizer, vocab_size=args.vocab_size, text_noise=args.text_noise))
    if args.stage == "vae":
        from audioldm_daw.workbench.training.vae import VaeOptions, VaeStage

        return VaeStage(
            VaeOptions(
                seconds=args.seconds,
                kl_weight=args.kl_weight,
                adversarial=args.adversarial,
                adv_weight=args.adv_weight,
                adv_start=args.adv_start,
                init=args.init,
                decoder_only=args.decoder_only,
            )
        )
    if args.stage == "vocoder":
        from audioldm_daw.workbench.training.vocoder import VocoderOptions, VocoderStage

        return VocoderStage(
            VocoderOptions(
                segment_frames=args.segment_frames,
                adversarial=args.adversarial,
                adv_weight=args.adv_weight,
                fm_weight=args.fm_weight,
                adv_start=args.adv_start,
                init=args.init,
            )
        )
    from audioldm_daw.workbench.training.ldm import LdmOptions, LdmStage

    return LdmStage(
        LdmOptions(
            vae=args.vae,
            clap=args.clap,
            vocoder=args.vocoder,
            condition=args.condition,
            seconds=args.seconds,
            crops_per_clip=args.crops_per_clip,
            cond_drop=args.cond_drop,
            cond_noise=args.cond_noise,
            cond_seconds=args.cond_seconds,
            prediction=args.prediction,
            snr_gamma=args.snr_gamma,
        )
    )


def run(args: argparse.Namespace) -> int:
    from audioldm_daw.engine.errors import EngineError
    from audioldm_daw.workbench.training.components import ComponentError
    from audioldm_daw.workbench.training.data import DataError

    try:
        if args.stage == "assemble":
            from audioldm_daw.workbench.training.assemble import assemble

            out = assemble(
                args.out,
                clap=args.clap,
                vae=args.vae,
                vocoder=args.vocoder,
                unet=args.ldm,
                decode_with=args.decode_with,
            )
            print(f"wrote model folder {out}")
            return 0
        if args.stage == "text-offset":
            from audioldm_daw.workbench.training.modality import write_text_offset

            info = write_text_offset(args.model, args.data, args.captions)
            cos = info["paired_cosine"]
            print(
                f"text offset from {info['pairs']} clips and {info['captions']} captions written into {args.model}: "
                f"mean audio-caption cosine {cos['before']} -> {cos['after']}"
            )
            return 0
        from audioldm_daw.workbench.training.loop import run as train

        try:
            stage, config = make_stage(args), train_config(args)
        except ValueError as exc:  # options that contradict each other: say which, no traceback
            raise EngineError(f"train {args.stage}: {exc}") from exc
        result = train(stage, config)
    except (DataError, ComponentError, FileNotFoundError, FloatingPointError) as exc:
        raise EngineError(str(exc)) from exc
    report(args.stage, result)
    return 0


def report(name: str, r: TrainResult) -> None:
    """The last lines a user reads: speed, loss, where the result is (from the main process only)."""
    if not r.main_process:
        return
    done = r.steps - r.start_step
    loss = f"{r.losses[-1]:.4f}" if r.losses else "n/a"
    print(f"{name}: {done} steps at {r.steps_per_second:.2f} steps/s, last loss {loss}", file=sys.stderr)
    for key in ("model", "clap", "vae", "vocoder", "unet"):
        if key in r.exported:
            print(f"wrote {key} {r.exported[key]}")
            if key == "model":
                break
