"""scripts/model_card.py: the bundled model's card states the folder's hash, both models' figures and, when the
evaluation measured them, what each stage of the model lets through; its licence and its training data's sources
with theirs; and no history of the models before it."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

from audioldm_daw.engine.model import content_hash

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "model_card.py"


def _card_module() -> Any:
    spec = importlib.util.spec_from_file_location("model_card", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _pitch(within: float, median: float) -> dict[str, Any]:
    return {"within_50_cents": within, "median_abs_cents": median, "lowest_hz": 55.0, "highest_hz": 1568.0}


def _report(acc: float, ceilings: bool, vocoder: str | None = None, model: str = "m") -> dict[str, Any]:
    rep: dict[str, Any] = {
        "model": model,
        "prompts": 140,
        "steps": 25,
        "guidance": 2.5,
        "accuracy": acc,
        "accuracy_per_category": {"bass": acc, "noise": 1.0},
        "accuracy_decoded_mel": acc + 0.1,
        "fd": 30.0,
        "kl": 2.0,
        "clap_score": 0.3,
        "classifier_accuracy_on_real": 0.99,
    }
    if ceilings:
        rep["ceilings"] = {
            "clips": 140,
            "real_mel": 0.99,
            "vocoder_on_real_mel": 0.47,
            "vae_reconstruction_mel": 0.64,
            "vae_and_vocoder": 0.31,
            "vae_l1": 0.97,
        }
        if vocoder:
            gl = vocoder == "griffin-lim"
            rep["vocoder"] = rep["ceilings"]["vocoder"] = vocoder
            rep["ceilings"]["vocoder_pitch"] = _pitch(0.7 if gl else 0.0, 8.0 if gl else 1865.0)
            rep["ceilings"]["vae_and_vocoder_pitch"] = _pitch(0.6 if gl else 0.0, 20.0 if gl else 1865.0)
    return rep


def test_card_names_the_hash_both_models_and_the_stage_ceilings(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    text = _card_module().card(folder, [_report(0.08, False), _report(0.21, True)], "bash x.sh", "text")
    assert f"`{content_hash(folder, skip=('README.md',))}`" in text
    assert "| category accuracy | 8% | 21% |" in text
    assert "| through the vocoder (hifigan) | 47% |" in text and "| through the VAE and the vocoder | 31% |" in text
    assert "| generated from their prompts (for comparison) | 21% |" in text
    assert "70% category accuracy (not reached: 21%)" in text and "(not reached: 13 points apart)" in text
    assert "each better model replaces this one" in text


def test_card_without_ceilings_has_no_such_section(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    text = _card_module().card(folder, [_report(0.72, False), _report(0.75, False)], "bash x.sh", "audio")
    assert "What limits it" not in text
    assert (
        "70% category accuracy (reached: 72%), and the LDM on audio embeddings within 10 points of the one on text "
        "(reached: 3 points apart)." in text
    )
    assert "each better model replaces this one" not in text


def test_card_says_each_part_of_the_floor_apart(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Text above 70% with the audio-embedding LDM more than 10 points behind is not the floor reached."""
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    text = _card_module().card(folder, [_report(0.61, False), _report(0.77, False)], "bash x.sh", "text")
    assert "70% category accuracy (reached: 77%)" in text and "(not reached: 16 points apart)" in text
    assert "each better model replaces this one" in text


def test_card_compares_the_two_vocoders_and_states_the_pitch(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    mine = [_report(0.10, True, "griffin-lim", "a"), _report(0.55, True, "griffin-lim", "t")]
    other = [_report(0.45, True, "hifigan", "t")]
    text = _card_module().card(folder, mine, "bash x.sh", "text", other)
    assert "Decodes with: Griffin-Lim" in text
    assert "| | griffin-lim | hifigan |" in text
    assert "| generated clips: category accuracy | 55% | 45% |" in text
    assert (
        "| steady notes through the vocoder | 70% within 50 cents (median 8) | 0% within 50 cents (median 1865) |"
        in text
    )
    assert "60% come out within 50 cents (median error 20 cents)" in text


def test_card_says_its_notes_under_the_comparison(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    notes = ["The audio model is sampled with its CLAP's text-to-audio offset.", "Without it: 66%."]
    text = _card_module().card(folder, [_report(0.7, False), _report(0.77, False)], "cmd", "text", notes=notes)
    head, table = text.split("| | LDM on CLAP audio embeddings", 1)
    assert all(n in head for n in notes) and not any(n in table for n in notes)
    plain = _card_module().card(folder, [_report(0.7, False), _report(0.77, False)], "cmd", "text")
    assert notes[0] not in plain


def test_card_states_the_licence_and_the_training_data_sources(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The model's licence is the code's (it is trained only on the project's renders), and every source of those
    renders is named with its licence, as Debian's copyright files give it; no log of earlier models."""
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    text = _card_module().card(folder, [_report(0.7, False), _report(0.77, False)], "cmd", "text")
    licence = text.split("## Licence", 1)[1].split("## ", 1)[0]
    assert licence.strip().startswith("MIT, the same as the code")
    data = text.split("## Training data", 1)[1]
    for row in (
        "| FluidSynth (Debian `fluidsynth`) |",
        "| LGPL-2.1-or-later |",
        "| TimGM6mb soundfont (Debian `timgm6mb-soundfont`; Tim Brechbill, David Bolton) |",
        "| GPL-2.0 |",
        "| eSpeak NG and its voices (Debian `espeak-ng`, `espeak-ng-data`) |",
        "| GPL-3.0-or-later |",
    ):
        assert row in data, row
    assert "Log of replacements" not in text


def test_the_committed_card_matches_its_generator() -> None:
    """The bundled model's card is what scripts/model_card.py writes: its licence and data sections verbatim, and
    no log of the models before it (those are dated in docs/benchmarks.md)."""
    card = (Path(__file__).resolve().parent.parent / "models" / "audioldm-daw-mini" / "README.md").read_text()
    assert "\n".join(_card_module().licence()) in card
    assert "Log of replacements" not in card


def test_the_card_quotes_the_newest_tempo_report_and_judges_it(tmp_path: Path) -> None:
    card = _card_module()
    assert f"- {card.tempo_line()}" in (SCRIPT.parent.parent / "models" / "audioldm-daw-mini" / "README.md").read_text()
    head = (
        "| bpm | rhythmic prompts fitted | within 2%, A before / after | B before / after | C before / after "
        "| D before / after | most estimators, before / after | first beat before | first beat after "
        "| after, on the clip's own beat | own beat, from B | other prompts fitted |"
    )
    cases = (  # (report, tempo counts A-D, by most, own beat within 10 ms, tempo verdict, first-beat verdict)
        ("tempo_fit-cpu-2026-01-01.txt", ("55/60", "52/60", "56/60", "60/60"), "58/60", "55/60", "reached", "reached"),
        ("tempo_fit-cpu-2026-02-01.txt", ("50/60", "49/60", "56/60", "60/60"), "53/60", "53/60", "not reached", "not"),
        ("tempo_fit-cpu-2026-03-01.txt", ("55/60", "54/60", "56/60", "-"), "56/60", "54/60", "reached", "reached"),
    )
    for name, counts, most, own, tempo_verdict, beat_verdict in cases:
        tempo = " | ".join(("- / " if c == "-" else "2/60 / ") + c for c in (*counts, most))
        row = f"| all | 60/60 | {tempo} | 120.0 ms, 3/60 | 1.5 ms, 44/60 | 1.4 ms, {own} | 1.3 ms, 50/60 | 0/15 |"
        (tmp_path / name).write_text(f"{head}\n|---|\n{row}\n")
        line = card.tempo_line(tmp_path)  # the newest report by name
        ran = [f"{n} {c}" for n, c in zip("ABCD", counts, strict=True) if c != "-"]
        assert f"by most of {len(ran)} estimators: {most} (target 90%: {tempo_verdict}; by each: " in line, line
        assert f"by each: {', '.join(ran)})" in line, line
        assert f"a median 1.4 ms from the clip start, {own} within 10 ms (target 90%: {beat_verdict}" in line, line
        assert name in line
    assert card.tempo_line(tmp_path / "none").startswith("With `--bpm`")
