"""What each request of a whole command did, as records read off the events: for the views
that see the command rather than one transfer (the `--timing` waterfall, `--har`).

One `Exchange` per request sent, a redirect hop included: when each phase ended (DNS, connect,
TLS, request sent, first byte, body done), the connection it rode (numbered 1, 2... in the
order they were opened; a kept-alive one keeps its number), the heads, the body's size, and,
when asked (`keep_body`), the body itself, taken from the `Received` bytes after the head and
undone of its chunked framing by `wire.body_reader`, the same reader the client uses.

It assumes requests one after another, as `rawhttp get` makes them: events carry no
connection of their own, so `Reused` means the connection kept last.
"""

from __future__ import annotations

import time

from rawhttp import events
from rawhttp.wire import Framing, ResponseHead, body_reader


class Exchange:
    """One request and its response, as far as they went. Times are `time.perf_counter()`
    seconds, as the events' `at`; None where a step did not happen."""

    def __init__(self, url: str, method: str, at: float, connection: int | None):
        self.url, self.method, self.start = url, method, at
        self.connection = connection  # None until connected or reused
        self.reused = False
        self.remote: tuple[str, int] | None = None
        self.resolved: float | None = None
        self.connected: float | None = None
        self.tls: float | None = None
        self.ready: float | None = None  # the connection is there (new or kept)
        self.sent: float | None = None  # the request's last byte went out
        self.first_byte: float | None = None
        self.done: float | None = None  # the body is complete, or the transfer failed
        self.request_head = b""
        self.request_body_size = 0
        self.head: ResponseHead | None = None
        self.head_end: int | None = None  # offset of the head's end on the connection
        self.body_size: int | None = None
        self.redirect = ""
        self.error: str | None = None
        self.body: bytearray | None = None  # kept body bytes (de-chunked), when asked
        self.body_cut = False  # more body came than was kept
        self._pending: list[tuple[int, bytes]] = []  # received bytes, until the head is read
        self._reader = None

    @property
    def end(self) -> float:
        """When the exchange ended (its last known moment)."""
        marks = (self.done, self.first_byte, self.sent, self.ready, self.start)
        return next(mark for mark in marks if mark is not None)

    def phases(self) -> list[tuple[str, float, float]]:
        """(name, start, end) of each phase that happened, one after another: dns, connect,
        tls, blocked (checking a kept connection), send, wait, receive."""
        found = []
        mark = self.start
        for name, end in (("dns", self.resolved), ("connect", self.connected), ("tls", self.tls)):
            if end is not None:
                found.append((name, mark, end))
                mark = end
        if self.reused and self.ready is not None:
            found.append(("blocked", mark, self.ready))
            mark = self.ready
        for name, end in (("send", self.sent), ("wait", self.first_byte), ("receive", self.done)):
            if end is not None and end >= mark:
                found.append((name, mark, end))
                mark = end
        return found


class Exchanges:
    """A listener that keeps an Exchange per request of the command, in order; `keep_body`
    is how many body bytes each keeps (0: none, and the body may then take the splice road)."""

    def __init__(self, keep_body: int = 0):
        self.keep_body = keep_body
        self.list: list[Exchange] = []
        self.connections = 0
        self.kept: int | None = None  # the connection kept open for the next request
        self.wall = time.time() - time.perf_counter()  # perf_counter -> epoch seconds

    @property
    def current(self) -> Exchange | None:
        return self.list[-1] if self.list else None

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.RequestStarted):
            self.list.append(Exchange(event.url, event.method, event.at, None))
            return
        exchange = self.current
        if exchange is None:
            return
        handler = getattr(self, "_" + type(event).__name__, None)
        if handler is None and isinstance(event, events.Sent):
            handler = self._Sent
        if handler is not None:
            handler(exchange, event)

    def _Resolved(self, exchange: Exchange, event: events.Resolved) -> None:
        exchange.resolved = event.at

    def _Connected(self, exchange: Exchange, event: events.Connected) -> None:
        self.connections += 1
        exchange.connection, exchange.remote = self.connections, tuple(event.remote)
        exchange.connected = exchange.ready = event.at
        exchange.reused = False

    def _TLSEstablished(self, exchange: Exchange, event: events.TLSEstablished) -> None:
        exchange.tls = exchange.ready = event.at

    def _Reused(self, exchange: Exchange, event: events.Reused) -> None:
        exchange.connection, exchange.remote = self.kept, tuple(event.remote)
        exchange.reused, exchange.ready = True, event.at

    def _ConnectFailed(self, exchange: Exchange, event: events.ConnectFailed) -> None:
        if exchange.reused:  # the kept connection had been closed: a new one follows
            exchange.reused, exchange.connection = False, None

    def _Sent(self, exchange: Exchange, event: events.Sent) -> None:
        exchange.sent = event.at
        if isinstance(event, events.RequestHeadSent):
            exchange.request_head = bytes(event.data)
        elif isinstance(event, events.RequestBodySent):
            exchange.request_body_size += len(event.data)

    def _Received(self, exchange: Exchange, event: events.Received) -> None:
        if exchange.first_byte is None:
            exchange.first_byte = event.at
        if not self.keep_body or exchange.body_cut:
            return
        if exchange._reader is None:
            exchange._pending.append((event.offset, bytes(event.data)))
        else:
            self._keep(exchange, event.data)

    def _HeadReceived(self, exchange: Exchange, event: events.HeadReceived) -> None:
        if not event.head.is_interim:
            exchange.head, exchange.head_end = event.head, event.end

    def _FramingDecided(self, exchange: Exchange, event: events.FramingDecided) -> None:
        if not self.keep_body:
            return
        exchange.body = bytearray()
        exchange._reader = body_reader(Framing(*event.framing))
        pending, exchange._pending = exchange._pending, []
        for offset, data in pending:
            skip = max(0, (exchange.head_end or 0) - offset)
            if skip < len(data):
                self._keep(exchange, data[skip:])

    def _keep(self, exchange: Exchange, data: bytes | memoryview) -> None:
        reader, body = exchange._reader, exchange.body
        if reader is None or body is None or reader.done:
            return
        for piece in reader.feed(data):
            if isinstance(piece, memoryview):
                room = self.keep_body - len(body)
                body += piece[:room]
                exchange.body_cut = exchange.body_cut or len(piece) > room

    def _BodyDone(self, exchange: Exchange, event: events.BodyDone) -> None:
        exchange.done, exchange.body_size = event.at, event.received
        exchange._reader = None

    def _Redirecting(self, exchange: Exchange, event: events.Redirecting) -> None:
        exchange.redirect = event.location
        if exchange.done is None:
            exchange.done = event.at

    def _Closed(self, exchange: Exchange, event: events.Closed) -> None:
        self.kept = exchange.connection if event.kept else None
        if exchange.done is None and exchange.first_byte is not None:
            exchange.done = event.at

    def error(self, error: Exception) -> None:
        """The transfer failed: its exchange ends now, with the error's line."""
        exchange = self.current
        if exchange is not None and exchange.error is None:
            exchange.error = str(error)
            if exchange.done is None:
                exchange.done = time.perf_counter()

    def wall_time(self, at: float) -> float:
        """A perf_counter moment as epoch seconds (for HAR's startedDateTime)."""
        return self.wall + at
