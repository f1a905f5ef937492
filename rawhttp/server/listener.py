"""The listening socket and the accept loop: one thread per connection, up to a cap.

Owns binding (with SO_REUSEADDR), accepting, starting a `ClientConnection` thread for each
client, the connection cap (making room at it by closing the connection that has waited
longest for a request), and stopping: closing the listening socket, waking every
connection thread and joining them, each wait bounded. It knows nothing of HTTP beyond the one
503 it sends when over the cap.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import sys
import threading
import time

from rawhttp.errors import ListenError
from rawhttp.server.connection import ClientConnection, Handler, Log, close_gently
from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.scenarios import Replay, ScenarioHandler
from rawhttp.server.static import StaticFiles

# Seconds a connection may stay silent (before or inside a request, or not reading our
# answer) before it is closed. http.server has none; nginx's keepalive_timeout is 75 s.
IDLE_TIMEOUT = 15.0
# Connections served at once. Past it a new client gets 503 and a close straight away rather
# than waiting unseen in the kernel's queue; each connection costs a thread.
MAX_CONNECTIONS = 256
# At the cap, a connection that has waited this long for its next request (idle keep-alive,
# or a slowloris trickling its head) is closed to make room for the newcomer, the longest
# waiter first: so held-open connections cannot lock others out. nginx likewise closes idle
# keep-alive connections when it runs short (ngx_drain_connections).
EVICT_AFTER = 1.0
# Connections the kernel may hold completed but not yet accepted (listen's backlog).
BACKLOG = 128
# How long stopping waits for the accept loop and the connection threads, in all.
JOIN_TIMEOUT = 2.0


def log_to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def make_handler(root: str | os.PathLike, scenario: str | None, replay: str | None) -> Handler:
    """What answers requests: a replay file, a scenario, or the files under `root`."""
    if scenario and replay:
        raise ValueError("give a scenario or a replay file, not both")
    if replay:
        return Replay(replay)
    if scenario:
        return ScenarioHandler(scenario, root)
    return StaticFiles(root)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 lets the kernel pick a free one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Restart on the same port at once, even while old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host} port {port}: {exc.strerror}") from None
    sock.setblocking(False)  # accept() is called only when select says a client is waiting
    return sock


class Server:
    """A static-file (or scenario, or replay) server: bound when made, served by `start()`
    in a thread or `serve_forever()` in the caller's, stopped by `close()`.

    `accepted` counts the connections accepted so far, `active` those being served now.
    """

    def __init__(
        self,
        root: str | os.PathLike = ".",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: str | None = None,
        replay: str | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        log: Log = log_to_stderr,
    ):
        self.root = os.path.abspath(root)
        self.scenario = scenario
        self.replay = replay
        self.handler = make_handler(root, scenario, replay)
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.log = log
        self.accepted = 0
        self._listener = listen(host, port)
        self.host, self.port = self._listener.getsockname()[:2]
        self._connections: dict[socket.socket, tuple[threading.Thread, ClientConnection]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Writing a byte to `_wake_send` wakes the accept loop's select (the self-pipe trick).
        self._wake_receive, self._wake_send = socket.socketpair()
        self._accept_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash: http://127.0.0.1:PORT."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._connections)

    def describe(self) -> str:
        """What is served where, for the start-up line."""
        if self.replay:
            return f"Replaying {self.replay} on {self.url}/"
        where = f"Serving {self.root} on {self.url}/"
        return f"{where} with scenario {self.scenario}" if self.scenario else where

    def serve_forever(self) -> None:
        """Accept clients until `close()`, each served on its own thread."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_receive, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._listener:
                        self._accept()

    def start(self) -> Server:
        """Run the accept loop in a background thread."""
        self._accept_thread = threading.Thread(
            target=self.serve_forever, name="rawhttp-accept", daemon=True
        )
        self._accept_thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, end every connection, and wait for their threads (bounded)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake_send.send(b"!")
        deadline = time.monotonic() + JOIN_TIMEOUT
        if self._accept_thread is not None:
            self._accept_thread.join(JOIN_TIMEOUT)
        self._listener.close()
        with self._lock:
            connections = dict(self._connections)
        for sock, (thread, _) in connections.items():
            with contextlib.suppress(OSError):  # wakes its recv or sendfile, which then ends
                sock.shutdown(socket.SHUT_RDWR)
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._wake_receive.close()
        self._wake_send.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(self) -> None:
        try:
            sock, client = self._listener.accept()
        except (BlockingIOError, ConnectionAbortedError):
            return  # the client left before we got to it
        except OSError as exc:  # out of file descriptors, say: report it and carry on
            self.log(f"accept failed: {exc}")
            time.sleep(0.1)  # not straight back into the same failure
            return
        self.accepted += 1
        sock.settimeout(self.idle_timeout)
        # Send small writes (a head, a dripped byte) at once instead of waiting for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            evicted = self._make_room()
            full = evicted is False
            if not full:
                connection = ClientConnection(sock, client, self.handler, self.log)
                thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
                self._connections[sock] = (thread, connection)
        if full:
            self._refuse(sock, client)
            return
        if evicted is not None:
            self.log(
                f"{evicted.client[0]} - - closed after waiting {EVICT_AFTER:g} s or more "
                "for a request: connection cap reached"
            )
        thread.start()

    def _make_room(self) -> ClientConnection | bool | None:
        """Under the lock: None if under the cap; else the connection evicted to make room,
        or False when every connection is busy answering (then the newcomer gets 503)."""
        live = [conn for _, conn in self._connections.values() if not conn.evicted]
        if len(live) < self.max_connections:
            return None
        now = time.monotonic()
        waiting = [conn for conn in live if conn.waiting_since is not None]
        for conn in sorted(waiting, key=lambda conn: conn.waiting_since or now):
            if now - (conn.waiting_since or now) < EVICT_AFTER:
                break
            if conn.evict():
                return conn
        return False

    def _serve(self, connection: ClientConnection) -> None:
        try:
            connection.serve()
        finally:
            with self._lock:
                del self._connections[connection.sock]

    def _refuse(self, sock: socket.socket, client: tuple) -> None:
        """Over the cap: 503 and close, from the accept loop, so without lingering."""
        exchange = Exchange(sock)
        busy = StatusPage(503, "too many connections, try again", headers=[("Retry-After", "1")])
        with contextlib.suppress(OSError):
            exchange.fail(busy)
        self.log(exchange.log_line(client))
        close_gently(sock, linger=0)
