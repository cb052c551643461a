"""Fuzz the server with malformed and out-of-range packets: it must answer each with /fail and keep working.

Besides malformed bytes and bad values, the kinds a studio met: bundles nested 1,000 deep, bundles with
more elements than a packet may carry, bundle elements that are not messages, OSC arrays after the
prompt, a job id of 64,000 characters (its /fail must still fit one datagram), paths longer than a
path can be (refused before any file-system call), ``folder`` and ``name`` values with control characters
or longer than a file name can be, and input paths outside the folders the engine reads from, existing
and missing, which must get the same words: 10,000 packets, 0 unanswered.

In-process server on loopback, one packet at a time (each answer awaited), with a fixed random seed so a
failure can be replayed. Every packet here is invalid by construction, so each must get exactly one
/fail; afterwards the same server must still generate a correct clip.
"""

from __future__ import annotations

import math
import random
import struct
import time

import pytest
import soundfile as sf
from osc_helpers import Client
from pythonosc.osc_message_builder import OscMessageBuilder

from audioldm_daw.bridge import protocol
from audioldm_daw.bridge.server.osc_server import OscServer

N_PACKETS = 10_000
KINDS = 13
OUTSIDE_EXISTING = ("/etc/passwd", "/etc/hostname", "/proc/self/environ", "/dev/zero", "/usr/bin/env", "/bin/sh")
OUTSIDE_MISSING = ("/etc/no-such-file", "/proc/no-such-file", "/dev/no-such-file", "/usr/no-such-file.wav")


def osc(address: str, *args: object, types: str | None = None) -> bytes:
    b = OscMessageBuilder(address)
    for i, a in enumerate(args):
        b.add_arg(a, types[i] if types else None)
    return b.build().dgram


def raw_message(address: str, tags: str, payload: bytes) -> bytes:
    """A message with whatever type tags and payload we like (python-osc's builder refuses nonsense)."""

    def pad(s: bytes) -> bytes:
        s += b"\x00"
        return s + b"\x00" * (-len(s) % 4)

    return pad(address.encode()) + pad(("," + tags).encode()) + payload


def bundle(*dgrams: bytes) -> bytes:
    """An OSC bundle, time tag "immediately", holding the given element datagrams."""
    out = b"#bundle\x00" + struct.pack(">II", 0, 1)
    for d in dgrams:
        out += struct.pack(">i", len(d)) + d
    return out


SHORT_ARGS = ("steps", 2)
BAD_VALUES = {
    "duration": [-1.0, 0.0, 0.49, 60.01, 1e9, float("nan"), float("inf"), -float("inf"), "ten", b"\x01"],
    "steps": [0, -5, 1001, 2.5, float("nan"), "many", 10**6],
    "guidance": [-0.1, 20.5, float("nan"), "high"],
    "seed": [-1, 1.5, float("inf"), "lucky"],
    "candidates": [0, 9, 3.5],
    "sr": [0, 12345, 44000.0, "48k"],
    "normalize": [0.5, -61.0, float("nan")],
    "scheduler": ["euler", "", 3],
    "loop": [2, -1, 0.5, "yes"],
    "bpm": [120],  # without bars
    "beats": [0, 33],
    "name": ["../x", "a/b", "..", "", "\\\\evil"],
    "negative": [3, 2.0],
}


def invalid_packets(rng: random.Random, n: int) -> list[bytes]:
    good = osc("/audioldm/generate", "fz", "a prompt", "duration", 1.0, "steps", 3)
    addresses = list(protocol.ADDRESSES)
    kinds = []
    for i in range(n):
        k = i % KINDS  # k == 8 alternates between the two bundle kinds below
        if k == 9:  # bundles the front door must bound: too deep, too many elements, an element not a message
            choice = i // KINDS % 3
            if choice == 0:
                b = osc("/audioldm/ping")
                for _ in range(rng.choice([9, 100, 1000])):
                    b = bundle(b)
            elif choice == 1:
                b = bundle(*[osc("/audioldm/ping")] * rng.choice([65, 200, 500]))
            else:
                b = bundle(osc("/audioldm/ping"), b"xyz\x00" + osc("/audioldm/ping"))
            kinds.append(b)
            continue
        if k == 12:  # hostile clip names and folders; input paths outside the folders the engine reads from
            choice = i // KINDS % 4
            if choice == 0:
                key = rng.choice(["name", "folder"])
                value = rng.choice(["a\nb", "\tset", "x\x7fy", "live\u200bset", "\x1b[31mred", "cr\r"])
                kinds.append(osc("/audioldm/generate", f"hn{i}", "x", key, value, *SHORT_ARGS))
            elif choice == 1:
                key = rng.choice(["name", "folder"])
                kinds.append(osc("/audioldm/generate", f"hn{i}", "x", key, "f" * rng.choice([256, 300, 1000])))
            else:
                path = rng.choice(OUTSIDE_EXISTING if choice == 2 else OUTSIDE_MISSING)
                kinds.append(osc("/audioldm/variation", f"hp{i}", path, *SHORT_ARGS))
            continue
        if k == 10:  # an OSC array after the prompt, or among the options
            kinds.append(osc("/audioldm/generate", f"ar{i}", "x", rng.choice([[1, 2], ["a"], []]), *SHORT_ARGS))
            continue
        if k == 11:  # a huge job id, or a path longer than any path
            if i // KINDS % 2:
                kinds.append(osc("/audioldm/generate", "j" * 64_000, "x"))
            else:
                kinds.append(osc("/audioldm/transfer", f"lp{i}", "/a" * rng.choice([2100, 20_000]), "x"))
            continue
        if k == 0:  # random bytes, any length (including empty)
            kinds.append(bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 120))))
        elif k == 1:  # a valid generate cut short at a random point
            kinds.append(good[: rng.randrange(0, len(good) - 1)])
        elif k == 2:  # out-of-range or wrongly typed option value
            key = rng.choice(sorted(BAD_VALUES))
            kinds.append(osc("/audioldm/generate", f"fz{i}", "x", key, rng.choice(BAD_VALUES[key])))
        elif k == 3:  # unknown address
            word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_/") for _ in range(rng.randrange(1, 20)))
            addr = rng.choice(["/audioldm/", "/", "/audioldm/generate/", "/AUDIOLDM/"]) + word
            if addr in protocol.ADDRESSES or addr in protocol.REPLIES:
                addr += "_"
            kinds.append(osc(addr, *[rng.random() for _ in range(rng.randrange(0, 3))]))
        elif k == 4:  # unsupported or mismatched type tags
            tags = "".join(rng.choice("cSxyz") for _ in range(rng.randrange(1, 4)))
            kinds.append(raw_message(rng.choice(addresses), tags, b"\x00" * 8))
        elif k == 5:  # declared types, payload missing or short
            tags = rng.choice(["s", "ss", "sif", "sss", "ih", "d", "b"])
            kinds.append(raw_message("/audioldm/generate", tags, bytes(rng.randrange(0, 4))))
        elif k == 6:  # wrong argument types for fixed arguments
            addr = rng.choice(["/audioldm/generate", "/audioldm/cancel", "/audioldm/job", "/audioldm/notify"])
            arg = rng.choice([1, 2.5, True, None, b"blob", [1, 2]])
            if addr == "/audioldm/notify":
                arg = rng.choice([0, 70000, -3, 1.5, "x", float("nan")])
            kinds.append(osc(addr, arg))
        elif k == 7:  # arguments where none belong, or missing ones
            addr = rng.choice(["/audioldm/ping", "/audioldm/status", "/audioldm/stop", "/audioldm/devices"])
            extra = [rng.choice([1, 2.0, "x"]) for _ in range(rng.randrange(1, 4))]
            if rng.random() < 0.3:
                kinds.append(osc(rng.choice(["/audioldm/generate", "/audioldm/transfer", "/audioldm/inpaint"])))
            else:
                kinds.append(osc(addr, *extra))
        elif i % 2:  # an empty bundle, or one nested too deep
            b = bundle()
            if rng.random() < 0.5:
                b = osc("/audioldm/ping")
                for _ in range(12):
                    b = bundle(b)
            kinds.append(b)
        else:  # a bundle holding one invalid message, or a broken bundle
            inner = osc("/audioldm/generate", f"fb{i}", "x", "steps", 0)
            b = bundle(inner)
            if rng.random() < 0.5:
                b = b[: rng.randrange(16, len(b) - 1)] if rng.random() < 0.5 else b[:16] + struct.pack(">i", 10**6)
            kinds.append(b)
    return kinds


@pytest.fixture
def server(tiny_engine, tmp_path):
    srv = OscServer(tiny_engine, host="127.0.0.1", port=0, reply_port=9, clips_dir=tmp_path / "clips")
    srv.start()
    yield srv
    srv.close()


def test_fuzz_every_packet_gets_a_fail_and_the_server_still_generates(server):
    rng = random.Random(20261126)
    packets = invalid_packets(rng, N_PACKETS)
    client = Client(server.address)
    outside: dict[str, set[str]] = {"existing": set(), "missing": set()}
    t0 = time.monotonic()
    try:
        for i, packet in enumerate(packets):
            client.raw(packet, server.address)
            reply = client.replies.next(10)
            assert reply[0] == "/audioldm/fail", (i, packet[:80], reply)
            assert isinstance(reply[1][1], str) and reply[1][1], (i, packet[:80], reply)
            assert "Error" not in reply[1][1] and "maximum recursion" not in reply[1][1], (i, reply)
            if i % KINDS == 10:  # the job id survives an array in the arguments
                assert reply[1][0] == f"ar{i}" and "OSC array" in reply[1][1], reply
            if i % KINDS == 12 and reply[1][0].startswith("hp"):  # answered alike, whether the file exists or not
                path = next(p for p in OUTSIDE_EXISTING + OUTSIDE_MISSING if p in reply[1][1])
                kind = "existing" if path in OUTSIDE_EXISTING else "missing"
                outside[kind].add(reply[1][1].replace(path, "<path>"))
            elif i % KINDS == 12:
                assert reply[1][0] == f"hn{i}" and reply[1][1].startswith(("name: ", "folder: ")), reply
        assert client.replies.quiet(0.5) == []  # exactly one answer each
        assert len(outside["existing"]) == 1 and outside["existing"] == outside["missing"], outside
        assert "is outside the folders this engine reads input files from" in next(iter(outside["missing"]))
        elapsed = time.monotonic() - t0
        assert elapsed < 300, elapsed
        print(f"{N_PACKETS} fuzz packets answered in {elapsed:.1f} s ({elapsed / N_PACKETS * 1e3:.2f} ms each)")
        st = server.stats
        assert st.packets == N_PACKETS + 1 and st.failed == N_PACKETS and st.malformed > N_PACKETS // KINDS
        assert server._thread is not None and server._thread.is_alive()

        # still a working engine afterwards
        client.send("/audioldm/generate", "after-fuzz", "a calm pad", "duration", 0.5, "steps", 2, "seed", 1)
        replies = client.replies.job("after-fuzz")
        assert [m[0] for m in replies] == [
            "/audioldm/queued",
            "/audioldm/progress",
            "/audioldm/progress",
            "/audioldm/done",
        ]
        _, path, seconds, rate, seed, _warning = replies[-1][1]
        assert math.isclose(seconds, 0.5) and (rate, seed) == (48000, 1)
        assert sf.info(path).frames == 24000
    finally:
        client.close()


def test_echoed_replies_are_ignored_and_the_engine_never_answers_itself(server):
    client = Client(server.address)
    try:
        fail = client.ask("/audioldm/notify", server.address[1])
        assert fail[0] == "/audioldm/fail" and "the engine's own port" in fail[1][1]
        for address, args in (("/audioldm/fail", ["", "x"]), ("/audioldm/done", ["j", "/a.wav", 1.0, 48000, 1])):
            client.send(address, *args)
        assert client.replies.quiet(0.5) == []
        assert server.stats.echoes == 2
        # a status reply sent back is a status request with extra arguments: one /fail, which ends there
        client.send("/audioldm/status", "tiny", "cpu", 0, "", "/x")
        assert client.replies.next(5)[0] == "/audioldm/fail"
        assert client.replies.quiet(0.3) == []
        assert client.ask("/audioldm/ping")[0] == "/audioldm/pong"
    finally:
        client.close()


def test_a_full_bundle_is_heard_by_a_client_with_default_buffers(server):
    client = Client(server.address)
    try:
        client.raw(bundle(*[osc("/audioldm/ping")] * 64), server.address)
        got = [client.replies.next(5) for _ in range(64)]
        assert all(m[0] == "/audioldm/pong" for m in got)
        assert client.replies.quiet(0.3) == []
        client.raw(bundle(*[osc("/audioldm/ping")] * 65), server.address)
        fail = client.replies.next(5)
        assert fail[0] == "/audioldm/fail" and "more than 64" in fail[1][1]
        assert client.replies.quiet(0.3) == []
    finally:
        client.close()


def test_an_unregistered_client_hears_its_answer_on_the_reply_port_after_another_registered(tiny_engine, tmp_path):
    from osc_helpers import Replies, free_udp_port

    reply_port = free_udp_port()
    listener = Replies(reply_port)
    srv = OscServer(tiny_engine, host="127.0.0.1", port=0, reply_port=reply_port, clips_dir=tmp_path / "c")
    srv.start()
    registered = Client(srv.address)  # registers its own port on this host
    plain = Client(srv.address, notify=False)
    try:
        plain.send("/audioldm/ping")
        assert listener.next(5)[0] == "/audioldm/pong"
        assert registered.replies.quiet(0.3) == []  # another program's registration hears none of it
        registered.send("/audioldm/ping")
        assert registered.replies.next(5)[0] == "/audioldm/pong"
        assert listener.quiet(0.3) == []  # a registered client's replies go only where it asked
    finally:
        registered.close()
        plain.close()
        listener.close()
        srv.close()
