"""``audioldm-daw convert CHECKPOINT --out DIR``: an original AudioLDM checkpoint -> a model folder.

The folder is in the diffusers AudioLDM layout plus ``clap/`` (both CLAP towers and the original's audio
front end), so every command loads it like a hub model. The public checkpoints carry no tokenizer, and
RoBERTa's cannot be built offline: ``--tokenizer`` names one (``roberta-base`` or a local folder).
"""

from __future__ import annotations

import argparse

HELP = (
    "convert an original AudioLDM checkpoint (audioldm-s-full.ckpt, -m-full, -l-full, -text-ft ...) into a model folder"
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="the original .ckpt (a torch pickle with the latent diffusion state_dict)")
    p.add_argument("--out", required=True, help="model folder to create (must not exist, or be empty)")
    p.add_argument(
        "--tokenizer",
        default=None,
        help="RoBERTa's tokenizer: hub id 'roberta-base' (needs the internet once) or a local folder with it",
    )
    p.add_argument(
        "--no-ema",
        action="store_true",
        help="the raw UNet training weights instead of the EMA weights the original samples with",
    )
    p.add_argument(
        "--hub-heads",
        action="store_true",
        help="8 attention heads in every UNet block, as in the hub's cvssp/audioldm-* folders, instead of the "
        "original's channels/32 (channels/64 for L)",
    )
    p.add_argument(
        "--head-channels",
        type=int,
        default=None,
        help="channels per UNet attention head, for a UNet of none of the public sizes (S 128, M 192, L 256 channels)",
    )
    p.add_argument(
        "--unsafe-pickle",
        action="store_true",
        help="allow a checkpoint that pickles Python objects besides tensors (runs its code: trusted files only)",
    )


def run(args: argparse.Namespace) -> int:
    import time

    from audioldm_daw.workbench.convert import convert_checkpoint  # torch: only when a file is converted

    t0 = time.perf_counter()
    report = convert_checkpoint(
        args.checkpoint,
        args.out,
        args.tokenizer,
        ema=not args.no_ema,
        hub_heads=args.hub_heads,
        head_channels=args.head_channels,
        unsafe_pickle=args.unsafe_pickle,
    )
    sched = report.scheduler
    print(f"converted {report.source} -> {args.out} in {time.perf_counter() - t0:.1f} s")
    print(f"  size {report.size}, channel multipliers {report.channel_mult}, CLAP audio tower {report.htsat}")
    print(
        f"  UNet weights: {'EMA' if report.ema else 'raw (no EMA)'}; attention heads per level {report.attention_heads}"
    )
    print(
        f"  VAE scale factor {report.scale_factor:.6g}; schedule {sched['beta_schedule']} "
        f"{sched['beta_start']:g}..{sched['beta_end']:g} over {sched['num_train_timesteps']} steps"
    )
    for note in report.notes:
        print(f"  note: {note}")
    return 0
