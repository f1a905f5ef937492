"""Load for rawhttp's server, shared by tests/test_load.py (short, in `make test`) and
tests/stress/run.py (`make stress`): keep-alive clients, slowloris connections, mutated
requests, and what a process holds (memory, open files). Loopback only; every socket has a
timeout; every loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field

from rawhttp import wire

TIMEOUT = 5.0


@dataclass
class Tally:
    """What a run did: counts, and the first few errors as text."""

    requests: int = 0
    errors: int = 0
    connections: int = 0
    seconds: float = 0.0
    samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors += 1
            if len(self.samples) < 5:
                self.samples.append(what)

    def add(self, requests: int = 0, connections: int = 0) -> None:
        with self.lock:
            self.requests += requests
            self.connections += connections


def get_request(path: str, *fields: str, keep_alive: bool = True) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: load.test", *fields]
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, pending: bytes = b"", method: str = "GET"):
    """One response: (status, body length, bytes received after it). ConnectionError if the
    server closes before its head is complete (IncompleteBody if before its body is)."""
    reader = wire.ResponseReader(method)
    got, length = reader.feed(pending), 0
    while True:
        length += sum(len(event) for event in got if isinstance(event, memoryview))
        if reader.done:
            return reader.head.status, length, reader.rest
        data = sock.recv(65536)
        if not data and reader.head is None:
            raise ConnectionError("closed before a complete head")
        got = reader.feed(data) if data else reader.eof()


def connect(address: tuple[str, int], timeout: float = TIMEOUT) -> socket.socket:
    return socket.create_connection(address, timeout=timeout)


def fetch(address: tuple[str, int], path: str = "/") -> tuple[int, float]:
    """One request on a new connection: (status, seconds from connect to the whole answer)."""
    started = time.monotonic()
    with connect(address) as sock:
        sock.sendall(get_request(path, keep_alive=False))
        status, _, _ = read_response(sock)
    return status, time.monotonic() - started


def keep_alive_clients(
    address: tuple[str, int],
    clients: int,
    requests_each: int,
    paths: list[str],
    expected: dict[str, int],
    time_limit: float,
) -> Tally:
    """`clients` threads, each on one kept-alive connection making `requests_each` requests
    in turn; an answer with the wrong status or body length is an error."""
    tally = Tally()
    deadline = time.monotonic() + time_limit

    def client(number: int) -> None:
        try:
            with connect(address) as sock:
                tally.add(connections=1)
                pending = b""
                for index in range(requests_each):
                    if time.monotonic() > deadline:
                        tally.error(f"client {number}: time limit after {index} requests")
                        return
                    path = paths[(number + index) % len(paths)]
                    sock.sendall(get_request(path))
                    status, length, pending = read_response(sock, pending)
                    if status != 200 or length != expected[path]:
                        tally.error(f"{path}: {status}, {length} bytes")
                    tally.add(requests=1)
        except (OSError, wire.ProtocolError) as exc:
            tally.error(f"client {number}: {type(exc).__name__}: {exc}")

    run_threads(client, clients, time_limit + TIMEOUT)
    tally.seconds = time_limit - max(0.0, deadline - time.monotonic())
    return tally


def run_threads(target, count: int, join_timeout: float) -> None:
    threads = [threading.Thread(target=target, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + join_timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


class Slowloris:
    """`count` connections that each send the start of a request head and never finish it,
    sending one more byte now and then (`trickle`) to stay under an idle timeout. With
    `start=SLOW_BODY` they send a whole head and then trickle its body instead."""

    HEAD = b"GET / HTTP/1.1\r\nHost: slow.test\r\nX-Slow: "
    SLOW_BODY = b"POST / HTTP/1.1\r\nHost: slow.test\r\nContent-Length: 100000\r\n\r\n"

    def __init__(
        self, address: tuple[str, int], count: int, timeout: float = TIMEOUT, start: bytes = HEAD
    ):
        self.socks: list[socket.socket] = []
        self.failed = 0
        for _ in range(count):
            try:
                sock = connect(address, timeout)
                sock.sendall(start)
                self.socks.append(sock)
            except OSError:
                self.failed += 1

    def trickle(self) -> int:
        """One byte more on each; the number still open (the server may have closed some)."""
        alive = []
        for sock in self.socks:
            try:
                sock.sendall(b"a")
                alive.append(sock)
            except OSError:
                sock.close()
        self.socks = alive
        return len(alive)

    def close(self) -> None:
        for sock in self.socks:
            sock.close()
        self.socks = []


# --- mutated requests ----------------------------------------------------------------------------

BASES = [
    get_request("/index.html"),
    get_request("/", "Range: bytes=0-9"),
    get_request("/", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"),
    b"HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://x/index.html HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    get_request("/index.html") + get_request("/missing"),
]
TOKENS = [
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b"\x00",
    b"\xff",
    b"%",
    b"%2e%2e/",
    b"../",
    b"\\",
    b"Content-Length: 3\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"ffffffff\r\n",
    b"0\r\n\r\n",
    b"Expect: 100-continue\r\n",
    b"HTTP/2.0",
    b"\r\n\r\n",
]


def mutate(rng: random.Random) -> bytes:
    """A valid request with a few random edits, or (1 in 10) random bytes."""
    if rng.random() < 0.1:
        return rng.randbytes(rng.randint(1, 300))
    data = bytearray(rng.choice(BASES))
    for _ in range(rng.randint(1, 5)):
        at = rng.randint(0, len(data))
        choice = rng.random()
        if choice < 0.3:
            data[at:at] = rng.choice(TOKENS)
        elif choice < 0.5:
            del data[at : at + rng.randint(1, 8)]
        elif choice < 0.7 and at < len(data):
            data[at] = rng.randrange(256)
        elif choice < 0.85:
            data[at:at] = data[at : at + rng.randint(1, 16)] * rng.randint(2, 200)
        else:
            del data[at:]
    return bytes(data)


def fire_mutations(
    address: tuple[str, int], count: int, workers: int, seed: int, time_limit: float
) -> Tally:
    """`count` mutated requests, each on its own connection: send, half-close, read whatever
    comes until the server closes. A timeout, a refused connect, or an answer that does not
    start with a status line is an error; a reset is not (the server may close early on
    garbage)."""
    tally = Tally()
    deadline = time.monotonic() + time_limit
    per_worker = [count // workers + (1 if n < count % workers else 0) for n in range(workers)]

    def worker(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        for _ in range(per_worker[number]):
            if time.monotonic() > deadline:
                tally.error(f"worker {number}: time limit")
                return
            data = mutate(rng)
            try:
                answer = _send_and_drain(address, data)
            except (TimeoutError, ConnectionRefusedError) as exc:
                tally.error(f"{type(exc).__name__} after {data[:60]!r}")
                continue
            if answer and not answer.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")):
                tally.error(f"not a status line: {answer[:40]!r} after {data[:60]!r}")
            tally.add(requests=1, connections=1)

    started = time.monotonic()
    run_threads(worker, workers, time_limit + TIMEOUT)
    tally.seconds = time.monotonic() - started
    return tally


def _send_and_drain(address: tuple[str, int], data: bytes) -> bytes:
    answer = bytearray()
    with connect(address) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(ConnectionResetError):
            while len(answer) < 10_000_000:
                piece = sock.recv(65536)
                if not piece:
                    break
                answer += piece
    return bytes(answer)


# --- what a process holds ----------------------------------------------------------------------


def rss_kib(pid: int | None = None) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    with open(f"/proc/{pid or os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc status")


def open_files(pid: int | None = None) -> int:
    return len(os.listdir(f"/proc/{pid or os.getpid()}/fd"))


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (up to the hard limit); the new soft one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft
