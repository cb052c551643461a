"""Audition through a real PortAudio device: JACK's dummy driver, which consumes audio at real-time pace.

The JACK server gets a name of its own (JACK_DEFAULT_SERVER), so it never meets another run's server;
PortAudio is re-initialised after JACK is up, which is how a running program sees a new device.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from osc_helpers import JACK_NAME, Client, shared_server

from audioldm_daw.bridge.server.audition import JACK_API, Audition, AuditionError


@pytest.fixture(scope="module")
def jack():
    """jackd with the dummy driver at 48 kHz; yields once PortAudio in this process lists it."""
    assert shutil.which("jackd"), "jackd is needed: apt-get install jackd2 libportaudio2"
    os.environ["JACK_DEFAULT_SERVER"] = JACK_NAME
    os.environ["JACK_NO_START_SERVER"] = "1"
    proc = subprocess.Popen(
        ["jackd", "-n", JACK_NAME, "-d", "dummy", "-r", "48000", "-p", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    import sounddevice as sd

    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, f"jackd exited: {proc.stderr.read() if proc.stderr else ''}"
            sd._terminate()
            sd._initialize()
            apis = [a["name"] for a in sd.query_hostapis()]
            if JACK_API in apis and sd.query_hostapis(apis.index(JACK_API))["devices"]:
                break
            assert time.monotonic() < deadline, f"PortAudio does not see JACK (host APIs: {apis})"
            time.sleep(0.3)
        yield proc
    finally:
        stop_jack(proc, sd)


def stop_jack(proc: subprocess.Popen, sd) -> None:
    """Release PortAudio's JACK client first: PortAudio aborts if terminated after JACK has gone."""
    if proc.poll() is not None:
        return
    sd._terminate()
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    sd._initialize()


@pytest.fixture
def audition(jack):
    a = Audition()
    yield a
    a.close()


def tone(path: Path, seconds: float, sr: int) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(str(path), (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)
    return path


def test_lists_and_chooses_the_jack_device(audition):
    devices = audition.devices().result(10)
    jack_devs = [d for d in devices if d.hostapi == JACK_API]
    assert jack_devs and jack_devs[0].channels >= 1 and jack_devs[0].default_samplerate == 48000
    by_index = audition.select(jack_devs[0].index).result(10)
    assert by_index == jack_devs[0]
    by_name = audition.select("jack audio").result(10)  # part of "system (JACK Audio Connection Kit)"
    assert by_name == jack_devs[0]
    with pytest.raises(AuditionError, match="no output device named"):
        audition.select("no such card").result(10)
    with pytest.raises(AuditionError, match="no output device with index 999"):
        audition.select(999).result(10)


def test_plays_to_the_end_at_real_time_pace(audition, tmp_path):
    # 16 kHz, as the model writes when asked: JACK runs at 48 kHz only, so audition resamples
    clip = tone(tmp_path / "tone.wav", 1.0, 16000)
    audition.select("JACK Audio").result(10)
    ended = []
    t0 = time.monotonic()
    future = audition.play(clip, "tone", on_end=ended.append)
    assert time.monotonic() - t0 < 0.1, "play() must return at once"
    playback = future.result(10)
    assert playback.device.hostapi == JACK_API and playback.label == "tone"
    assert abs(playback.seconds - 1.0) < 1e-3
    assert playback.finished.wait(10)
    assert playback.completed and ended == [playback]
    assert playback.elapsed >= 0.9 * 1.0, playback.elapsed
    assert playback.elapsed < 1.0 + 3.0
    assert audition.stop().result(10) == ""  # nothing playing any more


def test_stop_cuts_playback_short(audition, tmp_path):
    clip = tone(tmp_path / "long.wav", 5.0, 48000)
    audition.select("JACK Audio").result(10)
    ended = []
    playback = audition.play(clip, "long", on_end=ended.append).result(10)
    time.sleep(0.3)
    assert audition.stop().result(10) == "long"
    assert playback.finished.is_set() and not playback.completed and ended == []
    assert playback.elapsed < 2.0
    with pytest.raises(AuditionError, match="cannot read"):
        audition.play(tmp_path / "missing.wav").result(10)


def test_play_over_osc(jack, tiny_model_dir, request):
    server = shared_server(tiny_model_dir, request)
    c = Client(server.address)
    try:
        c.send("/audioldm/generate", "aud-1", "a low hum", "duration", 1.0, "steps", 2, "sr", 16000)
        assert c.replies.job("aud-1")[-1][0] == "/audioldm/done"
        c.send("/audioldm/devices")
        listing = c.replies.until(lambda m: m[0] == "/audioldm/devices_end", timeout=30)
        devices = [m[1] for m in listing if m[0] == "/audioldm/device"]
        jack_devs = [d for d in devices if JACK_API in d[1]]
        assert jack_devs and jack_devs[0][2] >= 1, devices
        assert c.ask("/audioldm/output_device", float(jack_devs[0][0])) == (
            "/audioldm/output_device",
            jack_devs[0][:2],
        )
        t0 = time.monotonic()
        assert c.ask("/audioldm/play", "aud-1", timeout=10) == ("/audioldm/playing", ["aud-1"])
        assert c.replies.next(10) == ("/audioldm/played", ["aud-1"])
        assert time.monotonic() - t0 >= 0.9
        # a clip by path, then stopped before its end
        path = str(server.clips / "aud-1.wav")
        assert c.ask("/audioldm/play", path, timeout=10) == ("/audioldm/playing", [path])
        assert c.ask("/audioldm/stop", timeout=10) == ("/audioldm/stopped", [path])
        assert c.replies.quiet(1.5) == []  # no /played for a stopped clip
        fail = c.ask("/audioldm/output_device", "no such card", timeout=10)
        assert fail[0] == "/audioldm/fail" and "no output device named 'no such card'" in fail[1][1]
    finally:
        c.close()


def test_engine_survives_jack_going_away(jack, tiny_model_dir, request):
    """Last in this module: stops JACK under the running engine, which must keep answering."""
    import sounddevice as sd

    server = shared_server(tiny_model_dir, request)
    c = Client(server.address)
    try:
        c.send("/audioldm/devices")
        before = c.replies.until(lambda m: m[0] == "/audioldm/devices_end", timeout=30)
        assert any(JACK_API in m[1][1] for m in before if m[0] == "/audioldm/device")
        stop_jack(jack, sd)
        c.send("/audioldm/devices")
        after = c.replies.until(lambda m: m[0] == "/audioldm/devices_end", timeout=30)
        assert not any(JACK_API in m[1][1] for m in after if m[0] == "/audioldm/device")
        assert c.ask("/audioldm/ping")[0] == "/audioldm/pong"
        assert server.proc.poll() is None
    finally:
        c.close()
