"""The Bitwig controller script (daw/bitwig/AudioLDM.control.js) under node, with a stub ``host`` whose OSC module
is real UDP, against a real ``serve`` on the tiny model.

The stub records what the script asks of Bitwig (popups, console lines, the file it inserts into a clip
slot); its OSC connection encodes the script's messages as Bitwig does (integral numbers as int, others as
float) and sends them to the engine, and its OSC server decodes the engine's replies for the script.
Not checked here: Bitwig itself (the API names follow Bitwig's controller API, version 17).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from tests.osc_helpers import free_udp_port, shared_server

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "daw" / "bitwig" / "AudioLDM.control.js"
NODE = shutil.which("node") or shutil.which("nodejs")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node (apt-get install nodejs)")

RUNNER = r"""
const dgram = require("dgram"), fs = require("fs"), vm = require("vm");
const cfg = JSON.parse(process.argv[3]);
const rec = [];
const sockets = [];
function pick(label, def) {
  for (const k of Object.keys(cfg)) if (label.startsWith(k)) return cfg[k];
  return def;
}
function setting(label, def) {
  const v = pick(label, def);
  return { addValueObserver: (f) => f(v), addRawValueObserver: (f) => f(v), markInterested() {}, get: () => v };
}
let signal = null;
const settings = {
  getStringSetting: (label, cat, n, def) => setting(label, def),
  getNumberSetting: (label, cat, lo, hi, step, unit, def) => setting(label, def),
  getEnumSetting: (label, cat, opts, def) => setting(label, def),
  getSignalSetting: (label) => ({ addSignalObserver: (f) => { signal = f; } }),
};
function pad(b) { return Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]); }
function encode(address, args) {
  let tags = ",", data = [];
  for (const a of args) {
    const b = Buffer.alloc(4);
    if (typeof a === "number" && Number.isInteger(a)) { b.writeInt32BE(a); tags += "i"; data.push(b); }
    else if (typeof a === "number") { b.writeFloatBE(a); tags += "f"; data.push(b); }
    else { tags += "s"; data.push(pad(Buffer.from(String(a), "utf8"))); }
  }
  return Buffer.concat([pad(Buffer.from(address)), pad(Buffer.from(tags)), ...data]);
}
function decode(buf) {
  let pos = 0;
  const str = () => {
    const end = buf.indexOf(0, pos);
    const s = buf.toString("utf8", pos, end);
    pos = (end + 4) & ~3;
    return s;
  };
  const address = str(), tags = str().slice(1), args = [];
  for (const t of tags) {
    if (t === "i") { args.push(buf.readInt32BE(pos)); pos += 4; }
    else if (t === "f") { args.push(buf.readFloatBE(pos)); pos += 4; }
    else if (t === "h") { args.push(Number(buf.readBigInt64BE(pos))); pos += 8; }
    else if (t === "d") { args.push(buf.readDoubleBE(pos)); pos += 8; }
    else if (t === "s") { args.push(str()); }
  }
  return [address, args];
}
const osc = {
  createAddressSpace: () => ({ handler: null, registerDefaultMethod(f) { this.handler = f; } }),
  createUdpServer(port, space) {
    const s = dgram.createSocket("udp4");
    s.on("message", (buf) => {
      const [address, args] = decode(buf);
      rec.push(["reply", address, ...args]);
      space.handler({}, { getAddressPattern: () => address, getArguments: () => args });
    });
    s.bind(port, "127.0.0.1");
    sockets.push(s);
  },
  connectToUdpServer(h, p, space) {
    const s = dgram.createSocket("udp4");
    sockets.push(s);
    const sendMessage = (address, ...args) => {
      rec.push(["send", address, ...args]);
      s.send(encode(address, args), p, h);
    };
    return { sendMessage };
  },
};
const value = (label, def) => ({ value: () => setting(label, def) });
global.loadAPI = (v) => rec.push(["loadAPI", v]);
global.host = {
  defineController: (...a) => rec.push(["defineController", ...a]),
  defineMidiPorts: () => {},
  getPreferences: () => settings,
  getDocumentState: () => settings,
  createTransport: () => ({
    tempo: () => value("tempo", 120),
    timeSignature: () => ({ numerator: () => setting("numerator", 4), denominator: () => setting("denominator", 4) }),
  }),
  createCursorTrack: () => ({
    clipLauncherSlotBank: () => ({
      getItemAt: (i) => ({
        hasContent: () => ({ markInterested() {}, get: () => i < (cfg.filled || 0) }),
        replaceInsertionPoint: () => ({ insertFile: (p) => rec.push(["insertFile", i, p]) }),
      }),
    }),
  }),
  getOscModule: () => osc,
  println: (s) => rec.push(["println", s]),
  errorln: (s) => rec.push(["errorln", s]),
  showPopupNotification: (s) => rec.push(["popup", s]),
};
vm.runInThisContext(fs.readFileSync(process.argv[2], "utf8"), { filename: process.argv[2] });
init();
const finish = () => {
  for (const s of sockets) s.close();
  process.stdout.write(JSON.stringify(rec));
  process.exit(0);
};
const ended = (r) =>
  r[0] === "insertFile" || r[0] === "errorln" || (r[0] === "popup" && r[1].includes("no empty slot"));
setTimeout(() => {
  signal();
  const t0 = Date.now();
  const timer = setInterval(() => {
    if (rec.some(ended) || Date.now() - t0 > 120000) { clearInterval(timer); finish(); }
  }, 50);
}, 200);
"""


def run_script(tmp_path: Path, cfg: dict) -> list[list]:
    (tmp_path / "runner.js").write_text(RUNNER)
    r = subprocess.run(
        [NODE, str(tmp_path / "runner.js"), str(SCRIPT), json.dumps(cfg)], capture_output=True, text=True, timeout=180
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def engine_cfg(tiny_model_dir: Path, request: pytest.FixtureRequest) -> dict:
    server = shared_server(tiny_model_dir, request)
    return {"Engine host": server.address[0], "Engine port": server.address[1]}


def test_generate_sends_the_request_and_inserts_the_clip(engine_cfg: dict, tmp_path: Path) -> None:
    cfg = engine_cfg | {"Reply port": free_udp_port(), "Prompt": "bitwig pad", "Bars": 0.5, "Steps": 2, "tempo": 120}
    rec = run_script(tmp_path, cfg | {"filled": 2})
    sent = [r for r in rec if r[0] == "send"]
    assert sent[0] == ["send", "/audioldm/notify", cfg["Reply port"]]
    address, job, prompt, *options = sent[1][1:]
    assert (address, prompt) == ("/audioldm/generate", "bitwig pad") and job.startswith("bitwig-")
    assert options == ["bars", 0.5, "bpm", 120, "beats", 4, "steps", 2, "sr", 48000, "name", "bitwig pad"]
    [insert] = [r for r in rec if r[0] == "insertFile"]
    assert insert[1] == 2  # the first empty slot of the selected track
    path = Path(insert[2])
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["request"]["source"]["prompt"] == "bitwig pad" and side["request"]["bpm"] == 120
    assert any(r[0] == "popup" and f"(seed {side['request']['seed']})" in r[1] for r in rec)
    assert any(r[0] == "reply" and r[1] == "/audioldm/progress" for r in rec)


def test_the_sample_rate_preference_sets_the_clips_rate(engine_cfg: dict, tmp_path: Path) -> None:
    cfg = engine_cfg | {"Reply port": free_udp_port(), "Prompt": "hi-res pad", "Bars": 0.5, "Steps": 2, "tempo": 120}
    rec = run_script(tmp_path, cfg | {"Sample rate": "96000"})
    [insert] = [r for r in rec if r[0] == "insertFile"]
    info = sf.info(insert[2])
    assert info.samplerate == 96000 and info.frames == 96000  # half a bar at 120 bpm: one second


def test_the_engines_error_is_shown(engine_cfg: dict, tmp_path: Path) -> None:
    cfg = engine_cfg | {"Reply port": free_udp_port(), "Prompt": "too short", "Bars": 0.25, "Steps": 2, "tempo": 400}
    rec = run_script(tmp_path, cfg)
    [err] = [r for r in rec if r[0] == "errorln"]
    assert "bars" in err[1] and "expected 0.5..60 s" in err[1], err
    assert any(r[0] == "popup" and r[1].startswith("AudioLDM error: ") for r in rec)
    assert not [r for r in rec if r[0] == "insertFile"]


@pytest.mark.parametrize(
    "switches",
    [{"Fit to tempo": "Off"}, {"Full band": "Off"}, {"Fit to tempo": "Off", "Full band": "Off"}],
    ids=["fit-off", "fullband-off", "both-off"],
)
def test_fit_to_tempo_and_full_band_turned_off_reach_the_engine(
    engine_cfg: dict, tmp_path: Path, switches: dict[str, str]
) -> None:
    """Each setting, Off, sends ``fit 0`` / ``fullband 0``; On (the default, as the engine's) sends nothing for it,
    as test_generate_sends_the_request_and_inserts_the_clip checks."""
    cfg = engine_cfg | {"Reply port": free_udp_port(), "Prompt": "drum loop", "Bars": 0.5, "Steps": 2, "tempo": 120}
    rec = run_script(tmp_path, cfg | switches)
    options = [r for r in rec if r[0] == "send"][1][4:]  # after the address, the job id and the prompt
    pairs = dict(zip(options[0::2], options[1::2], strict=True))
    fit_off, fullband_off = "Fit to tempo" in switches, "Full band" in switches
    assert ("fit" in pairs, "fullband" in pairs) == (fit_off, fullband_off), options
    assert all(pairs[key] == 0 for key in ("fit", "fullband") if key in pairs), options
    [insert] = [r for r in rec if r[0] == "insertFile"]
    request = json.loads(Path(insert[2]).with_suffix(".json").read_text())["request"]
    assert request["fit"] is not fit_off and request["full_band"] is not fullband_off
