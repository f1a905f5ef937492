"""The listening socket and what every driver shares: binding, admitting a client under the
connection cap, and the `Server` that picks a driver and starts and stops it.

A driver moves bytes between sockets and `ServerConnection`s: `loop.EventLoop` (the default,
`--model events`: one selectors loop per process, `--workers N` processes) or
`threads.ThreadPerConnection` (`--model threads`, the design socket courses teach). Both are
handed the same handler and the same cap rules, so they differ only in how they wait.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time

from rawhttp.errors import ListenError
from rawhttp.server.connection import Handler, Log, ServerConnection
from rawhttp.server.echo import Echo
from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.scenarios import Replay, ScenarioHandler
from rawhttp.server.site import PLAIN, Site, SiteOptions
from rawhttp.server.static import StaticFiles
from rawhttp.server.upload import Upload

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
# How long stopping waits for the driver and its connections, in all.
JOIN_TIMEOUT = 2.0


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


def make_handler(
    root: str | os.PathLike,
    scenario: str | None,
    replay: str | None,
    echo: bool = False,
    upload: str | os.PathLike | None = None,
    options: SiteOptions = PLAIN,
) -> Handler:
    """What answers requests: a replay file, a scenario, or the files under `root` (with the
    echo page and uploads beside them when asked)."""
    if scenario and replay:
        raise ValueError("give a scenario or a replay file, not both")
    if replay:
        return Replay(replay)
    if scenario:
        return ScenarioHandler(scenario, root)
    files, upload_handler = StaticFiles(root), Upload(upload) if upload else None
    return Site(files, Echo() if echo else None, upload_handler, options)


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


def refusal() -> tuple[bytes, Exchange]:
    """The 503 a newcomer gets when every connection is busy, and its exchange (to log)."""
    exchange = Exchange()
    busy = StatusPage(503, "too many connections, try again", headers=[("Retry-After", "1")])
    exchange.fail(busy)
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


def _server_tls(cert, key, ca_file, verbose: bool):
    """The TLS settings (ssl is imported only when TLS is asked for)."""
    from rawhttp.server.tls import server_tls

    if key is not None and cert is None:
        raise ValueError("a key without a certificate: give cert too")
    return server_tls(cert, key, ca_file, verbose)


class Server:
    """A static-file (or scenario, or replay) server: bound when made, served by `start()`
    in a thread or `serve_forever()` in the caller's, stopped by `close()`.

    `model` is "events" or "threads"; `workers` (events only) forks that many processes on
    the port from `serve_forever()`, 0 meaning one per core. `accepted` counts connections
    accepted so far, `active` those open now.

    `tls=True` serves HTTPS with the certificate in `cert` (and `key`, unless it is in the
    cert's file), or without them one for localhost made at start-up, its CA written to
    `ca_file` (else into a private folder removed at close): `self.tls.cafile` says where.
    `verbose` logs each TLS handshake (server name and ALPN offered, version chosen).
    `proxy=True` makes it a forward proxy too (proxy.py, relay.py), `proxy_allow` the
    HOST:PORT pairs it may reach beyond the default rules.
    """

    def __init__(
        self,
        root: str | os.PathLike = ".",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: str | None = None,
        replay: str | None = None,
        echo: bool = False,
        upload: str | os.PathLike | None = None,
        site: SiteOptions = PLAIN,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int | None = None,
        log: Log | None = None,
        access_log: Log | None = None,
        log_format: str = "common",
        model: str | None = None,
        workers: int = 1,
        tls: bool = False,
        cert: str | os.PathLike | None = None,
        key: str | os.PathLike | None = None,
        ca_file: str | os.PathLike | None = None,
        verbose: bool = False,
        proxy: bool = False,
        proxy_allow: tuple[str, ...] = (),
    ):
        model = model or DEFAULT_MODEL
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}: choose from {', '.join(MODELS)}")
        self.root = os.path.abspath(root)
        self.scenario = scenario
        self.replay = replay
        self.echo = echo
        self.handler = make_handler(root, scenario, replay, echo, upload, site)
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections or MAX_CONNECTIONS[model]
        self.log = log or StderrLog()
        self.access_log = access_log  # None: the access lines go to `log` too
        self.log_format = log_format
        self.model = model
        self.workers = (os.cpu_count() or 1) if workers == 0 else workers
        self.accepted = 0
        self.tls = _server_tls(cert, key, ca_file, verbose) if tls or cert else None
        try:
            self.listener = listen(host, port, reuse_port=self.workers > 1)
        except ListenError:
            if self.tls is not None:
                self.tls.close()  # the CA made for this server
            raise
        self.host, self.port = self.listener.getsockname()[:2]
        self.proxy = None  # serve --proxy: its rules (proxy.py), once the address is known
        if proxy:
            self._become_proxy(proxy_allow)
        self.driver = self._make_driver()
        self._thread: threading.Thread | None = None

    def _become_proxy(self, allow: tuple[str, ...]) -> None:
        """serve --proxy: absolute-form requests and CONNECT go to proxy.py's handler."""
        from rawhttp.server.proxy import ForwardProxy, ProxyRules

        if self.tls is not None:
            self.listener.close()
            self.tls.close()
            raise ValueError("--proxy listens for plain HTTP: it cannot be used with --tls")
        self.proxy = ProxyRules(self.host, self.port, allow)
        self.handler = ForwardProxy(self.handler, self.proxy)

    def _make_driver(self):
        if self.model == "threads":
            from rawhttp.server.threads import ThreadPerConnection

            return ThreadPerConnection(self)
        from rawhttp.server.loop import EventLoop

        return EventLoop(self)

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash: http://127.0.0.1:PORT (https with TLS)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def active(self) -> int:
        return self.driver.active

    def describe(self) -> str:
        """What is served where, for the start-up line."""
        if self.replay:
            return f"Replaying {self.replay} on {self.url}/"
        where = f"Serving {self.root} on {self.url}/"
        if self.echo:
            where += ", echoing every other request"
        if self.proxy is not None:
            where += f"; a forward proxy there too (-x {self.url})"
        return f"{where} with scenario {self.scenario}" if self.scenario else where

    def how(self) -> str:
        """The driver, for the start-up line: "events model, 2 workers"."""
        return f"{self.model} model" + (f", {self.workers} workers" if self.workers > 1 else "")

    def new_connection(self, client: tuple) -> ServerConnection:
        self.accepted += 1
        conn = ServerConnection(
            client,
            lambda: self.handler,
            self.log,
            self.idle_timeout,
            access=self.access_log,
            log_format=self.log_format,
        )
        if self.tls is not None:
            conn.expect_handshake()
        return conn

    def serve_forever(self) -> None:
        """Serve until `close()` (or a signal, with workers), in the calling thread."""
        if self.workers > 1:
            from rawhttp.server.workers import run_workers

            run_workers(self)
        else:
            self.driver.run()

    def start(self) -> Server:
        """Run the driver in a background thread (one process: `workers` is not used)."""
        self._thread = threading.Thread(target=self.driver.run, name="rawhttp-serve", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, end every connection, and wait for the driver (bounded)."""
        self.driver.stop()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT)
            self._thread = None
        self.driver.join(time.monotonic() + JOIN_TIMEOUT)
        self.listener.close()
        getattr(self.handler, "close", lambda: None)()  # (the upload's private folder)
        if self.tls is not None:
            self.tls.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
