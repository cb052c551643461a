"""``audioldm-daw finetune --model M --data FOLDER --out RUN``: fine-tune a model on your own audio.

No captions needed: the UNet learns from CLAP audio embeddings of your clips (the paper's idea); at sampling
time a text prompt's CLAP embedding takes their place. Any soundfile-readable files at any rate and channel
count; unreadable ones are skipped and counted. The new model folder is ``RUN/model`` (the parent's parts
with a new ``unet/`` and a ``training.json`` naming the parent); ``--resume`` continues an interrupted run.
"""

from __future__ import annotations

import argparse

from audioldm_daw.bridge.cli.train import add_common_options, report, train_config

HELP = "fine-tune a model's UNet on a folder of your own (uncaptioned) audio; writes a new model folder"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="parent model folder or hub id (needs a clap/ audio tower)")
    add_common_options(p, {"steps": 500, "batch_size": 4}, preset=False)
    p.add_argument("--seconds", type=float, default=5.12, help="crop length (default 5.12; shorter clips are padded)")
    p.add_argument("--crops-per-clip", type=int, default=4, help="fixed crops of clips longer than a crop")
    p.add_argument("--cond-drop", type=float, default=0.1, help="condition drop rate for CFG (default 0.1)")


def run(args: argparse.Namespace) -> int:
    from audioldm_daw.engine.errors import EngineError
    from audioldm_daw.workbench.training.components import ComponentError
    from audioldm_daw.workbench.training.data import DataError
    from audioldm_daw.workbench.training.finetune import finetune

    cfg = train_config(args)
    try:
        res = finetune(
            args.model, cfg, seconds=args.seconds, crops_per_clip=args.crops_per_clip, cond_drop=args.cond_drop
        )
    except (DataError, ComponentError, FileNotFoundError, FloatingPointError) as exc:
        raise EngineError(str(exc)) from exc
    report("finetune", res.train)
    if res.skipped and res.train.main_process:
        print(f"finetune: skipped {res.skipped} unreadable file(s) (listed in {res.model_dir}/training.json)")
    return 0
