"""One accepted connection: the loop that reads requests and hands each one to the handler.

Owns everything between the socket and a parsed request: finding the head with
`wire.HeadReader`, turning what is wrong with it into 400, 413, 414, 431 or 505, reading and
dropping a request body so that the next pipelined request starts at the right byte, the idle
timeout, keeping the connection open or not (`Exchange.keep_alive`), and closing it politely.
What to answer to a good request is the handler's business (static.py, scenarios.py).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import traceback
from collections.abc import Callable

from rawhttp.errors import LimitExceeded, ProtocolError
from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.wire import (
    MAX_HEAD_SIZE,
    MAX_REQUEST_LINE,
    Framing,
    Headers,
    HeadReader,
    body_reader,
    parse_request_head,
    request_framing,
)

Handler = Callable[[Exchange], None]
Log = Callable[[str], None]

# Bytes asked of each recv.
BUFSIZE = 64 * 1024
# Request bodies are only read to be dropped (no handler takes one), so the cap is small:
# nginx's client_max_body_size defaults to 1 MiB too. Past it: 413 and close.
MAX_REQUEST_BODY = 1024 * 1024
# After our last byte, how long we keep reading (and dropping) what the client still sends
# before closing. Apache's lingering close waits up to 2 s, nginx's lingering_time 30 s.
LINGER_SECONDS = 1.0


class RequestLineWatch:
    """Measures the request line as its bytes arrive, so that one too long is answered 414
    at MAX_REQUEST_LINE, not 431 once the whole head has filled MAX_HEAD_SIZE."""

    def __init__(self) -> None:
        self.start = bytearray()
        self.done = False

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        if not self.start:  # empty lines before a request are skipped (RFC 9112 section 2.2)
            data = data.lstrip(b"\r\n")
        self.start += data[: MAX_REQUEST_LINE + 2 - len(self.start)]
        end = self.start.find(b"\n")
        if end == -1:  # not finished yet: its CR may already be in
            too_long = len(self.start) > MAX_REQUEST_LINE + 1
        else:
            too_long = len(self.start[:end].removesuffix(b"\r")) > MAX_REQUEST_LINE
            self.done = True
        if too_long:
            raise StatusPage(414, f"request line longer than {MAX_REQUEST_LINE} bytes", close=True)


class ClientConnection:
    """Serves the requests of one client connection, in order, until either side stops."""

    def __init__(self, sock: socket.socket, client: tuple, handler: Handler, log: Log):
        self.sock = sock
        self.client = client
        self.handler = handler
        self.log = log
        self.pending = b""  # bytes received past the end of the last request (pipelining)
        # Since when this connection has been waiting for (the rest of) a request head; None
        # while a request is being answered. The listener may `evict` a long waiter.
        self.waiting_since: float | None = None
        self.evicted = False
        self._state = threading.Lock()

    def evict(self) -> bool:
        """Close the connection if it is waiting for a request (idle, or trickling a head),
        waking its thread; False if it is answering one, which is never cut short."""
        with self._state:
            if self.waiting_since is None or self.evicted:
                return False
            self.evicted = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        return True

    def serve(self) -> None:
        try:
            while self.serve_one():
                pass
        except OSError:
            pass  # timed out, reset or gone: there is nobody left to answer
        finally:
            close_gently(self.sock)

    def serve_one(self) -> bool:
        """Read one request and answer it; False when the connection should close."""
        exchange = Exchange(self.sock)
        try:
            if not self.read_request(exchange):
                return False
            self.handler(exchange)
        except StatusPage as page:
            exchange.fail(page)
        except OSError:
            raise
        except Exception:  # a bug in a handler must cost one answer, not the server
            self.log(traceback.format_exc().rstrip())
            exchange.fail(StatusPage(500, "internal server error (see the server log)", close=True))
        self.log(exchange.log_line(self.client))
        return exchange.keep_alive

    def read_request(self, exchange: Exchange) -> bool:
        """Read and check the next request into `exchange`; False if none came."""
        head = self.read_head()
        if head is None:
            return False
        try:
            request = parse_request_head(head)
        except LimitExceeded as exc:
            raise StatusPage(431, str(exc), close=True) from None
        except ProtocolError as exc:
            raise StatusPage(400, str(exc), close=True) from None
        exchange.begin(request)
        if not request.http_version.startswith("HTTP/1."):
            raise StatusPage(505, f"{request.http_version} is not supported", close=True)
        try:
            framing = request_framing(request.headers)
        except ProtocolError as exc:
            raise StatusPage(400, str(exc), close=True) from None
        self.drop_body(exchange, framing)
        if request.http_version == "HTTP/1.1" and len(request.headers.get_all("Host")) != 1:
            raise StatusPage(400, "an HTTP/1.1 request needs exactly one Host header")
        return True

    def read_head(self) -> bytes | None:
        """The next request head, or None if the client closed or stayed silent too long."""
        reader = HeadReader(skip_leading_newlines=True)
        watch = RequestLineWatch()
        data, self.pending = self.pending, b""
        self.waiting_since = time.monotonic()
        while True:
            if data:
                watch.feed(data)
                try:
                    head = reader.feed(data)
                except LimitExceeded:
                    message = f"request head larger than {MAX_HEAD_SIZE} bytes"
                    raise StatusPage(431, message, close=True) from None
                if head is not None:
                    with self._state:
                        if self.evicted:
                            return None
                        self.waiting_since = None
                    self.pending = reader.rest
                    return head
            try:
                data = self.sock.recv(BUFSIZE)
            except TimeoutError:  # the idle timeout (or a client stuck inside its head)
                return None
            if not data:
                return None

    def drop_body(self, exchange: Exchange, framing: Framing) -> None:
        """Read the request body and drop it, so the next request starts at the right byte."""
        if framing.kind == "none":
            return
        too_big = StatusPage(413, f"request body over {MAX_REQUEST_BODY} bytes", close=True)
        if (framing.length or 0) > MAX_REQUEST_BODY:
            raise too_big
        assert exchange.request is not None
        expect = exchange.request.headers.get("Expect", "") or ""
        if expect.lower() == "100-continue" and exchange.request.http_version == "HTTP/1.1":
            exchange.send_head(100, Headers())
        reader = body_reader(framing)
        data, self.pending = self.pending, b""
        while True:
            try:
                reader.feed(data)
            except ProtocolError as exc:
                raise StatusPage(400, f"bad chunked body: {exc}", close=True) from None
            if reader.received > MAX_REQUEST_BODY:
                raise too_big
            if reader.done:
                self.pending = reader.rest
                return
            data = self.sock.recv(BUFSIZE)
            if not data:
                raise ConnectionAbortedError("client closed inside its request body")


def close_gently(sock: socket.socket, linger: float = LINGER_SECONDS) -> None:
    """Half-close, read and drop what the client still sends for `linger` seconds, then close.

    Closing a socket that has unread bytes makes the kernel send a reset, and a reset can make
    the client lose the end of our answer (the 400 explaining why we stop, say) before reading
    it: Apache and nginx call this a lingering close.
    """
    if sock.fileno() == -1:  # already closed, by a reset on purpose
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(linger)
        deadline = time.monotonic() + linger
        while sock.recv(BUFSIZE) and time.monotonic() < deadline:
            pass
    sock.close()
