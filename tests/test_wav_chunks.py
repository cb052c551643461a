"""Tempo/loop chunks (``acid``, ``smpl``) added to a WAV: the audio stays the same, libsndfile and sox still open
the file, and two readers that share no code with the writer recover the tempo, beats and loop: the module's
own RIFF walker and libsndfile's parser (``SFC_GET_LOOP_INFO`` / ``SFC_GET_INSTRUMENT``, asked through
soundfile's cffi handle)."""

from __future__ import annotations

import shutil
import struct
import subprocess

import numpy as np
import pytest
import soundfile as sf

from audioldm_daw.engine.wav_chunks import (
    TempoInfo,
    WavChunkError,
    add_tempo_chunks,
    beats_for,
    read_tempo_chunks,
    with_tempo_chunks,
)

SFC_GET_INSTRUMENT = 0x10D0
SFC_GET_LOOP_INFO = 0x10E0
SF_LOOP_NONE, SF_LOOP_FORWARD = 800, 801


def libsndfile_view(path) -> tuple[dict, dict]:
    """libsndfile's own reading of the ``acid`` (loop info) and ``smpl`` (instrument) chunks."""
    snd, ffi = sf._snd, sf._ffi
    with sf.SoundFile(str(path)) as f:
        # the sizes must be exactly sizeof(SF_LOOP_INFO) and sizeof(SF_INSTRUMENT) (sndfile.h)
        loop = ffi.new("char[]", 44)  # short num, short den, int mode, int beats, float bpm, int root, int future[6]
        got_loop = snd.sf_command(f._file, SFC_GET_LOOP_INFO, loop, 44)
        inst = ffi.new("char[]", 272)  # int gain, 6 chars (+2 pad), int loop_count, 16 x {mode, start, end, count}
        got_inst = snd.sf_command(f._file, SFC_GET_INSTRUMENT, inst, 272)
    lb, ib = bytes(ffi.buffer(loop)), bytes(ffi.buffer(inst))
    acid = {}
    if got_loop:
        num, den, mode, beats, bpm, root = struct.unpack_from("<hhiifi", lb)
        acid = {"meter": (num, den), "mode": mode, "beats": beats, "bpm": bpm, "root": root}
    smpl = {}
    if got_inst:
        basenote = ib[4]
        loop_count = struct.unpack_from("<i", ib, 12)[0]
        loops = [struct.unpack_from("<iIII", ib, 16 + 16 * n) for n in range(loop_count)]
        smpl = {"basenote": basenote, "loops": loops}
    return acid, smpl


@pytest.fixture(params=["FLOAT", "PCM_24", "PCM_16"])
def wav(tmp_path, request):
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((44100 * 2 + 1, 2)) * 0.1).astype(np.float32)  # odd length: a pad byte for 16-bit
    path = tmp_path / f"loop-{request.param}.wav"
    sf.write(path, audio, 44100, subtype=request.param)
    return path


def test_chunks_leave_the_audio_alone_and_both_readers_agree(wav):
    before, rate = sf.read(wav, dtype="float64")
    info_before = sf.info(str(wav))
    add_tempo_chunks(wav, bpm=126.5, beats=8, loop=True)
    after, rate_after = sf.read(wav, dtype="float64")
    assert rate_after == rate == 44100 and np.array_equal(before, after)
    info = sf.info(str(wav))
    assert (info.subtype, info.channels, info.frames) == (info_before.subtype, 2, info_before.frames)

    own = read_tempo_chunks(wav)
    assert own.bpm == pytest.approx(126.5) and own.beats == 8 and own.loop is True and own.stretch is True
    assert own.meter == (4, 4) and own.root_note is None
    assert own.smpl_loops == ((0, 0, info.frames - 1),) and own.unity_note == 60
    assert own.sample_period_ns == round(1e9 / 44100)
    assert own.chunks.index("acid") < own.chunks.index("data") and own.chunks.index("smpl") < own.chunks.index("data")

    acid, smpl = libsndfile_view(wav)
    assert acid["bpm"] == pytest.approx(126.5) and acid["beats"] == 8 and acid["meter"] == (4, 4)
    assert acid["mode"] == SF_LOOP_FORWARD
    assert smpl["basenote"] == 60 and len(smpl["loops"]) == 1
    _mode, start, end, _count = smpl["loops"][0]
    assert start == 0 and end in (info.frames - 1, info.frames)  # libsndfile may report the end exclusive


def test_one_shot_meter_root_note_and_rewriting_replaces_old_chunks(wav):
    add_tempo_chunks(wav, bpm=90, beats=6, loop=True, numerator=3, denominator=4)
    add_tempo_chunks(wav, bpm=140, beats=7, loop=False, numerator=7, denominator=8, root_note=57)
    got = read_tempo_chunks(wav)
    assert got.chunks.count("acid") == 1 and got.chunks.count("smpl") == 1
    assert (got.bpm, got.beats, got.loop, got.meter, got.root_note) == (140.0, 7, False, (7, 8), 57)
    acid, _ = libsndfile_view(wav)
    assert acid["bpm"] == pytest.approx(140) and acid["meter"] == (7, 8) and acid["beats"] == 7
    assert acid["mode"] == SF_LOOP_NONE


def test_sox_accepts_the_file(wav):
    if not shutil.which("sox"):
        pytest.skip("sox is not installed")
    add_tempo_chunks(wav, bpm=120, beats=4)
    out = subprocess.run(["sox", "--i", str(wav)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "Sample Rate    : 44100" in out.stdout and "Channels       : 2" in out.stdout
    assert "88201 samples" in out.stdout


def test_a_file_without_chunks_reads_as_empty(wav):
    got = read_tempo_chunks(wav)
    assert got.bpm is None and got.smpl_loops == () and "data" in got.chunks
    assert isinstance(got, TempoInfo)


def test_refuses_what_is_not_a_wave_file_and_bad_values(tmp_path, wav):
    with pytest.raises(WavChunkError):
        with_tempo_chunks(b"OggS" + b"\0" * 40, bpm=120, beats=4)
    with pytest.raises(WavChunkError):
        with_tempo_chunks(wav.read_bytes(), bpm=0, beats=4)
    with pytest.raises(WavChunkError):
        with_tempo_chunks(wav.read_bytes(), bpm=120, beats=4, root_note=200)


def test_beats_for():
    assert beats_for(2, 4) == 8 and beats_for(0.25, 4) == 1 and beats_for(3, 7) == 21
