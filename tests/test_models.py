"""The model manager: ``audioldm-daw models`` (list, pull, default), its catalog and OSC ``/audioldm/models``.

Every test runs with its own user data, config and Hugging Face folders (``isolated``), holding a fake hub-cache
repo built on the spot and a tiny model in the user's models folder; nothing is downloaded, ``pull`` is
tested with huggingface_hub's ``snapshot_download`` replaced or with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from osc_helpers import Client

from audioldm_daw.bridge.cli import main
from audioldm_daw.bridge.cli import models as models_cli
from audioldm_daw.engine import models_catalog as catalog
from audioldm_daw.engine.errors import ModelLoadError
from audioldm_daw.engine.model import REQUIRED_PARTS, bundled_model_dir, default_model

ROOT = Path(__file__).resolve().parents[1]
HUB_ID = "cvssp/audioldm-s-full-v2"
USER_MODEL = "my-clicks"


def fake_hub_repo(hub: Path, repo_id: str, *, audioldm: bool = True, card: str = "") -> int:
    """A repo in the hub cache's layout (blobs, refs/main, snapshots/<sha> linking into the blobs); its bytes."""
    folder = hub / ("models--" + repo_id.replace("/", "--"))
    sha = "0123456789abcdef0123456789abcdef01234567"
    snapshot = folder / "snapshots" / sha
    files = {"model_index.json": json.dumps({"_class_name": "AudioLDMPipeline" if audioldm else "BertModel"})}
    if audioldm:
        files |= {f"{part}/config.json": json.dumps({"part": part}) for part in REQUIRED_PARTS}
    if card:
        files["README.md"] = card
    total = 0
    for i, (name, text) in enumerate(sorted(files.items())):
        blob = folder / "blobs" / f"{i:040x}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_text(text)
        total += blob.stat().st_size
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(sha)
    return total


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> SimpleNamespace:
    """Own XDG data/config folders and HF_HOME; a public repo and a non-AudioLDM repo in the hub cache; the
    tiny model (with a card and a knows.json) in the user's models folder."""
    for key, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"), ("HF_HOME", "hf")):
        monkeypatch.setenv(key, str(tmp_path / sub))
    for key in ("AUDIOLDM_DAW_MODEL", "HF_HUB_CACHE"):
        monkeypatch.delenv(key, raising=False)
    hub = tmp_path / "hf" / "hub"
    hub_bytes = fake_hub_repo(hub, HUB_ID, card="---\nlicense: cc-by-nc-sa-4.0\n---\n# AudioLDM\n")
    fake_hub_repo(hub, "someone/a-text-model", audioldm=False)
    user = catalog.user_models_dir()
    assert user == tmp_path / "data" / "audioldm-daw" / "models"
    mine = user / USER_MODEL
    shutil.copytree(tiny_model_dir, mine)
    (mine / "README.md").write_text("---\nlicense: apache-2.0\n---\n# clicks\n")
    (mine / "knows.json").write_text(json.dumps({"format": 1, "kinds": ["clicks", "hum"], "captions": ["a click"]}))
    (user / "not-a-model").mkdir()
    return SimpleNamespace(tmp=tmp_path, hub=hub, hub_bytes=hub_bytes, mine=mine)


def test_listing_shows_the_bundled_user_and_hub_models_with_licence_knows_and_the_default(isolated):
    """Run as a user would, in a fresh process reading HF_HOME and the XDG folders of the environment."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "audioldm_daw.bridge.cli", "models"]
    r = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)  # one object
    by_name = {m["name"]: m for m in record["models"]}
    assert list(by_name) == ["audioldm-daw-mini", USER_MODEL, HUB_ID]  # the non-AudioLDM repo is left out
    bundled, mine, hub = by_name["audioldm-daw-mini"], by_name[USER_MODEL], by_name[HUB_ID]
    assert (bundled["source"], bundled["licence"], bundled["default"]) == ("bundled", "MIT", True)
    assert "piano" in bundled["knows"] and Path(bundled["path"]) == bundled_model_dir()
    assert (mine["source"], mine["licence"], mine["default"]) == ("user", "Apache 2.0", False)
    assert mine["knows"] == ["clicks", "hum"]
    assert mine["size_bytes"] == sum(p.stat().st_size for p in isolated.mine.rglob("*") if p.is_file())
    assert (hub["source"], hub["licence"], hub["knows"], hub["model"]) == ("hub", "CC BY-NC-SA 4.0", [], HUB_ID)
    assert hub["size_bytes"] == isolated.hub_bytes and hub["complete"] is True
    assert record["default"] == "audioldm-daw-mini" and record["default_from"] == "bundled"
    text = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    lines = text.stdout.splitlines()
    assert text.returncode == 0 and lines[0].startswith("* audioldm-daw-mini") and "licence: MIT" in lines[0]
    assert any(line.startswith(f"  {HUB_ID}") and "CC BY-NC-SA 4.0" in line for line in lines)
    assert "    knows: clicks, hum" in lines


def test_a_repo_cut_short_is_listed_as_incomplete_and_a_card_without_front_matter_falls_back(isolated):
    shutil.rmtree(next(isolated.hub.glob("models--cvssp--*/snapshots/*")) / "unet")
    (isolated.mine / "README.md").write_text("# no front matter here\n")
    entries = {e.name: e for e in catalog.list_models()}
    assert entries[HUB_ID].complete is False and entries[USER_MODEL].licence == ""


def test_default_is_set_read_by_default_model_and_cleared(isolated, monkeypatch, capsys):
    assert default_model() == str(bundled_model_dir())
    assert main(["models", "default", USER_MODEL]) == 0
    assert default_model() == str(isolated.mine.resolve())
    assert json.loads(catalog.config_file().read_text()) == {"default": str(isolated.mine.resolve())}
    assert [e.name for e in catalog.list_models() if e.default] == [USER_MODEL]
    monkeypatch.setenv("AUDIOLDM_DAW_MODEL", HUB_ID)  # the environment still wins over the file
    assert default_model() == HUB_ID and [e.name for e in catalog.list_models() if e.default] == [HUB_ID]
    monkeypatch.delenv("AUDIOLDM_DAW_MODEL")
    assert main(["models", "default", "s-full-v2"]) == 0  # a public checkpoint by its short name
    assert default_model() == HUB_ID
    assert main(["models", "default", "--clear"]) == 0
    assert default_model() == str(bundled_model_dir()) and not catalog.config_file().exists()
    assert main(["models", "default", "no-such-model"]) == 2
    assert "pick a name from that list" in capsys.readouterr().err and not catalog.config_file().exists()


def test_a_default_folder_that_is_gone_says_what_to_do(isolated):
    catalog.set_default(str(isolated.tmp / "moved-away"))
    with pytest.raises(ModelLoadError, match="models default --clear"):
        default_model()


def test_pull_shows_the_licence_before_downloading(isolated, monkeypatch, capsys):
    import huggingface_hub

    calls = []

    def snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, capsys.readouterr().out))  # what was printed before the download began
        return str(next(isolated.hub.glob("models--cvssp--*/snapshots/*")))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert main(["models", "pull", "s-full-v2"]) == 0
    assert len(calls) == 1 and calls[0][0] == HUB_ID
    assert "licence CC BY-NC-SA 4.0" in calls[0][1]
    assert f"--model {HUB_ID}" in capsys.readouterr().out


def test_pull_without_network_says_so_in_one_sentence_and_changes_nothing(isolated):
    before = sorted(p.relative_to(isolated.tmp) for p in isolated.tmp.rglob("*"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "audioldm_daw.bridge.cli", "models", "pull", "cvssp/audioldm-m-full"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1 and r.stderr.strip() == models_cli.NO_NETWORK
    assert r.stderr.count("\n") == 1 and r.stderr.count(".") == 1 and r.stderr.endswith("was changed.\n")
    assert "CC BY-NC-SA 4.0" in r.stdout
    assert sorted(p.relative_to(isolated.tmp) for p in isolated.tmp.rglob("*")) == before


def test_pull_cut_short_says_the_same_command_resumes(isolated, monkeypatch, capsys):
    import huggingface_hub

    def snapshot_download(repo_id, **kwargs):
        (isolated.hub / "models--cvssp--audioldm-l-full" / "blobs").mkdir(parents=True)
        raise OSError("connection reset")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert main(["models", "pull", "l-full"]) == 1
    assert "running the same command again resumes it" in capsys.readouterr().err
    assert main(["models", "pull", "not a hub id"]) == 2
    assert "is not a hub id" in capsys.readouterr().err


def test_osc_models_is_answered_by_a_real_server(isolated, tmp_path):
    from audioldm_daw.bridge.server.osc_server import OscServer

    served = SimpleNamespace(model_id=USER_MODEL, path=isolated.mine, device="cpu")
    srv = OscServer(SimpleNamespace(model=served), host="127.0.0.1", port=0, clips_dir=tmp_path / "clips")
    srv.start()
    c = Client(srv.address)
    try:
        c.send("/audioldm/models")
        got = c.replies.until(lambda m: m[0] == "/audioldm/models_end", timeout=30)
        rows = {args[0]: args for address, args in got if address == "/audioldm/model"}
        assert [a for a, _ in got] == ["/audioldm/model"] * 3 + ["/audioldm/models_end"]
        mini = rows["audioldm-daw-mini"]
        assert mini[1:5] == ["MIT", mini[2], 1, 0] and mini[2].startswith("piano, strings")
        assert rows[USER_MODEL][1:6] == ["Apache 2.0", "clicks, hum", 0, 1, str(isolated.mine)]
        assert rows[HUB_ID][1:6] == ["CC BY-NC-SA 4.0", "", 0, 0, HUB_ID]
        address, args = c.ask("/audioldm/models", 1)  # the table's checks hold for it as for every address
        assert address == "/audioldm/fail" and args[2] == "/audioldm/models" and args[1]
    finally:
        c.close()
        srv.close()


def test_a_served_model_outside_the_catalog_is_listed_as_loaded(isolated, tmp_path):
    from audioldm_daw.bridge.server.osc_server import model_rows

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rows = model_rows(elsewhere)
    assert rows[-1] == ["elsewhere", "", "", 0, 1, str(elsewhere)] and sum(r[4] for r in rows) == 1
