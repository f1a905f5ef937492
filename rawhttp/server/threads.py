"""`--model threads`: one thread per connection, blocking sockets, the design socket courses
teach. It runs the same `ServerConnection` and handlers as the event loop; only the waiting
differs: each thread blocks in its own recv, send or sendfile, and a pause is a sleep.

Cheap to read and fine for a few clients; each connection costs a thread (a stack, and a
turn at the GIL), which is why its cap is small and why C10K needed the event loop.

Over TLS the thread's socket is a `TLSSocket`: the same calls, the bytes going through a
`tls.TLSSession` (the handshake is the connection's first reads, under the head's deadline).

Like the event loop it is handed a `listener.Serving`, never the `Server`, and makes the
socket moves the two share through `sockets.py`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

from rawhttp.server import sockets, tls
from rawhttp.server.actions import UPSTREAM, Close, Pause, Reset, Send, SendFile, Stream
from rawhttp.server.listener import Serving, evicted_line, flush_log, make_room, refuse
from rawhttp.server.protocol import LINGER_SECONDS, ServerConnection

# Seconds the accept loop waits after accept(2) fails (out of descriptors, say), rather than
# going straight back into the same failure.
ACCEPT_RETRY_PAUSE = 0.1


class ThreadPerConnection:
    """The driver: an accept loop (in `run`) starting one thread per client, up to the cap."""

    def __init__(self, serving: Serving):
        self.serving = serving
        self._connections: dict[socket.socket, tuple[threading.Thread, ServerConnection]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._waker = sockets.Waker()  # wakes the accept loop's select
        self._done = threading.Event()

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._connections)

    def run(self) -> None:
        import selectors

        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.serving.listener, selectors.EVENT_READ)
                selector.register(self._waker.receive, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    for key, _ in selector.select():
                        if key.fileobj is self.serving.listener:
                            self._accept()
        finally:
            self._done.set()

    def _accept(self) -> None:
        serving = self.serving
        accepted = sockets.accept(serving.listener, serving.log, ACCEPT_RETRY_PAUSE)
        if accepted is None:
            return
        sock, client = accepted
        sock.setblocking(True)
        sockets.send_at_once(sock)
        with self._lock:
            live = [conn for _, conn in self._connections.values() if conn.state != "closing"]
            room = make_room(live, serving.max_connections, time.monotonic())
            if room is not False:
                conn = serving.new_connection(client)
                thread = threading.Thread(target=self._serve, args=(sock, conn), daemon=True)
                self._connections[sock] = (thread, conn)
        if room is False:
            refuse(sock, client, serving.log)
            flush_log(serving.log)
            return
        if room is not None:
            self._evict(room)
            flush_log(serving.log)
        thread.start()

    def _evict(self, conn: ServerConnection) -> None:
        """Wake the slow connection's thread by shutting its socket; it then ends."""
        self.serving.log(evicted_line(conn))
        with self._lock:
            socks = [sock for sock, (_, known) in self._connections.items() if known is conn]
        conn.state = "closing"
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _serve(self, sock: socket.socket, conn: ServerConnection) -> None:
        settings = self.serving.tls
        served = sock if settings is None else TLSSocket(sock, settings.session())
        try:
            serve_connection(served, conn, self._stopping, lambda: flush_log(self.serving.log))
        finally:
            with self._lock:
                del self._connections[sock]
            flush_log(self.serving.log)

    def stop(self) -> None:
        self._stopping.set()
        self._waker.wake()
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):  # wakes its recv or sendfile, which then ends
                sock.shutdown(socket.SHUT_RDWR)

    def join(self, deadline: float) -> None:
        with self._lock:
            threads = [thread for thread, _ in self._connections.values()]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._waker.close()


def serve_connection(
    sock: socket.socket, conn: ServerConnection, stopping: threading.Event, answered=lambda: None
) -> None:
    """One connection's thread: read while the connection reads, run its actions in order;
    `answered` is called after each answer (to write out the log)."""
    try:
        while conn.state != "closing" or conn.outbox:
            try:
                if not step(sock, conn, stopping, answered):
                    return  # reset or closed: the socket is gone
            except OSError:
                raise
            except Exception as error:  # a bug: this connection fails, never the driver
                conn.crashed(error)
    except OSError:
        conn.dropped("connection lost")
    finally:
        conn.dropped()
        sock.close()


def step(sock: socket.socket, conn: ServerConnection, stopping: threading.Event, answered) -> bool:
    """Carry out the next action, finish an answer, or read; False once the socket is gone."""
    if conn.outbox:
        action = conn.next_action()
        if isinstance(action, UPSTREAM):  # serve --proxy: a tunnel or a forward (relay.py)
            from rawhttp.server.relay import run_threaded

            return run_threaded(sock, conn, action, stopping)
        if not perform(sock, action, stopping, conn.idle_timeout):
            return False
        conn.progressed()
    elif conn.state == "answer":
        conn.answered()
        answered()
    else:
        receive(sock, conn)
    return True


def receive(sock: socket.socket, conn: ServerConnection) -> None:
    """One recv, bounded by the connection's deadline."""
    wait = conn.deadline() - time.monotonic()
    if wait <= 0:
        conn.timed_out()
        return
    sock.settimeout(wait)
    try:
        data = sock.recv(sockets.BUFSIZE)
    except TimeoutError:
        return  # the loop asks the deadline again: it may have moved on, or passed
    if not data:
        conn.eof()
    elif isinstance(sock, TLSSocket):
        sock.feed(conn, data)
    else:
        conn.receive(data)


def perform(sock: socket.socket, action, stopping: threading.Event, timeout: float) -> bool:
    """Carry out one action, blocking; False once the socket is closed."""
    sock.settimeout(timeout)  # a client that stops reading our answer
    if isinstance(action, Send):
        sock.sendall(action.data)
    elif isinstance(action, SendFile):
        try:
            with os.fdopen(action.fd, "rb", closefd=False) as file:
                if sock.sendfile(file, action.offset, action.count) < action.count:
                    raise ConnectionAbortedError("file shrank while being sent")
        finally:
            action.close()
    elif isinstance(action, Stream):
        with contextlib.closing(action):
            for piece in action.pieces:
                sock.sendall(piece)
    elif isinstance(action, Pause):
        stopping.wait(action.seconds)
    elif isinstance(action, Reset):
        sockets.reset_on_close(sock)
        return False
    elif isinstance(action, Close):
        close_gently(sock)
        return False
    return True


def close_gently(sock: socket.socket, linger: float = LINGER_SECONDS) -> None:
    """Half-close, read and drop what the client still sends for `linger` seconds
    (`sockets.half_close` says why). The caller closes the socket."""
    if not sockets.half_close(sock):
        return
    with contextlib.suppress(OSError):
        deadline = time.monotonic() + linger
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(sockets.BUFSIZE):
                break


class TLSSocket:
    """A blocking socket whose answers go through a TLS session: what `perform` and
    `close_gently` call, with sendfile done in encrypted pieces. `recv` gives the raw bytes,
    which `receive` hands to `feed`."""

    def __init__(self, sock: socket.socket, session: tls.TLSSession):
        self.sock = sock
        self.session = session

    def feed(self, conn: ServerConnection, data: bytes) -> None:
        tls.feed(self.session, conn, data)
        self.sock.sendall(self.session.outgoing())

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(self.session.wrap(data))

    def sendfile(self, file, offset: int, count: int) -> int:
        action = SendFile(os.dup(file.fileno()), offset, count)
        with contextlib.closing(tls.file_pieces(action)) as pieces:
            for piece in pieces:
                self.sendall(piece)
        return count

    def shutdown(self, how: int) -> None:
        if how != socket.SHUT_RD:
            self.sock.sendall(self.session.close_notify())
        self.sock.shutdown(how)

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def setsockopt(self, *args) -> None:
        self.sock.setsockopt(*args)

    def close(self) -> None:
        self.sock.close()
