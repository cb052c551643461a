"""Caption templates: every attribute of a clip is named, in train wording or in held-out wording.

The train and test splits draw from disjoint template sets over the same attribute vocabulary, so the
evaluation prompts are phrasings the model never saw: a model that only memorised caption strings fails,
one that learnt "slow", "rising", "soft" and "piano" as concepts does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

SPLITS = ("train", "test")

# Surface forms of each attribute value; templates pick a form by the key after the attribute name.
FORMS: dict[str, dict[str, dict[str, str]]] = {
    "register": {
        "low": {"": "low", "phrase": "in a low register", "pitched": "low-pitched"},
        "middle": {"": "mid-range", "phrase": "in the middle register", "pitched": "mid-pitched"},
        "high": {"": "high", "phrase": "in a high register", "pitched": "high-pitched"},
    },
    "tempo": {"slow": {"": "slow", "adv": "slowly"}, "fast": {"": "fast", "adv": "quickly"}},
    "direction": {
        "rising": {
            "": "rising",
            "verb": "rises",
            "verb_pl": "rise",
            "gerund": "rising",
            "updown": "upward",
            "pitch": "rising in pitch",
        },
        "falling": {
            "": "falling",
            "verb": "falls",
            "verb_pl": "fall",
            "gerund": "falling",
            "updown": "downward",
            "pitch": "falling in pitch",
        },
        "steady": {
            "": "steady",
            "verb": "stays level",
            "verb_pl": "stay level",
            "gerund": "staying level",
            "updown": "",
            "pitch": "holding a steady pitch",
        },
    },
    "loudness": {"soft": {"": "soft", "adv": "softly"}, "loud": {"": "loud", "adv": "loudly"}},
    "pattern": {
        "melody": {"": "melody"},
        "chords": {"": "chord progression"},
        "arpeggio": {"": "arpeggio"},
        "bassline": {"": "bassline"},
    },
    "voice": {"male": {"": "male", "speaker": "a man"}, "female": {"": "female", "speaker": "a woman"}},
    "kit": {
        "kick_hihat": {"": "hi-hat pattern with a kick drum", "list": "kick drum and hi-hat"},
        "kick_snare": {"": "kick and snare pattern", "list": "kick drum and snare"},
        "full": {"": "drum beat with kick, snare and hi-hat", "list": "kick drum, snare and hi-hat"},
    },
    "color": {
        "white": {"": "white", "verb": "hisses", "noun": "hiss", "gerund": "hissing"},
        "pink": {"": "pink", "verb": "hisses", "noun": "hiss", "gerund": "hissing"},
        "brown": {"": "brown", "verb": "rumbles", "noun": "rumble", "gerund": "rumbling"},
    },
}

# Category -> (noun with article, bare noun) for the melodic instruments.
INSTRUMENT_NOUNS: dict[str, tuple[str, str]] = {
    "piano": ("a piano", "piano"),
    "strings": ("a string ensemble", "string"),
    "flute": ("a flute", "flute"),
    "organ": ("an organ", "organ"),
    "guitar": ("an acoustic guitar", "acoustic guitar"),
    "brass": ("a brass section", "brass"),
    "bass": ("a bass guitar", "bass guitar"),
}

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "tonal": {
        "train": (
            "{inst} {loudness_adv} plays a {tempo}, {register} {pattern} that {direction_verb}",
            "a {loudness} {direction} {pattern} played {tempo_adv} on {inst} {register_phrase}",
            "{inst_bare} {pattern}, {tempo} and {loudness}, {direction_gerund} {register_phrase}",
            "a {tempo} {register} {inst_bare} {pattern} that {direction_verb}, played {loudness_adv}",
        ),
        "test": (
            "{register} notes on {inst}: a {tempo} {pattern}, {direction_gerund}, played {loudness_adv}",
            "{inst} performing a {direction} {pattern} at a {tempo} tempo, {loudness} and {register_pitched}",
        ),
    },
    "bass": {
        "train": (
            "{inst} {loudness_adv} plays a {tempo} {pattern} that {direction_verb}",
            "a {loudness} {direction} {pattern} played {tempo_adv} on {inst}",
            "{inst_bare} {pattern}, {tempo} and {loudness}, {direction_gerund}",
        ),
        "test": (
            "{inst} performing a {direction} {pattern} at a {tempo} tempo, {loudness}",
            "a {pattern} on {inst}: {tempo}, {direction_gerund}, played {loudness_adv}",
        ),
    },
    "drums": {
        "train": (
            "a {tempo} {kit}, played {loudness_adv}",
            "{loudness} drums: a {kit} at a {tempo} pace",
            "someone {loudness_adv} plays a {tempo} {kit}",
        ),
        "test": (
            "a drummer playing {kit_list} {tempo_adv} and {loudness_adv}",
            "{tempo}, {loudness} percussion with {kit_list}",
        ),
    },
    "speech": {
        "train": (
            "{voice_speaker} speaks {tempo_adv} and {loudness_adv}",
            "a {loudness} {voice} voice talking {tempo_adv}",
            "{voice_speaker} talks {tempo_adv} in a {loudness} voice",
        ),
        "test": (
            "{voice_speaker} saying a few sentences {tempo_adv}, {loudness_adv}",
            "{tempo}, {loudness} speech from {voice_speaker}",
        ),
    },
    "siren": {
        "train": (
            "a {loudness}, {register_pitched} siren wails {tempo_adv}",
            "a siren cycles {tempo_adv} {register_phrase}, {loudness_adv}",
            "a {register} {tempo} siren sounding {loudness_adv}",
        ),
        "test": (
            "an emergency siren going up and down {tempo_adv}, {register} and {loudness}",
            "{loudness} {register_pitched} siren with a {tempo} wail",
        ),
    },
    "beeps": {
        "train": (
            "a series of {tempo}, {register} beeps that {direction_verb_pl}, played {loudness_adv}",
            "{loudness} electronic beeps repeat {tempo_adv}, {direction_pitch}, {register_phrase}",
            "{tempo} {register_pitched} beeping {direction_pitch}, {loudness}",
        ),
        "test": (
            "{register} beep tones at a {tempo} rate, {direction_pitch}, played {loudness_adv}",
            "an alarm beeps {tempo_adv} and {loudness_adv}: {register_pitched} tones {direction_gerund}",
        ),
    },
    "sweep": {
        "train": (
            "a {register} sine tone sweeps {direction_updown} {tempo_adv}, {loudness_adv}",
            "a {loudness}, {tempo}, {direction} sine sweep {register_phrase}",
            "a {tempo} frequency sweep going {direction_updown}, {register} and {loudness}",
        ),
        "test": (
            "pure tone gliding {direction_updown} {tempo_adv} {register_phrase}, played {loudness_adv}",
            "{register_pitched} chirp, {direction}, {tempo} and {loudness}",
        ),
    },
    "noise": {
        "train": (
            "{color} noise {color_verb} {loudness_adv}",
            "{loudness} {color} noise",
            "a steady {loudness} {color_noun} of {color} noise",
        ),
        "test": (
            "constant {color}-noise static played {loudness_adv}",
            "{loudness_adv} {color_gerund} {color} noise",
        ),
    },
    "knocking": {
        "train": (
            "someone knocks {tempo_adv} and {loudness_adv}, making {register} knocks",
            "{tempo} {register_pitched} knocking, {loudness}",
            "a {loudness} {register} knock repeated {tempo_adv}",
        ),
        "test": (
            "{loudness} {register_pitched} impacts repeating {tempo_adv}",
            "a {tempo} series of {register} knocks, struck {loudness_adv}",
        ),
    },
}


def family(category: str) -> str:
    """The template family of a category (melodic instruments share one, the bass has no register)."""
    if category == "bass":
        return "bass"
    return "tonal" if category in INSTRUMENT_NOUNS else category


def _fields(category: str, attributes: Mapping[str, str]) -> dict[str, str]:
    """Every ``{attribute_form}`` a template may use, filled in for these attributes."""
    out: dict[str, str] = {}
    for name, value in attributes.items():
        for form, text in FORMS[name][value].items():
            out[f"{name}_{form}" if form else name] = text
    if category in INSTRUMENT_NOUNS:
        out["inst"], out["inst_bare"] = INSTRUMENT_NOUNS[category]
    return out


def _tidy(text: str) -> str:
    """Collapse the blanks and stray commas an empty form (e.g. steady has no up/down) leaves behind."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+,", ",", text)


def caption_variants(category: str, attributes: Mapping[str, str], split: str) -> list[str]:
    """All captions the ``split`` templates give for these attributes (test checks use it to compare)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    fields = _fields(category, attributes)
    return [_tidy(t.format(**fields)) for t in TEMPLATES[family(category)][split]]


def make_caption(category: str, attributes: Mapping[str, str], split: str, rng: np.random.Generator) -> tuple[str, str]:
    """Pick a template of ``split`` with ``rng``; returns the caption and the template id."""
    variants = caption_variants(category, attributes, split)
    index = int(rng.integers(len(variants)))
    return variants[index], f"{split}/{family(category)}/{index}"


def attribute_words(name: str, value: str) -> tuple[str, ...]:
    """The surface forms of one attribute value (for checks that a caption really names it)."""
    return tuple(text for text in FORMS[name][value].values() if text)
