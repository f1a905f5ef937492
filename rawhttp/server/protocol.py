"""One client connection, sans-IO: bytes received go in, the actions of the answers come out.

Owns everything between the bytes and a handler: feeding `wire.RequestReader`, answering what
is wrong with a request (the status its ProtocolError carries: 400, 413, 414, 431, 501, 505),
`Expect` (100 Continue, or the final answer at once: 405, 413, 417), the request body (handed
to the handler's sink, or dropped so the next pipelined request starts at the right byte),
answers in order, keep-alive, one log line per request, and the deadlines (idle, whole head,
minimum body rate, a client not reading) with what is "too slow" to keep at the cap.

A handler (`handler.Handler`) may say more than "answer this": `check(exchange)` refuses a
request from its head alone (before a body is read or 100 Continue sent), `body_limit(exchange)`
its largest body, `open_body(exchange)` where the body goes (`write`, `discard`), and
`keeps_request = N` asks for the first N bytes of the request exactly as received
(`exchange.raw`; `exchange.raw_size` counts them all), as the echo page shows them: bounded, so
a large body is never kept twice.
It never touches a socket: a driver (`loop.py`, `threads.py`) feeds it and sends `outbox`.

Nothing a request does may end a driver: an exception from a handler, from where its body goes
(a full disk, a read-only one, no descriptor left) or from the connection itself costs that
one request a 500 (507 for a full disk, RFC 4918's Insufficient Storage) and one log line; if
bytes of the answer have already gone, the connection is closed instead (`crashed`).
"""

from __future__ import annotations

import errno
import time
import traceback
from collections import deque
from collections.abc import Callable

from rawhttp.errors import ProtocolError
from rawhttp.server.actions import Action, Close, Send, release
from rawhttp.server.exchange import Answer, Exchange, StatusPage
from rawhttp.server.handler import MAX_REQUEST_BODY, Handler
from rawhttp.wire import EndOfMessage, HeadEvent, RequestHead, RequestReader

Log = Callable[[str], None]

# The whole request head must arrive within this many seconds of its first byte, however
# steadily it trickles: nginx's client_header_timeout is 60 s as well.
HEAD_TIMEOUT = 60.0
# A request body must keep up this many bytes a second, after a grace of BODY_GRACE seconds:
# Apache's mod_reqtimeout defaults (body=20,MinRate=500). Slower is a slow-body attack.
MIN_BODY_RATE = 500
BODY_GRACE = 20.0
# After our last byte, how long we keep reading (and dropping) what the client still sends
# before closing. Apache's lingering close waits up to 2 s, nginx's lingering_time 30 s.
LINGER_SECONDS = 1.0
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class ServerConnection:
    """The requests of one client connection and the answers to them, in order.

    `state` is "idle" (waiting for a request), "head" or "body" (one is arriving), "answer"
    (the driver is sending `outbox`), or "closing" (the last action is queued); a TLS
    connection starts in "handshake", which has the head's deadline and is as evictable.
    """

    def __init__(
        self,
        client: tuple,
        handler: Callable[[], Handler],
        log: Log,
        idle_timeout: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        access: Log | None = None,
        log_format: str = "common",
    ):
        self.client = client
        self.handler = handler  # looked up per request: tests swap a server's handler
        self.log = log  # errors and notes
        self.access = access or log  # one line per request, in `log_format`
        self.log_format = log_format
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.outbox: deque[Action] = deque()
        self.state = "idle"
        self.since = self.last_progress = clock()
        self.exchange: Answer | None = None  # an Exchange once a head is parsed
        self.reader = RequestReader()
        self.body_limit = MAX_REQUEST_BODY
        self.refusal: StatusPage | None = None  # answered once the body has been dropped
        self._raw: bytearray | None = None  # the message's first bytes, for `keeps_request`
        self._raw_size = 0  # all of the message's bytes received so far (when kept)
        self._keep = 0  # how many of them to keep: the handler's `keeps_request`
        self.answer_begun = False  # a driver has taken an action of the current answer

    @property
    def reading(self) -> bool:
        return self.state in ("handshake", "idle", "head", "body")

    def expect_handshake(self) -> None:
        """A TLS connection: no request can come before the driver says `handshake_done`."""
        self._enter("handshake")

    def handshake_done(self) -> None:
        self._enter("idle")

    def not_tls(self, detail: str) -> None:
        """Plain HTTP arrived where a TLS handshake should: a 400 (which the driver sends
        unencrypted, as nginx does) and close."""
        self._answer_error(closing_page(400, detail))

    def receive(self, data: bytes | memoryview) -> None:
        """Bytes from the client (the driver reads only while `reading`)."""
        self.last_progress = self.clock()
        if self.state == "idle":
            self._keep = self.handler().keeps_request
            if self._keep:
                self._raw, self._raw_size = bytearray(), 0
        if self._raw is not None:
            room = self._keep - len(self._raw)
            if room > 0:
                self._raw += data[:room]
            self._raw_size += len(data)
        try:
            for event in self.reader.feed(data):
                self._on_event(event)
        except ProtocolError as error:
            self._answer_error(closing_page(error.status, str(error)))
            return
        except StatusPage as page:
            self._answer_error(page)
            return
        except Exception as error:  # the disk, or a bug: this request fails, not the server
            self.log(error_line(self.client, self.exchange, error))
            self._answer_error(failure(error))
            return
        if self.state == "idle" and self.reader.started:
            self._enter("head")

    def _on_event(self, event: HeadEvent | memoryview | EndOfMessage) -> None:
        if isinstance(event, memoryview):
            self._body_piece(event)
        elif isinstance(event, HeadEvent):
            self.exchange = exchange = Exchange(event.head)
            self._enter("body")
            self._start_body(exchange)
        else:
            self._answer()

    def _start_body(self, exchange: Exchange) -> None:
        """Decide from the head alone what becomes of the body (RFC 9110 section 10.1.1)."""
        handler = self.handler()
        self.body_limit = handler.body_limit(exchange)
        length = self.reader.framing.length if self.reader.framing else None
        if length is not None and length > self.body_limit:
            raise self._too_large()
        expect = exchange.request.headers.get("Expect")
        if expect is not None and expect.lower() != "100-continue":
            raise closing_page(417, f"cannot meet the expectation {expect!r}")
        try:
            handler.check(exchange)
        except StatusPage as page:
            if self.reader.expects_continue:  # the client waits: answer now, skip its body
                page.close = True
                raise
            self.refusal = page
            return
        if self.reader.framing is None or self.reader.framing.kind == "none":
            return
        exchange.sink = handler.open_body(exchange)
        if self.reader.expects_continue:
            self.outbox.append(Send(CONTINUE))

    def _body_piece(self, piece: memoryview) -> None:
        if self.reader.received > self.body_limit:
            raise self._too_large()
        sink = self.exchange.sink if self.exchange is not None else None
        if sink is not None and self.refusal is None:
            sink.write(piece)

    def _too_large(self) -> StatusPage:
        return closing_page(413, f"request body over {self.body_limit} bytes")

    def _answer(self) -> None:
        exchange = self.exchange  # (the Exchange made from the head)
        if self._raw is not None:
            exchange.raw_size = self._raw_size - len(self.reader.rest)
            exchange.raw = bytes(self._raw[: exchange.raw_size])
            self._raw = None
        try:
            check_host(exchange.request)
            if self.refusal is not None:
                raise self.refusal
            self.handler()(exchange)
        except StatusPage as page:
            exchange.fail(page)
        except Exception as error:  # a bug in a handler must cost one answer, not the server
            self.log(error_line(self.client, exchange, error))
            exchange.discard_body()
            exchange.fail(failure(error))
        self._queue(exchange)

    def _answer_error(self, page: StatusPage) -> None:
        self.exchange = self.exchange or Answer()
        self.exchange.discard_body()
        self.exchange.fail(page)
        self._queue(self.exchange)

    def _queue(self, exchange: Answer) -> None:
        self.outbox.extend(exchange.actions)
        exchange.actions = []
        self._enter("answer")

    def answered(self) -> None:
        """The driver sent the whole answer: log it, then read the next request or close."""
        exchange = self.exchange
        assert exchange is not None
        self.access(exchange.log_line(self.client, self.log_format))
        self.exchange = None
        if not exchange.keep_alive:
            self.close()
            return
        rest, self.reader = self.reader.rest, RequestReader()
        self.refusal = None
        self._enter("idle")
        if rest:
            self.receive(rest)

    def next_action(self) -> Action:
        """The next action to carry out: how a driver takes one from `outbox`."""
        if self.state != "body":  # (while a body arrives, only a 100 Continue is sent)
            self.answer_begun = True
        return self.outbox.popleft()

    def crashed(self, error: Exception) -> None:
        """A driver caught `error` while working for this connection (a bug): one log line,
        then a 500 if no byte of the answer has gone yet, else only the close."""
        self.log(error_line(self.client, self.exchange, error))
        exchange, begun = self.exchange or Answer(), self.answer_begun
        self.dropped()
        if begun:
            self.outbox.append(Close())
            return
        exchange.fail(failure(error))
        self.exchange = exchange
        self._queue(exchange)

    def close(self) -> None:
        """Queue the polite close; nothing more is read or answered."""
        if self.state != "closing":
            self._enter("closing")
            self.outbox.append(Close())

    def dropped(self, why: str | None = None) -> None:
        """The connection is gone (reset, evicted, server stopping): free what is queued, and
        log the request that was being answered, if any."""
        if self.exchange is not None:
            if self.exchange.head_sent and why:
                self.access(self.exchange.log_line(self.client, self.log_format, note=why))
            self.exchange.discard_body()
        self.exchange = None
        while self.outbox:
            release(self.outbox.popleft())
        self.state = "closing"

    def eof(self) -> None:
        """The client closed (or half-closed) its side: answer what it sent, then close."""
        if self.state in ("head", "body"):
            if self.exchange is not None:
                self.exchange.discard_body()  # a body cut short is never kept
            self.log(f'{self.client[0]} - - "-" closed by the client inside a request')
        if self.state == "answer" and self.exchange is not None:
            self.exchange.keep_alive = False
        elif self.state != "closing":
            self.close()

    def progressed(self) -> None:
        """The driver moved bytes of the answer (for the not-reading deadline)."""
        self.last_progress = self.clock()

    def _enter(self, state: str) -> None:
        if state == "idle":
            self.answer_begun = False
        self.state = state
        self.since = self.last_progress = self.clock()

    def deadline(self) -> float:
        """When this connection has waited too long in its current state."""
        silence = self.last_progress + self.idle_timeout
        if self.state in ("handshake", "head"):
            return min(silence, self.since + HEAD_TIMEOUT)
        if self.state == "body":
            return min(silence, self.since + BODY_GRACE + self.reader.received / MIN_BODY_RATE)
        if self.state == "closing":
            return self.since + LINGER_SECONDS
        return silence

    def timed_out(self) -> None:
        """The deadline passed: a request cut short is answered 408 and logged (a TLS
        handshake only logged: no answer can be sent before it ends)."""
        if self.state == "handshake":
            self.log(f"{self.client[0]} - - TLS handshake not done within the {self._limit()}")
            self.close()
            return
        if self.state in ("head", "body"):
            self.reader = RequestReader()  # nothing more of this request is read
            page = closing_page(408, f"request not received within the {self._limit()}")
            self._answer_error(page)
            return
        if self.state == "answer" and self.exchange is not None:
            self.dropped(why="timed out: the client stopped reading")
        self.close()

    def _limit(self) -> str:
        if self.state == "body":
            return f"minimum body rate ({MIN_BODY_RATE} bytes/s after {BODY_GRACE:g} s)"
        return f"head timeout ({HEAD_TIMEOUT:g} s) or idle timeout ({self.idle_timeout:g} s)"

    def too_slow(self, now: float, after: float) -> bool:
        """Whether the cap may close this connection for a newcomer: idle or trickling a head
        for `after` seconds or more, or sending its body slower than MIN_BODY_RATE. A
        connection whose answer is being sent is never cut short."""
        waited = now - self.since
        if self.state in ("handshake", "idle", "head"):
            return waited >= after
        if self.state == "body":
            return waited >= after and self.reader.received < waited * MIN_BODY_RATE
        return False


# errno values that mean the disk (or the user's quota) is full: 507 Insufficient Storage.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def closing_page(status: int, detail: str) -> StatusPage:
    """The page of every answer after which the connection closes, whatever stopped it: bytes
    that cannot be trusted (400, and the wire's ProtocolErrors: 413, 414, 431, 501, 505), a
    body too large (413) or an expectation not met (417), a request too slow (408), the cap
    full (503, with Retry-After), or a failure (500, 507: `failure`)."""
    headers = [("Retry-After", "1")] if status == 503 else []
    return StatusPage(status, detail, close=True, headers=headers)


def failure(error: Exception) -> StatusPage:
    """The answer to an exception no step expected: 507 for a full disk, else 500; the
    connection closes (the rest of the request body, if any, is not read)."""
    if isinstance(error, OSError) and error.errno in _FULL:
        return closing_page(507, "no space left to store the request body")
    return closing_page(500, "internal server error (see the server log)")


def error_line(client: tuple, exchange: Answer | None, error: BaseException) -> str:
    """One log line for an unexpected exception: who, which request, what, and where."""
    request = exchange.request if exchange is not None else None
    line = request.raw.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1") if request else "-"
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f'{client[0]} - - "{line}" failed: {type(error).__name__}: {error}{where}'


def check_host(request: RequestHead) -> None:
    """RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host (else 400; the framing
    is sound, so the connection stays open)."""
    if request.http_version == "HTTP/1.1" and len(request.headers.get_all("Host")) != 1:
        raise StatusPage(400, "an HTTP/1.1 request needs exactly one Host header")
