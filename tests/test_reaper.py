"""The REAPER scripts (daw/reaper/*.lua) under a Lua interpreter with a stub ``reaper`` API that records every call.

The stub's ``ExecProcess`` runs the command line through /bin/sh, as REAPER does on macOS and Linux (with timeout
-1, in the background, returning at once), and its ``defer`` queues functions that the harness runs after the
action has returned, one round per simulated redraw, so the script drives the real ``audioldm-daw send`` against
a real ``serve`` on the tiny model: the quoting of prompts, the JSON it parses and the calls it makes to place the
clip are all checked end to end, and so is the action returning before the clip arrives.
Not checked here: REAPER itself, and Windows' command line (``M.quote(s, true)``, ``cmd.exe`` in ``M.background``).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.osc_helpers import free_udp_port, shared_server

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "daw" / "reaper" / "audioldm_daw.lua"
LUA = shutil.which("lua5.4") or shutil.which("lua")
pytestmark = pytest.mark.skipif(LUA is None, reason="needs a Lua interpreter (apt-get install lua5.4)")

HARNESS = r"""
local module_path, scenario_path = arg[1], arg[2]
local S = dofile(scenario_path)            -- the scenario: ext state, selection, answers to dialogs
local calls = {}
local deferred = {}  -- reaper.defer's queue: REAPER runs each once, at its next redraw
local function rec(name, ...)
  local t = { name }
  -- one line per call in the output: a newline in an argument (the dialogs' fields) is written as \n
  for i = 1, select("#", ...) do t[#t + 1] = (tostring((select(i, ...))):gsub("\n", "\\n")) end
  calls[#calls + 1] = t
end
local impl = {
  GetOS = function() return "Other" end,
  HasExtState = function(_, k) return S.ext[k] ~= nil end,
  GetExtState = function(_, k) return S.ext[k] or "" end,
  SetExtState = function(_, k, v) S.ext[k] = v end,
  GetSelectedTrack = function() return S.track end,
  GetCursorPosition = function() return S.cursor or 0 end,
  TimeMap_GetTimeSigAtTime = function() return S.num or 4, S.denom or 4, S.bpm or 120 end,
  GetUserInputs = function(title, n, captions, defaults)
    local a = table.remove(S.answers, 1)
    if a == nil then return false, "" end
    return true, table.concat(a, "\n")
  end,
  ExecProcess = function(cmd, timeout)
    if timeout == -1 then  -- REAPER: start it and return at once, no output
      os.execute("(" .. cmd .. ") </dev/null >/dev/null 2>&1 &")
      return ""
    end
    local p = io.popen(cmd .. " 2>&1")
    local out = p:read("a")
    local _, _, code = p:close()
    return tostring(code) .. "\n" .. out
  end,
  AddMediaItemToTrack = function() return "ITEM_NEW" end,
  AddTakeToMediaItem = function() return "TAKE_NEW" end,
  PCM_Source_CreateFromFile = function(p) return "SRC_NEW" end,
  GetSelectedMediaItem = function() return S.item end,
  GetActiveTake = function() return "TAKE0" end,
  TakeIsMIDI = function() return false end,
  GetMediaItemTake_Source = function() return "SRC0" end,
  GetMediaSourceFileName = function() return S.item_path end,
  GetMediaItemInfo_Value = function(_, k) return S.item_info[k] end,
  GetMediaItemTakeInfo_Value = function(_, k) return S.take_info[k] end,
  GetSet_LoopTimeRange = function() return S.ts0 or 0, S.ts1 or 0 end,
  GetSetProjectInfo = function(_, k)
    if k == "PROJECT_SRATE_USE" then return S.project_sr_use or 0 end
    if k == "PROJECT_SRATE" then return S.project_sr or 44100 end
    return 0
  end,
  defer = function(fn) deferred[#deferred + 1] = fn end,
  time_precise = function() return os.time() end,
  GetAudioDeviceInfo = function(k)
    if k == "SRATE" and S.device_sr then return true, S.device_sr end
    return false, ""
  end,
}
reaper = setmetatable({}, { __index = function(_, name)
  return function(...)
    rec(name, ...)
    local f = impl[name]
    if f then return f(...) end
  end
end })
gfx = {  -- the popup menu of the settings action: S.menu is the item "picked"
  init = function() end, quit = function() end, screentoclient = function(x, y) return x, y end,
  showmenu = function(items) rec("gfx.showmenu", items); return S.menu or 0 end,
}
local M = dofile(module_path)
local fn = M[S.call]
local ok, err = pcall(fn, S.arg)
if not ok then rec("LUA_ERROR", err) end
rec("ACTION_RETURNED")  -- REAPER's window is live again from here
-- REAPER's redraws, a few dozen a second: each runs what was deferred before it; bounded in count and time.
local redraws, started = 0, os.time()
while #deferred > 0 and redraws < 20000 and os.time() - started < 170 do
  local due = deferred
  deferred = {}
  redraws = redraws + 1
  for _, f in ipairs(due) do
    local fine, why = pcall(f)
    if not fine then rec("LUA_ERROR", why) end
  end
  if #deferred > 0 then os.execute("sleep 0.03") end
end
if #deferred > 0 then rec("STILL_WAITING", redraws) end
for _, c in ipairs(calls) do io.write(table.concat(c, "\t"), "\n") end
"""


def lua_string(s: str) -> str:
    return "[==[" + s + "]==]"


def run_script(tmp_path: Path, call: str, arg: str | None = None, **scenario) -> list[list[str]]:
    """Run ``M.<call>(arg)`` with the stub; the recorded REAPER calls, each [name, args...]."""
    ext = scenario.pop("ext", {})
    lines = ["return {", f"  call = {lua_string(call)},"]
    if arg is not None:
        lines.append(f"  arg = {lua_string(arg)},")
    lines.append("  ext = {" + ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in ext.items()) + "},")
    answers = scenario.pop("answers", [])
    lines.append("  answers = {" + ", ".join("{" + ", ".join(map(lua_string, a)) + "}" for a in answers) + "},")
    for key, value in scenario.items():
        if isinstance(value, str):
            lines.append(f"  {key} = {lua_string(value)},")
        elif isinstance(value, dict):
            lines.append(f"  {key} = {{" + ", ".join(f"{k} = {v!r}" for k, v in value.items()) + "},")
        else:
            lines.append(f"  {key} = {value!r},")
    lines.append("}")
    (tmp_path / "scenario.lua").write_text("\n".join(lines))
    (tmp_path / "harness.lua").write_text(HARNESS)
    r = subprocess.run(
        [LUA, str(tmp_path / "harness.lua"), str(MODULE), str(tmp_path / "scenario.lua")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr
    calls = [line.split("\t") for line in r.stdout.splitlines() if line]
    assert not [c for c in calls if c[0] == "LUA_ERROR"], calls
    return calls


def named(calls: list[list[str]], name: str) -> list[list[str]]:
    return [c for c in calls if c[0] == name]


@pytest.fixture(scope="module")
def engine_ext(tiny_model_dir: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    server = shared_server(tiny_model_dir, request)
    exe = f"{shlex.quote(sys.executable)} -m audioldm_daw.bridge.cli"
    return {"exe": exe, "host": server.address[0], "port": str(server.address[1]), "steps": "2"}


def test_generate_at_edit_cursor_inserts_the_clip_named_after_prompt_and_seed(
    engine_ext: dict[str, str], tmp_path: Path
) -> None:
    prompt = 'warm pad, "quoted" $HOME `x` \\ end'
    calls = run_script(
        tmp_path, "generate_at_cursor", ext=engine_ext, track="TRACK1", cursor=2.5, bpm=120, answers=[[prompt, "0.5"]]
    )
    assert not named(calls, "ShowMessageBox"), calls
    [exe] = named(calls, "ExecProcess")
    assert "send generate" in exe[1] and '--bars "0.5" --bpm "120" --beats "4"' in exe[1] and "--json" in exe[1]
    assert named(calls, "AddMediaItemToTrack") == [["AddMediaItemToTrack", "TRACK1"]]
    [src] = named(calls, "PCM_Source_CreateFromFile")
    path = Path(src[1])
    assert path.is_file() and sf.info(str(path)).duration == pytest.approx(1.0)
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["request"]["source"]["prompt"] == prompt  # the shell quoting kept every character
    seed = side["request"]["seed"]
    assert ["SetMediaItemInfo_Value", "ITEM_NEW", "D_POSITION", "2.5"] in calls
    assert ["SetMediaItemInfo_Value", "ITEM_NEW", "D_LENGTH", "1.0"] in calls
    assert ["GetSetMediaItemTakeInfo_String", "TAKE_NEW", "P_NAME", f"{prompt} (seed {seed})", "true"] in calls
    assert named(calls, "Undo_EndBlock") and named(calls, "UpdateArrange")
    assert ["SetExtState", "audioldm_daw", "last_prompt", prompt, "true"] in calls


def test_the_action_returns_at_once_and_the_clip_arrives_through_defer(
    engine_ext: dict[str, str], tmp_path: Path
) -> None:
    """REAPER's window is not frozen while a clip renders: the client starts in the background (ExecProcess
    with timeout -1), the action returns, and a deferred function, polling at each redraw, inserts the clip
    when the client's result arrives, and cleans up its result files."""
    calls = run_script(tmp_path, "generate_at_cursor", ext=engine_ext, track="T", cursor=1.0, answers=[["hum", "0"]])
    names = [c[0] for c in calls]
    [exe] = named(calls, "ExecProcess")
    assert exe[2] == "-1" and "> " in exe[1] and "echo $? > " in exe[1]  # started, not waited for
    returned = names.index("ACTION_RETURNED")
    placed = names.index("PCM_Source_CreateFromFile")
    assert names.index("ExecProcess") < returned < placed  # the clip came after the action had returned
    assert "AddMediaItemToTrack" not in names[:returned] and "Undo_BeginBlock" not in names[:returned]
    polls = names[returned:placed].count("defer")
    assert polls >= 2, polls  # the first looks found no result yet: the render was still running
    assert Path(named(calls, "PCM_Source_CreateFromFile")[0][1]).is_file()
    assert "STILL_WAITING" not in names and "ShowMessageBox" not in names
    out_file = exe[1].split(" > ")[1].split(" 2>&1")[0].strip('"')
    assert not Path(out_file).exists() and not Path(out_file).with_suffix(".code").exists()


def test_generate_reads_the_time_signature_in_quarter_note_beats(engine_ext: dict[str, str], tmp_path: Path) -> None:
    calls = run_script(
        tmp_path, "generate_at_cursor", ext=engine_ext, track="T", bpm=90, num=6, denom=8, answers=[["x", "1"]]
    )
    [exe] = named(calls, "ExecProcess")
    assert '--bars "1" --bpm "90" --beats "3"' in exe[1]
    assert ["SetMediaItemInfo_Value", "ITEM_NEW", "D_LENGTH", "2.0"] in calls  # 3 quarter notes at 90 bpm


def test_errors_are_shown_and_nothing_is_inserted(engine_ext: dict[str, str], tmp_path: Path) -> None:
    no_engine = dict(engine_ext, port=str(free_udp_port()))
    calls = run_script(tmp_path, "generate_at_cursor", ext=no_engine, track="T", answers=[["pad", "1"]])
    [box] = named(calls, "ShowMessageBox")
    assert "no audioldm-daw engine answers" in box[1] and "audioldm-daw serve" in box[1]
    assert not named(calls, "AddMediaItemToTrack")

    calls = run_script(tmp_path, "generate_at_cursor", ext=engine_ext, answers=[["pad", "1"]])  # no track
    assert "Select a track first" in named(calls, "ShowMessageBox")[0][1] and not named(calls, "ExecProcess")

    missing = dict(engine_ext, exe="/nonexistent/audioldm-daw")
    calls = run_script(tmp_path, "generate_at_cursor", ext=missing, track="T", answers=[["pad", "1"]])
    assert "could not run" in named(calls, "ShowMessageBox")[0][1]

    calls = run_script(tmp_path, "generate_at_cursor", ext=engine_ext, track="T", answers=[])  # cancelled
    assert not named(calls, "ExecProcess") and not named(calls, "ShowMessageBox")


@pytest.fixture()
def item(tmp_path: Path) -> dict:
    sr = 16000
    t = np.arange(2 * sr) / sr
    sf.write(tmp_path / "take one.wav", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), sr)
    return {
        "item": "ITEM0",
        "item_path": str(tmp_path / "take one.wav"),
        "item_info": {"D_POSITION": 10.0, "D_LENGTH": 1.0},
        "take_info": {"D_STARTOFFS": 0.25, "D_PLAYRATE": 1.0},
    }


def _new_take(calls: list[list[str]]) -> dict:
    assert not named(calls, "ShowMessageBox"), calls
    assert named(calls, "AddTakeToMediaItem") == [["AddTakeToMediaItem", "ITEM0"]]
    [src] = named(calls, "PCM_Source_CreateFromFile")
    assert ["SetActiveTake", "TAKE_NEW"] in calls
    return json.loads(Path(src[1]).with_suffix(".json").read_text())


def test_inpaint_regenerates_the_time_selection_in_source_time(
    engine_ext: dict[str, str], item: dict, tmp_path: Path
) -> None:
    calls = run_script(
        tmp_path, "process_selected", "inpaint", ext=engine_ext, ts0=10.25, ts1=10.5, answers=[["a cymbal"]], **item
    )
    side = _new_take(calls)
    src = side["request"]["source"]
    assert (src["mode"], src["start"], src["end"], src["prompt"]) == ("inpaint", 0.5, 0.75, "a cymbal")
    assert src["input_path"] == item["item_path"]
    assert ["SetMediaItemTakeInfo_Value", "TAKE_NEW", "D_STARTOFFS", "0.25"] in calls  # the input's timeline kept
    name = named(calls, "GetSetMediaItemTakeInfo_String")[0][3]
    assert name.startswith("inpaint 0.5-0.75 s: a cymbal (seed ")

    calls = run_script(tmp_path, "process_selected", "inpaint", ext=engine_ext, answers=[["x"]], **item)
    assert "Make a time selection" in named(calls, "ShowMessageBox")[0][1]
    # a selection past the source's end: the engine's own words come back
    late = dict(item, item_info={"D_POSITION": 10.0, "D_LENGTH": 8.0})
    calls = run_script(tmp_path, "process_selected", "inpaint", ext=engine_ext, ts0=13, ts1=14, answers=[[""]], **late)
    assert "start_s: 3.25 is past the input's end" in named(calls, "ShowMessageBox")[0][1]
    assert not named(calls, "AddTakeToMediaItem")


def test_transfer_and_variation_of_the_selected_item(engine_ext: dict[str, str], item: dict, tmp_path: Path) -> None:
    calls = run_script(
        tmp_path, "process_selected", "transfer", ext=engine_ext, answers=[["a string quartet", "0.6"]], **item
    )
    src = _new_take(calls)["request"]["source"]
    assert (src["mode"], src["prompt"], src["strength"]) == ("transfer", "a string quartet", 0.6)
    calls = run_script(tmp_path, "process_selected", "variation", ext=engine_ext, **item)
    side = _new_take(calls)
    assert side["request"]["source"]["mode"] == "variation" and side["request"]["duration"] == 1.0
    assert ["SetMediaItemTakeInfo_Value", "TAKE_NEW", "D_STARTOFFS", "0"] in calls
    calls = run_script(tmp_path, "process_selected", "variation", ext=engine_ext)  # nothing selected
    assert "Select an item first" in named(calls, "ShowMessageBox")[0][1]


@pytest.mark.parametrize(
    ("scenario", "rate"),
    [
        ({"device_sr": "96000"}, 96000),  # the device's rate, which the project follows by default
        ({"device_sr": "48000", "project_sr_use": 1, "project_sr": 88200}, 88200),  # the project's own
        ({"device_sr": "24000"}, 32000),  # a rate the engine lacks: the next one up
        ({}, 48000),  # no device open: the engine's default
    ],
)
def test_clips_come_at_the_projects_sample_rate(
    engine_ext: dict[str, str], tmp_path: Path, scenario: dict, rate: int
) -> None:
    calls = run_script(tmp_path, "generate_at_cursor", ext=engine_ext, track="T", answers=[["rain", "0.5"]], **scenario)
    [exe] = named(calls, "ExecProcess")
    assert (f"--sr {rate}" in exe[1]) == bool(scenario), exe[1]
    [src] = named(calls, "PCM_Source_CreateFromFile")
    info = sf.info(src[1])
    assert info.samplerate == rate and info.frames == rate  # half a bar at 120 bpm: one second


def test_settings_offer_the_models_and_a_pick_becomes_the_default_serve_starts_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"), ("HF_HOME", "hf")):
        monkeypatch.setenv(key, str(tmp_path / sub))
    monkeypatch.delenv("AUDIOLDM_DAW_MODEL", raising=False)
    mine = tmp_path / "data" / "audioldm-daw" / "models" / "my|model"
    mine.mkdir(parents=True)
    (mine / "model_index.json").write_text("{}")
    ext = {"exe": f"{shlex.quote(sys.executable)} -m audioldm_daw.bridge.cli"}
    config = tmp_path / "config" / "audioldm-daw" / "models.json"

    calls = run_script(tmp_path, "settings", ext=ext, menu=2)
    [menu] = named(calls, "gfx.showmenu")
    assert menu[1] == (
        "!audioldm-daw-mini (MIT)|my/model (licence not stated)|Client, host, port, steps, tempo fit and full band..."
    )
    assert json.loads(config.read_text()) == {"default": str(mine)}
    [box] = named(calls, "ShowMessageBox")
    assert "my|model is now the default" in box[1] and "restart it" in box[1]
    assert not named(calls, "GetUserInputs")

    calls = run_script(tmp_path, "settings", ext=ext, menu=3, answers=[["audioldm-daw", "127.0.0.1", "9005", ""]])
    assert ["SetExtState", "audioldm_daw", "port", "9005", "true"] in calls
    # an answer left empty (here: the dialog's last two fields) keeps tempo fit and full band on
    assert ["SetExtState", "audioldm_daw", "fit", "1", "true"] in calls
    assert ["SetExtState", "audioldm_daw", "fullband", "1", "true"] in calls

    calls = run_script(tmp_path, "settings", ext=ext, menu=0)  # dismissed: nothing changes
    assert not named(calls, "GetUserInputs") and not named(calls, "SetExtState")

    missing = {"exe": "/nonexistent/audioldm-daw"}  # no list: straight to the dialog, to fix the client's path
    calls = run_script(tmp_path, "settings", ext=missing, answers=[["/opt/audioldm-daw", "h", "9000", ""]])
    assert not named(calls, "gfx.showmenu")
    assert ["SetExtState", "audioldm_daw", "exe", "/opt/audioldm-daw", "true"] in calls
    assert json.loads(config.read_text()) == {"default": str(mine)}


def test_inpaint_inserts_a_take_that_lines_up_sample_for_sample(engine_ext: dict[str, str], tmp_path: Path) -> None:
    """A stereo 44.1 kHz take played at 1.25x from 0.5 s into its source, in a 96 kHz project: the new take is the
    source at its own rate (no --sr: nothing resampled), as long as it, the span given to the engine to well under
    a sample, and it plays with the original's start offset, rate and pitch settings, so every sample outside the
    span lands where the original's does."""
    sr = 44100
    t = np.arange(3 * sr) / sr
    audio = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)], axis=1)
    source = tmp_path / "vocal take.wav"
    sf.write(source, audio, sr, subtype="PCM_24")
    item = {
        "item": "ITEM0",
        "item_path": str(source),
        "item_info": {"D_POSITION": 5.0, "D_LENGTH": 2.0},
        "take_info": {"D_STARTOFFS": 0.5, "D_PLAYRATE": 1.25, "B_PPITCH": 1.0, "D_PITCH": 0.0, "I_CHANMODE": 0.0},
    }
    ts0, ts1 = 5.1234567, 5.6
    calls = run_script(
        tmp_path,
        "process_selected",
        "inpaint",
        ext=engine_ext,
        ts0=ts0,
        ts1=ts1,
        device_sr="96000",
        answers=[[""]],
        **item,
    )
    [exe] = named(calls, "ExecProcess")
    assert "--sr" not in exe[1]
    side = _new_take(calls)
    src = side["request"]["source"]
    assert src["start"] == pytest.approx(0.5 + (ts0 - 5.0) * 1.25, abs=1e-9)
    assert src["end"] == pytest.approx(0.5 + (ts1 - 5.0) * 1.25, abs=1e-9)
    [new] = named(calls, "PCM_Source_CreateFromFile")
    out, rate = sf.read(new[1], dtype="int32", always_2d=True)
    before = sf.read(str(source), dtype="int32", always_2d=True)[0]
    assert rate == sr and out.shape == before.shape
    s0, s1 = round(src["start"] * sr), round(src["end"] * sr)
    np.testing.assert_array_equal(out[:s0], before[:s0])
    np.testing.assert_array_equal(out[s1:], before[s1:])
    for key, value in (("D_STARTOFFS", "0.5"), ("D_PLAYRATE", "1.25"), ("B_PPITCH", "1.0"), ("D_PITCH", "0.0")):
        assert ["SetMediaItemTakeInfo_Value", "TAKE_NEW", key, value] in calls, key
    assert ["SetMediaItemTakeInfo_Value", "TAKE_NEW", "I_CHANMODE", "0.0"] in calls
    assert not [c for c in named(calls, "SetMediaItemInfo_Value") if c[1] == "ITEM0"]  # the item stays as it was


@pytest.mark.parametrize(
    ("switches", "flags"),
    [
        ({}, []),  # never set: both on, as the engine's defaults are, and nothing is sent for them
        ({"fit": "0"}, ["--no-fit"]),
        ({"fullband": "0"}, ["--no-fullband"]),
        ({"fit": "off", "fullband": "0"}, ["--no-fit", "--no-fullband"]),
    ],
)
def test_tempo_fit_and_full_band_settings_reach_the_engine_on_generate(
    engine_ext: dict[str, str], tmp_path: Path, switches: dict[str, str], flags: list[str]
) -> None:
    calls = run_script(
        tmp_path, "generate_at_cursor", ext=engine_ext | switches, track="T", bpm=120, answers=[["drums", "0.5"]]
    )
    [exe] = named(calls, "ExecProcess")
    for flag in ("--no-fit", "--no-fullband"):
        assert (flag in exe[1].split()) == (flag in flags), exe[1]
    [src] = named(calls, "PCM_Source_CreateFromFile")
    request = json.loads(Path(src[1]).with_suffix(".json").read_text())["request"]
    assert request["fit"] is ("--no-fit" not in flags) and request["full_band"] is ("--no-fullband" not in flags)


def test_tempo_fit_and_full_band_settings_on_the_edits(engine_ext: dict[str, str], item: dict, tmp_path: Path) -> None:
    """Full band goes with every mode; tempo fit with variation (as with generate) but not with transfer or
    inpaint, which the engine does not fit and whose requests it would refuse with ``fit``."""
    off = engine_ext | {"fit": "0", "fullband": "0"}
    calls = run_script(tmp_path, "process_selected", "variation", ext=off, **item)
    [exe] = named(calls, "ExecProcess")
    assert "--no-fit" in exe[1].split() and "--no-fullband" in exe[1].split()
    request = _new_take(calls)["request"]
    assert request["fit"] is False and request["full_band"] is False
    calls = run_script(tmp_path, "process_selected", "transfer", ext=off, answers=[["a choir", "0.5"]], **item)
    [exe] = named(calls, "ExecProcess")
    assert "--no-fit" not in exe[1].split() and "--no-fullband" in exe[1].split()
    assert _new_take(calls)["request"]["full_band"] is False
    calls = run_script(tmp_path, "process_selected", "inpaint", ext=off, ts0=10.25, ts1=10.5, answers=[[""]], **item)
    [exe] = named(calls, "ExecProcess")
    assert "--no-fit" not in exe[1].split() and "--no-fullband" in exe[1].split()
    assert _new_take(calls)["request"]["full_band"] is False


def test_the_settings_dialog_turns_tempo_fit_and_full_band_off_and_on(tmp_path: Path) -> None:
    ext = {"exe": "/nonexistent/audioldm-daw"}  # no model list: the dialog opens at once
    calls = run_script(tmp_path, "settings", ext=ext, answers=[["audioldm-daw", "127.0.0.1", "9000", "", "0", "off"]])
    [dialog] = named(calls, "GetUserInputs")
    assert dialog[2] == "6" and "Fit to tempo" in dialog[3] and "Full band" in dialog[3]
    assert dialog[4].split("\\n")[-2:] == ["1", "1"]  # both on until turned off
    assert ["SetExtState", "audioldm_daw", "fit", "0", "true"] in calls
    assert ["SetExtState", "audioldm_daw", "fullband", "0", "true"] in calls

    off = ext | {"fit": "0", "fullband": "0"}
    calls = run_script(tmp_path, "settings", ext=off, answers=[["audioldm-daw", "127.0.0.1", "9000", "", "1", "on"]])
    assert named(calls, "GetUserInputs")[0][4].split("\\n")[-2:] == ["0", "0"]  # the dialog shows what is saved
    assert ["SetExtState", "audioldm_daw", "fit", "1", "true"] in calls
    assert ["SetExtState", "audioldm_daw", "fullband", "1", "true"] in calls
