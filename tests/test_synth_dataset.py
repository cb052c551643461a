"""Tests of the synthetic captioned dataset: layout, determinism, and captions that tell the truth.

The checks measure the audio (pitch tracks, onsets, levels, spectra) rather than trusting the planner,
because the model trained on this data can only learn what is actually audible. They need the Debian
tools (fluidsynth + a GM soundfont, espeak-ng); CI installs them, so nothing here is skipped.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from audioldm_daw.workbench.dataset import (
    ATTRIBUTE_SPACE,
    CATEGORIES,
    DatasetInfo,
    MissingToolError,
    caption_variants,
    generate_dataset,
    synthesize_clip,
    write_prompts_file,
)
from audioldm_daw.workbench.dataset.captions import TEMPLATES, attribute_words

SR = 16000
CLIP_SECONDS = 5.12
N = round(SR * CLIP_SECONDS)


# ------------------------------------------------------------------------------------------ analysis
def _frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
    count = 1 + max(0, (x.size - size) // hop)
    return x[np.arange(size)[None, :] + hop * np.arange(count)[:, None]]


def _voiced(fr: np.ndarray, gate_db: float) -> np.ndarray:
    power = (fr**2).mean(axis=1)
    return power > power.max() * 10 ** (-gate_db / 10)


def f0_track(
    x: np.ndarray, fmin: float = 40.0, fmax: float = 2600.0, gate_db: float = 30.0
) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation pitch tracker: times and f0 (NaN where unvoiced or aperiodic)."""
    size, hop = 1024, 256
    fr = _frames(x, size, hop) * np.hanning(size)
    voiced = _voiced(fr, gate_db)
    acf = np.fft.irfft(np.abs(np.fft.rfft(fr, 2 * size)) ** 2)[:, :size]
    acf = acf / np.maximum(acf[:, :1], 1e-12)
    lo, hi = int(SR / fmax), int(SR / fmin)
    f0 = np.full(len(fr), np.nan)
    for i in np.flatnonzero(voiced):
        a = acf[i, lo:hi]
        peaks = np.flatnonzero((a[1:-1] > a[:-2]) & (a[1:-1] >= a[2:])) + 1
        if peaks.size == 0 or a[peaks].max() < 0.3:
            continue
        k = peaks[np.argmax(a[peaks] >= 0.85 * a[peaks].max())]  # earliest strong peak: no octave-down
        y0, y1, y2 = a[k - 1], a[k], a[k + 1]
        den = y0 - 2 * y1 + y2
        f0[i] = SR / (lo + k + (0.5 * (y0 - y2) / den if den else 0.0))
    return (np.arange(len(fr)) * hop + size / 2) / SR, f0


def peak_track(x: np.ndarray, gate_db: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Spectral-peak frequency per voiced frame (for pure tones, which may exceed the f0 tracker's range)."""
    size, hop = 1024, 256
    fr = _frames(x, size, hop) * np.hanning(size)
    spec = np.abs(np.fft.rfft(fr, 4 * size))
    f = np.argmax(spec, axis=1) * SR / (4 * size)
    return (np.arange(len(fr)) * hop + size / 2) / SR, np.where(_voiced(fr, gate_db), f, np.nan)


def pitch_change(t: np.ndarray, f: np.ndarray) -> tuple[float, float]:
    """(median pitch of the last third - that of the first third, overall median), in semitones."""
    ok = np.isfinite(f)
    assert ok.mean() > 0.2, "too few pitched frames to judge"
    midi, tt = 69 + 12 * np.log2(f[ok] / 440.0), t[ok]
    third = (tt.max() - tt.min()) / 3
    first = np.median(midi[tt < tt.min() + third])
    last = np.median(midi[tt > tt.max() - third])
    return float(last - first), float(np.median(midi))


def onset_count(x: np.ndarray) -> int:
    """Spectral-flux onsets at least 50 ms apart."""
    size, hop = 512, 128
    fr = _frames(x, size, hop) * np.hanning(size)
    mag = np.log1p(100 * np.abs(np.fft.rfft(fr)) / (np.abs(fr).max() + 1e-12))
    flux = np.maximum(np.diff(mag, axis=0), 0).sum(axis=1)
    threshold = np.median(flux) + 0.25 * (flux.max() - np.median(flux))
    peaks = np.flatnonzero((flux[1:-1] > flux[:-2]) & (flux[1:-1] >= flux[2:]) & (flux[1:-1] > threshold)) + 1
    count, last = 0, -(10**9)
    for p in peaks:
        if p - last >= int(0.05 * SR / hop):
            count, last = count + 1, p
    return count


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2) + 1e-20))


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> DatasetInfo:
    """Three train and two test clips per category."""
    k = len(CATEGORIES)
    return generate_dataset(tmp_path_factory.mktemp("synth") / "ds", 3 * k, 2 * k, seed=3)


def _read(info: DatasetInfo, split: str, name: str) -> np.ndarray:
    audio, sr = sf.read(str(info.split_dir(split) / name), dtype="float64")
    assert sr == SR
    return audio


# ------------------------------------------------------------------------------- layout, determinism
def test_layout_lengths_and_every_category(dataset: DatasetInfo) -> None:
    assert json.loads((dataset.root / "labels.json").read_text()) == list(CATEGORIES)
    assert DatasetInfo.from_dir(dataset.root) == dataset
    for split, count in (("train", 3 * len(CATEGORIES)), ("test", 2 * len(CATEGORIES))):
        records = dataset.load_metadata(split)
        assert len(records) == count
        assert {r["category"] for r in records} == set(CATEGORIES)
        for r in records:
            assert set(r) >= {"file", "caption", "category", "attributes"}
            assert re.fullmatch(r"\d{5}\.wav", r["file"])
            assert set(r["attributes"]) == set(ATTRIBUTE_SPACE[r["category"]])
            info = sf.info(str(dataset.split_dir(split) / r["file"]))
            assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 1, N, "PCM_16")
            audio = _read(dataset, split, r["file"])
            assert rms_db(audio) > -50.0, f"{split}/{r['file']} ({r['category']}) is nearly silent"
            assert np.max(np.abs(audio)) < 1.0


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    k = len(CATEGORIES)
    a = generate_dataset(tmp_path / "a", k, k, seed=11)
    b = generate_dataset(tmp_path / "b", k, k, seed=11, workers=2)
    c = generate_dataset(tmp_path / "c", k, k, seed=12)
    names = sorted(p.relative_to(a.root) for p in a.root.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b.root) for p in b.root.rglob("*") if p.is_file())
    for name in names:
        assert (a.root / name).read_bytes() == (b.root / name).read_bytes(), name
    assert a.load_metadata("train") != c.load_metadata("train")
    differing = [n for n in names if n.suffix == ".wav" and (a.root / n).read_bytes() != (c.root / n).read_bytes()]
    assert len(differing) == 2 * k


def test_clip_does_not_depend_on_split_size(tmp_path: Path, dataset: DatasetInfo) -> None:
    """Clip i is a function of (seed, split, i): a shorter dataset holds the same first clips."""
    small = generate_dataset(tmp_path / "small", 5, 3, seed=3)
    for split, count in (("train", 5), ("test", 3)):
        assert small.load_metadata(split) == dataset.load_metadata(split)[:count]
        for i in range(count):
            name = f"{i:05d}.wav"
            assert (small.split_dir(split) / name).read_bytes() == (dataset.split_dir(split) / name).read_bytes()


# ------------------------------------------------------------------------------------------ captions
def _mentions(caption: str, words: set[str]) -> bool:
    return any(re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", caption) for w in words)


def test_captions_name_exactly_the_rendered_attributes(dataset: DatasetInfo) -> None:
    for split in ("train", "test"):
        for r in dataset.load_metadata(split):
            # Train rows list every train phrasing (the caption among them); they all name the same values.
            assert r.get("captions", [r["caption"]]) == (
                caption_variants(r["category"], r["attributes"], "train") if split == "train" else [r["caption"]]
            )
            assert r["caption"] in r.get("captions", [r["caption"]])
            for name, value in r["attributes"].items():
                words = set(attribute_words(name, value))
                assert all(_mentions(c, words) for c in r.get("captions", [r["caption"]])), (r, name, value)
                for other in ATTRIBUTE_SPACE[r["category"]][name]:
                    # Forms two values share (white and pink noise both "hiss") do not tell them apart.
                    other_words = set(attribute_words(name, other)) - words
                    if other != value:
                        assert not _mentions(r["caption"], other_words), (r["caption"], name, other)


def test_test_split_uses_unseen_templates(dataset: DatasetInfo) -> None:
    for fam in TEMPLATES.values():
        assert not set(fam["train"]) & set(fam["test"])
    train = dataset.load_metadata("train")
    test = dataset.load_metadata("test")
    assert all(r["template"].startswith("train/") for r in train)
    assert all(r["template"].startswith("test/") for r in test)
    train_captions = {c for r in train for c in r["captions"]}
    for r in test:
        assert r["caption"] not in train_captions
        # No train template would have produced it, whatever it picked.
        assert r["caption"] not in caption_variants(r["category"], r["attributes"], "train")
        assert r["caption"] in caption_variants(r["category"], r["attributes"], "test")


def test_write_prompts_file(dataset: DatasetInfo, tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    assert write_prompts_file(dataset.root, path) == 2 * len(CATEGORIES)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    test = dataset.load_metadata("test")
    assert [(r["prompt"], r["category"]) for r in rows] == [(t["caption"], t["category"]) for t in test]
    assert all((dataset.root / r["file"]).is_file() for r in rows)


# ------------------------------------------------------------------------ captions match the audio
@pytest.mark.parametrize("category", ["piano", "strings", "flute", "organ", "guitar", "brass", "bass"])
def test_melody_direction_is_audible(category: str) -> None:
    pattern = "bassline" if category == "bass" else "melody"
    changes = {}
    for direction in ("rising", "falling", "steady"):
        attrs = {"direction": direction, "pattern": pattern, **({"register": "middle"} if category != "bass" else {})}
        audio, spec = synthesize_clip(category, attrs, seed=1)
        assert spec.attributes["direction"] == direction
        changes[direction], _ = pitch_change(*f0_track(audio))
    assert changes["rising"] > 4.0, changes
    assert changes["falling"] < -4.0, changes
    assert abs(changes["steady"]) <= 3.0, changes


def test_register_is_audible() -> None:
    medians = []
    for register in ("low", "middle", "high"):
        audio, _ = synthesize_clip("piano", {"register": register, "pattern": "melody", "direction": "steady"}, seed=2)
        medians.append(pitch_change(*f0_track(audio))[1])
    assert medians[1] - medians[0] > 8 and medians[2] - medians[1] > 8, medians


@pytest.mark.parametrize("category", ["beeps", "sweep"])
def test_tone_direction_is_audible(category: str) -> None:
    directions = ATTRIBUTE_SPACE[category]["direction"]
    changes = {}
    for direction in directions:
        audio, _ = synthesize_clip(category, {"direction": direction, "tempo": "slow", "register": "high"}, seed=4)
        changes[direction], _ = pitch_change(*peak_track(audio))
    assert changes["rising"] > 4.0 and changes["falling"] < -4.0, changes
    if "steady" in changes:
        assert abs(changes["steady"]) < 1.0, changes


@pytest.mark.parametrize("category", ["piano", "drums", "speech", "knocking", "noise", "siren", "sweep"])
def test_loud_is_louder(category: str) -> None:
    soft, _ = synthesize_clip(category, {"loudness": "soft"}, seed=5)
    loud, _ = synthesize_clip(category, {"loudness": "loud"}, seed=5)
    assert rms_db(loud) > rms_db(soft) + 8.0


@pytest.mark.parametrize(
    ("category", "attrs"),
    [
        ("drums", {"kit": "kick_hihat"}),
        ("drums", {"kit": "kick_snare"}),
        ("drums", {"kit": "full"}),
        ("knocking", {"register": "high"}),
        ("beeps", {"direction": "steady"}),
        ("piano", {"pattern": "melody", "register": "middle"}),
    ],
)
def test_fast_has_more_events(category: str, attrs: dict[str, str]) -> None:
    counts = {}
    for tempo in ("slow", "fast"):
        audio, spec = synthesize_clip(category, {**attrs, "tempo": tempo}, seed=6)
        counts[tempo] = onset_count(audio)
        if spec.midi is not None:
            counts[tempo + "_notes"] = len(spec.midi.notes)
    assert counts["fast"] >= 1.5 * counts["slow"] >= 3, counts
    if "fast_notes" in counts:
        assert counts["fast_notes"] >= 1.5 * counts["slow_notes"], counts


def test_speech_is_espeak_and_voices_differ(dataset: DatasetInfo) -> None:
    record = next(r for r in dataset.load_metadata("train") if r["category"] == "speech")
    src = record["source"]
    assert src["engine"] == "espeak-ng"
    clip = _read(dataset, "train", record["file"])
    espeak = shutil.which("espeak-ng")
    assert espeak is not None
    wav = Path(dataset.root) / "reference.wav"
    cmd = [
        espeak,
        "-v",
        src["voice"],
        "-s",
        str(src["speed"]),
        "-a",
        str(src["amplitude"]),
        "-w",
        str(wav),
        "--",
        src["text"],
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    ref, sr = sf.read(str(wav), dtype="float64")
    ref = resample_poly(ref, SR // 10, sr // 10) if sr != SR else ref
    ref = np.pad(ref, (0, max(0, N - ref.size)))[:N]
    body = slice(int(0.05 * SR), N - int(0.05 * SR))  # skip the edge fades
    corr = np.dot(clip[body], ref[body]) / (np.linalg.norm(clip[body]) * np.linalg.norm(ref[body]))
    assert corr > 0.99

    pitch = {}
    for voice in ("male", "female"):
        audio, _ = synthesize_clip("speech", {"voice": voice, "tempo": "slow"}, seed=7)
        pitch[voice] = np.nanmedian(f0_track(audio, fmin=60, fmax=500, gate_db=25)[1])
    assert pitch["female"] > 1.4 * pitch["male"], pitch


def test_noise_colours_have_the_right_tilt() -> None:
    ratios = {}
    for color in ("white", "pink", "brown"):
        audio, _ = synthesize_clip("noise", {"color": color}, seed=8)
        power = np.abs(np.fft.rfft(audio)) ** 2
        f = np.fft.rfftfreq(audio.size, 1 / SR)
        ratios[color] = power[f > 2000].sum() / power[(f > 50) & (f < 500)].sum()
    assert ratios["white"] > 3 * ratios["pink"] > 9 * ratios["brown"], ratios


def test_missing_tools_are_named_only_when_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MissingToolError, match="apt-get install -y fluidsynth"):
        generate_dataset(tmp_path / "x", 1, 1, categories=["piano"])
    with pytest.raises(MissingToolError, match="espeak-ng"):
        generate_dataset(tmp_path / "y", 1, 1, categories=["speech"])
    info = generate_dataset(tmp_path / "z", 2, 2, categories=["noise", "siren"])
    assert {r["category"] for r in info.load_metadata("train")} == {"noise", "siren"}
