"""What a model knows (engine/knowledge.py): a prompt far from every caption a folder's knows.json lists gets a
warning that names the model's kinds of sound, on the Python API and in the sidecar; a prompt near them, and any
prompt to a folder without the file, gets none. The bundled model's file is the synthetic dataset's, and the
workbench writes one for the models it assembles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from audioldm_daw.engine import Engine, GenerateRequest
from audioldm_daw.engine.errors import ModelLoadError
from audioldm_daw.engine.knowledge import KNOWS_FILE, load_knowledge, read_knows, write_knows
from audioldm_daw.engine.model import bundled_model_dir

INSIDE = "a warm analog pad"


@pytest.fixture(scope="module")
def knowing_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random folder with a knows.json: two kinds, three captions, a strict threshold (a random text
    tower puts unrelated texts close together; the caption itself scores 1)."""
    folder = tmp_path_factory.mktemp("knowing") / "tiny-knows"
    shutil.copytree(tiny_model_dir, folder)
    write_knows(folder, ["pads", "kicks"], [INSIDE, "a punchy kick drum", "a soft string pad"], threshold=0.99995)
    return folder


@pytest.fixture(scope="module")
def knowing_engine(knowing_model_dir: Path) -> Engine:
    return Engine.load(knowing_model_dir, device="cpu")


def test_a_prompt_inside_gets_no_warning_and_one_outside_does(knowing_engine: Engine, tmp_path: Path) -> None:
    near = knowing_engine.render(GenerateRequest(INSIDE, duration=0.5, steps=2, seed=1), tmp_path / "near.wav")
    assert near.clip.warnings == []
    assert json.loads(near.sidecar.read_text())["warnings"] == []
    far = knowing_engine.render(GenerateRequest("a dog barking", duration=0.5, steps=2, seed=1), tmp_path / "far.wav")
    [warning] = far.clip.warnings
    assert warning.startswith("prompt: this model knows pads, kicks;")
    assert "'a dog barking' is far from all of them" in warning
    assert json.loads(far.sidecar.read_text())["warnings"] == [warning]  # the sidecar carries it, as every door
    assert len(far.clip.audio) > 0  # a warning, never a refusal


def test_a_folder_without_knows_json_warns_about_nothing(tiny_engine: Engine) -> None:
    assert tiny_engine.knowledge is None
    assert tiny_engine.prompt_warnings(GenerateRequest("a dog barking"))[0] == []


def test_captions_are_embedded_once_per_model(knowing_engine: Engine) -> None:
    again = load_knowledge(knowing_engine.model)
    assert again is not None and knowing_engine.knowledge is not None
    assert again.embeddings is knowing_engine.knowledge.embeddings
    assert again.embeddings.shape[0] == 3 and again.threshold == 0.99995


def test_a_new_process_reads_the_embeddings_from_disk(knowing_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-shot command does not run the text tower over the captions again: they come from the cache file."""
    from audioldm_daw.engine import knowledge

    assert knowing_engine.knowledge is not None
    monkeypatch.setattr(knowledge, "_EMBEDDED", {})  # as in a fresh process

    def no_tower(*_: object) -> None:
        raise AssertionError("the captions were embedded again")

    monkeypatch.setattr(knowledge, "_embed", no_tower)
    again = load_knowledge(knowing_engine.model)
    assert again is not None
    assert again.embeddings.shape == knowing_engine.knowledge.embeddings.shape
    assert bool((again.embeddings == knowing_engine.knowledge.embeddings).all())


def test_an_unreadable_knows_json_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / KNOWS_FILE).write_text('{"kinds": ["x"]}')
    with pytest.raises(ModelLoadError, match=r"expected .*captions.*or remove the file"):
        read_knows(tmp_path)
    (tmp_path / KNOWS_FILE).write_text('{"captions": ["x"], "threshold": 3}')
    with pytest.raises(ModelLoadError, match="threshold between -1 and 1"):
        read_knows(tmp_path)


@pytest.fixture(scope="module")
def bundled_engine() -> Engine:
    return Engine.load(bundled_model_dir(), device="cpu")


@pytest.mark.parametrize(
    ("prompt", "warns"),
    [("a dog barking", True), ("rain on a tin roof", True), ("a piano plays a slow melody", False)],
)
def test_the_bundled_model_warns_about_sounds_it_never_heard(bundled_engine: Engine, prompt: str, warns: bool) -> None:
    warnings, _ = bundled_engine.prompt_warnings(GenerateRequest(prompt))
    assert bool(warnings) == warns, warnings
    if warns:
        assert "this model knows piano, strings, flute" in warnings[0] and "knocking" in warnings[0]


def test_the_bundled_knows_json_is_the_synthetic_datasets() -> None:
    """The file is what the workbench writes from the caption templates (kinds in order, the same captions)."""
    from audioldm_daw.workbench.dataset.knows import synthetic_knowledge

    data = read_knows(bundled_model_dir())
    assert data is not None
    kinds, captions = synthetic_knowledge()
    assert (data["kinds"], data["captions"]) == (kinds, captions)
    assert len(kinds) == 14 and 0 < data["threshold"] < 1


def test_the_workbench_writes_knows_json_from_a_training_folder(tmp_path: Path) -> None:
    """assemble's source: the data folder's captions, named by category where the records have one."""
    from audioldm_daw.workbench.dataset.knows import write_for_data
    from audioldm_daw.workbench.training.assemble import training_data

    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    rows = [{"file": f"{i}.wav", "caption": f"a {c} sound number {i}", "category": c} for i, c in
            enumerate(["siren", "siren", "piano", "custom"] * 3)]  # fmt: skip
    (data / "train" / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    stages = {"clap": {"config": {"config": {"data": str(data)}}}, "ldm": {}}
    assert training_data(stages) == data
    model = tmp_path / "model"
    model.mkdir()
    assert write_for_data(model, data) == model / KNOWS_FILE
    written = read_knows(model)
    assert written is not None and written["kinds"] == ["sirens", "piano", "custom"]
    # at most four captions of each kind (six sirens, three pianos, three of the custom kind): 4 + 3 + 3
    assert len(written["captions"]) == 10 and sum("siren" in c for c in written["captions"]) == 4
    (tmp_path / "bare").mkdir()
    assert write_for_data(model, tmp_path / "bare") is None  # no captions: nothing can be named
