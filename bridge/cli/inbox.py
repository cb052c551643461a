"""``audioldm-daw inbox DIR``: render request files dropped into a folder, on a running ``serve``.

For hosts and tools that can write a file but not send OSC (a Bitwig or Live user with a file-writing
script, a shell loop, a batch job): see bridge/clients/inbox.py for the file formats and where results go.
With ``--engine URL`` the requests are rendered on remote engines (their ``serve --http``), as ``send
--engine`` renders them; the clips are downloaded to this computer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audioldm_daw.bridge.cli.send import add_client_options, client_key, engine_client

HELP = "watch a folder for request files (.json with OSC option names, .txt with a prompt) and render them"

EPILOG = """\
writing requests from a script:
  A file is taken once it is complete: its size and time are unchanged across two looks
  --settle seconds apart. A writer that pauses longer than that cannot be told from a finished
  file, so a script writes NAME.json.part (or NAME.json.tmp) and renames it to NAME.json when
  done: names ending in .part or .tmp, or starting with a dot, are never taken.

what is refused (moved to FOLDER/failed with NAME.error.txt saying why, never read):
  symbolic links (even to a file inside the folder), hard links, named pipes, folders; a .txt
  prompt longer than one OSC message can carry; a .json file over its size bound.
"""


def configure(p: argparse.ArgumentParser) -> None:
    from audioldm_daw.bridge.clients.inbox import SETTLE_S

    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("folder", help="the inbox folder (created if missing); results go to FOLDER/done")
    add_client_options(p)
    p.add_argument("--once", action="store_true", help="render what is there now, then exit (needs the engine)")
    p.add_argument("--poll", type=float, default=0.5, metavar="SECONDS", help="how often to look (default 0.5)")
    p.add_argument(
        "--settle",
        type=_seconds,
        default=SETTLE_S,
        metavar="SECONDS",
        help=f"a file is taken once it looks the same twice this far apart (default {SETTLE_S:g})",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    import signal

    from audioldm_daw.bridge.clients.client import EngineUnavailable
    from audioldm_daw.bridge.clients.inbox import Inbox
    from audioldm_daw.engine.errors import InvalidRequest

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # the request being rendered goes back to the inbox

    signal.signal(signal.SIGTERM, on_term)
    try:
        key = client_key(args)
        remote = engine_client(args) if args.engine else None
    except (EngineUnavailable, InvalidRequest) as exc:
        print(f"audioldm-daw inbox: error: {exc}", file=sys.stderr)
        return 2
    if remote is not None:
        try:
            remote.connect()  # a wrong key is said now: every request would fail with it
        except InvalidRequest as exc:
            remote.close()
            print(f"audioldm-daw inbox: error: {exc}", file=sys.stderr)
            return 2
        except EngineUnavailable:
            pass  # said by the watcher, which waits for an engine as it does for a local one
    inbox = Inbox(
        Path(args.folder),
        args.host,
        args.port,
        say=lambda line: print(line, flush=True),
        settle=args.settle,
        key=key,
        remote=remote,
    )
    try:
        if args.once:
            inbox.recover()
            if inbox.settled() and inbox.engine() is None:
                return 2
            outcomes = inbox.run_once()
            return 0 if all(o.ok for o in outcomes) else 1
        inbox.run(poll=args.poll)
    finally:
        inbox.close()
        if remote is not None:
            remote.close()
    return 0
