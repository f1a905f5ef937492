"""Shared fixtures: a scripted raw-socket server, and helpers to run the CLI.

`raw_server` is how malformed and hand-timed responses reach the client: it accepts
connections on 127.0.0.1, records each request head, and sends the scripted pieces one
`sendall` each, with a short pause between them so they arrive in separate reads.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import pytest

# Whole modules that are slow by nature (a browser, every worksheet command, load, hypothesis
# runs): marked `slow` here so that `make test-fast` (pytest -m "not slow") leaves them out.
SLOW_MODULES = {
    "test_browser_forms",
    "test_browser_pages",
    "test_worksheets",
    "test_load",
    "test_properties",
    "test_server_model",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rpartition(".")[2] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


RESET = object()  # close with SO_LINGER 0: the peer sees a TCP RST
HANG = object()  # keep the connection open, sending nothing, until the test ends
PAUSE = 0.02


@dataclass
class RawServer:
    """Serves scripted responses: connection N gets `scripts[N]` (the last one repeats)."""

    scripts: list[list]
    host: str = "127.0.0.1"
    sock: socket.socket = field(init=False)
    requests: list[bytes] = field(default_factory=list)
    accepted: int = 0

    def __post_init__(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{'[::1]' if family == socket.AF_INET6 else self.host}:{self.port}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            script = self.scripts[min(self.accepted, len(self.scripts) - 1)]
            self.accepted += 1
            with conn:
                conn.settimeout(5)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.requests.append(_read_request(conn))
                self._play(conn, script)

    def _play(self, conn: socket.socket, script: list) -> None:
        for index, piece in enumerate(script):
            if index:
                time.sleep(PAUSE)
            try:
                if piece is RESET:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if piece is HANG:
                    self.stop.wait(10)
                    return
                conn.sendall(piece)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self.thread.join(5)
        self.sock.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                break
            data += piece
            if not data[:1].isalpha():
                break  # not an HTTP request (a TLS ClientHello, say): answer at once
    except OSError:
        pass
    return data


@pytest.fixture
def raw_server():
    """Factory: raw_server([b"HTTP/1.1 200 OK\\r\\n...", RESET], ...) -> RawServer."""
    servers: list[RawServer] = []

    def start(*scripts: list, host: str = "127.0.0.1") -> RawServer:
        server = RawServer([list(script) for script in scripts], host=host)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def refused_port():
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def site_server():
    """rawhttp's own server on samples/site (quiet), as a `Server` (`.url`, `.accepted`)."""
    from rawhttp.server import Server, sample_site

    with Server(sample_site(), log=lambda line: None) as server:
        yield server


@pytest.fixture
def serve_dir():
    """Factory: serve_dir(path, scenario=None) -> a running quiet `Server` over `path`."""
    from rawhttp.server import Server

    servers = []

    def start(path, scenario: str | None = None, **options) -> Server:
        server = Server(path, scenario=scenario, log=lambda line: None, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(params=["events", "threads"])
def server_model(request, monkeypatch):
    """Run a black-box server test under each driver: `pytestmark = usefixtures(...)`."""
    from rawhttp.server import listener

    monkeypatch.setattr(listener, "DEFAULT_MODEL", request.param)
    return request.param


def read_answer(sock: socket.socket, method: str = "GET"):
    """One response read off `sock` with wire.ResponseReader: (final head, body)."""
    from rawhttp import wire

    reader, body = wire.ResponseReader(method), bytearray()
    while not reader.done:
        data = sock.recv(65536)
        events = reader.feed(data) if data else reader.eof()
        body += b"".join(bytes(e) for e in events if isinstance(e, memoryview))
        if not data:
            break
    assert reader.head is not None
    return reader.head, bytes(body)


def ask_server(server, data: bytes, method: str = "GET", timeout: float = 5.0):
    """Send raw request bytes to `server` (anything with host and port) on a new connection;
    the parsed answer."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_answer(sock, method)
