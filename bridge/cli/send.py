"""``audioldm-daw send MODE ...``: hand a request to a running ``audioldm-daw serve`` and wait for the clip.

The light client for DAW scripts (REAPER's ``reaper.ExecProcess``), shell scripts and anyone who does not
want to load a model per clip: ``send generate "warm pad" --bars 4 --bpm 120`` takes exactly the arguments
of ``generate`` (both are built from engine/params.py), checks them here with the same messages, sends the
OSC request, shows the engine's progress on stderr, and prints the clip's path on stdout, or with
``--json`` one JSON object per clip. It imports no torch and no numpy: with no engine running it says so,
and how to start one, within a fraction of a second. A request too long for one OSC message (a prompt far
longer than the model reads) is refused here, before any engine is asked, with a sentence that names the
limit and what to do (bridge/clients/client.py; the inbox gives the same sentence).

With ``--engine URL`` (given once per engine) the request goes straight to remote engines' HTTP API
(``serve --http`` there) instead of OSC to a local ``serve``: the take an input mode names is uploaded, the
least busy engine renders, and the clip and its sidecar are downloaded into the local clips folder (or
``--out``), so the path printed is on this computer (bridge/clients/remote_client.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from audioldm_daw.bridge.cli.options import add_request_arguments, cli_name
from audioldm_daw.bridge.clients.client import DEFAULT_HOST, DEFAULT_PORT
from audioldm_daw.engine.params import MODES, PARAMS

if TYPE_CHECKING:
    from audioldm_daw.bridge.clients.client import EngineClient
    from audioldm_daw.bridge.clients.remote_client import RemoteClient

HELP = "send a request to a running `audioldm-daw serve` (no model loaded here) and print the clip's path"

MODE_HELP = {
    "generate": "text-to-audio: render PROMPT",
    "variation": "new audio in the spirit of INPUT",
    "transfer": "move INPUT towards PROMPT",
    "inpaint": "regenerate START..END seconds of INPUT, keep the rest",
    "upsample": "fill in the missing high band of INPUT",
    "continue": "extend INPUT by SECONDS",
}


def add_client_options(p: argparse.ArgumentParser) -> None:
    """--host/--port (as ``serve`` takes them) and how long to wait."""
    p.add_argument("--host", default=DEFAULT_HOST, help=f"the engine's address (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the engine's UDP port (default {DEFAULT_PORT})")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="give up after this long (default: wait as long as the engine works on the job)",
    )
    p.add_argument(
        "--token-file",
        default=None,
        metavar="FILE",
        help="a copy of the engine's key file (serve --token-file), needed for an engine on another computer; "
        "default: the file $AUDIOLDM_DAW_TOKEN_FILE names",
    )
    p.add_argument(
        "--engine",
        action="append",
        default=None,
        metavar="URL",
        help="render on the remote engine at URL (its `serve --http`) instead of a `serve` on --host/--port: "
        "input takes are uploaded and clips downloaded into the local clips folder; repeat it for several "
        "engines (the least busy takes each clip)",
    )
    p.add_argument(
        "--engine-ca",
        default=None,
        metavar="PEM",
        help="with --engine over https: the engine's self-signed certificate (or its CA) to trust",
    )


def client_key(args: argparse.Namespace) -> str | None:
    """The key ``--token-file`` holds, or None (the client then falls back to $AUDIOLDM_DAW_TOKEN_FILE)."""
    from audioldm_daw.bridge.clients.client import read_key

    return read_key(args.token_file) if getattr(args, "token_file", None) else None


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="send_mode", required=True, metavar="MODE")
    for mode in MODES:
        sp = sub.add_parser(mode, help=MODE_HELP[mode], description=f"{MODE_HELP[mode]} (on a running engine)")
        add_request_arguments(sp, mode)
        sp.add_argument("--name", default=None, help="file-name stem of the clip in the clips folder")
        sp.add_argument(
            "--out", default=None, help="also copy the clip (and its sidecar) here, a .wav path; prints this path"
        )
        sp.add_argument("--json", action="store_true", help="print one JSON object per clip instead of the path")
        add_client_options(sp)


def _values(args: argparse.Namespace) -> dict[str, Any]:
    return {f: getattr(args, f) for f in PARAMS if hasattr(args, f)}


def run(args: argparse.Namespace) -> int:
    from audioldm_daw.bridge.cli.generate import output_path
    from audioldm_daw.bridge.cli.options import cli_error
    from audioldm_daw.bridge.cli.progress import Stopwatch
    from audioldm_daw.bridge.clients.client import JobFailed, takes_for
    from audioldm_daw.engine.errors import InvalidRequest

    mode = args.send_mode
    clock = Stopwatch()
    try:
        if args.name is not None:
            from audioldm_daw.bridge.protocol import check_name

            try:
                check_name(args.name)
            except ValueError as exc:
                raise InvalidRequest(f"--{exc}") from None
        takes = takes_for(mode, _values(args), name=args.name, namer=cli_name)
        outs = None
        if args.out is not None:
            from audioldm_daw.bridge.cli.generate import _numbered

            outs = [output_path(args.out if i == 0 else _numbered(args.out, i + 1), "") for i in range(len(takes))]
    except InvalidRequest as exc:
        return _fail(args, str(cli_error(exc)))
    try:
        with _client(args) as client:
            client.connect()
            for i, take in enumerate(takes):
                if args.engine:  # the clip is downloaded straight to --out, when given
                    cast("RemoteClient", client).submit(take, outs[i] if outs is not None else None)
                else:
                    client.submit(take)
            try:
                results = client.wait([t.job_id for t in takes], Progress(takes), timeout=args.timeout)
            except BaseException:
                for take in takes:  # Ctrl-C, --timeout or a crash here: the engine need not finish for nobody
                    client.cancel(take.job_id)
                raise
    except JobFailed as exc:
        return _fail(args, str(exc))
    except InvalidRequest as exc:
        return _fail(args, str(exc))
    except Exception as exc:  # EngineUnavailable, OSError: a sentence, never a traceback
        from audioldm_daw.engine.errors import EngineError

        if not isinstance(exc, EngineError | OSError):
            raise
        return _fail(args, str(exc))
    status = 0
    for i, take in enumerate(takes):
        res = results[take.job_id]
        if isinstance(res, JobFailed):
            status = _fail(args, res.args[0], job_id=take.job_id)
            continue
        res.extra = {"mode": mode, "prompt": take.prompt}
        if outs is not None and not args.engine:
            res.path = _copy(res.path, outs[i])
        if args.json:
            print(json.dumps(res.to_json()), flush=True)
        else:
            print(res.path, flush=True)
            print(f"{Path(res.path).name}: {res.seconds:.3f} s, {res.sample_rate} Hz, seed {res.seed}", file=sys.stderr)
        if res.warning:
            print(f"warning: {res.warning}", file=sys.stderr)
    clock.done("done" if status == 0 else "finished with errors")
    return status


def engine_client(args: argparse.Namespace, folder: Path | None = None) -> RemoteClient:
    """The client of ``--engine`` (each URL), with the key of ``--token-file`` or $AUDIOLDM_DAW_TOKEN_FILE
    and ``--engine-ca`` to trust; ``folder``: where clips land (default: the local clips folder)."""
    from audioldm_daw.bridge.clients.client import key_from_env
    from audioldm_daw.bridge.clients.remote_client import RemoteClient

    key = client_key(args) or key_from_env()
    return RemoteClient(args.engine, key, verify=args.engine_ca or True, folder=folder)


def _client(args: argparse.Namespace) -> EngineClient | RemoteClient:
    """OSC to a ``serve`` on --host/--port, or HTTP to the ``--engine`` URLs."""
    from audioldm_daw.bridge.clients.client import EngineClient

    if args.engine:
        return engine_client(args)
    return EngineClient(args.host, args.port, key=client_key(args))


def _fail(args: argparse.Namespace, message: str, job_id: str = "") -> int:
    """An error: on stderr as every command says it, and with --json also as a JSON object on stdout."""
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "job_id": job_id}), flush=True)
    print(f"audioldm-daw send: error: {message}", file=sys.stderr, flush=True)
    return 2


def _copy(src: str, dst: Path) -> str:
    """Copy the clip and its sidecar to ``dst`` (a .wav path); the new path."""
    import shutil

    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    side = Path(src).with_suffix(".json")
    if side.is_file():
        shutil.copyfile(side, dst.with_suffix(".json"))
    return str(dst.resolve())


class Progress:
    """The engine's replies about our jobs, shown on stderr: where a job waits, then a bar per job."""

    def __init__(self, takes: list[Any]) -> None:
        self.label = {t.job_id: (t.mode if t.mode != "generate" else "denoising") for t in takes}
        if len(takes) > 1:
            self.label = {t.job_id: f"{self.label[t.job_id]} {i + 1}/{len(takes)}" for i, t in enumerate(takes)}
        self.bars: dict[str, Any] = {}
        self.tty = sys.stderr.isatty()

    def __call__(self, address: str, args: list[Any]) -> None:
        from audioldm_daw.bridge.cli.progress import StepBar, announce

        job = args[0]
        if address == "/audioldm/queued" and len(args) > 2 and args[2]:
            announce(f"{self.label[job]}: sent to {args[2]}")  # a remote engine (--engine) took it
        elif address == "/audioldm/queued" and len(args) > 1 and int(args[1]) > 0:
            announce(f"{self.label[job]}: queued behind {args[1]} other job(s)")
        elif address == "/audioldm/progress" and len(args) > 2:
            if self.tty:
                bar = self.bars.setdefault(job, StepBar(self.label[job]))
                bar(int(args[1]), int(args[2]))
            elif int(args[1]) == 1 or int(args[1]) == int(args[2]):
                announce(f"{self.label[job]}: step {args[1]}/{args[2]}")
        elif address in ("/audioldm/done", "/audioldm/fail", "/audioldm/cancelled") and job in self.bars:
            self.bars.pop(job).close()
