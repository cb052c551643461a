"""An inbox folder: any host or tool that can write a file can ask for a clip.

Drop ``pad.json`` (``{"mode": "generate", "prompt": "warm pad", "bars": 4, "bpm": 120}``: the keys are the
OSC names of docs/OSC.md, plus ``mode``, default generate) or ``pad.txt`` (one prompt) into the folder.
The watcher hands each request to a running ``audioldm-daw serve`` (it is a client, like ``send``), and
when the clip is done writes, in ``done/``: ``pad.wav``, its sidecar ``pad.json``, ``pad.result.json``
(path, seconds, sample rate, seed, sidecar) and the request itself as ``pad.request.json``. A request the
engine cannot do is moved to ``failed/`` with ``pad.json.error.txt`` beside it saying why.

Nothing is lost across a restart of either side: a request is claimed by renaming it to a hidden
``.pad.json.working`` while it is rendered, renamed back if the engine goes away or the watcher stops, and
a claimed file found at start-up (the watcher was killed) is put back and done again. While no engine
answers, requests simply wait in the folder.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audioldm_daw.bridge.client import EngineClient, EngineUnavailable, JobFailed, Result, Take, takes_for
from audioldm_daw.engine.errors import InvalidRequest

SUFFIXES = (".json", ".txt")
WORKING = ".working"
SETTLE_S = 0.5  # a file changed this recently may still be being written: wait for it
RETRY_S = 2.0  # how often to look for the engine again while none answers


class BadRequest(ValueError):
    """A request file that can never work as written (its message goes to ``failed/NAME.error.txt``)."""


def read_request(path: Path, text: str) -> tuple[str, dict[str, Any], str | None]:
    """(mode, values by request field, clip name) of a request file's contents; BadRequest naming the key."""
    from audioldm_daw.bridge import protocol
    from audioldm_daw.engine.params import MODES, PARAMS

    if path.suffix.lower() == ".txt":
        prompt = " ".join(text.split())
        if not prompt:
            raise BadRequest("the file is empty: a .txt request holds one prompt")
        return "generate", {"prompt": prompt}, None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"expected a JSON object of OSC option names and values, got {type(data).__name__}")
    mode = data.pop("mode", "generate")
    if mode not in MODES:
        raise BadRequest(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    name = data.pop("name", None)
    if name is not None:
        try:
            protocol.check_name(name if isinstance(name, str) else "")
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    values: dict[str, Any] = {}
    names = {p.name: p for p in PARAMS.values()}
    for key, value in data.items():
        param = names.get(key)
        if param is None:
            known = ", ".join(["mode", "name", *names])
            raise BadRequest(f"{key}: not a request key (keys: {known})")
        if not param.applies_to(mode):
            raise BadRequest(param.not_for(mode).message(protocol.osc_name))
        values[param.field] = _value(param, value)
    if isinstance(values.get("input_path"), str):
        given = Path(values["input_path"]).expanduser()
        values["input_path"] = str(given if given.is_absolute() else path.parent / given)  # beside the request
    return mode, values, name


def _value(param: Any, value: Any) -> Any:
    """A JSON value checked as the engine checks it; numbers may also come as strings ("4", "off")."""
    import argparse

    from audioldm_daw.bridge import protocol
    from audioldm_daw.bridge.options import converter

    try:
        if isinstance(value, str) and param.kind not in ("text", "path", "string", "choice"):
            return converter(param)(value)
        return param.check(value)
    except argparse.ArgumentTypeError as exc:
        raise BadRequest(f"{param.name}: {exc}") from None
    except InvalidRequest as exc:
        raise BadRequest(exc.message(protocol.osc_name)) from None


@dataclass
class Outcome:
    request: str  # the request file's name
    ok: bool
    message: str  # where the result went, or why it failed
    retry: bool = False  # left in the inbox (the engine went away)


class Inbox:
    """Watches ``folder`` and renders its requests, one at a time, in the order they arrived."""

    def __init__(
        self,
        folder: Path,
        host: str = "127.0.0.1",
        port: int = 9000,
        say: Callable[[str], None] = print,
        settle: float = SETTLE_S,
    ) -> None:
        self.folder = Path(folder).expanduser().resolve()
        self.done = self.folder / "done"
        self.failed = self.folder / "failed"
        for d in (self.folder, self.done, self.failed):
            d.mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port
        self.say = say
        self.settle = settle
        self.client: EngineClient | None = None
        self.waiting_said = False

    # -- the folder -----------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Put back requests a killed watcher had claimed (they are done again); their names."""
        back = []
        for claimed in sorted(self.folder.glob(f".*{WORKING}")):
            original = self.folder / claimed.name[1 : -len(WORKING)]
            if not original.exists():
                claimed.rename(original)
                back.append(original.name)
        return back

    def pending(self) -> list[Path]:
        """Request files that are complete (unchanged for ``settle`` seconds), oldest first."""
        now = time.time()
        found = []
        for p in self.folder.iterdir():
            if p.name.startswith(".") or p.suffix.lower() not in SUFFIXES or not p.is_file():
                continue
            try:
                mtime = p.stat().st_mtime
            except FileNotFoundError:
                continue
            if now - mtime >= self.settle:
                found.append((mtime, p.name, p))
        return [p for _, _, p in sorted(found)]

    def claim(self, path: Path) -> Path | None:
        claimed = self.folder / f".{path.name}{WORKING}"
        try:
            path.rename(claimed)  # atomic: two watchers on one folder never take the same request
        except FileNotFoundError:
            return None
        return claimed

    # -- the engine -----------------------------------------------------------------------------------
    def engine(self) -> EngineClient | None:
        """A client registered with a live engine, or None (said once) while none answers."""
        try:
            if self.client is None:
                self.client = EngineClient(self.host, self.port)
            self.client.connect(timeout=1.0)
        except EngineUnavailable as exc:
            if not self.waiting_said:
                self.say(f"waiting: {exc}; requests stay in {self.folder} until it answers")
                self.waiting_said = True
            return None
        if self.waiting_said:
            self.say(f"engine at udp://{self.host}:{self.port} answers")
            self.waiting_said = False
        return self.client

    # -- one request ----------------------------------------------------------------------------------
    def process(self, path: Path, client: EngineClient) -> Outcome | None:
        """Render one request file; None if another watcher took it first."""
        claimed = self.claim(path)
        if claimed is None:
            return None
        t0 = time.perf_counter()
        takes: list[Take] = []
        try:
            try:
                mode, values, name = read_request(path, claimed.read_text(encoding="utf-8", errors="replace"))
                from audioldm_daw.bridge.protocol import osc_name

                takes = takes_for(mode, values, name=name or path.stem, prefix="inbox", namer=osc_name)
            except (BadRequest, InvalidRequest) as exc:
                return self._failed(claimed, path.name, str(exc))
            client.backlog.clear()
            for take in takes:
                client.submit(take)
            try:
                results = client.wait([t.job_id for t in takes])
            except EngineUnavailable as exc:
                claimed.rename(path)
                return Outcome(path.name, False, f"{exc}; it stays in the inbox", retry=True)
            if any(isinstance(r, JobFailed) and str(r) == "cancelled" for r in results.values()):
                claimed.rename(path)  # the engine stopped (or someone cancelled it): not the request's fault
                return Outcome(path.name, False, "cancelled in the engine; it stays in the inbox", retry=True)
            errors = [r for r in results.values() if isinstance(r, JobFailed)]
            if errors:
                return self._failed(claimed, path.name, "; ".join(str(e) for e in errors))
            done = [r for r in (results[t.job_id] for t in takes) if isinstance(r, Result)]  # no errors: all of them
            return self._done(claimed, path, takes, done, time.perf_counter() - t0)
        except BaseException:
            if claimed.exists() and not path.exists():  # stopped mid-job: the request waits for the next start
                claimed.rename(path)
                if self.client is not None:
                    for take in takes:
                        self.client.cancel(take.job_id)
            raise

    def _failed(self, claimed: Path, name: str, message: str) -> Outcome:
        target = _unique(self.failed / name, lambda p: [p, p.with_name(p.name + ".error.txt")])
        (target.with_name(target.name + ".error.txt")).write_text(message + "\n", encoding="utf-8")
        claimed.rename(target)
        return Outcome(name, False, f"{message} (moved to {target.relative_to(self.folder)})")

    def _done(self, claimed: Path, path: Path, takes: list[Take], results: list[Result], seconds: float) -> Outcome:
        base = _unique(self.done / path.stem, lambda p: [_plus(p, ".wav"), _plus(p, ".result.json")])
        copies = []
        for i, res in enumerate(results):
            stem = base.name if i == 0 else f"{base.name}-{i + 1}"
            wav = self.done / f"{stem}.wav"
            engine_path = res.path
            try:
                _copy_clip(Path(res.path), wav)
                res.path = str(wav)
            except OSError:  # an engine on another computer: its clips folder is not ours to read
                pass
            obj = res.to_json() | {"engine_path": engine_path, "mode": takes[i].mode, "prompt": takes[i].prompt}
            copies.append(obj)
        summary = copies[0] | {"request": path.name, "seconds_total": round(seconds, 3)}
        if len(copies) > 1:
            summary["takes"] = copies
        request_copy = self.done / f"{base.name}.request{path.suffix}"
        result_file = _plus(base, ".result.json")
        tmp = result_file.with_name(f".{result_file.name}.tmp")
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        claimed.rename(request_copy)
        tmp.rename(result_file)  # last: a watcher of done/ that sees the result file finds everything beside it
        return Outcome(path.name, True, f"{Path(copies[0]['path']).name} ({seconds:.1f} s)")

    # -- the loop -------------------------------------------------------------------------------------
    def run_once(self) -> list[Outcome]:
        """Every complete request now in the folder (none while no engine answers)."""
        out: list[Outcome] = []
        for path in self.pending():
            client = self.engine()
            if client is None:
                break
            outcome = self.process(path, client)
            if outcome is None:
                continue
            out.append(outcome)
            self.say(
                f"{outcome.request}: {'done, ' if outcome.ok else 'failed: ' if not outcome.retry else ''}"
                f"{outcome.message}"
            )
            if outcome.retry:
                break
        return out

    def run(self, poll: float = 0.5, stop: Callable[[], bool] = lambda: False) -> None:
        back = self.recover()
        if back:
            self.say(
                f"put back {len(back)} request(s) that were being rendered when the watcher stopped: " + ", ".join(back)
            )
        self.say(f"watching {self.folder} (results in done/, refused requests in failed/)")
        while not stop():
            outcomes = self.run_once()
            if self.waiting_said or any(o.retry for o in outcomes):
                time.sleep(RETRY_S)
            else:
                time.sleep(poll)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def _unique(path: Path, taken: Callable[[Path], list[Path]]) -> Path:
    """``path``, or ``name-2``, ``name-3`` ... if any of the files ``taken(candidate)`` names exists."""
    candidate, n = path, 1
    while any(p.exists() for p in taken(candidate)):
        n += 1
        candidate = (
            path.with_name(f"{path.stem}-{n}{path.suffix}")
            if path.suffix in SUFFIXES
            else path.with_name(f"{path.name}-{n}")
        )
    return candidate


def _plus(path: Path, suffix: str) -> Path:
    """``path`` with ``suffix`` appended (a stem may hold dots: ``my.take`` -> ``my.take.wav``)."""
    return path.with_name(path.name + suffix)


def _copy_clip(src: Path, wav: Path) -> None:
    """The clip and its sidecar into ``done/`` (a hard link where the folders share a disk)."""
    for a, b in ((src, wav), (src.with_suffix(".json"), wav.with_name(wav.name[: -len(".wav")] + ".json"))):
        if not a.is_file():
            if a == src:
                raise FileNotFoundError(a)
            continue
        tmp = b.with_name(f".{b.name}.tmp")
        try:
            tmp.hardlink_to(a)
        except OSError:
            shutil.copyfile(a, tmp)
        tmp.replace(b)
