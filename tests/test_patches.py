"""The Max and Pd patches speak the protocol: every OSC message they send is in the address table with an
argument shape the server accepts, and every reply they route is one the server sends.

The patches are parsed statically (no Max on Linux): Max message boxes (``/audioldm/generate $1 $2``,
``set /audioldm/job $1``), ``prepend /audioldm/x`` objects and ``route`` over reply addresses; Pd
``[oscformat audioldm generate]`` with the message boxes wired into it, ``[route audioldm]`` ->
``[route done fail ...]``, and the ``key value`` option lists both build. ``$N`` is a run-time value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from audioldm_daw.bridge import protocol
from audioldm_daw.bridge.protocol import ANY, check_shape

PATCHES = Path(__file__).resolve().parents[1] / "max_patch"
PREFIX = "/audioldm/"


@dataclass
class Found:
    """What a patch sends and routes: (where, address, args) per message; (where, reply address) per route."""

    sends: list[tuple[str, str, list]] = field(default_factory=list)
    addresses_only: list[tuple[str, str]] = field(default_factory=list)  # args come at run time
    option_lists: list[tuple[str, list]] = field(default_factory=list)
    routes: list[tuple[str, str]] = field(default_factory=list)


def atom(text: str) -> object:
    """A Max/Pd atom: ``$N`` -> ANY, numbers -> int/float, anything else a symbol."""
    if re.fullmatch(r"\$\d+", text):
        return ANY
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text


def looks_like_options(args: list) -> bool:
    """A ``key value ...`` list whose keys include a known option (what Max ``set`` / Pd ``list`` boxes hold)."""
    keys = args[0::2]
    return len(args) % 2 == 0 and isinstance(args[0], str) and any(k in protocol.OPTIONS for k in keys)


# -- Max ---------------------------------------------------------------------------------------------
def max_tokens(text: str) -> list[str]:
    """Split Max message text into atoms: double quotes group, backslash escapes."""
    out, cur, quoted, esc, started = [], "", False, False, False
    for ch in text:
        if esc:
            cur, esc, started = cur + ch, False, True
        elif ch == "\\":
            esc = True
        elif ch == '"':
            quoted, started = not quoted, True
        elif ch.isspace() and not quoted:
            if started:
                out.append(cur)
            cur, started = "", False
        else:
            cur, started = cur + ch, True
    if started:
        out.append(cur)
    return out


def max_messages(text: str) -> Iterator[list[str]]:
    """The messages a Max message box sends from its outlet: split at commas; ``;`` lines go elsewhere."""
    outlet_part = re.split(r"(?<!\\);", text, maxsplit=1)[0]
    for part in re.split(r"(?<!\\),", outlet_part):
        words = max_tokens(part)
        if words:
            yield words


def walk_max(patcher: dict, path: str) -> Iterator[tuple[str, dict, dict]]:
    """Every box of a patcher and its subpatchers, with the patcher that holds it."""
    for entry in patcher.get("boxes", []):
        box = entry["box"]
        yield f"{path}/{box.get('id')}", box, patcher
        if isinstance(box.get("patcher"), dict):
            yield from walk_max(box["patcher"], f"{path}/{box.get('id')}")


def max_set_targets(patcher: dict) -> set[str]:
    """Message boxes whose saved text is replaced at run time: wired (directly, or through ``s``/``r``) from
    a ``set ...`` message box, or fed into their right inlet (which sets without output)."""
    boxes = {b["box"]["id"]: b["box"] for b in patcher.get("boxes", [])}
    lines = [(ln["patchline"]["source"], ln["patchline"]["destination"]) for ln in patcher.get("lines", [])]

    def is_set(box_id: str) -> bool:
        box = boxes.get(box_id, {})
        return box.get("maxclass") == "message" and (box.get("text") or "").startswith("set ")

    set_sends = set()  # names of [s NAME] objects that carry set messages
    for src, dst in lines:
        words = max_tokens(boxes.get(dst[0], {}).get("text", "") or "")
        if is_set(src[0]) and words[:1] in (["s"], ["send"]) and len(words) > 1:
            set_sends.add(words[1])
    targets = set()
    for src, dst in lines:
        if boxes.get(dst[0], {}).get("maxclass") != "message":
            continue
        words = max_tokens(boxes.get(src[0], {}).get("text", "") or "")
        from_set_receive = words[:1] in (["r"], ["receive"]) and len(words) > 1 and words[1] in set_sends
        if dst[1] == 1 or is_set(src[0]) or from_set_receive:
            targets.add(dst[0])
    return targets


def parse_maxpat(path: Path) -> Found:
    found = Found()
    data = json.loads(path.read_text())
    targets: dict[int, set[str]] = {}
    for where, box, patcher in walk_max(data["patcher"], path.name):
        cls, text = box.get("maxclass"), box.get("text", "") or ""
        tset = targets.setdefault(id(patcher), max_set_targets(patcher))
        if cls == "message":
            for words in max_messages(text):
                if words[0] == "set":  # becomes the content of the box it is wired to
                    words = words[1:]
                    if not words:
                        continue
                    if not words[0].startswith(PREFIX) and looks_like_options([atom(w) for w in words]):
                        found.option_lists.append((where, [atom(w) for w in words]))
                        continue
                elif box.get("id") in tset and words[0].startswith(PREFIX):
                    found.addresses_only.append((where, words[0]))  # placeholder text, set at run time
                    continue
                if words[0].startswith(PREFIX):
                    found.sends.append((where, words[0], [atom(w) for w in words[1:]]))
        elif cls == "newobj":
            words = max_tokens(text)
            if not words:
                continue
            if words[0] == "prepend" and len(words) > 1 and words[1].startswith(PREFIX):
                found.addresses_only.append((where, words[1]))
            elif words[0] in ("route", "routepass", "select", "sel"):
                found.routes += [(where, w) for w in words[1:] if w.startswith(PREFIX)]
    return found


# -- Pd ----------------------------------------------------------------------------------------------
@dataclass
class PdCanvas:
    objects: list[tuple[str, list[str]]] = field(default_factory=list)  # (kind, atoms) by index
    connections: list[tuple[int, int, int, int]] = field(default_factory=list)


def pd_records(text: str) -> Iterator[list[str]]:
    """Pd file records: split at unescaped ``;``, atoms at unescaped whitespace, escapes resolved."""
    for rec in re.split(r"(?<!\\);\s*\n?", text):
        atoms = re.split(r"(?<!\\)\s+", rec.strip())
        atoms = [re.sub(r"\\(.)", r"\1", a) for a in atoms if a]
        if atoms:
            yield atoms


def pd_canvases(path: Path) -> list[PdCanvas]:
    """Every canvas of a Pd file (subpatches too), objects counted the way ``#X connect`` counts them."""
    stack: list[PdCanvas] = []
    done: list[PdCanvas] = []
    for rec in pd_records(path.read_text()):
        head = rec[:2]
        if head == ["#N", "canvas"]:
            stack.append(PdCanvas())
        elif head == ["#X", "restore"]:
            done.append(stack.pop())
            stack[-1].objects.append(("obj", rec[4:]))  # the subpatch is one object in its parent
        elif head[0] == "#X" and head[1] in ("obj", "msg", "text", "floatatom", "symbolatom", "listbox"):
            stack[-1].objects.append((head[1], rec[4:]))
        elif head[0] == "#X" and head[1] in ("array", "scalar"):
            stack[-1].objects.append((head[1], rec[2:]))
        elif head == ["#X", "connect"]:
            stack[-1].connections.append(tuple(int(x) for x in rec[2:6]))
    done += stack
    return done


def pd_messages(atoms: list[str]) -> Iterator[list[object]]:
    """A Pd message box's messages from its outlet (``,`` splits; ``;`` starts sends elsewhere)."""
    text = " ".join(a.replace(" ", "\x00") for a in atoms)
    outlet = re.split(r"(?:^| );(?: |$)", text, maxsplit=1)[0]
    for part in re.split(r"(?:^| ),(?: |$)", outlet):
        words = [w.replace("\x00", " ") for w in part.split()]
        if words:
            yield [atom(w) for w in words]


def oscformat_address(atoms: list[str]) -> str:
    words = list(atoms[1:])
    while words and words[0].startswith("-"):  # flags such as -f ifs
        words = words[2:] if words[0] == "-f" else words[1:]
    return "/" + "/".join(words)


def parse_pd(path: Path) -> Found:
    found = Found()
    for n, canvas in enumerate(pd_canvases(path)):
        objs = canvas.objects
        into: dict[int, list[int]] = {}
        out_of: dict[tuple[int, int], list[int]] = {}
        for src, outlet, dst, inlet in canvas.connections:
            if inlet == 0:
                into.setdefault(dst, []).append(src)
            out_of.setdefault((src, outlet), []).append(dst)
        feeds_osc = {s for s, _, d, _ in canvas.connections if objs[d][0] == "obj" and objs[d][1][:1] == ["oscformat"]}
        for i, (kind, atoms) in enumerate(objs):
            where = f"{path.name}#{n}:{i}"
            if kind == "obj" and atoms and atoms[0] == "oscformat":
                address = oscformat_address(atoms)
                direct = [objs[s] for s in into.get(i, []) if objs[s][0] == "msg"]
                found.addresses_only.append((where, address))
                for _, msg_atoms in direct:
                    for words in pd_messages(msg_atoms):
                        if words[0] == "list":
                            found.sends.append((where, address, words[1:]))
                        elif words[0] == "set":  # changes the address for what follows
                            found.addresses_only.append((where, "/" + "/".join(map(str, words[1:]))))
            elif kind == "msg" and i not in feeds_osc:  # whole requests are checked at their oscformat
                for words in pd_messages(atoms):
                    if words[0] in ("list", "set") and looks_like_options(words[1:]):
                        found.option_lists.append((where, words[1:]))
            elif kind == "obj" and atoms[:2] == ["route", "audioldm"]:
                for dst in out_of.get((i, 0), []):
                    d_kind, d_atoms = objs[dst]
                    if d_kind == "obj" and d_atoms and d_atoms[0] == "route":
                        found.routes += [(f"{where}->{dst}", PREFIX + w) for w in d_atoms[1:]]
    return found


# -- the checks --------------------------------------------------------------------------------------
def problems(found: Found) -> list[str]:
    out = []
    for where, address, args in found.sends:
        out += [f"{where}: {p}" for p in check_shape(address, args)]
    for where, address in found.addresses_only:
        if address not in protocol.ADDRESSES:
            out.append(f"{where}: {address} is not a request address of the protocol")
    for where, args in found.option_lists:
        for key, value in zip(args[0::2], args[1::2], strict=False):
            if key is ANY:
                continue
            if key not in protocol.OPTIONS:
                out.append(f"{where}: option {key!r} is not in the protocol")
            elif value is not ANY:
                try:
                    protocol.coerce(protocol.OPTIONS[key], value, key)
                except ValueError as exc:
                    out.append(f"{where}: {exc}")
    for where, address in found.routes:
        if address not in protocol.REPLIES:
            out.append(f"{where}: routes {address}, which the engine never sends")
    return out


EXPECTED = ("audioldm.maxpat", "audioldm.pd", "test_generate.pd")


def all_patches() -> list[Path]:
    return sorted(p for p in PATCHES.glob("*") if p.suffix in (".maxpat", ".pd"))


def test_the_patches_are_there():
    names = {p.name for p in all_patches()}
    assert set(EXPECTED) <= names, f"missing from max_patch/: {set(EXPECTED) - names}"


@pytest.mark.parametrize("path", all_patches(), ids=lambda p: p.name)
def test_patch_speaks_the_protocol(path):
    found = parse_maxpat(path) if path.suffix == ".maxpat" else parse_pd(path)
    assert found.sends or found.addresses_only, f"{path.name}: found no OSC requests"
    assert problems(found) == []
    sent = {a for _, a, _ in found.sends} | {a for _, a in found.addresses_only}
    assert "/audioldm/generate" in sent
    if path.name != "test_generate.pd":
        assert "/audioldm/notify" in sent and {"/audioldm/cancel", "/audioldm/play"} <= sent
    routed = {a for _, a in found.routes}
    assert {"/audioldm/done", "/audioldm/fail"} <= routed, f"{path.name} does not route done/fail: {routed}"


# -- the parsers themselves, on small hand-written patches -----------------------------------------
MAXPAT = {
    "patcher": {
        "boxes": [
            {"box": {"id": "obj-1", "maxclass": "message", "text": "/audioldm/generate $1 $2 duration $3"}},
            {"box": {"id": "obj-2", "maxclass": "message", "text": "/audioldm/notify 9001, /audioldm/ping"}},
            {"box": {"id": "obj-3", "maxclass": "newobj", "text": "prepend /audioldm/cancel"}},
            {"box": {"id": "obj-4", "maxclass": "newobj", "text": "route /audioldm/done /audioldm/oops"}},
            {"box": {"id": "obj-5", "maxclass": "message", "text": "set /audioldm/job $1"}},
            {"box": {"id": "obj-6", "maxclass": "message", "text": "/audioldm/job"}},
            {"box": {"id": "obj-7", "maxclass": "message", "text": "set stpes $1 seed $2"}},
            {"box": {"id": "obj-8", "maxclass": "message", "text": '/audioldm/generate j "a pad" steps 0'}},
            {"box": {"id": "obj-9", "maxclass": "newobj", "text": "p sub", "patcher": {"boxes": [
                {"box": {"id": "obj-1", "maxclass": "message", "text": "/audioldm/stopp"}}], "lines": []}}},
        ],
        "lines": [{"patchline": {"source": ["obj-5", 0], "destination": ["obj-6", 0]}}],
    }
}  # fmt: skip

PD = r"""#N canvas 0 0 400 400 12;
#X msg 10 10 list job-1 a\ warm\ pad duration 2 steps \$1;
#X obj 10 40 oscformat audioldm generate;
#X msg 10 70 list steps \$1 colour \$2;
#X obj 10 100 route audioldm;
#X obj 10 130 route done fail progres;
#X msg 10 160 list 1.5;
#X obj 10 190 oscformat -f i audioldm notify;
#X connect 0 0 1 0;
#X connect 3 0 4 0;
#X connect 5 0 6 0;
"""


def test_max_parser_finds_sends_routes_and_mistakes(tmp_path):
    p = tmp_path / "t.maxpat"
    p.write_text(json.dumps(MAXPAT))
    found = parse_maxpat(p)
    sends = {(a, tuple(map(repr, args))) for _, a, args in found.sends}
    assert ("/audioldm/generate", ("$", "$", "'duration'", "$")) in sends
    assert ("/audioldm/notify", ("9001",)) in sends and ("/audioldm/job", ("$",)) in sends
    assert ("/audioldm/generate", ("'j'", "'a pad'", "'steps'", "0")) in sends
    assert [a for _, a in found.addresses_only] == ["/audioldm/cancel", "/audioldm/job"]
    assert ("/audioldm/stopp", ()) in sends  # found inside the subpatcher
    issues = "\n".join(problems(found))
    assert "option 'stpes' is not in the protocol" in issues
    assert "steps: expected an integer in 1..1000" in issues
    assert "routes /audioldm/oops" in issues and "/audioldm/stopp: not a request address" in issues
    assert len(problems(found)) == 4


def test_pd_parser_finds_sends_routes_and_mistakes(tmp_path):
    p = tmp_path / "t.pd"
    p.write_text(PD)
    found = parse_pd(p)
    assert found.sends[0][1:] == ("/audioldm/generate", ["job-1", "a warm pad", "duration", 2, "steps", ANY])
    assert ("/audioldm/notify", [1.5]) in [s[1:] for s in found.sends]
    assert [a for _, a in found.routes] == ["/audioldm/done", "/audioldm/fail", "/audioldm/progres"]
    issues = "\n".join(problems(found))
    assert "port: expected an integer in 1..65535, got float 1.5" in issues
    assert "option 'colour' is not in the protocol" in issues
    assert "routes /audioldm/progres" in issues
    assert len(problems(found)) == 3


def test_pd_patch_sends_its_own_sample_rate():
    """audioldm.pd asks for clips at Pd's rate: every option list ends with ``sr $7``, fed by [samplerate~]."""
    found = parse_pd(PATCHES / "audioldm.pd")
    lists = [args for _, args in found.option_lists]
    assert len(lists) == 3 and all(args[-2:] == ["sr", ANY] for args in lists), lists
    text = (PATCHES / "audioldm.pd").read_text()
    assert "samplerate~" in text and "192000" in text


def test_every_client_knows_the_engines_sample_rates():
    """The Live device, the Pd patch, REAPER and Bitwig each carry the engine's list of output rates (they
    cannot import it); a rate added to or dropped from the engine must reach all four, or a client would ask
    for a rate the engine refuses, or round a rate the engine has to another one."""
    from audioldm_daw.engine.params import OUTPUT_SAMPLE_RATES

    root = PATCHES.parent

    def numbers(path: Path, pattern: str) -> list[int]:
        match = re.search(pattern, path.read_text(), re.S)
        assert match, (path, pattern)
        return [int(n) for n in re.findall(r"\d+", match.group(1))]

    engine = sorted(OUTPUT_SAMPLE_RATES)
    assert numbers(PATCHES / "device" / "audioldm_core.js", r"const SAMPLE_RATES = \[(.*?)\]") == engine
    assert numbers(root / "daw" / "reaper" / "audioldm_daw.lua", r"M\.RATES = \{(.*?)\}") == engine
    assert sorted(numbers(root / "daw" / "bitwig" / "AudioLDM.control.js", r"var SAMPLE_RATES = \[(.*?)\]")) == engine
    pd = numbers(PATCHES / "audioldm.pd", r"obj \d+ \d+ expr (if\(.*?);\n")
    assert sorted(set(pd) - {1}) == engine, pd  # $f1 reads as the number 1


# The Live device's controls and the engine parameter whose range each one must span (extend counts bars, as the
# device's default length mode does).
DEVICE_RANGES = {
    "bars": "bars",
    "seconds": "duration",
    "steps": "steps",
    "guidance": "guidance",
    "strength": "strength",
    "span_start": "start",
    "span_end": "end",
    "extend": "bars",
}


def test_the_live_devices_ranges_are_the_engines():
    """The device's dials and number boxes (steps, guidance, the lengths, the span) reach exactly as far as the
    engine's parameters do (engine/params.py), in its source and in the .amxd built from it: a range narrower
    than the engine's hides settings the engine takes, a wider one offers values it refuses."""
    import importlib.util

    from audioldm_daw.engine.params import PARAMS

    spec = importlib.util.spec_from_file_location("build_amxd", PATCHES.parent / "scripts" / "build_amxd.py")
    assert spec is not None and spec.loader is not None
    build_amxd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_amxd)
    source = json.loads((PATCHES / "device" / "AudioLDM.maxpat").read_text())
    built = build_amxd.unpack((PATCHES / "device" / "AudioLDM.amxd").read_bytes())[1]
    for patch in (source, built):
        ranges = {
            box["box"]["varname"]: (
                box["box"]["saved_attribute_attributes"]["valueof"]["parameter_mmin"],
                box["box"]["saved_attribute_attributes"]["valueof"]["parameter_mmax"],
            )
            for box in patch["patcher"]["boxes"]
            if box["box"].get("varname") in DEVICE_RANGES
        }
        assert set(ranges) == set(DEVICE_RANGES)
        for control, param in DEVICE_RANGES.items():
            assert ranges[control] == (PARAMS[param].lo, PARAMS[param].hi), (control, param)


def test_the_max_patch_offers_the_engines_models_in_a_menu():
    """/audioldm/models fills a presentation menu with what ``serve --model`` takes (the 6th reply argument); a
    pick shows the command that restarts the engine with it (the engine serves one model)."""
    path = PATCHES / "audioldm.maxpat"
    found = parse_maxpat(path)
    assert ("/audioldm/models", []) in [(a, args) for _, a, args in found.sends]
    assert {"/audioldm/model", "/audioldm/models_end"} <= {a for _, a in found.routes}
    patcher = json.loads(path.read_text())["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    lines = {(ln["patchline"]["source"][0], ln["patchline"]["source"][1], ln["patchline"]["destination"][0])
             for ln in patcher["lines"]}  # fmt: skip
    route = next(k for k, b in boxes.items() if b.get("text") == "route /audioldm/model /audioldm/models_end")
    assert any(boxes[s].get("text", "").startswith("route /audioldm/") and d == route for s, _, d in lines)
    item = next(d for s, o, d in lines if s == route and o == 0)
    menu = next(d for s, o, d in lines if s == item and o == 0)
    assert boxes[item]["text"] == "append $6" and boxes[menu]["maxclass"] == "umenu" and boxes[menu]["presentation"]
    command = next(d for s, o, d in lines if s == menu and o == 1)
    assert boxes[command]["text"].endswith("audioldm-daw serve --model")
    shown = next(d for s, o, d in lines if s == command)
    assert boxes[shown]["presentation"] == 1


def test_the_pd_patch_keeps_the_engines_models_and_shows_the_command_for_one():
    found = parse_pd(PATCHES / "audioldm.pd")
    assert ("/audioldm/models", []) in [(a, args) for _, a, args in found.sends]
    main = pd_canvases(PATCHES / "audioldm.pd")[-1]
    objs = main.objects
    index = {" ".join(atoms): i for i, (_, atoms) in enumerate(objs)}
    replies = next(i for i, (_, a) in enumerate(objs) if a[:2] == ["route", "queued"])
    route = index["route model models_end"]
    assert (replies, len(objs[replies][1]) - 1, route, 0) in main.connections  # what the reply route leaves over
    assert (route, 0, index["text set audioldm-models 1e+06"], 0) in main.connections  # one line per model
    assert "text define audioldm-models" in index
    get, split = index["text get audioldm-models"], index["list split 5"]
    assert (get, 0, split, 0) in main.connections
    assert (split, 1, index["set audioldm-daw serve --model $1"], 0) in main.connections  # the 6th: serve --model


def test_the_live_device_has_an_engine_setting_and_a_menu_of_the_engines_found():
    """The device's presentation carries Engine Host (the OSC server: host or host:port), Engine URL and Engine
    Key File (Start Engine's ``serve --engine URL --token-file FILE``), each a saved setting wired to the script,
    and a menu the script fills from /audioldm/engines whose pick fills Engine URL; no address is fixed in it."""
    import importlib.util
    import shutil
    import subprocess

    spec = importlib.util.spec_from_file_location("build_amxd", PATCHES.parent / "scripts" / "build_amxd.py")
    assert spec is not None and spec.loader is not None
    build_amxd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_amxd)
    device = PATCHES / "device"
    patcher = build_amxd.unpack((device / "AudioLDM.amxd").read_bytes())[1]["patcher"]
    assert patcher == json.loads((device / "AudioLDM.maxpat").read_text())["patcher"] | {"project": patcher["project"]}
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    lines = {(ln["patchline"]["source"][0], ln["patchline"]["source"][1], ln["patchline"]["destination"][0])
             for ln in patcher["lines"]}  # fmt: skip
    script = next(k for k, b in boxes.items() if b.get("text", "").startswith("node.script"))
    for var, longname in (("host", "Engine Host"), ("remote", "Engine URL"), ("keyfile", "Engine Key File")):
        field_id = next(k for k, b in boxes.items() if b.get("varname") == var)
        field_box = boxes[field_id]
        assert field_box["maxclass"] == "textedit" and field_box["presentation"] == 1 and field_box["hint"]
        assert field_box["saved_attribute_attributes"]["valueof"]["parameter_longname"] == longname
        pre = next(d for s, o, d in lines if s == field_id and o == 0)
        assert boxes[pre]["text"] == f"prepend {var}" and (pre, 0, script) in lines
    route = next(k for k, b in boxes.items() if b.get("text") == "route engines remote host")
    assert any(boxes[s].get("text", "").startswith("route models") and d == route for s, _, d in lines)
    menu = next(d for s, o, d in lines if s == route and o == 0)
    assert boxes[menu]["maxclass"] == "umenu" and boxes[menu]["presentation"] == 1
    pick = next(d for s, o, d in lines if s == menu and o == 0)
    assert boxes[pick]["text"] == "prepend engine_menu" and (pick, 0, script) in lines
    setter = next(d for s, o, d in lines if s == route and o == 1)
    assert any(s == setter and boxes[d].get("varname") == "remote" for s, _, d in lines)
    for name in ("AudioLDM.maxpat", "audioldm_core.js", "audioldm_node.js"):
        assert "127.0.0.1" not in (device / name).read_text(), name
    assert "engine_menu: (i) => device.pickEngine" in (device / "audioldm_node.js").read_text()
    assert "/audioldm/engines" in protocol.ADDRESSES and "/audioldm/engine" in protocol.REPLIES

    node = shutil.which("node")
    assert node, "Node.js is needed for the device's JavaScript: apt-get install nodejs"
    script_js = r"""
const { Device } = require(process.argv[1]);
const out = [], spawned = [];
const d = new Device({ out: (...a) => out.push(a), post: () => {}, now: () => 0, random: () => 0.5,
  spawn: (cmd, args) => { spawned.push(args); return { on() {}, stdout: null, stderr: null, kill() {} }; } });
d.sock = { send: (buf, port, host) => out.push(["sent", port, host]), close() {} };
d.open = () => { out.push(["reopened", d.local() ? "loopback" : "every interface"]); return Promise.resolve(0); };
d.listEngines();
d.reply("/audioldm/engine", ["studio gpu", "http://10.0.0.7:8750", "tiny", "A100"]);
d.reply("/audioldm/engines_end", [1]);
d.pickEngine(1);
d.set("keyfile", "text", "/keys/engine.key");
d.startEngine();
d.child = null;
d.set("host", "text", "192.168.1.5:9100");
d.startEngine();
console.log(JSON.stringify({ out, spawned, host: d.host, port: d.port }));
"""
    proc = subprocess.run([node, "-e", script_js, str(device / "audioldm_core.js")], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    menu_items = [a[2] for a in got["out"] if a[:2] == ["engines", "append"]]
    assert menu_items == ["this computer", "studio gpu (tiny, A100)", "find engines on the network"]
    assert ["remote", "http://10.0.0.7:8750"] in got["out"]
    assert ["sent", 9000, "localhost"] in got["out"]  # /audioldm/engines went to the default engine host
    assert got["spawned"] == [
        ["serve", "--port", "9000", "--engine", "http://10.0.0.7:8750", "--token-file", "/keys/engine.key"]
    ]  # the second Start Engine is refused: the engine host is another computer
    assert (got["host"], got["port"]) == ("192.168.1.5", 9100)
    assert ["reopened", "every interface"] in got["out"]  # replies from another computer: the socket listens wider
    assert any(a[0] == "status" and "start audioldm-daw serve there" in a[1] for a in got["out"])


# The Live device's on/off controls of engine options that are on by default: (varname, long name, the word
# the patch sends the script, the engine parameter).
DEVICE_SWITCHES = (
    ("fit_to_tempo", "Fit to Tempo", "fit", "fit"),
    ("full_band", "Full Band", "fullband", "full_band"),
)

# Drives the device's node.script entry as Max does (the stub max-api calls the handlers the script registered):
# each pair of switch values, then Generate in every mode; the requests go to the test's UDP socket.
SWITCH_DRIVER = r"""
const maxAPI = require("max-api");
const entry = require(process.argv[1]);
const [port, input, combos] = [Number(process.argv[2]), process.argv[3], JSON.parse(process.argv[4])];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  while (!maxAPI.outlets.some((a) => a[0] === "ready")) await sleep(20);
  await maxAPI.send("engine_port", port);
  entry.device.reply("/audioldm/pong", ["test", "tiny"]); // online: no engine answers the test's socket
  await maxAPI.send("prompt", "text", "soft", "rain");
  await maxAPI.send("input", input);
  await maxAPI.send("newseed", 0);
  for (const [fit, fullband] of combos) {
    await maxAPI.send("fit", fit);
    await maxAPI.send("fullband", fullband);
    for (let m = 0; m < 6; m++) {
      await maxAPI.send("mode", m);
      await maxAPI.send("generate");
      await sleep(10);
    }
  }
  await sleep(200);
  entry.device.close();
  process.exit(0);
})();
"""


def _box_wiring(patcher: dict) -> tuple[dict[str, dict], set[tuple[str, int, str]]]:
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    lines = {(ln["patchline"]["source"][0], ln["patchline"]["source"][1], ln["patchline"]["destination"][0])
             for ln in patcher["lines"]}  # fmt: skip
    return boxes, lines


def test_the_live_device_switches_tempo_fit_and_full_band():
    """Fit to Tempo and Full Band are two saved toggles on the device strip, on at first as the engine's own
    defaults are (engine/params.py), in the source and in the .amxd built from it. Each goes to the script as
    ``fit`` / ``fullband``, is set again from a recalled take, and is re-sent when the script starts."""
    import importlib.util

    from audioldm_daw.engine.params import FLAG, PARAMS

    spec = importlib.util.spec_from_file_location("build_amxd", PATCHES.parent / "scripts" / "build_amxd.py")
    assert spec is not None and spec.loader is not None
    build_amxd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_amxd)
    source = json.loads((PATCHES / "device" / "AudioLDM.maxpat").read_text())["patcher"]
    built = build_amxd.unpack((PATCHES / "device" / "AudioLDM.amxd").read_bytes())[1]["patcher"]
    assert built == source | {"project": built["project"]}, "run python scripts/build_amxd.py"
    boxes, lines = _box_wiring(source)
    script = next(k for k, b in boxes.items() if b.get("text", "").startswith("node.script"))
    first = next(d for s, o, d in lines if s == script and o == 0)
    routed = boxes[first]["text"].split()[1:]
    dump = next(k for k, b in boxes.items() if b.get("text") == "r ---audioldm_dump")
    for var, longname, word, param in DEVICE_SWITCHES:
        assert PARAMS[param].kind == FLAG and PARAMS[param].default is True, param
        toggle_id = next(k for k, b in boxes.items() if b.get("varname") == var)
        toggle = boxes[toggle_id]
        value = toggle["saved_attribute_attributes"]["valueof"]
        assert toggle["maxclass"] == "live.text" and toggle["mode"] == 1 and toggle["parameter_enable"] == 1
        assert toggle["presentation"] == 1 and toggle["presentation_rect"][1] + toggle["presentation_rect"][3] <= 169
        assert value["parameter_longname"] == longname and value["parameter_type"] == 2
        assert (value.get("parameter_mmin", 0), value["parameter_mmax"]) == (0, 1) and len(value["parameter_enum"]) == 2
        assert value["parameter_initial"] == [int(PARAMS[param].default)] and value["parameter_initial_enable"] == 1
        assert toggle["texton"] == value["parameter_enum"][1] and toggle["text"] == value["parameter_enum"][0]
        assert source["parameters"][toggle_id] == [longname, value["parameter_shortname"], 0]
        pre = next(d for s, o, d in lines if s == toggle_id and o == 0)
        assert boxes[pre]["text"] == f"prepend {word}" and (pre, 0, script) in lines
        assert (first, routed.index(word), toggle_id) in lines, f"a recalled take sets {var}"
        assert (dump, 0, toggle_id) in lines, f"{var} is sent again when the script starts"
    models = next(k for k, b in boxes.items() if b.get("text") == "route models model")
    assert (first, boxes[first]["numoutlets"] - 1, models) in lines, "what the first route leaves over goes on"


def option(args: list, key: str) -> object:
    """The value after ``key`` in an OSC request's arguments."""
    return args[args.index(key) + 1]


def test_the_live_devices_switches_reach_the_engine():
    """Through the script's own entry, as the patch's ``prepend fit`` / ``prepend fullband`` send them: each switch
    off sends ``fit 0`` / ``fullband 0``, on sends 1 (the device states every option, as it does ``loop``), and the
    engine's own parser reads the request so. ``fit`` goes with generate and variation only: the engine refuses it
    for the other modes."""
    import os
    import shutil
    import socket
    import subprocess

    from osc_helpers import drain

    from audioldm_daw.bridge.protocol import parse_request

    node = shutil.which("node")
    assert node, "Node.js is needed for the device's JavaScript: apt-get install nodejs"
    root = PATCHES.parent
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    got: list[tuple[str, list]] = []
    combos = [[1, 1], [0, 1], [1, 0], [0, 0]]  # [fit, fullband]: both on, each alone off, both off
    try:
        entry = str(PATCHES / "device" / "audioldm_node.js")
        cmd = [node, "-e", SWITCH_DRIVER, entry, str(sock.getsockname()[1]), "/clips/take.wav", json.dumps(combos)]
        env = dict(os.environ, NODE_PATH=str(root / "tests" / "node" / "stub"))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=root)
        assert proc.returncode == 0, proc.stderr
        got = drain(sock)
    finally:
        sock.close()
    modes = ("generate", "variation", "transfer", "inpaint", "continue", "upsample")
    requests = [(a, args) for a, args in got if a.removeprefix(PREFIX) in modes]
    assert [a.removeprefix(PREFIX) for a, _ in requests] == list(modes) * len(combos)
    for n, (address, args) in enumerate(requests):
        fit, fullband = combos[n // len(modes)]
        mode = address.removeprefix(PREFIX)
        assert option(args, "fullband") == fullband, (address, args)
        request = parse_request(address, args).to_request()
        assert request.full_band is bool(fullband), (address, args)
        if mode in ("generate", "variation"):
            assert option(args, "fit") == fit and request.fit is bool(fit), (address, args)
        else:
            assert "fit" not in args, (address, args)
