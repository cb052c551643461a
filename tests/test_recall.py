"""Exact recall across versions: sidecars written before the request redesign still regenerate the same
audio, and today's sidecars round-trip through JSON to the same request."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioldm_daw.engine import Engine, GenerateRequest

LEGACY = Path(__file__).parent / "data" / "legacy"
CASES = sorted(p.stem for p in LEGACY.glob("*.json"))


def _legacy_request(name: str) -> tuple[GenerateRequest, dict]:
    side = json.loads((LEGACY / f"{name}.json").read_text())
    data = dict(side["request"])
    if data.get("input_path"):  # recorded as an absolute path where the fixture was made
        data["input_path"] = str(LEGACY / Path(data["input_path"]).name)
    return GenerateRequest.from_dict(data), side


def test_there_is_a_legacy_sidecar_for_every_mode() -> None:
    modes = {_legacy_request(n)[0].mode for n in CASES}
    assert modes == {"generate", "variation", "transfer", "inpaint", "upsample", "continue"}


@pytest.mark.parametrize("name", CASES)
def test_legacy_sidecar_regenerates_the_same_audio(tiny_engine: Engine, name: str, tmp_path: Path) -> None:
    request, side = _legacy_request(name)
    assert side["model"]["hash"] == tiny_engine.model.content_hash  # the same tiny weights as then
    result = tiny_engine.render(request, tmp_path / f"{name}.wav")
    old, sr_old = sf.read(LEGACY / f"{name}.wav", dtype="float32")
    new, sr_new = sf.read(result.path, dtype="float32")
    assert sr_new == sr_old == side["sample_rate"]
    assert len(new) == len(old) == side["samples"]
    assert result.clip.chosen == side["chosen_candidate"]
    assert float(np.max(np.abs(new - old))) <= 1e-5, name
    # the new sidecar holds the same request in today's form, which reads back to the same request
    again = GenerateRequest.from_dict(json.loads(result.sidecar.read_text())["request"])
    assert again == result.clip.request


def test_flat_sidecar_fields_map_onto_sources() -> None:
    request, _ = _legacy_request("inpaint")
    assert (request.source.start, request.source.end, request.source.prompt) == (0.5, 0.9, "a cymbal")
    assert request.duration is None  # the input's length was recorded as a duration; it is the input's again
    tempo, _ = _legacy_request("generate-tempo-44k-pcm24")
    assert (tempo.bpm, tempo.bars, tempo.duration, tempo.seconds) == (150.0, 1.0, None, 1.6)
    cont, _ = _legacy_request("continue")
    assert cont.source.seconds == 0.7
