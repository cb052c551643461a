"""``audioldm-daw evaluate``: objective scores of a model on held-out prompts (see workbench/evaluation)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from audioldm_daw.bridge.cli.options import add_vocoder_option

HELP = "score a model on held-out prompts: classifier accuracy, FD, KL, IS and an independent CLAP score"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", action="append", required=True, help="model folder; repeat to compare models")
    p.add_argument("--prompts", required=True, type=Path, help="JSON lines with prompt, category (and file)")
    p.add_argument("--data", type=Path, default=None, help="dataset root: trains the classifier, real clips for FD/KL")
    p.add_argument("--classifier", type=Path, default=None, help="classifier weights (trained on --data if missing)")
    p.add_argument(
        "--eval-clap", type=Path, default=None, help="a CLAP NOT used for conditioning (run or model folder)"
    )
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--guidance", type=float, default=2.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    p.add_argument("--device", default=None)
    add_vocoder_option(p)
    p.add_argument("--save-clips", type=Path, default=None, help="write the generated clips here")
    p.add_argument("--out", type=Path, default=None, help="write the report as JSON")
    p.add_argument(
        "--ceilings",
        action="store_true",
        help="also score the real held-out clips through each model's VAE and vocoder (needs --data): what each "
        "stage loses, so the stage that limits the model shows",
    )


def run(args: argparse.Namespace) -> int:
    from audioldm_daw.engine.errors import InvalidRequest
    from audioldm_daw.workbench.evaluation.classifier import Classifier, train_classifier
    from audioldm_daw.workbench.evaluation.evaluate import evaluate

    if args.ceilings and args.data is None:
        raise InvalidRequest("--ceilings: needs --data (the real held-out clips are scored through each stage)")
    if args.classifier is not None and args.classifier.is_file():
        clf, clf_acc = Classifier.load(args.classifier), None
    elif args.data is not None:
        clf, clf_acc = train_classifier(args.data)
        print(f"classifier accuracy on the real held-out clips: {clf_acc:.3f}")
        if args.classifier is not None:
            clf.save(args.classifier)
    else:
        raise InvalidRequest("--classifier: no such file; pass --data to train one on a dataset")
    reports = []
    # by the VAE's and vocoder's weights and the vocoder used: models that share them share these
    ceilings: dict[tuple[str, str, str], dict] = {}
    for i, model in enumerate(args.model):
        save = args.save_clips / f"model{i}" if args.save_clips else None
        rep = evaluate(
            model,
            args.prompts,
            clf,
            data=args.data,
            eval_clap=args.eval_clap,
            steps=args.steps,
            guidance=args.guidance,
            seed=args.seed,
            limit=args.limit,
            device=args.device,
            save_dir=save,
            vocoder=args.vocoder,
        )
        rep["classifier_accuracy_on_real"] = clf_acc
        if args.ceilings:
            from audioldm_daw.engine.model import content_hash
            from audioldm_daw.workbench.evaluation.ceilings import stage_ceilings
            from audioldm_daw.workbench.training.components import component_dir

            voc = rep["vocoder"]
            key = (content_hash(component_dir(model, "vae")), content_hash(component_dir(model, "vocoder")), voc)
            if key not in ceilings:
                ceilings[key] = stage_ceilings(model, args.data, clf, args.limit, vocoder=voc)
            rep["ceilings"] = ceilings[key]
        reports.append(rep)
    keys = ["accuracy", "accuracy_decoded_mel", "fd", "kl", "inception_score", "clap_score"]
    print("| model | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for rep in reports:
        cells = [f"{rep[k]:.3f}" if isinstance(rep.get(k), float) else "-" for k in keys]
        print(f"| {rep['model']} | " + " | ".join(cells) + " |")
    for rep in reports:
        if "ceilings" in rep:
            c = rep["ceilings"]
            print(
                f"{rep['model']}: real clips through its vocoder ({c['vocoder']}) {c['vocoder_on_real_mel']:.3f}, its "
                f"VAE {c['vae_reconstruction_mel']:.3f}, both {c['vae_and_vocoder']:.3f} (real mels "
                f"{c['real_mel']:.3f}); steady notes through the vocoder within 50 cents "
                f"{c['vocoder_pitch']['within_50_cents']:.2f}, through VAE and vocoder "
                f"{c['vae_and_vocoder_pitch']['within_50_cents']:.2f}"
            )
    if args.out:
        args.out.write_text(json.dumps(reports, indent=2) + "\n")
    return 0
