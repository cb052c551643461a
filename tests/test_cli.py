"""The command line on a real model folder, as a user runs it (a subprocess of the console script)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

EXE = [sys.executable, "-m", "audioldm_daw.bridge.cli"]


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", AUDIOLDM_DAW_CLIPS=str(tmp_path / "clips"))
    return subprocess.run(EXE + args, capture_output=True, text=True, env=env, timeout=300)


def test_generate_then_regenerate(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pad.wav"
    r = _run(
        [
            "generate",
            "warm pad",
            "--model",
            str(tiny_model_dir),
            "--out",
            str(out),
            "--duration",
            "0.7",
            "--steps",
            "3",
            "--sr",
            "44100",
            "--format",
            "pcm24",
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout and "seed" in r.stdout
    info = sf.info(str(out))
    assert (info.frames, info.samplerate, info.subtype) == (round(0.7 * 44100), 44100, "PCM_24")
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["request"]["source"] == {"mode": "generate", "prompt": "warm pad"}
    assert isinstance(side["request"]["seed"], int)

    again = tmp_path / "again.wav"
    r2 = _run(["regenerate", str(out.with_suffix(".json")), "--out", str(again)], tmp_path)
    assert r2.returncode == 0, r2.stderr
    assert np.array_equal(sf.read(out)[0], sf.read(again)[0])


def test_default_output_goes_to_the_clips_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    r = _run(
        [
            "generate",
            "a ../../escape attempt",
            "--model",
            str(tiny_model_dir),
            "--duration",
            "0.5",
            "--steps",
            "1",
            "--seed",
            "3",
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    wavs = list((tmp_path / "clips").glob("*.wav"))
    assert len(wavs) == 1 and wavs[0].with_suffix(".json").is_file()


def test_bad_arguments_exit_non_zero_with_a_message(tiny_model_dir: Path, tmp_path: Path) -> None:
    cases = [
        (["--duration", "-2"], "argument --duration: expected a number in 0.5..60, got float -2.0 (out of range)"),
        (["--duration", "nan"], "argument --duration: expected a number in 0.5..60, got float nan (not a finite"),
        (["--steps", "0"], "argument --steps: expected an integer in 1..1000, got int 0"),
        (["--scheduler", "euler"], "argument --scheduler: expected one of ddim, dpm, got str 'euler'"),
        (
            ["--sr", "12345"],
            "argument --sr: expected one of 16000, 22050, 32000, 44100, 48000, "
            "88200, 96000, 176400, 192000, got int 12345",
        ),
        (["--bpm", "120"], "--bpm: give both --bpm and --bars"),
        (["--bpm", "120", "--bars", "2", "--duration", "3"], "--duration: give either --duration or --bpm and --bars"),
        (["--strength", "0.5"], "--strength: applies to transfer, not to generate"),
        (["--out", str(tmp_path / "x.mp3")], "expected a path ending in .wav"),
    ]
    for extra, message in cases:
        r = _run(["generate", "x", "--model", str(tiny_model_dir), *extra], tmp_path)
        assert r.returncode != 0, extra
        assert message in r.stderr, (extra, r.stderr)
    r = _run(["generate", "x", "--model", str(tmp_path / "missing")], tmp_path)
    assert r.returncode == 2 and "does not exist" in r.stderr
    # an input the engine cannot use is refused before the model loads (no folder needed to say so)
    r = _run(["inpaint", str(tmp_path / "none.wav"), "1", "2", "--model", str(tmp_path / "missing")], tmp_path)
    assert r.returncode == 2 and "none.wav does not exist" in r.stderr
    r = _run(
        [
            "generate",
            " ".join(["word"] * 2000),
            "--model",
            str(tiny_model_dir),
            "--duration",
            "0.5",
            "--steps",
            "1",
            "--out",
            str(tmp_path / "long.wav"),
        ],
        tmp_path,
    )
    assert r.returncode == 0 and "warning: prompt: " in r.stderr, r.stderr


def test_no_model_anywhere_names_the_three_ways_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from audioldm_daw.engine import model as model_module
    from audioldm_daw.engine.errors import ModelLoadError

    monkeypatch.delenv("AUDIOLDM_DAW_MODEL", raising=False)
    monkeypatch.setattr(model_module, "bundled_model_dir", lambda: tmp_path / "no-model-here")
    with pytest.raises(ModelLoadError) as err:
        model_module.default_model()
    text = str(err.value)
    assert "no-model-here" in text and "cvssp/audioldm-s-full-v2" in text and "AUDIOLDM_DAW_MODEL" in text
    monkeypatch.setenv("AUDIOLDM_DAW_MODEL", "my/model")
    assert model_module.default_model() == "my/model"


def test_generate_json_prints_one_object_with_the_send_keys(tiny_model_dir: Path, tmp_path: Path) -> None:
    """``--json``: one JSON object on stdout with the keys ``send --json`` prints (scripts read either);
    the terminal part (loading, progress, elapsed) stays on stderr."""
    out = tmp_path / "j.wav"
    args = ["generate", "x", "--model", str(tiny_model_dir), "--duration", "0.5", "--steps", "1", "--seed", "4"]
    r = _run([*args, "--out", str(out), "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["path"] == str(out.resolve()) and obj["sidecar"] == str(out.with_suffix(".json").resolve())
    assert (obj["seconds"], obj["sample_rate"], obj["seed"], obj["mode"], obj["prompt"]) == (
        0.5,
        48000,
        4,
        "generate",
        "x",
    )
    assert "loading model" in r.stderr and "done in" in r.stderr


def test_step_bar_rate_counts_only_steps_timed_since_it_opened(capsys: pytest.CaptureFixture[str]) -> None:
    """The engine first reports after step 1; the bar must not time that step from its own opening (~1e5 step/s)."""
    from audioldm_daw.bridge.cli.progress import StepBar

    bar = StepBar("denoising")
    for done in range(1, 6):
        bar(done, 5)
        time.sleep(0.02)
    err = capsys.readouterr().err
    rates = [float(r) for r in re.findall(r"([0-9.]+)step/s", err)]
    assert rates, f"no rate shown in the bar: {err!r}"
    # 20 ms a step is 50 step/s; anything far above means a step was counted without its time.
    assert max(rates) < 200, f"bar showed an impossible rate {max(rates)} step/s: {err!r}"
    assert "5/5" in err and bar.bar is None  # the last report closes the bar


def test_a_switch_is_described_as_a_switch_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    """``--loop`` takes no value on the command line; its help says so rather than OSC's "0 or 1"."""
    from audioldm_daw.bridge.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--loop a seamless loop (the end flows into the start) (off unless given)" in text
    assert "0 or 1" not in text


def _parsers(parser, path=()):
    """Every parser of the command line with its command words: the main one, each command's, nested ones."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def _mistyped(option: str) -> str:
    """``--duration`` -> ``--durration``: one letter doubled, as a quick typist does."""
    i = len(option) // 2 + 1
    return option[:i] + option[i] + option[i:]


def test_every_command_suggests_the_nearest_option_for_a_mistyped_one(capsys: pytest.CaptureFixture[str]) -> None:
    """On the main parser and every command's (``send generate``, ``train ldm`` included) a mistyped long option
    is answered with the one meant, by the parser of the command that was typed."""
    from audioldm_daw.bridge.cli import build_parser
    from audioldm_daw.bridge.cli.suggest import SuggestingParser

    checked = 0
    for path, parser in _parsers(build_parser()):
        assert isinstance(parser, SuggestingParser), path
        options = sorted(s for a in parser._actions for s in a.option_strings if s.startswith("--") and len(s) > 6)
        if not options:
            continue
        option = options[0]
        wrong = _mistyped(option)
        with pytest.raises(SystemExit) as caught:
            build_parser().parse_args([*path, wrong, "x"])
        err = capsys.readouterr().err
        assert caught.value.code == 2
        assert f"{wrong}: did you mean {option}?" in err, (path, err)
        assert f"audioldm-daw{''.join(' ' + p for p in path)}: error:" in err, err  # the typed command's usage
        checked += 1
    assert checked >= 20  # every command and subcommand was reached


def test_the_suggestion_reads_as_a_sentence_from_the_console_script(tmp_path: Path) -> None:
    r = _run(["generate", "a pad", "--durration", "5"], tmp_path)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last == (
        "audioldm-daw generate: error: unrecognized arguments: --durration 5; --durration: did you mean --duration?"
    )
    r = _run(["genrate", "a pad"], tmp_path)
    assert r.returncode == 2 and "did you mean 'generate'?" in r.stderr


def test_no_suggestion_when_nothing_is_close(capsys: pytest.CaptureFixture[str]) -> None:
    from audioldm_daw.bridge.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "x", "--zzzzzzzz"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: --zzzzzzzz" in err and "did you mean" not in err


def test_a_missing_argument_still_names_the_mistyped_option(capsys: pytest.CaptureFixture[str]) -> None:
    """``--steps`` mistyped where required options are missing: argparse stops at the missing ones first."""
    from audioldm_daw.bridge.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "ldm", "--stepz", "3"])
    err = capsys.readouterr().err
    assert "the following arguments are required" in err and "--stepz: did you mean --steps?" in err, err
