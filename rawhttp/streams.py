"""A connected byte stream: the client's only socket calls after `dial.py` has connected.

`Stream` sends, receives into a buffer and splices into a file, each with the transfer's
deadlines, and translates every `OSError` (and `ssl.SSLError`) into a `rawhttp.errors` class
right where it was raised: httpcore's `map_exceptions` rule, one edge between the OS and the
rest. Every call is reported as an `events` event, so the views see each `send` and `recv`.
What the bytes mean is `client.py`'s business; how the stream was made is `dial.py`'s.
`tls.TLSStream` is the same interface with TLS records in between.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from rawhttp import events
from rawhttp.errors import NetworkError, RawHTTPError, Timeout

Listener = Callable[[events.Event], None]

# Bytes looked at on an idle kept connection (`stale`) to tell a close from stray bytes.
PEEK = 64


def _always(kind: type[events.Event]) -> bool:
    return True


class SpliceSink(Protocol):
    """Where `Stream.splice_into` moves bytes: a file that takes them from a pipe."""

    def splice_from(self, pipe: int, count: int) -> None: ...


class Stream:
    """One connected TCP stream with deadlines, and errors in rawhttp's terms.

    `url` is the origin it was dialled for (a kept stream is reused for the same origin only);
    `deadline` is the --max-time clock of the transfer under way (`start_transfer` resets it).
    """

    tls = False

    def __init__(self, sock: socket.socket, url, options, emit: Listener, remote=("", 0)):
        self.sock: socket.socket | None = sock
        self.url = url
        self.options = options
        self.emit = emit
        # Whether anyone reads events of a class: the hot ones (each send, each recv) are only
        # made when someone does (`client.Session` sets this from what its listener reads).
        self.listens: Callable[[type[events.Event]], bool] = _always
        self.remote: tuple[str, int] = remote
        self.keep_alive = False
        self.sent = 0
        self.received = 0
        self._buffer: memoryview | None = None
        self._pipe: tuple[int, int] | None = None
        self._pipe_size = 0
        self._poller: select.poll | None = None
        # While a response head is read, every read shares this deadline (see `reading_head`).
        self.head_deadline: float | None = None
        self._head_from = 0
        # Bytes already received for this stream by the layer below (what a proxy sent after
        # its 200 to CONNECT): the first reads return them before reading the socket.
        self.early = b""
        self.start_transfer(url)
        sock.settimeout(self.remaining(options.read_timeout))

    @property
    def buffer(self) -> memoryview:
        """The one receive buffer of this stream (options.bufsize bytes), made on first use and
        reused by every read of every response on it: heads and bodies alike."""
        if self._buffer is None:
            self._buffer = memoryview(bytearray(self.options.bufsize))
        return self._buffer

    def start_transfer(self, url) -> None:
        """A new request on this stream: its own --max-time clock and byte count."""
        self.url = url
        self._received_at_start = self.received
        max_time = self.options.max_time
        self.deadline = time.monotonic() + max_time if max_time is not None else None

    @property
    def received_this_transfer(self) -> int:
        return self.received - self._received_at_start

    @property
    def can_splice(self) -> bool:
        """Whether body bytes can move socket -> pipe -> file in the kernel: not through TLS,
        whose bytes must be decrypted in the program, and only where splice(2) exists."""
        return hasattr(os, "splice") and not self.early

    def remaining(self, timeout: float) -> float:
        """`timeout`, or less if --max-time ends sooner (then a Timeout if it has ended)."""
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Timeout(f"transfer took longer than --max-time {self.options.max_time:g} s")
        return min(timeout, left)

    def _set_timeout(self, timeout: float) -> None:
        assert self.sock is not None
        self.sock.settimeout(self.remaining(timeout))

    def send(self, data: bytes, kind: type[events.Sent] = events.Sent, **fields: object) -> None:
        """Send all of `data`, then emit `kind` (a request head, a body piece, raw bytes)."""
        try:
            self._send(data)
        except TimeoutError:
            raise Timeout("sending the request timed out") from None
        except OSError as exc:
            raise from_os(NetworkError(f"send failed: {exc.strerror or exc}"), exc) from None
        if self.listens(kind):
            self.emit(kind(data=data, offset=self.sent, **fields))
        self.sent += len(data)

    def _send(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)

    def recv_into(self, buffer: memoryview) -> int:
        """One read; 0 means the server closed its side."""
        try:
            if self.deadline is not None or self.head_deadline is not None:
                self._set_timeout(self._read_wait())
            count = self._recv_into(buffer)
        except TimeoutError:
            raise self.read_timeout() from None
        except OSError as exc:
            raise self.receive_error(exc) from None
        if count:
            if self.listens(events.Received):
                self.emit(events.Received(data=buffer[:count], offset=self.received))
            self.received += count
        return count

    def _recv_into(self, buffer: memoryview) -> int:
        assert self.sock is not None
        if self.early:
            count = min(len(buffer), len(self.early))
            buffer[:count], self.early = self.early[:count], self.early[count:]
            return count
        return self.sock.recv_into(buffer)

    def splice_into(self, sink: SpliceSink, count: int) -> int:
        """Move up to `count` bytes from the socket into `sink` inside the kernel (splice(2),
        socket -> this stream's pipe -> file); 0 means the server closed its side. Waits and
        times out as `recv_into` does.

        The bytes never reach Python, so no `Received` event is emitted: the fast path is only
        taken when no view needs to see them.
        """
        assert self.sock is not None and self.can_splice
        pipe_out, pipe_in = self._splice_pipe()
        while True:
            try:
                # The socket is non-blocking underneath (Python's timeouts work that way), so
                # splice returns at once with EAGAIN when nothing has arrived yet.
                moved = os.splice(self.sock.fileno(), pipe_in, count, flags=os.SPLICE_F_MOVE)
                break
            except BlockingIOError:
                if not self.readable(self.options.read_timeout):
                    raise self.read_timeout() from None
            except OSError as exc:
                raise self.receive_error(exc) from None
        self.received += moved
        if moved:
            sink.splice_from(pipe_out, moved)
        return moved

    @property
    def splice_step(self) -> int:
        """The most one splice moves: the pipe's size (asked for as options.bufsize)."""
        self._splice_pipe()
        return min(self.options.bufsize, self._pipe_size)

    def _splice_pipe(self) -> tuple[int, int]:
        """The pipe splice moves bytes through, made once per stream and grown toward
        options.bufsize (Linux's default is 64 KiB; unprivileged processes may go up to
        /proc/sys/fs/pipe-max-size, 1 MiB by default); its size is asked once."""
        if self._pipe is None:
            import fcntl

            self._pipe = os.pipe()
            with contextlib.suppress(OSError):
                fcntl.fcntl(self._pipe[1], fcntl.F_SETPIPE_SZ, self.options.bufsize)
            self._pipe_size = fcntl.fcntl(self._pipe[1], fcntl.F_GETPIPE_SZ)
        return self._pipe

    def readable(self, timeout: float) -> bool:
        """Whether bytes (or the server's close) arrive within `timeout` seconds."""
        return self._poll(self.remaining(timeout) * 1000)

    def _poll(self, milliseconds: float) -> bool:
        """One poll(2) of the socket for input; the poll object is made once per stream (a
        kept connection is polled before each request it carries, see `stale`)."""
        assert self.sock is not None
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(self.sock, select.POLLIN)
        return bool(self._poller.poll(milliseconds))

    @contextlib.contextmanager
    def reading_head(self) -> Iterator[None]:
        """While a response head (with its 1xx heads) is read, --timeout covers all of it, not
        each read: a server trickling a head, or sending 1xx answers without end, is stopped."""
        self.head_deadline = time.monotonic() + self.options.read_timeout
        self._head_from = self.received
        try:
            yield
        finally:
            self.head_deadline = None
            if self.sock is not None:
                self._set_timeout(self.options.read_timeout)

    def _read_wait(self) -> float:
        """How long the next read may wait: --timeout, or less if the head's deadline is near."""
        if self.head_deadline is None:
            return self.options.read_timeout
        left = self.head_deadline - time.monotonic()
        if left <= 0:
            raise self.read_timeout()
        return min(self.options.read_timeout, left)

    def stale(self) -> str | None:
        """Why this kept stream, idle between two requests, cannot carry the next one: the
        server closed it, or sent bytes where no response may start (a body after a HEAD
        answer, say), which would be taken as the next answer. None if it looks usable."""
        if self.sock is None:
            return "it is closed"
        try:
            data = self._peek_idle()
        except BlockingIOError:  # nothing waiting (for TLS: a record without data)
            return None
        except OSError as exc:
            return f"it failed: {exc.strerror or exc}"
        if not data:
            return "the server closed it"
        more = "+" if len(data) == PEEK else ""
        return f"{len(data)}{more} bytes came after the last response, where none may start"

    def _peek_idle(self) -> bytes:
        """What waits on the idle socket, left there; BlockingIOError when nothing does.
        (Polled first: a socket with a timeout waits for it even with MSG_DONTWAIT.)"""
        assert self.sock is not None
        if not self._waiting():
            raise BlockingIOError
        return self.sock.recv(PEEK, socket.MSG_PEEK | socket.MSG_DONTWAIT)

    def _waiting(self) -> bool:
        """Whether bytes (or the server's close) are waiting on the socket right now."""
        return self._poll(0)

    def read_timeout(self) -> Timeout:
        """The Timeout for a read that waited too long, saying which clock ran out."""
        now = time.monotonic()
        trickled = self.head_deadline is not None and self.received > self._head_from
        if trickled and now >= self.head_deadline:
            return Timeout(
                f"the response head did not arrive within {self.options.read_timeout:g} s "
                f"(read timeout, which covers the whole head; {self.received - self._head_from} "
                "bytes of it came)"
            )
        if self.deadline is not None and now >= self.deadline:
            return Timeout(f"transfer took longer than --max-time {self.options.max_time:g} s")
        return Timeout(
            f"no data from the server for {self.options.read_timeout:g} s (read timeout)"
        )

    def receive_error(self, exc: OSError) -> RawHTTPError:
        if isinstance(exc, ConnectionResetError):
            message = f"connection reset by peer after {self.received} bytes received"
        else:
            message = f"receive failed: {exc.strerror or exc}"
        return from_os(NetworkError(message), exc)

    def close(self, by: str = "client") -> None:
        if self._pipe is not None:
            for end in self._pipe:
                os.close(end)
            self._pipe = None
        if self.sock is not None:
            self.emit(events.Closing(by=by))
            self.sock.close()
            self.sock = None
            self.emit(events.Closed(by=by))


def from_os(error: RawHTTPError, exc: OSError) -> RawHTTPError:
    """Keep the errno's name (ECONNREFUSED...) on the rawhttp error, for --explain."""
    error.errno_name = errno.errorcode.get(exc.errno) if exc.errno else None
    return error
