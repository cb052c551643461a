"""``audioldm-daw inbox DIR``: render request files dropped into a folder, on a running ``serve``.

For hosts and tools that can write a file but not send OSC (a Bitwig or Live user with a file-writing
script, a shell loop, a batch job): see bridge/inbox.py for the file formats and where results go.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audioldm_daw.bridge.cmd_send import add_client_options

HELP = "watch a folder for request files (.json with OSC option names, .txt with a prompt) and render them"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="the inbox folder (created if missing); results go to FOLDER/done")
    add_client_options(p)
    p.add_argument("--once", action="store_true", help="render what is there now, then exit (needs the engine)")
    p.add_argument("--poll", type=float, default=0.5, metavar="SECONDS", help="how often to look (default 0.5)")


def run(args: argparse.Namespace) -> int:
    import signal

    from audioldm_daw.bridge.inbox import Inbox

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # the request being rendered goes back to the inbox

    signal.signal(signal.SIGTERM, on_term)
    inbox = Inbox(Path(args.folder), args.host, args.port, say=lambda line: print(line, flush=True))
    try:
        if args.once:
            inbox.recover()
            if inbox.pending() and inbox.engine() is None:
                return 2
            outcomes = inbox.run_once()
            return 0 if all(o.ok for o in outcomes) else 1
        inbox.run(poll=args.poll)
    finally:
        inbox.close()
    return 0
