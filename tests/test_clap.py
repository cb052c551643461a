"""engine.clap, the one CLAP module: its torch features against transformers' extractor, one tokenisation
for both text towers, truncation reports, and the model-level wrappers in engine.conditioning."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from audioldm_daw.engine import clap
from audioldm_daw.engine.clap import CLAP_SAMPLE_RATE, ClapAudioFeatures, to_clap_rate

# Worst |torch - extractor| in dB measured on this suite's clips (CPU, torch 2.11, transformers 5.24):
# float64 0 after the cast to the extractor's float32 (bit for bit); float32 8.3e-4 (the full-size
# extractor, 16 kHz input: near-empty bins above 8 kHz, where float32's STFT error is relative to the
# frame's energy, not the bin's).
FP64_BOUND = 1e-5  # one float32 ulp at 100 dB, in case another FFT library rounds one value the other way
FP32_BOUND = 2e-3


def _extractors() -> dict[str, Any]:
    from transformers import ClapFeatureExtractor

    from audioldm_daw.engine.architecture import PRESETS, clap_feature_extractor

    return {
        "tiny": clap_feature_extractor(PRESETS["tiny"]),
        # The shapes of laion/clap-htsat-unfused's extractor, built locally (no download).
        "full": ClapFeatureExtractor(
            truncation="rand_trunc", padding="repeatpad", frequency_min=50, frequency_max=14000
        ),
    }


EXTRACTORS = _extractors()


def _reference(fe: Any, wave48k: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The extractor's (features, is_longer) and the offset of the window it drew for a long clip."""
    overflow = wave48k.shape[-1] - int(fe.nb_max_samples)
    np.random.seed(seed)
    offset = int(np.random.randint(0, overflow + 1)) if overflow > 0 else 0
    np.random.seed(seed)
    ref = fe([wave48k.numpy()], sampling_rate=CLAP_SAMPLE_RATE, return_tensors="pt")
    return ref["input_features"], ref["is_longer"], offset


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
@pytest.mark.parametrize("sr", [16000, 48000])
@pytest.mark.parametrize("seconds", [0.37, 1.0, 10.0, 12.3])
def test_torch_features_match_the_feature_extractor(name: str, sr: int, seconds: float) -> None:
    fe = EXTRACTORS[name]
    n = int(seconds * sr) | 1  # odd lengths: no clip is a whole number of hops by accident
    rng = np.random.default_rng(n)
    wave = torch.from_numpy((rng.standard_normal(n) * 0.1).astype(np.float32))
    at48 = to_clap_rate(wave, sr)
    ref, ref_longer, offset = _reference(fe, at48, seed=n)
    window = at48[offset : offset + int(fe.nb_max_samples)]  # the caller cuts long clips (here: where fe did)
    for dtype, bound in ((torch.float64, FP64_BOUND), (torch.float32, FP32_BOUND)):
        feats, _ = ClapAudioFeatures(fe, dtype)([window])
        assert feats.shape == ref.shape and feats.dtype == dtype
        err = (feats.float() - ref).abs()
        assert float(err.max()) <= bound, (dtype, float(err.max()))
        if dtype == torch.float64:
            assert float((err == 0).float().mean()) > 0.999  # the extractor's own numbers, not just close
    _, longer = ClapAudioFeatures(fe)([at48])
    assert longer.tolist() == ref_longer.tolist() == [[at48.shape[-1] > int(fe.nb_max_samples)]]


def test_an_uncut_long_clip_keeps_its_first_window() -> None:
    """Never a random window (the extractor's ``np.random``): the same clip always embeds the same."""
    fe = EXTRACTORS["tiny"]
    wave = torch.from_numpy(np.random.default_rng(1).standard_normal(int(fe.nb_max_samples) + 4801) * 0.1)
    f = ClapAudioFeatures(fe, torch.float64)
    whole, longer = f([wave])
    first, _ = f([wave[: int(fe.nb_max_samples)]])
    assert torch.equal(whole, first) and longer.tolist() == [[True]]


@pytest.mark.parametrize("padding", ["repeatpad", "repeat", "pad"])
def test_every_padding_of_the_extractor_is_reproduced(padding: str) -> None:
    import copy

    fe = copy.deepcopy(EXTRACTORS["tiny"])
    fe.padding = padding
    wave = torch.from_numpy((np.random.default_rng(2).standard_normal(130_001) * 0.1).astype(np.float32))
    ref = fe([wave.numpy()], sampling_rate=CLAP_SAMPLE_RATE, return_tensors="pt")["input_features"]
    feats, _ = ClapAudioFeatures(fe, torch.float64)([wave])
    assert float((feats.float() - ref).abs().max()) <= FP64_BOUND


def test_fusion_extractors_are_refused_with_a_reason() -> None:
    from transformers import ClapFeatureExtractor

    with pytest.raises(ValueError, match="fusion"):
        ClapAudioFeatures(ClapFeatureExtractor(truncation="fusion"))


# -- text ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> Any:
    from audioldm_daw.engine.model import load_model

    return load_model(tiny_model_dir, device="cpu")


PROMPTS = ["", "white noise", "a soft warm pad with a slow rising sweep and a low drone", "loud " * 60]


def test_tokenisation_pads_to_the_tokenizers_limit(model: Any) -> None:
    tok = clap.tokenize(model.tokenizer, PROMPTS)
    assert tok.input_ids.shape == (len(PROMPTS), model.tokenizer.model_max_length)
    assert clap.tokenize(model.clap_tokenizer, PROMPTS).input_ids.tolist() == tok.input_ids.tolist()


def test_text_encoder_and_the_full_clap_text_tower_agree(model: Any) -> None:
    """The tiny folder's text_encoder/ and clap/ share one text tower (architecture.build_components), as
    AudioLDM's do: the same prompt must embed the same through either, with the one padding."""
    from audioldm_daw.engine.conditioning import text_embeddings

    via_encoder = clap.embed_text(model.text_encoder, model.tokenizer, PROMPTS)
    via_clap = clap.embed_text(model.clap, model.clap_tokenizer, PROMPTS)
    assert via_encoder.shape == via_clap.shape == (len(PROMPTS), model.clap.config.projection_dim)
    torch.testing.assert_close(via_encoder, via_clap, atol=1e-6, rtol=0)
    torch.testing.assert_close(via_encoder.norm(dim=-1), torch.ones(len(PROMPTS)))
    cond = text_embeddings(model, PROMPTS)
    assert cond.dtype == model.dtype
    torch.testing.assert_close(cond, via_encoder.to(model.dtype), atol=0, rtol=0)


def test_fixed_padding_scores_as_the_old_dynamic_padding_did(model: Any) -> None:
    """Re-ranking used to pad prompts to the longest in the batch; the attention mask makes that the same."""
    tok = model.clap_tokenizer(PROMPTS[:3], padding=True, truncation=True, return_tensors="pt")
    dynamic = model.clap.get_text_features(input_ids=tok.input_ids, attention_mask=tok.attention_mask)
    fixed = clap.embed_text(model.clap, model.clap_tokenizer, PROMPTS[:3])
    torch.testing.assert_close(fixed, torch.nn.functional.normalize(dynamic.pooler_output, dim=-1), atol=1e-6, rtol=0)


def test_truncation_is_reported_with_the_kept_text(model: Any) -> None:
    from audioldm_daw.engine.conditioning import prompt_truncation

    tok = model.tokenizer
    assert clap.text_truncation(tok, "white noise") is None
    assert clap.text_truncation(tok, "") is None
    prompt = "a soft warm pad with a slow rising sweep, " * 8 + "and a bell at the very end"
    cut = clap.text_truncation(tok, prompt)
    assert cut is not None
    assert cut.limit == tok.model_max_length and cut.tokens > cut.limit
    assert cut.tokens == len(tok(prompt, verbose=False).input_ids)
    assert cut.kept and prompt.startswith(cut.kept) and "bell" not in cut.kept
    # the kept text is exactly what the condition reads
    assert tok(cut.kept).input_ids == clap.tokenize(tok, [prompt]).input_ids[0].tolist()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cut.kept = "x"  # type: ignore[misc]
    assert prompt_truncation(model, prompt) == cut
    assert prompt_truncation(model, "white noise") is None


# -- audio embeddings and scores ------------------------------------------------------------------------


def _waves(*lengths: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in lengths]


def test_audio_embeddings_are_the_ones_the_extractor_gave(model: Any) -> None:
    """The inference path before engine.clap (torchaudio resample, transformers' extractor): a sidecar's
    variation must embed its source the same way now."""
    from audioldm_daw.engine.conditioning import audio_embeddings

    waves = _waves(8001, 30000, 16000 * 3 + 7)
    at48 = [to_clap_rate(torch.from_numpy(w), 16000).numpy() for w in waves]
    feats = model.clap_feature_extractor(at48, sampling_rate=CLAP_SAMPLE_RATE, return_tensors="pt")
    old = model.clap.get_audio_features(input_features=feats["input_features"], is_longer=feats["is_longer"])
    old = torch.nn.functional.normalize(old.pooler_output.float(), dim=-1)
    new = audio_embeddings(model, waves, 16000)
    assert new.dtype == torch.float32
    torch.testing.assert_close(new, old, atol=1e-6, rtol=0)


def test_scores_against_audio_rank_the_reference_first(model: Any) -> None:
    from audioldm_daw.engine.conditioning import audio_embeddings, clap_scores, clap_scores_against_audio

    waves = _waves(16000, 12000, 20000, seed=4)
    reference = waves[1]
    scores = clap_scores_against_audio(model, waves, 16000, reference)
    assert len(scores) == 3 and all(-1.0 - 1e-6 <= s <= 1.0 + 1e-6 for s in scores)
    assert scores[1] == pytest.approx(1.0, abs=1e-5) and int(np.argmax(scores)) == 1
    emb = audio_embeddings(model, waves, 16000)
    assert scores == pytest.approx((emb @ emb[1]).tolist(), abs=1e-5)
    text = clap_scores(model, waves, 16000, "white noise")
    want = emb @ clap.embed_text(model.clap, model.clap_tokenizer, ["white noise"])[0]
    assert text == pytest.approx(want.tolist(), abs=1e-6)


def test_scores_against_audio_need_a_clap_audio_tower(tiny_model_dir_no_clap: Path) -> None:
    from audioldm_daw.engine.conditioning import clap_scores_against_audio
    from audioldm_daw.engine.errors import EngineError
    from audioldm_daw.engine.model import load_model

    m = load_model(tiny_model_dir_no_clap, device="cpu")
    with pytest.raises(EngineError, match="clap/"):
        clap_scores_against_audio(m, _waves(8000), 16000, _waves(8000)[0])
