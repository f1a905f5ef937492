"""The listening socket and what every driver shares: binding, admitting a client under the
connection cap, the access logs, and `Serving`, the one value a driver is handed.

A driver moves bytes between sockets and `ServerConnection`s: `loop.EventLoop` (the default,
`--model events`: one selectors loop per process, `--workers N` processes) or
`threads.ThreadPerConnection` (`--model threads`, the design socket courses teach). Both are
handed the same `Serving` (the socket, the cap, the log, how to make a connection, TLS) and
the same cap rules, so they differ only in how they wait. `server.py` makes the `Serving` and
picks the driver; nothing here or in a driver imports it back.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from rawhttp.errors import ListenError
from rawhttp.server.exchange import Answer
from rawhttp.server.protocol import Log, ServerConnection, closing_page

if TYPE_CHECKING:  # (ssl is imported only when TLS is asked for)
    from rawhttp.server.tls import ServerTLS

# Seconds a connection may stay silent (before or inside a request, or not reading our
# answer) before it is closed. http.server has none; nginx's keepalive_timeout is 75 s.
IDLE_TIMEOUT = 15.0
# Connections served at once, per worker process. An event-loop connection costs a socket and
# a few KiB, so the cap is nginx's order (worker_connections 512 x workers, often raised to
# 10k); a thread costs a stack, so the threads model keeps a small one. Past the cap a newcomer
# gets 503 at once rather than waiting unseen in the kernel's queue.
MAX_CONNECTIONS = {"events": 10_000, "threads": 256}
MODELS = tuple(MAX_CONNECTIONS)
# The model a Server runs when none is named (the black-box tests run each suite under both).
DEFAULT_MODEL = "events"
# At the cap, a connection that is too slow (waiting this long for its next request, trickling
# a head, or sending a body below the minimum rate) is closed to make room, the longest waiter
# first: so held-open connections cannot lock others out. nginx likewise closes idle
# keep-alive connections when it runs short (ngx_drain_connections).
EVICT_AFTER = 1.0
# Connections the kernel may hold completed but not yet accepted (listen's backlog); the
# kernel caps it at net.core.somaxconn.
BACKLOG = 1024


class Serving(NamedTuple):
    """What a driver needs of the server: where clients arrive, how many may be served at
    once, where errors and notes go, how a client becomes a connection, and TLS if any."""

    listener: socket.socket
    max_connections: int
    log: Log
    new_connection: Callable[[tuple], ServerConnection]
    tls: ServerTLS | None = None
    # serve --proxy: the event loop's channel class that can relay upstream (relay.py's
    # ProxyChannel, handed in so that the loop never imports relay, which builds on it)
    proxy_channel: type | None = None


class StderrLog:
    """The access log on stderr, written out by `flush()`: the event loop flushes once per
    turn of its loop rather than once per request (one write for many lines, as nginx's
    buffered access_log does); the threads driver after each answer."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def flush(self) -> None:
        if not self.lines:
            return
        with self._lock:
            lines, self.lines = self.lines, []
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()


class FileLog:
    """The access log in a file (`serve --log FILE`), appended to, a line at a time (O_APPEND:
    the lines of several workers never interleave inside a line)."""

    def __init__(self, path: str | os.PathLike) -> None:
        # Open as long as the server runs (no `with`: it outlives this call).
        self.file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def __call__(self, line: str) -> None:
        self.file.write(line + "\n")


def quiet(line: str) -> None:
    """The access log of `serve --quiet`: nowhere (errors still go to stderr)."""


def flush_log(log: Log) -> None:
    """Write out what a buffered log holds (a plain callable writes as it goes)."""
    flush = getattr(log, "flush", None)
    if flush is not None:
        flush()


def listen(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 lets the kernel pick a free one.

    `reuse_port` lets several sockets (one per worker) listen on the same port, the kernel
    spreading new connections over them (SO_REUSEPORT, Linux 3.9+ and the BSDs)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Restart on the same port at once, even while old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host} port {port}: {exc.strerror}") from None
    sock.setblocking(False)  # accept() is called only when select says a client is waiting
    return sock


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard one, so a large --max-connections can
    be held (the soft limit is often 1,024); the limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def make_room(
    connections: list[ServerConnection], cap: int, now: float
) -> ServerConnection | bool | None:
    """None if under the cap; else the connection to close for a newcomer (the one waiting
    longest among those too slow), or False when every connection is doing useful work."""
    if len(connections) < cap:
        return None
    slow = [conn for conn in connections if conn.too_slow(now, EVICT_AFTER)]
    return min(slow, key=lambda conn: conn.since) if slow else False


def evicted_line(conn: ServerConnection) -> str:
    return f"{conn.client[0]} - - closed as too slow ({conn.state}): connection cap reached"


def refusal() -> tuple[bytes, Answer]:
    """The 503 a newcomer gets when every connection is busy, and its exchange (to log)."""
    exchange = Answer()
    exchange.fail(closing_page(503, "too many connections, try again"))
    data = b"".join(action.data for action in exchange.actions)
    return data, exchange


def refuse(sock: socket.socket, client: tuple, log: Log) -> None:
    """Over the cap: 503 and close, at once and without lingering."""
    data, exchange = refusal()
    with contextlib.suppress(OSError):
        sock.send(data)
        sock.shutdown(socket.SHUT_WR)
    sock.close()
    log(exchange.log_line(client))
