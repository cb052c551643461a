"""Audition: play a clip on a chosen output device through PortAudio (sounddevice).

Why a thread of its own: opening a device, reading a file and re-scanning PortAudio can each take a
noticeable time, and PortAudio's setup calls are not thread-safe. So every PortAudio call runs on one
audition thread, requests return futures, and neither the OSC thread nor generation ever waits on audio.
Playback itself is a callback stream fed from memory; its end is reported when PortAudio has played the
last buffer, so "finished" means heard, not merely handed over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class AuditionError(Exception):
    """Audition could not do what was asked (no device, unreadable clip, PortAudio missing)."""


@dataclass(frozen=True)
class OutputDevice:
    """A PortAudio device that can play: its index, name, host API and channel count."""

    index: int
    name: str
    hostapi: str
    channels: int
    default_samplerate: float

    @property
    def label(self) -> str:
        """Name with the host API, which tells apart ALSA's and JACK's devices of the same card."""
        return f"{self.name} ({self.hostapi})"


@dataclass
class Playback:
    """One clip being played. ``finished`` is set when it ends; ``completed`` says whether it played to the
    end (False when stopped or replaced)."""

    label: str
    path: Path
    seconds: float
    device: OutputDevice
    started: float = 0.0
    ended: float | None = None
    completed: bool = False
    finished: threading.Event = field(default_factory=threading.Event)
    stream: Any = None

    @property
    def elapsed(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


JACK_API = "JACK Audio Connection Kit"


def _jack_loaded(sd: Any) -> bool:
    return any(api["name"] == JACK_API for api in sd.query_hostapis())


def _jack_server_alive() -> bool:
    """Whether a JACK client can connect now (the server named by $JACK_DEFAULT_SERVER, never started)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("jack")
    if name is None:
        return False
    jack = ctypes.CDLL(name)
    jack.jack_client_open.restype = ctypes.c_void_p
    jack.jack_client_close.argtypes = [ctypes.c_void_p]
    status = ctypes.c_int(0)
    no_start_server = 0x01
    client = jack.jack_client_open(b"audioldm-probe", no_start_server, ctypes.byref(status))
    if not client:
        return False
    jack.jack_client_close(client)
    return True


def portaudio_can_restart(sd: Any) -> bool:
    """PortAudio aborts the whole process (an assert in its JACK host API) if it is terminated after the
    JACK server it connected to has gone away. So it may only be re-initialised while that server lives."""
    return not _jack_loaded(sd) or _jack_server_alive()


def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as exc:  # the PortAudio library is missing
        raise AuditionError(f"audition is unavailable: {exc} (install libportaudio2)") from None
    return sd


class Audition:
    """Plays one clip at a time on the chosen output device (``device``: index, name or None = default)."""

    def __init__(self, device: int | str | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audioldm-audition")
        self._wanted = device
        self._device: OutputDevice | None = None
        self._current: Playback | None = None

    # -- public API: each returns a Future resolved on the audition thread ---------------------
    def devices(self, rescan: bool = True) -> Future[list[OutputDevice]]:
        """Output devices; ``rescan`` re-reads PortAudio's list (devices plugged in, JACK started) when idle."""
        return self._executor.submit(self._devices, rescan)

    def select(self, which: int | str) -> Future[OutputDevice]:
        """Choose the device by index, exact name, or a part of its name that matches only one device."""
        return self._executor.submit(self._select, which)

    def play(
        self, path: str | Path, label: str | None = None, on_end: Callable[[Playback], None] | None = None
    ) -> Future[Playback]:
        """Start playing ``path`` (stopping what plays); the future resolves once sound is on its way.

        ``on_end(playback)`` is called when the clip has played to its end (not when it is stopped).
        """
        return self._executor.submit(self._play, Path(path), label or str(path), on_end)

    def stop(self) -> Future[str]:
        """Stop playback; resolves to the label of what was playing ("" if nothing was)."""
        return self._executor.submit(self._stop)

    @property
    def current(self) -> Playback | None:
        return self._current

    def close(self) -> None:
        """Stop playing and end the audition thread (and keep PortAudio from aborting the process at exit)."""
        try:
            self._executor.submit(self._close).result(timeout=10)
        except Exception:
            log.debug("audition: close failed", exc_info=True)
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _close(self) -> None:
        self._stop()
        import sys

        sd = sys.modules.get("sounddevice")
        if sd is not None and not portaudio_can_restart(sd):
            # sounddevice terminates PortAudio at exit; with the JACK server gone that would abort.
            import atexit

            atexit.unregister(sd._exit_handler)

    # -- the audition thread ----------------------------------------------------------------------
    def _devices(self, rescan: bool) -> list[OutputDevice]:
        sd = _sounddevice()
        jack_gone = False
        if rescan and (self._current is None or self._current.finished.is_set()):
            self._reap()
            if portaudio_can_restart(sd):
                # PortAudio reads the device list once, at initialisation; re-initialising is the way to
                # see devices (or a JACK server) that appeared since.
                sd._terminate()
                sd._initialize()
            else:
                jack_gone = True
                log.warning("audition: the JACK server has gone away; restart the engine to use JACK again")
        apis = sd.query_hostapis()
        out = []
        for i, d in enumerate(sd.query_devices()):
            api = apis[d["hostapi"]]["name"]
            if int(d["max_output_channels"]) > 0 and not (jack_gone and api == JACK_API):
                out.append(OutputDevice(i, d["name"], api, int(d["max_output_channels"]), d["default_samplerate"]))
        return out

    def _select(self, which: int | str) -> OutputDevice:
        devices = self._devices(rescan=True)
        if not devices:
            raise AuditionError("device: no output devices (is a sound card, JACK or PulseAudio available?)")
        listing = "; ".join(f"{d.index} {d.label}" for d in devices)
        if isinstance(which, int):
            found = [d for d in devices if d.index == which]
            if not found:
                raise AuditionError(f"device: no output device with index {which} (output devices: {listing})")
        else:
            want = which.strip().lower()
            found = [d for d in devices if want in (d.name.lower(), d.label.lower())]
            if not found:
                found = [d for d in devices if want in d.label.lower()]
            if not found:
                raise AuditionError(f"device: no output device named {which!r} (output devices: {listing})")
            if len(found) > 1:
                names = "; ".join(f"{d.index} {d.label}" for d in found)
                raise AuditionError(f"device: {which!r} matches several devices ({names}); give the index")
        self._device = found[0]
        self._wanted = found[0].index
        return found[0]

    def _output(self) -> OutputDevice:
        if self._device is None:
            if self._wanted is not None:
                return self._select(self._wanted)
            sd = _sounddevice()
            devices = self._devices(rescan=False) or self._devices(rescan=True)
            if not devices:
                raise AuditionError("no output devices (is a sound card, JACK or PulseAudio available?)")
            default = sd.default.device[1]
            chosen = next((d for d in devices if d.index == default), devices[0])
            self._device = chosen
        return self._device

    def _play(self, path: Path, label: str, on_end: Callable[[Playback], None] | None) -> Playback:
        import soundfile as sf

        self._stop()
        sd = _sounddevice()
        device = self._output()
        try:
            audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as exc:
            raise AuditionError(f"cannot read {path}: {exc}") from None
        channels = min(device.channels, max(2, audio.shape[1]))
        rate = sr
        try:
            sd.check_output_settings(device=device.index, samplerate=sr, channels=channels, dtype="float32")
        except Exception:
            rate = int(device.default_samplerate)  # e.g. JACK runs at its own rate only
            audio = _resample(audio, sr, rate)
        audio = _fit_channels(audio, channels)
        playback = Playback(label, path, len(audio) / rate, device)
        state = {"pos": 0}

        def callback(outdata: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
            pos = state["pos"]
            chunk = audio[pos : pos + frames]
            outdata[: len(chunk)] = chunk
            outdata[len(chunk) :] = 0
            state["pos"] = pos + frames
            if len(chunk) < frames:
                raise sd.CallbackStop

        def finished() -> None:
            playback.ended = time.monotonic()
            playback.completed = state["pos"] >= len(audio)
            playback.finished.set()
            if playback.completed and on_end is not None:
                try:
                    on_end(playback)
                except Exception:
                    log.exception("audition: end callback failed")

        try:
            stream = sd.OutputStream(
                device=device.index,
                samplerate=rate,
                channels=channels,
                dtype="float32",
                callback=callback,
                finished_callback=finished,
            )
            playback.started = time.monotonic()
            stream.start()
        except Exception as exc:
            raise AuditionError(f"cannot play on {device.label}: {exc}") from None
        playback.stream = stream
        self._current = playback
        return playback

    def _stop(self) -> str:
        playback = self._current
        if playback is None:
            return ""
        label = "" if playback.finished.is_set() else playback.label
        if playback.stream is not None and not playback.finished.is_set():
            try:
                playback.stream.abort()
            except Exception:
                log.debug("audition: abort failed", exc_info=True)
        self._reap()
        return label

    def _reap(self) -> None:
        """Close the last stream (not from PortAudio's own callback thread, where closing is not allowed)."""
        playback, self._current = self._current, None
        if playback is None:
            return
        if playback.stream is not None:
            try:
                playback.stream.close()
            except Exception:
                log.debug("audition: close failed", exc_info=True)
        if not playback.finished.is_set():
            playback.ended = time.monotonic()
            playback.finished.set()


def _fit_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Mono to every channel; more channels than the device has are dropped, fewer are padded with silence."""
    if audio.shape[1] == channels:
        return np.ascontiguousarray(audio)
    if audio.shape[1] == 1:
        return np.ascontiguousarray(np.repeat(audio, channels, axis=1))
    if audio.shape[1] > channels:
        return np.ascontiguousarray(audio[:, :channels])
    pad = np.zeros((len(audio), channels - audio.shape[1]), dtype=audio.dtype)
    return np.ascontiguousarray(np.concatenate([audio, pad], axis=1))


def _resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling to a device rate (the engine's resampler, per channel)."""
    from audioldm_daw.engine.output import resample

    return np.stack([resample(audio[:, c], sr_in, sr_out) for c in range(audio.shape[1])], axis=1)
