"""The Max for Live device (max_patch/device/): the .amxd is what its source builds, it unpacks to a patcher
that is structurally sound, its controls are named Live parameters, its presentation fits a device strip,
nothing in it is shared between two instances, the JavaScript passes its node tests, and every request the
device builds is accepted by the engine's own parser.

No Max or Live here: what only Live can confirm is listed in max_patch/README.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from osc_helpers import drain
from test_patches import parse_maxpat, problems

from audioldm_daw.bridge import protocol
from audioldm_daw.bridge.protocol import parse_request
from audioldm_daw.engine.input_audio import check_request_input

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / "max_patch" / "device"
sys.path.insert(0, str(ROOT / "scripts"))
import build_amxd  # noqa: E402

DEVICE_HEIGHT = 169  # a Live device strip
# inlets/outlets of the objects the device uses, as Max reports them (Ableton/maxdevtools' object list)
COUNTS = {
    "live.text": (1, 2), "live.menu": (1, 3), "live.tab": (1, 3), "live.numbox": (1, 2), "live.dial": (1, 2),
    "live.drop": (1, 2), "textedit": (1, 4), "umenu": (1, 3), "comment": (1, 0), "message": (2, 1),
    "waveform~": (5, 6), "panel": (1, 0),
    "live.thisdevice": (1, 3), "live.path": (1, 3), "live.observer": (2, 2), "dspstate~": (1, 4), "buffer~": (1, 2),
    "plugin~": (2, 2), "plugout~": (2, 2), "sig~": (1, 1), "*~": (2, 1), "+~": (2, 1), "prepend": (1, 1),
    "print": (1, 0), "js": (1, 1), "node.script": (1, 2), "r": (1, 1), "s": (1, 0),
}  # fmt: skip


def object_counts(box: dict) -> tuple[int, int]:
    cls = box["maxclass"]
    if cls != "newobj":
        return COUNTS[cls]
    words = box["text"].split()
    name, args = words[0], [w for w in words[1:] if not w.startswith("@")]
    if name == "route":
        return (2 if len(args) == 1 else 1), len(args) + 1
    if name == "sel":
        return (2 if len(args) == 1 else 1), len(args) + 1
    if name == "t":
        return 1, len(args)
    if name == "groove~":
        return 3, int(args[1]) + 1
    return COUNTS[name]


@pytest.fixture(scope="module")
def amxd() -> tuple[bytes, dict]:
    return build_amxd.unpack((DEVICE / "AudioLDM.amxd").read_bytes())


@pytest.fixture(scope="module")
def patcher(amxd) -> dict:
    return amxd[1]["patcher"]


def test_the_amxd_is_what_the_source_builds():
    assert (DEVICE / "AudioLDM.amxd").read_bytes() == build_amxd.build(), "run python scripts/build_amxd.py"
    assert build_amxd.main(["--check"]) == 0


def test_container_header(amxd):
    raw = (DEVICE / "AudioLDM.amxd").read_bytes()
    assert raw[:4] == b"ampf" and raw[8:12] == b"aaaa" and raw[12:16] == b"meta" and raw[24:28] == b"ptch"
    assert int.from_bytes(raw[28:32], "little") == len(raw) - 32
    device_type, patch = amxd
    assert patch["patcher"]["project"]["amxdtype"] == int.from_bytes(device_type, "little") == 1633771873
    with pytest.raises(ValueError):
        build_amxd.unpack(b"RIFF" + raw[4:])


def test_boxes_and_lines_are_sound(patcher):
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    assert len(boxes) == len(patcher["boxes"]), "duplicate box ids"
    for box in boxes.values():
        assert (box["numinlets"], box["numoutlets"]) == object_counts(box), box.get("text") or box["maxclass"]
        assert len(box.get("outlettype", [])) == box["numoutlets"], box["id"]
    seen = set()
    for line in patcher["lines"]:
        (src, outlet), (dst, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
        assert src in boxes and dst in boxes
        assert outlet < boxes[src]["numoutlets"] and inlet < boxes[dst]["numinlets"], line
        assert (src, outlet, dst, inlet) not in seen, f"duplicate line {line}"
        seen.add((src, outlet, dst, inlet))
        if boxes[src].get("outlettype", [""])[outlet] == "signal":
            assert boxes[dst]["text"].split()[0] in ("*~", "+~", "plugout~", "groove~"), line


def test_live_parameters_are_named_saved_and_listed(patcher):
    params = {}
    for entry in patcher["boxes"]:
        box = entry["box"]
        if box["maxclass"].startswith("live.") and box["maxclass"] != "live.comment":
            assert box.get("parameter_enable") == 1, box["id"]
        if box.get("parameter_enable"):
            value = box["saved_attribute_attributes"]["valueof"]
            assert value["parameter_longname"] and value["parameter_shortname"] and box.get("varname")
            params[box["id"]] = value
    longnames = [v["parameter_longname"] for v in params.values()]
    assert len(set(longnames)) == len(longnames), "parameter long names must be unique"
    listed = {k: v for k, v in patcher["parameters"].items() if k.startswith("obj-")}
    assert listed == {k: [v["parameter_longname"], v["parameter_shortname"], 0] for k, v in params.items()}
    for name in ("Prompt", "Mode", "Bars", "Seconds", "Loop", "Steps", "Guidance", "Seed", "New Seed", "Folder"):
        assert name in longnames, name
    automatable = [v for v in params.values() if v["parameter_type"] in (0, 1, 2) and not v.get("parameter_invisible")]
    assert len(automatable) >= 10
    for v in params.values():
        if v["parameter_type"] in (0, 1):
            assert v["parameter_mmin"] < v["parameter_mmax"] and v["parameter_initial_enable"] == 1, v


def test_presentation_fits_a_device_strip(patcher):
    assert patcher["openinpresentation"] == 1 and patcher["openrect"][3] == DEVICE_HEIGHT
    shown = [b["box"] for b in patcher["boxes"] if b["box"].get("presentation")]
    assert len(shown) > 20
    for box in shown:
        x, y, w, h = box["presentation_rect"]
        assert x >= 0 and y >= 0 and y + h <= DEVICE_HEIGHT, (box["id"], box["presentation_rect"])
        assert x + w <= patcher["devicewidth"], box["id"]


def test_nothing_is_shared_between_two_instances(patcher):
    """Named things are private to each device (``---``): no global buffers, sends or fixed UDP ports."""
    for entry in patcher["boxes"]:
        box = entry["box"]
        words = (box.get("text") or "").split()
        assert not words or words[0] not in ("udpreceive", "udpsend"), "OSC lives in the node script, one socket each"
        if box["maxclass"] == "newobj" and words[0] in ("s", "r", "send", "receive", "buffer~", "groove~", "value"):
            assert words[1].startswith(("---", "#0")), box["text"]
        if box["maxclass"] == "message" and words[:1] == ["set"] and len(words) > 1 and "audioldm" in words[1]:
            assert words[1].startswith("---"), box["text"]
        if "buffername" in box:
            assert box["buffername"].startswith("---")


def test_the_patch_checks_of_the_plain_patches_pass(tmp_path, patcher):
    """The same static checks as max_patch/*.maxpat: no OSC address or reply outside the protocol."""
    path = tmp_path / "AudioLDM.maxpat"
    path.write_text(json.dumps({"patcher": patcher}))
    assert problems(parse_maxpat(path)) == []


def test_every_osc_address_in_the_javascript_is_in_the_protocol():
    core = (DEVICE / "audioldm_core.js").read_text()
    found = set(re.findall(r"/audioldm/[a-z_]+", core)) | {f"/audioldm/{m}" for m in protocol.MODE_ADDRESSES}
    known = set(protocol.ADDRESSES) | set(protocol.REPLIES)
    assert found - known == set(), found - known
    assert {"/audioldm/ping", "/audioldm/notify", "/audioldm/pong", "/audioldm/done", "/audioldm/fail"} <= found


def node() -> str:
    exe = shutil.which("node")
    assert exe, "Node.js is needed for the device's JavaScript tests: apt-get install nodejs"
    return exe


def test_javascript_under_node():
    """tests/node/*.test.js: OSC, presence (online/offline within 2 s, retry), launch, two instances, requests,
    takes (tests/node/core.test.js); the Live API script and the node.script entry with a stub max-api
    (tests/node/live.test.js)."""
    env = dict(os.environ, NODE_PATH=str(ROOT / "tests" / "node" / "stub"))
    tests = sorted(str(p) for p in (ROOT / "tests" / "node").glob("*.test.js"))
    proc = subprocess.run([node(), "--test", *tests], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"^# fail 0$", proc.stdout, re.M) and re.search(r"^# pass (\d+)$", proc.stdout, re.M)


def test_every_request_the_device_builds_is_accepted_by_the_engine(tmp_path):
    """The device's requests, caught on a UDP socket and parsed by the engine's own parser. ``folder`` is the
    device's per-set subfolder: until the engine has that option (see max_patch/README.md) the pair is checked
    as a sanitised stem and left out of the parse; once protocol.OPTIONS has it, the whole request is parsed.
    The input is a four-channel take: every mode's request for it passes the engine's door checks, and the edits
    (inpaint, continue, upsample) leave the rate to the take, so the result lines up with it sample for sample."""
    wav = tmp_path / "in.wav"
    t = np.arange(48000) / 48000
    sf.write(wav, np.stack([0.1 * (c + 1) * np.sin(2 * np.pi * 220 * t) for c in range(4)], axis=1), 48000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    try:
        cmd = [node(), str(ROOT / "tests" / "node" / "emit_requests.js"), str(sock.getsockname()[1]), str(wav)]
        subprocess.run(cmd, check=True, timeout=30)
        got = drain(sock)
    finally:
        sock.close()
    requests = [(a, args) for a, args in got if a.removeprefix("/audioldm/") in protocol.MODE_ADDRESSES]
    assert len(requests) == 7 and {a for a, _ in requests} == {f"/audioldm/{m}" for m in protocol.MODE_ADDRESSES}
    assert {a for a, _ in got} >= {"/audioldm/notify", "/audioldm/ping"}
    for address, args in requests:
        args = list(args)
        if "folder" not in protocol.OPTIONS:
            i = args.index("folder")
            assert args[i + 1] == "my-set"
            del args[i : i + 2]
        req = parse_request(address, args)
        request = req.to_request()
        edit = request.mode in ("inpaint", "continue", "upsample")
        assert request.sample_rate == (None if edit else 44100) and request.seed == req.options["seed"]
        check_request_input(request, cell_seconds=0.04)  # a four-channel take is accepted at the engine's door
    generate = dict(zip(requests[0][1][2::2], requests[0][1][3::2], strict=False))
    assert (generate["bpm"], generate["bars"], generate["beats"], generate["loop"]) == (96, 2, 3, 1)
    assert re.fullmatch(r"soft-rain-on-a-roof_s\d+_96bpm", generate["name"])
    seconds = [args for a, args in requests if a == "/audioldm/generate"][-1]
    assert "duration" in seconds and "bpm" not in seconds


def test_the_model_menu_is_on_the_strip_and_wired_to_the_script(patcher):
    """The engine's models (``models`` from the script, answering /audioldm/models) fill a menu on the device
    strip; a pick goes back to the script as ``model_menu``, and the script's ``model`` answer fills the Model
    field that Start Engine reads. tests/node/models.test.js covers the script's side."""
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    lines = {(ln["patchline"]["source"][0], ln["patchline"]["source"][1], ln["patchline"]["destination"][0])
             for ln in patcher["lines"]}  # fmt: skip
    script = next(k for k, b in boxes.items() if b.get("text", "").startswith("node.script"))
    first = next(d for s, o, d in lines if s == script and o == 0)
    route = next(k for k, b in boxes.items() if b.get("text") == "route models model")
    assert (first, boxes[first]["numoutlets"] - 1, route) in lines, "fed by what the first route leaves over"
    menu = next(d for s, o, d in lines if s == route and o == 0)
    assert boxes[menu]["maxclass"] == "umenu" and boxes[menu]["presentation"] == 1
    pick = next(d for s, o, d in lines if s == menu and o == 0)
    assert boxes[pick]["text"] == "prepend model_menu" and (pick, 0, script) in lines
    setter = next(d for s, o, d in lines if s == route and o == 1)
    assert boxes[setter]["text"] == "prepend set"
    assert any(s == setter and boxes[d].get("varname") == "model" for s, _, d in lines)
    assert "model_menu: (i) => device.pickModel" in (DEVICE / "audioldm_node.js").read_text()
