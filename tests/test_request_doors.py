"""The three doors (Python API, command line, OSC) accept the same parameters with the same ranges, refuse
the same things, and name each parameter as their caller wrote it. No model is loaded: all of this is
decided before any work."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

import pytest

from audioldm_daw.bridge import protocol
from audioldm_daw.bridge.cli.options import add_request_arguments, takes_from_args
from audioldm_daw.engine.errors import InvalidRequest
from audioldm_daw.engine.params import CHOICE, FLAG, INT, LEVEL, MODES, PARAMS, Param, params_for
from audioldm_daw.engine.request import SOURCES, GenerateRequest, build_takes

# Positional values that are valid for every mode that takes them.
POSITIONAL = {"input_path": "/tmp/in.wav", "start": 0.25, "end": 0.75, "seconds": 1.0, "prompt": "a bright bell"}


def _positionals(mode: str, pos: dict[str, Any] | None = None) -> dict[str, Any]:
    values = {**POSITIONAL, **(pos or {})}
    return {f.name: values[f.name] for f in fields(SOURCES[mode]) if PARAMS[f.name].positional}


# -- the three doors, each returning the request or the refusal's message ------------------------------
def python_door(mode: str, extra: dict[str, Any], pos: dict[str, Any] | None = None) -> GenerateRequest | str:
    try:
        return build_takes(mode, {**_positionals(mode, pos), **extra})[0]
    except InvalidRequest as exc:
        return str(exc)


def _cli_text(param: Param, value: Any) -> list[str]:
    if param.kind == FLAG:
        return [f"--{param.name}"] if value else []
    return [f"--{param.name}", "off" if value is None else str(value)]


def cli_door(
    mode: str, extra: dict[str, Any], capsys: pytest.CaptureFixture[str], pos: dict[str, Any] | None = None
) -> GenerateRequest | str:
    parser = argparse.ArgumentParser(prog=mode)
    add_request_arguments(parser, mode)
    argv = [str(v) for v in _positionals(mode, pos).values()]
    for field, value in extra.items():
        argv += _cli_text(PARAMS[field], value)
    try:
        args = parser.parse_args(argv)
    except SystemExit:
        return capsys.readouterr().err.strip().splitlines()[-1]
    try:
        return takes_from_args(args, mode)[0]
    except InvalidRequest as exc:
        return str(exc)


def osc_door(mode: str, extra: dict[str, Any], pos: dict[str, Any] | None = None) -> GenerateRequest | str:
    address = protocol.MODE_ADDRESSES[mode][0]
    args: list[Any] = ["job", *_positionals(mode, pos).values()]
    for field, value in extra.items():
        param = PARAMS[field]
        args += [param.name, "off" if value is None else int(value) if param.kind == FLAG else value]
    try:
        return protocol.parse_request(address, args).to_takes()[0]
    except protocol.ProtocolError as exc:
        return exc.message


def _doors(
    mode: str, extra: dict[str, Any], capsys: pytest.CaptureFixture[str], pos: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "python": python_door(mode, extra, pos),
        "cli": cli_door(mode, extra, capsys, pos),
        "osc": osc_door(mode, extra, pos),
    }


NAMES = {
    "python": lambda p: p.field,
    "cli": lambda p: p.name if p.positional else f"--{p.name}",
    "osc": lambda p: p.name,
}


# -- the same set --------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_every_door_offers_the_same_parameters(mode: str) -> None:
    declared = {p.name for p in params_for(mode)}
    parser = argparse.ArgumentParser()
    add_request_arguments(parser, mode)
    shown = {
        a.metavar if not a.option_strings else a.option_strings[0][2:]
        for a in parser._actions
        if a.help != argparse.SUPPRESS and a.dest != "help"
    } - {"no-normalize"}
    spec = protocol.ADDRESSES[protocol.MODE_ADDRESSES[mode][0]]
    osc = {a.name for a in spec.args if a.name != "job_id"} | (set(spec.options) - {"name", "folder"})
    python = {PARAMS[f.name].name for f in fields(SOURCES[mode])}
    python |= {PARAMS[f].name for f in ("duration", "steps", "seed", "sample_rate") if PARAMS[f].applies_to(mode)}
    python |= {p.name for p in PARAMS.values() if not p.source and p.applies_to(mode)}
    assert shown == osc == python == declared


def test_osc_can_set_what_the_sidecar_records() -> None:
    """eta and format were once missing from OSC; every request field is reachable from every door now."""
    options = protocol.ADDRESSES["/audioldm/generate"].options
    assert {"eta", "format", "normalize"} <= set(options)
    r = protocol.parse_request("/audioldm/generate", ["j", "x", "eta", 0.5, "format", "pcm24", "normalize", "off"])
    req = r.to_request()
    assert (req.eta, req.sample_format, req.normalize_db) == (0.5, "pcm24", None)


# -- the same ranges -----------------------------------------------------------------------------------
def _range_cases() -> list[tuple[str, str, Any, bool]]:
    cases = []
    for p in PARAMS.values():
        if p.positional and p.field in ("input_path", "prompt"):
            continue
        mode = next(m for m in MODES if p.applies_to(m))
        if p.lo is not None and p.hi is not None:
            eps = 1 if p.kind == INT else 0.001
            hi = min(p.hi, 2**53)  # a seed beyond 2^53 cannot be typed exactly as a float by OSC clients
            cases += [(mode, p.field, p.lo - eps, False), (mode, p.field, p.hi + eps, False)]
            # the span's bounds: a start at the top or an end at the bottom leaves no span (another rule)
            cases += [(mode, p.field, v, True) for v in (p.lo, hi) if (p.field, v) not in (("start", hi), ("end", 0))]
        if p.kind == CHOICE:
            cases += [(mode, p.field, c, True) for c in p.choices or ()]
            cases.append((mode, p.field, 12345 if isinstance(p.choices[0], int) else "nonsense", False))
        if p.kind == LEVEL:
            cases.append((mode, p.field, None, True))
    return cases


@pytest.mark.parametrize(("mode", "field", "value", "ok"), _range_cases())
def test_every_door_gives_the_same_verdict(
    mode: str, field: str, value: Any, ok: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    param = PARAMS[field]
    pos: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if param.positional:
        pos = {
            field: value,
            **({"start": 0.0} if field == "end" else {}),
            **({"end": 60.0} if field == "start" else {}),
        }
    else:
        extra = {field: value}
        # the tempo comes as a pair, at a length inside the allowed range
        if field == "bpm":
            extra["bars"] = 1.0
        if field == "bars":
            extra.update({"bpm": 400.0, "beats_per_bar": 1.0} if value >= 100 else {"bpm": 60.0})
    results = _doors(mode, extra, capsys, pos)
    for door, result in results.items():
        if ok:
            assert isinstance(result, GenerateRequest), (door, result)
        else:
            assert isinstance(result, str), (door, result)
            assert NAMES[door](param) in result and "expected" in result, (door, result)
    if ok and not param.door:
        got = {
            door: getattr(r.source, field, None) if param.source else getattr(r, field) for door, r in results.items()
        }
        assert len({repr(v) for v in got.values()}) == 1, got  # the same value through every door


# -- the same refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "extra", "field", "words"),
    [
        ("inpaint", {"loop": True}, "loop", "loop"),
        ("transfer", {"duration": 3.0}, "duration", "duration"),
        ("generate", {"strength": 0.3}, "strength", "strength"),
        ("continue", {"cutoff_hz": 4000.0}, "cutoff_hz", "cutoff"),
        ("upsample", {"bpm": 120.0, "bars": 1.0}, "bpm", "bpm"),
    ],
)
def test_options_a_mode_ignores_are_refused_on_every_door(
    mode: str, extra: dict[str, Any], field: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for door, result in _doors(mode, extra, capsys).items():
        assert isinstance(result, str), (door, result)
        assert NAMES[door](PARAMS[field]) in result and (mode in result or "not an option" in result), (door, result)


def test_a_tempo_and_a_duration_conflict_on_every_door(capsys: pytest.CaptureFixture[str]) -> None:
    extra = {"duration": 3.0, "bpm": 120.0, "bars": 2.0}
    results = _doors("generate", extra, capsys)
    assert results["python"] == "duration: give either duration or bpm and bars, not both"
    assert results["cli"] == "--duration: give either --duration or --bpm and --bars, not both"
    assert results["osc"] == "duration: give either duration or bpm and bars, not both"


def test_errors_use_the_callers_names(capsys: pytest.CaptureFixture[str]) -> None:
    results = _doors("generate", {"sample_rate": 24000}, capsys)
    assert results["python"].startswith(
        "sample_rate: expected one of 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000"
    )
    assert "argument --sr: expected one of 16000" in results["cli"]
    assert results["osc"].startswith(
        "sr: expected one of 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000"
    )
    results = _doors("inpaint", {}, capsys, {"start": 0.5, "end": 0.25})
    assert results["python"].startswith("end: expected a time after start (0.5)")
    assert results["cli"].startswith("end_s: expected a time after start_s (0.5)")
    assert results["osc"].startswith("end_s: expected a time after start_s (0.5)")


def test_python_refuses_what_a_mode_ignores_even_when_passed_directly() -> None:
    from audioldm_daw.engine.request import Continuation, Inpaint

    with pytest.raises(InvalidRequest, match="loop: applies to generate and variation, not to inpaint"):
        GenerateRequest(Inpaint("/a.wav", 1.0, 2.0), loop=True)
    with pytest.raises(InvalidRequest, match="bpm: applies to generate and variation, not to continue"):
        GenerateRequest(Continuation("/a.wav", 2.0), bpm=120, bars=1)
    assert GenerateRequest(Continuation("/a.wav", 2.0)).seconds is None  # the length follows the input


def test_presets_and_takes_on_every_door(capsys: pytest.CaptureFixture[str]) -> None:
    """``preset original`` sets the original's sampling where the caller gave nothing; ``count`` makes that
    many takes with consecutive seeds, on every door alike."""
    extra = {"preset": "original", "steps": 20, "seed": 7, "count": 3}
    python = build_takes("generate", {"prompt": "x", **extra})
    parser = argparse.ArgumentParser()
    add_request_arguments(parser, "generate")
    cli = takes_from_args(
        parser.parse_args(["x", "--preset", "original", "--steps", "20", "--seed", "7", "--count", "3"]), "generate"
    )
    osc = protocol.parse_request(
        "/audioldm/generate", ["j", "x", "preset", "original", "steps", 20, "seed", 7, "count", 3]
    ).to_takes()
    for takes in (python, cli, osc):
        assert [t.seed for t in takes] == [7, 8, 9]
        assert {(t.steps, t.eta, t.guidance, t.candidates, t.scheduler) for t in takes} == {
            (20, 1.0, 2.5, None, "ddim")
        }
    assert python == cli == osc
