"""Who may do what on the OSC server, and how much one client can make it do.

Each test reproduces a problem found by probing the server (docs/OSC.md, "Transport" and "Jobs and files"):
another client reading, cancelling or reusing a job; replies of an unregistered program reaching a port
another program registered; other computers using the engine without its key; ``--allow 0.0.0.0/0`` taken
without a word; one request buying hundreds of progress replies; a burst from one socket overflowing the
receive buffer (requests with no answer at all); and fresh sockets each getting a fresh per-client cap.

Servers bind to loopback only. Clients "on another computer" are played by calling the server's dispatch
with a private address as the source, and its replies are captured instead of sent.
"""

from __future__ import annotations

import itertools
import socket
import stat
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from osc_helpers import Client, Replies
from pythonosc.osc_message_builder import OscMessageBuilder

from audioldm_daw.bridge.server import osc_server as osc
from audioldm_daw.bridge.server.jobs import MAX_PER_CLIENT, MAX_PROGRESS_PER_JOB, JobQueue
from audioldm_daw.bridge.server.osc_server import KEY_NEEDED, OscServer, build_message
from audioldm_daw.engine.errors import Cancelled, InvalidRequest
from audioldm_daw.engine.request import GenerateRequest

KEY = "k-test-key-0123456789"
LONG = ("duration", 0.5, "steps", 1000)  # runs until cancelled
OTHER_HOST = "192.168.77.5"  # a client on another computer (never sent to: replies are captured)


def message(address: str, *args: Any) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


class StepEngine:
    """Steps at a fixed pace, honours cancel, and reports a clip without writing one: the server's own work
    (queue, throttle, replies) is what these tests measure, not a model's."""

    def __init__(self, step_s: float = 0.0) -> None:
        self.step_s = step_s
        self.model = SimpleNamespace(model_id="steps", device="cpu", path=None)

    def check(self, request: GenerateRequest) -> None:
        return None

    def render(self, request, out, progress=None, cancel=None):
        for i in range(request.steps):
            if cancel and cancel():
                raise Cancelled("cancelled")
            if self.step_s:
                time.sleep(self.step_s)
            progress(i + 1, request.steps)
        clip = SimpleNamespace(warnings=[], request=SimpleNamespace(seed=7), seconds=0.5, sample_rate=48000)
        return SimpleNamespace(path=str(out) + ".wav", sidecar=str(out) + ".json", clip=clip)


@pytest.fixture
def server(tmp_path):
    reply = Replies()  # the documented reply port of this host
    srv = OscServer(StepEngine(0.01), host="127.0.0.1", port=0, reply_port=reply.port, clips_dir=tmp_path / "c")
    srv.start()
    srv.reply_listener = reply  # type: ignore[attr-defined]
    yield srv
    srv.close()
    reply.close()


def captured(srv: OscServer) -> list[tuple[Any, str, list[Any]]]:
    """Replace the server's sending by a list (for clients that are not on this computer)."""
    out: list[tuple[Any, str, list[Any]]] = []
    srv.send = lambda client, address, args: out.append((client, address, list(args)))  # type: ignore[method-assign]
    return out


# -- ownership ------------------------------------------------------------------------------------------
def test_a_job_is_read_cancelled_and_reused_only_by_the_socket_that_sent_it(server):
    owner, other = Client(server.address), Client(server.address)  # both registered, same host
    try:
        owner.send("/audioldm/generate", "mine", "x", *LONG)
        assert owner.replies.next(10) == ("/audioldm/queued", ["mine", 0])
        for address in ("/audioldm/job", "/audioldm/cancel"):
            fail = other.ask_for("/audioldm/fail", address, "mine")[1]
            assert fail[0] == "mine" and "sent by another client" in fail[1] and fail[2] == address, fail
        other.send("/audioldm/generate", "mine", "y", *LONG)
        fail = other.replies.until(lambda m: m[0] == "/audioldm/fail")[-1][1]
        assert "already in use by another client" in fail[1], fail
        assert other.replies.quiet(0.3) == []  # nothing of the owner's job reached the other client
        # the owner itself may read and cancel it
        assert owner.ask_for("/audioldm/progress", "/audioldm/job", "mine")[1][0] == "mine"
        assert owner.ask_for("/audioldm/cancelled", "/audioldm/cancel", "mine") == ("/audioldm/cancelled", ["mine"])
        # and the other client's replies never held one of the owner's
        assert all(m[1][:1] != ["mine"] or m[0] == "/audioldm/fail" for m in other.replies.all)
    finally:
        owner.close()
        other.close()


def test_replies_never_go_to_a_port_another_socket_of_the_host_registered(server):
    listener = server.reply_listener
    registered = Client(server.address)
    plain = Client(server.address, notify=False)  # never registered: its replies go to the reply port
    try:
        plain.send("/audioldm/ping")
        assert listener.next(5)[0] == "/audioldm/pong"
        plain.send("/audioldm/generate", "plain-1", "x", "duration", 0.5, "steps", 3)
        got = listener.until(lambda m: m[0] == "/audioldm/done")
        assert {m[1][0] for m in got} == {"plain-1"}
        assert registered.replies.quiet(0.5) == []  # another program's registration hears none of it
        assert server.reply_targets(("127.0.0.1", 1)) == [("127.0.0.1", listener.port)]
        assert server.reply_targets(("127.0.0.1", registered.osc._sock.getsockname()[1])) == [
            ("127.0.0.1", registered.replies.port)
        ]
    finally:
        registered.close()
        plain.close()


# -- keys -------------------------------------------------------------------------------------------------
def test_another_computer_needs_the_key_and_this_one_does_not(tmp_path):
    srv = OscServer(StepEngine(), host="127.0.0.1", port=0, reply_port=9, clips_dir=tmp_path / "c", key=KEY)
    sent = captured(srv)
    far = (OTHER_HOST, 40000)
    try:
        # anything but a keyed notify: one /fail that says how to give the key, nothing done
        for address, args in (("/audioldm/ping", []), ("/audioldm/generate", ["far-1", "x", *LONG])):
            srv.dispatch(address, args, far)
            assert sent.pop() == (far, "/audioldm/fail", [args[0] if args else "", KEY_NEEDED, address])
            assert sent == []
        assert srv.jobs.get("far-1") is None
        srv.dispatch("/audioldm/notify", [5000], far)
        assert sent.pop()[2][1] == KEY_NEEDED
        srv.dispatch("/audioldm/notify", [5000, "k-wrong"], far)
        assert "not the engine's key" in sent.pop()[2][1]
        assert srv.reply_targets(far) == [(OTHER_HOST, 9)]  # neither registered it
        srv.dispatch("/audioldm/notify", [5000, KEY], far)
        assert sent.pop() == (far, "/audioldm/notified", [5000])
        srv.dispatch("/audioldm/ping", [], far)
        assert sent.pop()[1] == "/audioldm/pong" and srv.reply_targets(far) == [(OTHER_HOST, 5000)]
        # another socket of that computer is not registered by the first one's key
        srv.dispatch("/audioldm/ping", [], (OTHER_HOST, 40001))
        assert sent.pop()[2][1] == KEY_NEEDED
        # this computer: old patches (notify PORT) keep working; a wrong key is still refused
        near = ("127.0.0.1", 40002)
        srv.dispatch("/audioldm/notify", [5001], near)
        assert sent.pop() == (near, "/audioldm/notified", [5001])
        srv.dispatch("/audioldm/notify", [5001, "k-wrong"], near)
        assert "not the engine's key" in sent.pop()[2][1]
        assert srv.stats.keyless == 3  # the two requests and the other socket's ping
    finally:
        srv.close()


def test_without_a_key_no_other_computer_can_register(tmp_path):
    srv = OscServer(StepEngine(), host="127.0.0.1", port=0, reply_port=9, clips_dir=tmp_path / "c")
    sent = captured(srv)
    try:
        srv.dispatch("/audioldm/notify", [5000, KEY], (OTHER_HOST, 1))
        assert "this engine has no key" in sent.pop()[2][1] and "--token-file" in KEY_NEEDED
    finally:
        srv.close()


def test_sockets_of_one_host_share_jobs_only_by_the_key_and_only_beyond_loopback(tmp_path):
    srv = OscServer(StepEngine(), host="127.0.0.1", port=0, reply_port=9, clips_dir=tmp_path / "c", key=KEY)
    sent = captured(srv)
    a, b, c = (OTHER_HOST, 1), (OTHER_HOST, 2), ("192.168.77.6", 1)
    try:
        for sock in (a, b, c):
            srv.dispatch("/audioldm/notify", [5000, KEY], sock)
        assert [m[1] for m in sent] == ["/audioldm/notified"] * 3
        assert not srv.owns(a, b)  # bound to loopback: the key does not join sockets
        srv.beyond_loopback = True  # as if bound to 0.0.0.0 (tests bind loopback only)
        assert srv.owns(a, b) and srv.owns(b, a) and srv.owns(a, a)
        assert not srv.owns(a, c)  # another host, same key: not the owner
        loop1, loop2 = ("127.0.0.1", 1), ("127.0.0.1", 2)
        srv.dispatch("/audioldm/notify", [5000], loop1)
        srv.dispatch("/audioldm/notify", [5001], loop2)
        assert not srv.owns(loop1, loop2) and srv.owns(loop1, loop1)  # no key: one socket, one owner
        assert not srv.owns(("", 0), loop1)  # a lost job of no known client belongs to nobody
    finally:
        srv.close()


def test_a_restart_keeps_keyed_registrations_only_with_the_same_key(tmp_path):
    state = tmp_path / "state"
    kw = {"host": "127.0.0.1", "port": 0, "reply_port": 9, "clips_dir": tmp_path / "c", "state_dir": state}
    srv = OscServer(StepEngine(), key=KEY, **kw)
    captured(srv)
    srv.dispatch("/audioldm/notify", [5000, KEY], (OTHER_HOST, 1))
    srv.close()
    saved = (state / "clients.json").read_text()
    assert KEY not in saved  # the state folder holds a mark of the key, never the key
    again = OscServer(StepEngine(), key=KEY, **kw)
    assert again.keyed((OTHER_HOST, 1)) and again.reply_targets((OTHER_HOST, 1)) == [(OTHER_HOST, 5000)]
    again.close()
    other = OscServer(StepEngine(), key="k-another-key", **kw)
    assert not other.keyed((OTHER_HOST, 1))  # the port is kept, the proof is not
    other.close()


# -- serve's command line -----------------------------------------------------------------------------------
def test_serve_beyond_loopback_needs_a_key_file_and_makes_one(tmp_path, capsys):
    from audioldm_daw.bridge.cli import build_parser
    from audioldm_daw.bridge.cli.serve import check_network, load_key

    with pytest.raises(InvalidRequest, match="needs a key: add --token-file FILE"):
        check_network("0.0.0.0", 0, 9001, ["10.0.0.0/8"])
    args = build_parser().parse_args(
        ["serve", "--model", "/nonexistent", "--host", "0.0.0.0", "--port", "0", "--allow", "192.168.1.0/24"]
    )
    with pytest.raises(InvalidRequest, match="listens beyond this computer, so the engine needs a key"):
        args._run(args)
    file = tmp_path / "keys" / "engine.key"
    key = load_key(file)
    assert str(file.resolve()) in capsys.readouterr().out  # its path is printed
    assert stat.S_IMODE(file.stat().st_mode) == 0o600 and len(key) >= 40 and key[0].isalpha()
    assert load_key(file) == key and load_key(tmp_path / "second.key") != key  # kept, and random
    (tmp_path / "empty.key").write_text("\n")
    with pytest.raises(InvalidRequest, match="expected one key"):
        load_key(tmp_path / "empty.key")


@pytest.mark.parametrize("net", ["0.0.0.0/0", "8.8.8.0/24", "10.0.0.0/7", "::/0", "2001:db8::/32"])
def test_allow_beyond_the_private_ranges_needs_allow_public_and_warns(net, capsys):
    from audioldm_daw.bridge.cli.serve import check_network

    with pytest.raises(InvalidRequest, match=r"reaches beyond the private network ranges.*--allow-public"):
        check_network("127.0.0.1", 0, 9001, [net])
    assert check_network("127.0.0.1", 0, 9001, [net], allow_public=True)[0] == "127.0.0.1"
    assert f"warning: --allow {net} accepts packets from beyond the private ranges" in capsys.readouterr().err


def test_private_networks_are_taken_without_a_word(capsys):
    from audioldm_daw.bridge.cli.serve import check_network

    nets = ["10.1.0.0/16", "172.16.5.0/24", "192.168.1.0/24", "169.254.0.0/16", "fd00::/8", "fe80::/64", "127.0.0.1"]
    assert len(check_network("127.0.0.1", 0, 9001, nets)[1]) == len(nets)
    assert capsys.readouterr().err == ""


# -- how much one client can make the server do ----------------------------------------------------------------
def _reply_bytes(tmp_path: Path, per_job: int, steps: int) -> tuple[int, int, int]:
    """(request bytes, reply bytes, progress replies) of one generate of ``steps`` steps, 21 ms each (slower
    than the rate bound, as a real model's steps are)."""
    srv = OscServer(
        StepEngine(0.021),
        host="127.0.0.1",
        port=0,
        reply_port=9,
        clips_dir=tmp_path / f"c{per_job}",
        jobs_options={"progress_per_job": per_job},
    )
    srv.start()
    c = Client(srv.address)
    try:
        request = message("/audioldm/generate", "big", "a tone", "duration", 0.5, "steps", steps)
        c.raw(request, srv.address)
        got = c.replies.job("big", timeout=120)
        assert got[-1][0] == "/audioldm/done", got[-1]
        total = sum(len(build_message(a, args)) for a, args in got)
        return len(request), total, sum(m[0] == "/audioldm/progress" for m in got)
    finally:
        c.close()
        srv.close()


def test_one_request_buys_a_bounded_number_of_reply_bytes(tmp_path):
    steps = 200
    size, before, n_before = _reply_bytes(tmp_path, 0, steps)  # 0: every step (the rate alone bounds them)
    _, after, n_after = _reply_bytes(tmp_path, MAX_PROGRESS_PER_JOB, steps)
    print(
        f"generate of {steps} steps, {size}-byte request: replies {before} bytes ({before / size:.0f}x, "
        f"{n_before} progress) per step, {after} bytes ({after / size:.0f}x, {n_after} progress) bounded"
    )
    assert n_before == steps and n_after <= MAX_PROGRESS_PER_JOB
    assert after / size <= 40, (after, size)


def test_progress_is_throttled_per_client_across_its_jobs(tmp_path):
    got: list[tuple[float, str, list[Any]]] = []
    done = threading.Event()

    def send(client, address, args):
        got.append((time.monotonic(), address, list(args)))
        if address == "/audioldm/done" and args[0] == "j4":
            done.set()

    q = JobQueue(StepEngine(0.001), tmp_path, send)
    try:
        for i in range(5):
            q.submit(GenerateRequest("x", steps=40), f"j{i}", ("127.0.0.1", 1))
        assert done.wait(30)
    finally:
        q.close()
    times = [t for t, a, _ in got if a == "/audioldm/progress"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.0199, gaps  # five jobs, one client: one rate, not five
    for i in range(5):
        assert [a[1:] for t, adr, a in got if adr == "/audioldm/progress" and a[0] == f"j{i}"][-1] == [40, 40]


def test_a_burst_from_one_socket_gets_one_answer_per_request(tmp_path):
    n = 500
    srv = OscServer(
        StepEngine(0.01), host="127.0.0.1", port=0, reply_port=9, clips_dir=tmp_path / "c", state_dir=tmp_path / "s"
    )
    srv.start()
    c = Client(srv.address)
    c.replies.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)  # the test's own side must keep up
    try:
        t0 = time.monotonic()
        for i in range(n):
            c.raw(message("/audioldm/generate", f"b{i}", "x", *LONG), srv.address)
        sent_s = time.monotonic() - t0
        answers: dict[str, list[str]] = {}

        def take(m: tuple[str, list[Any]]) -> bool:
            if m[0] in ("/audioldm/queued", "/audioldm/fail"):
                answers.setdefault(m[1][0], []).append(m[0])
            return len(answers) == n

        c.replies.until(take, timeout=60)
        assert all(len(a) == 1 for a in answers.values()), {k: v for k, v in answers.items() if len(v) > 1}
        queued = sum(a == ["/audioldm/queued"] for a in answers.values())
        print(
            f"burst of {n} generates sent in {sent_s * 1e3:.0f} ms: {len(answers)} answered ({queued} queued, "
            f"{n - queued} refused); receive buffer {srv.receive_buffer} bytes; slowest packet held the OSC "
            f"thread {srv.stats.slowest * 1e3:.1f} ms"
        )
        assert queued == MAX_PER_CLIENT  # the cap: the rest refused in words
        assert srv.stats.packets == n + 1  # the notify, and every generate read
        refused = [m for m in c.replies.all if m[0] == "/audioldm/fail"]
        assert all("too many jobs from this client" in m[1][1] for m in refused), refused[:3]
    finally:
        c.close()
        srv.close()


def test_the_per_client_cap_holds_per_host_not_per_socket(server):
    listener = server.reply_listener  # fresh sockets never register: their answers come here
    n = 300
    socks = []
    try:
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            s.sendto(message("/audioldm/generate", f"s{i}", "x", *LONG), server.address)
        answers: dict[str, str] = {}

        def take(m: tuple[str, list[Any]]) -> bool:
            if m[0] in ("/audioldm/queued", "/audioldm/fail"):
                answers[m[1][0]] = m[0]
            return len(answers) == n

        listener.until(take, timeout=60)
        accepted = sum(a == "/audioldm/queued" for a in answers.values())
        print(f"{n} fresh sockets from 127.0.0.1: {accepted} jobs accepted (cap {MAX_PER_CLIENT} per host)")
        assert accepted == MAX_PER_CLIENT
    finally:
        for s in socks:
            s.close()


def test_the_receive_buffer_is_asked_for_in_full_and_read_back():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        default = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        granted = osc.size_receive_buffer(s)
    assert granted >= default and osc.RECEIVE_BUFFER >= (osc.MAX_WAITING + osc.MAX_PENDING_CHECKS) * osc.MAX_PACKET
    limit = Path("/proc/sys/net/core/rmem_max")
    if limit.is_file():  # Linux grants up to rmem_max (and reports twice what it keeps for bookkeeping)
        assert granted >= min(int(limit.read_text()), osc.RECEIVE_BUFFER), (granted, limit.read_text())


def test_the_client_proves_the_key_it_is_given(tmp_path, monkeypatch):
    from audioldm_daw.bridge.clients.client import TOKEN_FILE_ENV, EngineClient

    srv = OscServer(StepEngine(), host="127.0.0.1", port=0, reply_port=9, clips_dir=tmp_path / "c", key=KEY)
    srv.start()
    try:
        token = tmp_path / "engine.key"
        token.write_text(KEY + "\n")
        monkeypatch.setenv(TOKEN_FILE_ENV, str(token))
        with EngineClient("127.0.0.1", srv.address[1]) as client:
            assert client.key == KEY
            client.connect(timeout=5)
            assert srv.keyed(("127.0.0.1", client.reply_port))
        monkeypatch.delenv(TOKEN_FILE_ENV)
        with EngineClient("127.0.0.1", srv.address[1]) as client:  # no key on this computer: still served
            client.connect(timeout=5)
            assert not srv.keyed(("127.0.0.1", client.reply_port))
            assert client.ping() is not None
    finally:
        srv.close()


def test_send_and_inbox_take_the_key_from_token_file(tmp_path, monkeypatch):
    """``send``/``inbox --token-file FILE`` hand the file's key to the client (before the environment's), and a
    file that cannot be read is a sentence naming the option, not a traceback."""
    import argparse

    from audioldm_daw.bridge.cli.inbox import run as inbox_run
    from audioldm_daw.bridge.cli.send import add_client_options, client_key
    from audioldm_daw.bridge.clients.client import TOKEN_FILE_ENV, EngineUnavailable

    p = argparse.ArgumentParser()
    add_client_options(p)
    token = tmp_path / "engine.key"
    token.write_text(KEY + "\n")
    other = tmp_path / "other.key"
    other.write_text("k-other\n")
    monkeypatch.setenv(TOKEN_FILE_ENV, str(other))
    assert client_key(p.parse_args(["--token-file", str(token)])) == KEY
    assert client_key(p.parse_args([])) is None  # the client then reads $AUDIOLDM_DAW_TOKEN_FILE itself
    with pytest.raises(EngineUnavailable, match=r"--token-file names .*missing\.key, which cannot be read"):
        client_key(p.parse_args(["--token-file", str(tmp_path / "missing.key")]))
    monkeypatch.setattr("signal.signal", lambda *_a: None)  # the inbox command's SIGTERM handler: not in pytest
    args = argparse.Namespace(folder=str(tmp_path / "inbox"), token_file=str(tmp_path / "missing.key"))
    assert inbox_run(args) == 2
