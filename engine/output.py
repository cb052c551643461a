"""From the vocoder's waveform to a finished clip on disk: rate, length, level, fades, atomic writes.

A clip and its JSON sidecar are written under temporary names and renamed into place, sidecar first,
so a program watching the folder never sees a partial file or a WAV without its recall data.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from audioldm_daw.engine.errors import EngineError, InvalidRequest

FADE_MS = 5.0
SUBTYPES = {"float32": "FLOAT", "pcm24": "PCM_24", "pcm16": "PCM_16"}


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling with torchaudio (a no-op at equal rates)."""
    if sr_in == sr_out:
        return audio.astype(np.float32, copy=False)
    import torch
    import torchaudio.functional as AF

    return AF.resample(torch.as_tensor(np.asarray(audio, dtype=np.float32)), sr_in, sr_out).numpy()


def resample_periodic(audio: np.ndarray, n_out: int) -> np.ndarray:
    """Band-limited resampling of one period of a loop to exactly ``n_out`` samples (FFT, so the result
    is periodic too: its last sample flows into its first). Also adjusts a loop whose model period is a
    few milliseconds off the requested length, at the cost of a pitch change of the same ratio."""
    spec = np.fft.rfft(np.asarray(audio, dtype=np.float64))
    n_in = len(audio)
    keep = min(len(spec), n_out // 2 + 1)
    out = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out[:keep] = spec[:keep]
    if n_out % 2 == 0 and keep == n_out // 2 + 1 and n_out < n_in:
        out[-1] = out[-1].real  # the Nyquist bin of an even-length real signal is real
    return (np.fft.irfft(out, n_out) * (n_out / n_in)).astype(np.float32)


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad to exactly ``n`` samples."""
    if len(audio) >= n:
        return audio[:n]
    return np.concatenate([audio, np.zeros(n - len(audio), dtype=audio.dtype)])


def fade(audio: np.ndarray, sr: int, ms: float = FADE_MS) -> np.ndarray:
    """Raised-cosine fade in and out against clicks at the clip's edges."""
    n = min(int(sr * ms / 1000), len(audio) // 2)
    if n <= 0:
        return audio
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n, dtype=np.float32))).astype(np.float32)
    out = audio.copy()
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def normalize_peak(audio: np.ndarray, db: float | None) -> np.ndarray:
    """Scale so the peak sits at ``db`` dBFS (None: leave the level as the model made it)."""
    if db is None:
        return audio
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak < 1e-9:
        return audio
    return (audio * (10.0 ** (db / 20.0) / peak)).astype(np.float32)


def finish(
    audio: np.ndarray, sr_in: int, sr_out: int, duration: float, *, normalize_db: float | None, loop: bool
) -> np.ndarray:
    """Native waveform -> delivered clip: resample, exact length, fades (not for loops), peak level."""
    audio = np.asarray(audio, dtype=np.float32)
    if not np.all(np.isfinite(audio)):
        raise EngineError("the model produced non-finite audio (NaN/inf); try another seed or fp32")
    n_out = round(duration * sr_out)
    if loop:
        audio = resample_periodic(audio, n_out)  # one period in, one period of exactly n_out samples out
    else:
        audio = fade(fit_length(resample(audio, sr_in, sr_out), n_out), sr_out)
    return normalize_peak(audio, normalize_db).astype(np.float32)


_STEM_BAD = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_stem(name: str, fallback: str = "clip") -> str:
    """A file-name stem from user text: no folders, no dots at the start, no odd characters."""
    stem = _STEM_BAD.sub("_", os.path.basename(str(name).replace("\\", "/"))).strip(" ._")
    stem = re.sub(r"\.wav$", "", stem, flags=re.IGNORECASE)
    return stem[:80] or fallback


def path_in_folder(folder: Path, stem: str, suffix: str = ".wav") -> Path:
    """A path for ``stem`` inside ``folder`` that exists nowhere yet; never outside ``folder``."""
    folder = folder.resolve()
    base = safe_stem(stem)
    candidate = folder / f"{base}{suffix}"
    n = 1
    while candidate.exists() or candidate.with_suffix(".json").exists():
        n += 1
        candidate = folder / f"{base}-{n}{suffix}"
    if candidate.resolve().parent != folder:
        raise InvalidRequest(f"name: {stem!r} would leave the clips folder")
    return candidate


def write_clip(path: Path, audio: np.ndarray, sr: int, sidecar: dict[str, Any], sample_format: str = "float32") -> Path:
    """Write ``path`` (WAV) and ``path.with_suffix('.json')`` atomically; returns the WAV path."""
    if sample_format not in SUBTYPES:
        raise InvalidRequest(f"format: expected one of {', '.join(SUBTYPES)}, got {sample_format!r}")
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp_wav = path.with_name(f".{path.stem}.{tag}.wav.part")
    tmp_json = path.with_name(f".{path.stem}.{tag}.json.part")
    side = path.with_suffix(".json")
    try:
        sf.write(tmp_wav, audio, sr, subtype=SUBTYPES[sample_format], format="WAV")
        tmp_json.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
        os.replace(tmp_json, side)
        os.replace(tmp_wav, path)
    finally:
        for t in (tmp_wav, tmp_json):
            t.unlink(missing_ok=True)
    return path


def read_sidecar(path: Path) -> dict[str, Any]:
    """Load a clip's sidecar (accepts the .json or the .wav path)."""
    p = Path(path)
    if p.suffix.lower() == ".wav":
        p = p.with_suffix(".json")
    if not p.is_file():
        raise InvalidRequest(f"sidecar: {p} does not exist (expected the .json written beside a clip)")
    try:
        data = json.loads(p.read_text())
    except ValueError as exc:
        raise InvalidRequest(f"sidecar: {p} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or "request" not in data:
        raise InvalidRequest(f"sidecar: {p} has no 'request' section (not written by audioldm-daw?)")
    return data


def default_clips_dir() -> Path:
    """Per-user data folder for clips (``$AUDIOLDM_DAW_CLIPS`` overrides), never the working directory."""
    env = os.environ.get("AUDIOLDM_DAW_CLIPS")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("audioldm-daw")) / "clips"
