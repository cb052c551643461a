"""Write the bundled model's card (README.md in its folder) from its evaluation report.

Usage: python scripts/model_card.py MODEL_DIR EVALUATION_JSON --command "..." [--bundled text]
                                    [--other-vocoder EVALUATION_JSON] [--note "..."]...

The card states what the model was trained on and how (the exact command), its measured accuracy per category
and overall, FD, the audio- vs text-conditioning comparison, what it cannot do, its licence and its training
data's sources with theirs, and the content hash of the folder less the card (a test checks the folder still
hashes to it). ``--other-vocoder``: the same evaluation decoded with the other vocoder (``evaluate --vocoder``),
shown side by side, so the card says why the folder asks for the one it does. The card describes the model it
sits beside, not the ones before it: each replacement is dated in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def card(
    model_dir: Path,
    reports: list[dict[str, Any]],
    command: str,
    bundled: str,
    other: list[dict[str, Any]] | None = None,
    notes: list[str] | None = None,
) -> str:
    """The card's Markdown. ``reports``: the recipe's LDM trained on CLAP audio embeddings (the paper's way, no
    captions needed), then the same recipe trained on caption text embeddings; ``bundled`` says which of the two
    this folder is; ``notes``: paragraphs said after which one it is (how a model was sampled, for one)."""
    from audioldm_daw.engine.model import content_hash

    audio = reports[0]
    text = reports[1] if len(reports) > 1 else None
    mine = audio if bundled == "audio" else text
    assert mine is not None
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file() and p.name != "README.md")
    cats = sorted(audio["accuracy_per_category"])
    rows = "\n".join(
        f"| {c} | {_pct(audio['accuracy_per_category'][c])} | "
        f"{_pct(text['accuracy_per_category'].get(c)) if text else '-'} |"
        for c in cats
    )
    chance = 1 / len(cats) if cats else None
    lines = [
        "# audioldm-daw-mini",
        "",
        "The small AudioLDM that runs when no model is named: trained from nothing by this project's own pipeline",
        "on its synthetic captioned dataset (fluidsynth instruments and drums, espeak-ng speech, procedural sounds;",
        "14 categories), offline. It is small (the `micro` preset) and trained briefly; it makes sounds of the",
        "dataset's kinds, not music you would release. For real work use `--model cvssp/audioldm-s-full-v2` or a",
        "converted original checkpoint.",
        "",
        f"- Content hash of the folder less this card: `{content_hash(model_dir.resolve(), skip=('README.md',))}`",
        f"- Size on disk: {size / 2**20:.1f} MB",
        f"- Decodes with: {_vocoder_line(mine.get('vocoder', 'hifigan'))}",
        f"- {bandwidth_line()}",
        f"- {tempo_line()}",
        "- Trained with:",
        "",
        "```sh",
        command,
        "```",
        "",
        f"## Measured on {audio['prompts']} held-out prompts (`audioldm-daw evaluate`, {audio['steps']} steps, "
        f"guidance {audio['guidance']:g})",
        "",
        f"Chance is {_pct(chance)}. The classifier recognises {_pct(_on_real(audio, mine))} of the real held-out "
        "clips.",
        "",
        f"This folder is the {'audio' if bundled == 'audio' else 'text'}-conditioned model, the better of the two "
        "as measured below.",
        "",
        *(line for note in notes or [] for line in (note, "")),
        "| | LDM on CLAP audio embeddings | LDM on caption text embeddings |",
        "| --- | --- | --- |",
        f"| category accuracy | {_pct(audio['accuracy'])} | {_pct(text['accuracy']) if text else '-'} |",
        f"| accuracy on the decoded mels | {_pct(audio.get('accuracy_decoded_mel'))} | "
        f"{_pct(text.get('accuracy_decoded_mel')) if text else '-'} |",
        f"| FD | {_num(audio.get('fd'))} | {_num(text.get('fd')) if text else '-'} |",
        f"| KL | {_num(audio.get('kl'))} | {_num(text.get('kl')) if text else '-'} |",
        f"| CLAP score | {_num(audio.get('clap_score'))} | {_num(text.get('clap_score')) if text else '-'} |",
        "",
        "| category | audio-conditioned | text-conditioned |",
        "| --- | --- | --- |",
        rows,
        "",
        *limits(mine),
        *vocoders(mine, other),
        "## What it cannot do",
        "",
        "- Sounds outside the 14 synthetic categories, real recordings' detail, lyrics or intelligible speech.",
        f"- {_pitch_line(mine)}",
        f"- {_floor_line(mine, audio, text)}",
        "",
        *licence(),
    ]
    return "\n".join(lines)


#: Where the synthetic training data comes from: (source, what it made, its licence). The licences are those of
#: the Debian packages the dataset renders with (/usr/share/doc/PACKAGE/copyright); NOTICE at the repository's
#: root says the same for the whole repository.
TRAINING_DATA: tuple[tuple[str, str, str], ...] = (
    (
        "FluidSynth (Debian `fluidsynth`)",
        "renders the instrument and drum clips from MIDI written by the dataset's code",
        "LGPL-2.1-or-later",
    ),
    (
        "TimGM6mb soundfont (Debian `timgm6mb-soundfont`; Tim Brechbill, David Bolton)",
        "the instruments' and drums' samples",
        "GPL-2.0",
    ),
    (
        "eSpeak NG and its voices (Debian `espeak-ng`, `espeak-ng-data`)",
        "the speech clips, from the dataset's own phrases",
        "GPL-3.0-or-later",
    ),
    (
        "the dataset's own code (`python -m audioldm_daw.workbench.dataset`)",
        "sirens, beeps, sweeps, noise and knocking (made with numpy), every caption, the mixing and levels",
        "MIT (this project)",
    ),
)


def licence() -> list[str]:
    """The card's licence and training-data sections: the weights are the project's own work, trained only on
    renders the project made, so they carry the code's licence; the sources of those renders are named with
    theirs so that anyone can judge the renders' provenance."""
    rows = [f"| {source} | {made} | {lic} |" for source, made, lic in TRAINING_DATA]
    return [
        "## Licence",
        "",
        "MIT, the same as the code (`LICENSE` at the repository's root). The model was trained only on the "
        "project's own synthetic renders (below), from nothing: no third-party weights, recordings or captions. "
        "Its tokenizer was trained on the dataset's own captions.",
        "",
        "## Training data",
        "",
        "The synthetic captioned dataset (`scripts/train_bundled.sh` renders it), made offline with:",
        "",
        "| source | what it made | licence |",
        "| --- | --- | --- |",
        *rows,
        "",
        "The programs and the soundfont are not part of the model or the repository; they are installed from Debian "
        "by `scripts/setup.sh`. `NOTICE` at the repository's root lists them with everything else the repository "
        "uses from others.",
        "",
    ]


RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
TEMPO_TARGET = 0.9  # the share of rhythmic clips whose tempo (and first beat) should be on the one asked for
BANDWIDTH_TARGET_PCT = 40  # the distance above 8 kHz the extension should take off the band-limited clip's


def _overall_rows(report: Path) -> dict[str, list[str]]:
    """The first table's "overall" row of each set of recordings in a ``bench_bandwidth.py`` report, by set name
    (its "## name: ..." heading; a report from before the sets: "")."""
    rows: dict[str, list[str]] = {}
    current = ""
    for row in report.read_text().splitlines():
        if row.startswith("## "):
            current = row[3:].split(":", 1)[0].strip()
            continue
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if cells[0] == "overall" and len(cells) >= 5 and current not in rows:
            rows[current] = cells
    return rows


def _relative(cell: str, what: str) -> str:
    return f"{cell.lstrip('+-')} {'below' if cell.startswith('-') else 'above'} {what}"


def bandwidth_line(results: Path = RESULTS) -> str:
    """What becomes of the model's 16 kHz audio delivered at a higher rate (the engine's bandwidth extension), with
    the overall figures of the newest ``benchmarks/bench_bandwidth.py`` report in ``results``, where there is one:
    the lossless recordings' (whose band reaches the Nyquist frequency, as a session's does) first, then the
    lossy ones' (which end near 16 kHz)."""
    line = (
        "Delivered above 16 kHz: the engine's bandwidth extension (`engine/bandwidth.py`, on unless `--no-fullband`) "
        "adds the band above 8 kHz that a 16 kHz model cannot make, up to the Nyquist frequency"
    )
    reports = sorted(results.glob("bandwidth-cpu-*.txt"))
    if not reports:
        return line
    rows = _overall_rows(reports[-1])
    parts = []
    for name in ("lossless", "lossy", ""):
        cells = rows.get(name)
        if cells is None:
            continue
        gain = -float(cells[3].rstrip("%"))
        verdict = "reached" if gain >= BANDWIDTH_TARGET_PCT else "not reached"
        kind = {"lossless": "lossless ", "lossy": "lossy (mostly Ogg Vorbis, empty above about 16 kHz) "}.get(name, "")
        limited, excited = _relative(cells[3], "the band-limited clip's"), _relative(cells[4], "a harmonic exciter's")
        parts.append(
            f"on {cells[1]} {kind}real recordings it never trained on, its log-spectral distance above 8 kHz is "
            f"{limited} (target {BANDWIDTH_TARGET_PCT}%: {verdict}) and {excited}"
        )
    if not parts:
        return line
    return f"{line}; " + "; ".join(parts) + f" (docs/benchmarks.md; `benchmarks/results/{reports[-1].name}`)"


def tempo_line(results: Path = RESULTS) -> str:
    """What ``--bpm`` does to a rhythmic clip (the engine's tempo fit), with the "all" row of the newest
    ``benchmarks/bench_tempo_fit.py`` report in ``results``, where there is one: the share of clips within 2%
    after fitting by most estimators (the verdict) and by each, and the first beat on the clip's own beat.
    Columns are found by their heading, so a report with more or fewer estimators reads the same."""
    line = (
        "With `--bpm`, a rhythmic clip is stretched hit by hit onto the tempo's grid and starts on a beat "
        "(`engine/tempo_fit.py`, on unless `--no-fit`); a clip without a clear beat is left as made, a one-shot"
    )
    reports = sorted(results.glob("tempo_fit-cpu-*.txt"))
    if not reports:
        return line
    head: list[str] = []
    for row in reports[-1].read_text().splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if cells[0] == "bpm":
            head = [h.removeprefix("within 2%,").strip() for h in cells]
        if cells[0] != "all" or len(cells) != len(head):
            continue
        col = dict(zip(head, cells, strict=True))
        each = {h.split()[0]: c.split(" / ")[-1] for h, c in col.items() if len(h.split()[0]) == 1}
        each = {name: c for name, c in each.items() if c != "-"}  # an estimator that was not installed
        most = col["most estimators, before / after"].split(" / ")[-1]
        median, near = (c.strip() for c in col["after, on the clip's own beat"].split(",", 1))

        def verdict(count: str) -> str:
            got, of = count.split()[0].split("/")
            return f"target {TEMPO_TARGET:.0%}: " + ("reached" if int(got) / int(of) >= TEMPO_TARGET else "not reached")

        return (
            f"{line}; on {cells[1].split('/')[-1]} drum clips at 90, 124 and 140 bpm, within 2% of the tempo by most "
            f"of {len(each)} estimators: {most} ({verdict(most)}; by each: "
            f"{', '.join(f'{name} {c}' for name, c in each.items())}); first beat on the clip's beat a median "
            f"{median} from the clip start, {near} within 10 ms ({verdict(near)}; docs/benchmarks.md; "
            f"`benchmarks/results/{reports[-1].name}`)"
        )
    return line


def _on_real(*reports: dict[str, Any]) -> float | None:
    """The classifier's accuracy on the real held-out clips: from its training, or (a saved classifier) the
    ceilings' first row, the same clips' own log-mels."""
    for r in reports:
        if r.get("classifier_accuracy_on_real") is not None:
            return float(r["classifier_accuracy_on_real"])
    return next((float(r["ceilings"]["real_mel"]) for r in reports if r.get("ceilings")), None)


def _vocoder_line(name: str) -> str:
    if name == "griffin-lim":
        return (
            "Griffin-Lim (the folder's `decode.json`); its own small HiFi-GAN is in `vocoder/` for diffusers and "
            "`--vocoder hifigan`, but renders every steady note at 100 Hz (see below)"
        )
    return "its HiFi-GAN (`vocoder/`)"


def _pitch_line(report: dict[str, Any]) -> str:
    c = report.get("ceilings") or {}
    p = c.get("vae_and_vocoder_pitch")
    if not p:
        return "Pitch: the small vocoder renders sustained notes near the 100 Hz mel frame grid."
    return (
        f"Exact pitch: of steady notes from {p['lowest_hz']:.0f} Hz to {p['highest_hz']:.0f} Hz put through the VAE "
        f"and the vocoder ({c['vocoder']}), {_pct(p['within_50_cents'])} come out within 50 cents (median error "
        f"{p['median_abs_cents']:.0f} cents); the lowest notes lose their fundamental."
    )


def vocoders(report: dict[str, Any], other: list[dict[str, Any]] | None) -> list[str]:
    """The section comparing the two vocoders on this model, from the same evaluation decoded with the other."""
    if not other or "ceilings" not in report:
        return []
    mate = next((r for r in other if Path(r["model"]).resolve() == Path(report["model"]).resolve()), other[-1])
    if "ceilings" not in mate:
        return []
    cols = [report, mate]
    c = [r["ceilings"] for r in cols]
    row = " | ".join

    def pitch(x: dict[str, Any]) -> str:
        return f"{_pct(x['within_50_cents'])} within 50 cents (median {x['median_abs_cents']:.0f})"

    return [
        "## Which vocoder",
        "",
        "The same evaluation with each vocoder (`audioldm-daw evaluate --vocoder ...`); steady notes are harmonic "
        f"tones from {c[0]['vocoder_pitch']['lowest_hz']:.0f} Hz to {c[0]['vocoder_pitch']['highest_hz']:.0f} Hz, "
        "their pitch measured with YIN.",
        "",
        f"| | {row(x['vocoder'] for x in c)} |",
        "| --- | --- | --- |",
        f"| generated clips: category accuracy | {row(_pct(r['accuracy']) for r in cols)} |",
        f"| real clips through the vocoder | {row(_pct(x['vocoder_on_real_mel']) for x in c)} |",
        f"| real clips through the VAE and the vocoder | {row(_pct(x['vae_and_vocoder']) for x in c)} |",
        f"| steady notes through the vocoder | {row(pitch(x['vocoder_pitch']) for x in c)} |",
        f"| steady notes through the VAE and the vocoder | {row(pitch(x['vae_and_vocoder_pitch']) for x in c)} |",
        "",
    ]


def _floor_line(mine: dict[str, Any], audio: dict[str, Any], text: dict[str, Any] | None) -> str:
    """Where the model stands against the project's floor: 70% category accuracy, and the LDM on audio
    embeddings within 10 points of the one on text (the paper's claim, in miniature); each part said apart."""
    accurate = mine["accuracy"] >= 0.7
    first = f"70% category accuracy ({'reached' if accurate else 'not reached'}: {_pct(mine['accuracy'])})"
    close = False
    if text is None:
        second = "the audio-embedding LDM within 10 points of a text one (no text-conditioned model measured)"
    else:
        gap = text["accuracy"] - audio["accuracy"]
        close = gap <= 0.10
        second = (
            f"the LDM on audio embeddings within 10 points of the one on text "
            f"({'reached' if close else 'not reached'}: {100 * gap:.0f} points apart)"
        )
    tail = "" if accurate and close else "; each better model replaces this one"
    return f"The project's floor: {first}, and {second}{tail}."


def limits(report: dict[str, Any]) -> list[str]:
    """The card's section on what limits the model: the real held-out clips through its own stages
    (``evaluate --ceilings``), beside what its generated clips score."""
    c = report.get("ceilings")
    if not c:
        return []
    return [
        "## What limits it",
        "",
        f"The real held-out clips ({c['clips']}), scored by the same classifier after each stage of this model "
        "(`audioldm-daw evaluate --ceilings`): no generated clip can score better than the stages it passes "
        "through let a real one.",
        "",
        "| real clips | category accuracy |",
        "| --- | --- |",
        f"| their own log-mels | {_pct(c['real_mel'])} |",
        f"| through the vocoder ({c.get('vocoder', 'hifigan')}) | {_pct(c['vocoder_on_real_mel'])} |",
        f"| through the VAE (encode, decode; log-mel L1 {c['vae_l1']:.2f}) | {_pct(c['vae_reconstruction_mel'])} |",
        f"| through the VAE and the vocoder | {_pct(c['vae_and_vocoder'])} |",
        f"| generated from their prompts (for comparison) | {_pct(report['accuracy'])} |",
        "",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("evaluation", type=Path)
    ap.add_argument("--command", required=True, help="the exact command that trained the model")
    ap.add_argument("--bundled", choices=["audio", "text"], default="audio", help="which of the two models this is")
    ap.add_argument("--other-vocoder", type=Path, default=None, help="the evaluation decoded with the other vocoder")
    ap.add_argument("--note", action="append", default=[], help="a paragraph under the comparison's heading")
    args = ap.parse_args()
    reports = json.loads(args.evaluation.read_text())
    out = args.model_dir / "README.md"
    other = json.loads(args.other_vocoder.read_text()) if args.other_vocoder else None
    out.write_text(card(args.model_dir, reports, args.command, args.bundled, other, args.note))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
