"""Load test: N clients x M jobs with cancels, and a ``kill -9`` + restart of ``serve`` in the middle.

Not a unit test (it takes minutes and measures): it starts the real ``audioldm-daw serve`` on a tiny
random model, lets N clients (each its own socket, registered once with /audioldm/notify) queue M jobs
each, cancels every ``--cancel-every``-th job, kills the server with SIGKILL once a third of the jobs are
done, restarts it on the same clips folder and port, and then asks about every job without a final
answer. Jobs the restarted server reports lost are sent again once. It prints::

    jobs sent, done, cancelled, reported lost (and resent), failed, silently lost (must be 0),
    files left partial (must be 0), peak RSS of each server run

Usage: ``python benchmarks/load_test.py --clients 3 --jobs 20`` (``--model DIR`` to use a model folder).

Two quick cases replace that run when given (seconds each on the tiny model, after the start):

- ``--burst N``: N generates sent at once from one socket; every one must get exactly one answer
  (``/audioldm/queued``, or ``/audioldm/fail`` when a cap refuses it), none may go unanswered.
- ``--sockets N``: one generate from each of N fresh sockets of this host; the per-client cap counts per
  host, so at most its 64 are accepted however many source ports ask.
"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

FINAL = ("/audioldm/done", "/audioldm/fail", "/audioldm/cancelled")


def osc(address: str, *args: object) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ``serve`` process; ready when it prints its listening line."""

    def __init__(self, model: Path, clips: Path, port: int, env: dict[str, str], reply_port: int = 9) -> None:
        self.reply_port = reply_port
        cmd = [sys.executable, "-m", "audioldm_daw.bridge.cli", "serve", "--model", str(model), "--device", "cpu"]
        cmd += ["--port", str(port), "--reply-port", str(reply_port), "--clips", str(clips), "--no-audition"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 300
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("listening on udp://") or time.monotonic() > deadline:
                break
        else:
            raise SystemExit("serve did not start:\n" + "\n".join(self.lines))

    def peak_rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")


def partial_files(clips: Path) -> list[str]:
    """Anything half-written or alone: .part files, WAVs without sidecars, sidecars without WAVs."""
    names = {p.name for p in clips.iterdir()}
    bad = [n for n in names if n.endswith(".part")]
    bad += [n for n in names if n.endswith(".wav") and n[:-4] + ".json" not in names]
    bad += [n for n in names if n.endswith(".json") and n[:-5] + ".wav" not in names]
    return sorted(bad)


def answers(sock: socket.socket, want: int, seconds: float) -> dict[str, list[str]]:
    """The /queued and /fail answers per job id that arrive on ``sock`` until ``want`` ids have one, or
    ``seconds`` pass."""
    got: dict[str, list[str]] = {}
    deadline = time.monotonic() + seconds
    while len(got) < want and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65535)
        except TimeoutError:
            break
        m = OscMessage(data)
        params = list(m.params)
        if m.address in ("/audioldm/queued", "/audioldm/fail") and params:
            got.setdefault(str(params[0]), []).append(m.address)
    return got


def quick_cases(model: Path, clips: Path, env: dict[str, str], args: argparse.Namespace) -> int:
    """``--burst`` and ``--sockets`` on one server; returns 0 when every request had exactly one answer
    and the cap held per host."""
    from audioldm_daw.bridge.server.jobs import MAX_PER_CLIENT

    ok = True
    request = ("a test tone", "duration", 0.5, "steps", 1000)  # long: the first job still runs at the end
    if args.burst:
        port = free_port()
        server = Server(model, clips, port, env)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)
            s.sendto(osc("/audioldm/notify", s.getsockname()[1]), ("127.0.0.1", port))
            answers(s, 0, 2.0)  # the /notified
            t = time.monotonic()
            for i in range(args.burst):
                s.sendto(osc("/audioldm/generate", f"b{i}", *request), ("127.0.0.1", port))
            sent = time.monotonic() - t
            got = answers(s, args.burst, 30.0)
        twice = sum(len(v) > 1 for v in got.values())
        queued = sum(v[0] == "/audioldm/queued" for v in got.values())
        print(f"burst                 {args.burst} generates from one socket, sent in {sent * 1e3:.0f} ms")
        print(f"answered              {len(got)} ({queued} queued, {len(got) - queued} refused with /fail)")
        print(f"unanswered            {args.burst - len(got)} (must be 0); answered twice {twice} (must be 0)")
        ok = ok and len(got) == args.burst and not twice
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(60)
    if args.sockets:
        port = free_port()
        server = Server(model, clips, port, env, reply_port=free_port())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
            listener.bind(("127.0.0.1", server.reply_port))
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)
            socks = []
            for i in range(args.sockets):  # fresh sockets never register: answers come on the reply port
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", 0))
                socks.append(s)
                s.sendto(osc("/audioldm/generate", f"s{i}", *request), ("127.0.0.1", port))
            got = answers(listener, args.sockets, 30.0)
            for s in socks:
                s.close()
        queued = sum(v[0] == "/audioldm/queued" for v in got.values())
        print(f"sockets               {args.sockets} fresh sockets from 127.0.0.1, one generate each")
        print(f"accepted              {queued} (the per-host cap: at most {MAX_PER_CLIENT})")
        print(f"refused               {len(got) - queued}; unanswered {args.sockets - len(got)} (must be 0)")
        ok = ok and queued <= MAX_PER_CLIENT and len(got) == args.sockets
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(60)
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=20, help="jobs per client")
    ap.add_argument("--cancel-every", type=int, default=6)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--model", default=None, help="model folder (default: a tiny random one, built here)")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--burst", type=int, default=0, metavar="N", help="N generates from one socket, counted")
    ap.add_argument("--sockets", type=int, default=0, metavar="N", help="one generate from each of N fresh sockets")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="audioldm-load-"))
    if args.model:
        model = Path(args.model)
    else:
        from audioldm_daw.engine.architecture import build_random_folder

        model = build_random_folder(work / "tiny", "tiny", seed=0)
    clips = work / "clips"
    env = dict(os.environ, AUDIOLDM_DAW_STATE=str(work / "state"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    port = free_port()
    target = ("127.0.0.1", port)
    t0 = time.monotonic()
    if args.burst or args.sockets:
        return quick_cases(model, clips, env, args)
    server = Server(model, clips, port, env)
    runs: list[tuple[str, float]] = []

    sel = selectors.DefaultSelector()
    socks = []
    for i in range(args.clients):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)
        s.sendto(osc("/audioldm/notify", s.getsockname()[1]), target)

    final: dict[str, tuple[str, list]] = {}
    owner: dict[str, int] = {}
    lost: set[str] = set()
    resent: set[str] = set()
    cancels = 0

    def pump(seconds: float) -> None:
        for key, _ in sel.select(seconds):
            while True:
                try:
                    data = key.fileobj.recv(65535)  # type: ignore[union-attr]
                except BlockingIOError:
                    break
                m = OscMessage(data)
                params = list(m.params)
                if m.address in FINAL and params and params[0] in owner:
                    if m.address == "/audioldm/fail" and str(params[1]).startswith("lost:"):
                        lost.add(params[0])
                        if params[0] in resent:  # a second report (announce and /job) of one already resent
                            continue
                    final[params[0]] = (m.address, params)

    for j in range(args.jobs):
        for i, s in enumerate(socks):
            job = f"c{i}-j{j}"
            owner[job] = i
            s.sendto(osc("/audioldm/generate", job, "a test tone", "duration", 0.5, "steps", args.steps), target)
            if (j * args.clients + i) % args.cancel_every == args.cancel_every - 1:
                s.sendto(osc("/audioldm/cancel", job), target)
                cancels += 1
        pump(0.01)

    total = len(owner)
    killed = False
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        pump(0.2)
        done = sum(1 for a, _ in final.values() if a == "/audioldm/done")
        if not killed and done >= total // 3:
            runs.append(("before kill -9", server.peak_rss_mb()))
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
            killed = True
            server = Server(model, clips, port, env)
            notes = [line for line in server.lines if "lost job" in line or "crash" in line]
            print(f"restart: {len(notes)} lines of lost jobs / repairs, e.g. {notes[:2]}")
            for job in owner:  # ask about every job without a final answer
                if job not in final:
                    socks[owner[job]].sendto(osc("/audioldm/job", job), target)
        for job in sorted(lost - resent):  # a client sends a lost job again, under the same id
            resent.add(job)
            final.pop(job, None)
            socks[owner[job]].sendto(
                osc("/audioldm/generate", job, "a test tone", "duration", 0.5, "steps", args.steps), target
            )
        if killed and len(final) == total and not (lost - resent):
            break
    runs.append(("after restart", server.peak_rss_mb()))
    missing = [j for j in owner if j not in final]
    for job in missing:  # last chance: ask
        socks[owner[job]].sendto(osc("/audioldm/job", job), target)
    pump(2.0)
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(60)
    states = [a for a, _ in final.values()]
    failed = [p for a, p in final.values() if a == "/audioldm/fail"]
    silently = [j for j in owner if j not in final]
    partial = partial_files(clips)
    print(f"clients x jobs        {args.clients} x {args.jobs} (steps {args.steps}, 0.5 s clips); kill -9 at 1/3")
    print(f"jobs sent             {total} (+{len(resent)} resent after the restart)")
    print(f"done                  {states.count('/audioldm/done')}")
    print(f"cancelled             {states.count('/audioldm/cancelled')} (of {cancels} cancel requests)")
    print(f"reported lost         {len(lost)} (all resent; each then finished as above)")
    print(f"failed                {len(failed)} {[p[1] for p in failed][:3]}")
    print(f"silently lost         {len(silently)} {silently[:5]}")
    print(f"files left partial    {len(partial)} {partial[:5]}")
    for label, mb in runs:
        print(f"peak RSS {label + ':':16s}{mb:.0f} MB")
    print(f"wall time             {time.monotonic() - t0:.0f} s")
    return 0 if not silently and not partial else 1


if __name__ == "__main__":
    raise SystemExit(main())
