"""How the far-prompt warning's threshold (engine/knowledge.py) was chosen for the bundled model.

Each prompt's score is its best cosine similarity, in the model's own CLAP text space, to the captions its
``knows.json`` lists. Inside: captions the synthetic dataset can produce that the file does not list (held-out
wording and other draws, workbench/dataset/knows.py). Outside: everyday sounds that are none of the 14 kinds.
Prints both distributions, the threshold that separates them best (the midpoint of the widest gap when they do not
overlap, else the most accurate cut) and its accuracy on each side.

    .venv/bin/python benchmarks/bench_knowledge.py                    # the bundled model
    .venv/bin/python benchmarks/bench_knowledge.py --model DIR --write  # also record the threshold in DIR/knows.json
"""

from __future__ import annotations

import argparse

import numpy as np

OUTSIDE = (
    "a dog barking",
    "rain on a tin roof",
    "birds chirping in a forest",
    "a car engine starting",
    "thunder rolling in the distance",
    "waves crashing on a beach",
    "a baby crying",
    "a crowd cheering in a stadium",
    "glass shattering on a tiled floor",
    "a cat meowing",
    "footsteps on gravel",
    "a helicopter flying overhead",
    "bacon sizzling in a frying pan",
    "a door creaking open",
    "wind howling through trees",
    "a train passing over a bridge",
    "a cow mooing in a field",
    "typing on a computer keyboard",
    "an audience applauding",
    "water dripping from a tap",
    "a chainsaw cutting wood",
    "people laughing at a party",
    "a horse galloping",
    "church bells ringing",
    "a motorcycle revving",
    "a rooster crowing at dawn",
    "popcorn popping",
    "a toilet flushing",
    "a frog croaking by a pond",
    "a crackling campfire",
)


def choose(inside: np.ndarray, outside: np.ndarray) -> float:
    """The cut with the best balanced accuracy; among equals, the middle of the widest run of such cuts."""
    cuts = np.unique(np.concatenate([inside, outside]))
    mids = np.concatenate([[cuts[0] - 1e-3], (cuts[1:] + cuts[:-1]) / 2, [cuts[-1] + 1e-3]])
    scores = np.array([(np.mean(inside >= t) + np.mean(outside < t)) / 2 for t in mids])
    best = np.flatnonzero(scores == scores.max())
    return float(mids[best[len(best) // 2]]) if len(best) < 3 else float((mids[best[0]] + mids[best[-1]]) / 2)


def describe(name: str, values: np.ndarray) -> str:
    q = np.quantile(values, [0.0, 0.1, 0.5, 0.9, 1.0])
    spread = "  ".join(f"{label} {v:.3f}" for label, v in zip(("min", "p10", "median", "p90", "max"), q, strict=True))
    return f"{name:8s} n={len(values):3d}  {spread}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="a model folder trained on the synthetic dataset (default: bundled)")
    p.add_argument("--write", action="store_true", help="write knows.json with the chosen threshold into the folder")
    args = p.parse_args()
    from pathlib import Path

    import torch

    from audioldm_daw.engine.knowledge import Knowledge, write_knows
    from audioldm_daw.engine.model import bundled_model_dir, load_model
    from audioldm_daw.workbench.dataset.knows import ABOUT, heldout_inside, synthetic_knowledge

    model = load_model(args.model or bundled_model_dir(), device="cpu", dtype="fp32")
    kinds, captions = synthetic_knowledge()
    from audioldm_daw.engine.knowledge import _embed

    known = Knowledge(tuple(kinds), tuple(captions), 0.0, _embed(model, captions))
    inside_prompts = heldout_inside()
    with torch.no_grad():
        inside = np.array([known.similarity(model, t) for t in inside_prompts])
        outside = np.array([known.similarity(model, t) for t in OUTSIDE])
    threshold = choose(inside, outside)
    print(f"model {model.path}: {len(captions)} listed captions; best cosine similarity of each prompt to them")
    print(describe("inside", inside))
    print(describe("outside", outside))
    print(
        f"threshold {threshold:.3f}: inside kept quiet {np.mean(inside >= threshold):.0%} "
        f"({int(np.sum(inside >= threshold))}/{len(inside)}), outside warned {np.mean(outside < threshold):.0%} "
        f"({int(np.sum(outside < threshold))}/{len(outside)})"
    )
    for name, prompts, values, wrong in (
        ("inside, warned", inside_prompts, inside, inside < threshold),
        ("outside, quiet", OUTSIDE, outside, outside >= threshold),
    ):
        for text, v in zip([str(t) for t in np.array(prompts)[wrong]], values[wrong], strict=True):
            print(f"  {name}: {v:.3f} {text!r}")
    if args.write:
        out = write_knows(Path(model.path), kinds, captions, threshold, about=ABOUT)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
