"""One connection's requests and answers, sans-IO: requests out as bytes, answers in as bytes.

A `Conversation` is what both drivers in `strategies.py` share (the blocking one over a
`streams.Stream`, the selectors one in `parallel.py`): it takes requests from a queue as its
strategy allows (non-persistent: one, then the server closes; persistent: one at a time;
pipelined: several before the first answer, RFC 9112 section 9.3.2), and feeds what arrives to
one `wire.ResponseReader` per answer, in order, the bytes after one answer starting the next.
It never touches a socket: a driver sends `take()`'s bytes and feeds `feed()` what it read.

`Fetch` and `Lane` are the record of what happened, on one clock (`time.perf_counter`, the
events' clock): when each request went out, when its first answer byte and its last came, on
which connection. The page-load lesson counts from them and `show/timeline.py` draws them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from rawhttp.errors import EmptyReply, RawHTTPError
from rawhttp.url import URL
from rawhttp.wire import ResponseHead, ResponseReader

STRATEGIES = ("non-persistent", "persistent", "pipelined")
# Requests sent ahead on one pipelined connection before its first answer is read. nginx
# answers up to keepalive_requests (1,000) per connection, then closes; Firefox pipelined at
# most 32 (network.http.pipelining.maxrequests) and Safari/Opera similar depths. A queue longer
# than this is sent in batches of it, each after the answers to the one before.
MAX_PIPELINE = 32
# A request whose connection closed before any answer came is sent again this many times on a
# new connection (only idempotent methods are ever sent here), then fails: curl retries a
# request on a dead reused connection once too.
MAX_TRIES = 2


class Sink(Protocol):
    """Where a body goes: `sinks.FileSink`, or `MemorySink` (write, finish, abort)."""

    def write(self, data: bytes | memoryview) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


class MemorySink:
    """A body kept in memory (the lesson's and the API's default)."""

    def __init__(self) -> None:
        self.body = bytearray()

    def write(self, data: bytes | memoryview) -> None:
        self.body += data

    def finish(self) -> None:
        return None

    def abort(self) -> None:
        return None


class Fetch:
    """One URL: its request bytes, where its answer went, and when each part happened."""

    def __init__(self, index: int, url: URL, request: bytes, method: str, sink: Sink):
        self.index = index
        self.url = url
        self.request = request  # the request head, exactly as sent
        self.method = method
        self.sink = sink
        attach = getattr(sink, "attach", None)
        if attach is not None:  # a sink that prints the head with the body wants to see it
            attach(self)
        self.lane: int | None = None  # the Lane (connection) that answered it
        self.head: ResponseHead | None = None
        self.body_size = 0
        self.sent_at: float | None = None
        self.first_byte_at: float | None = None
        self.done_at: float | None = None
        self.error: RawHTTPError | None = None
        self.tries = 0

    @property
    def ok(self) -> bool:
        return self.done_at is not None and self.error is None

    def fail(self, error: RawHTTPError) -> None:
        self.error = error
        self.sink.abort()

    def __repr__(self) -> str:
        return f"Fetch({self.index}, {self.url.target!r}, lane={self.lane})"


class Lane:
    """One TCP connection, as the timeline draws it: when it was opened (connect called),
    connected, closed; between which addresses; the fetches it carried, in order."""

    def __init__(self, number: int, origin: tuple, opened_at: float):
        self.number = number
        self.origin = origin
        self.opened_at = opened_at
        self.connected_at: float | None = None
        self.closed_at: float | None = None
        self.local: tuple[str, int] | None = None
        self.remote: tuple[str, int] | None = None
        self.fetches: list[int] = []

    @property
    def server(self) -> str:
        """scheme://host:port, for people."""
        scheme, host, port = self.origin
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{port}"


def server_keeps_alive(head: ResponseHead) -> bool:
    """RFC 9112 section 9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive"."""
    tokens = [token.lower() for token in head.headers.get_list("Connection")]
    if "close" in tokens:
        return False
    return head.http_version != "HTTP/1.0" or "keep-alive" in tokens


class Conversation:
    """The requests sent on one connection and the answers read back, in order."""

    def __init__(self, lane: Lane, strategy: str, clock: Callable[[], float] = time.perf_counter):
        assert strategy in STRATEGIES, strategy
        self.lane = lane
        self.strategy = strategy
        self.clock = clock
        self.outstanding: deque[Fetch] = deque()  # sent, not yet answered, in order
        self.reader: ResponseReader | None = None
        self.answered = 0
        self.closing = False  # no more requests go on this connection
        self.closing_now = False  # it must be closed at once (a broken answer, stray bytes)

    @property
    def idle(self) -> bool:
        return not self.outstanding

    @property
    def can_take(self) -> bool:
        return self.idle and not self.closing

    def take(self, queue: deque[Fetch], share: int | None = None) -> bytes:
        """The requests to send now, taken from the left of `queue`: one (non-persistent,
        persistent), or up to `share` (at most MAX_PIPELINE) when pipelining; b"" if none."""
        if not self.can_take or not queue:
            return b""
        count = 1
        if self.strategy == "pipelined":
            count = min(share or len(queue), MAX_PIPELINE, len(queue))
        if self.strategy == "non-persistent":
            self.closing = True  # it asked for Connection: close
        now = self.clock()
        taken = [queue.popleft() for _ in range(max(1, count))]
        for fetch in taken:
            fetch.lane, fetch.sent_at, fetch.tries = self.lane.number, now, fetch.tries + 1
            self.lane.fetches.append(fetch.index)
        self.outstanding.extend(taken)
        self.reader = self.reader or ResponseReader(taken[0].method)
        return b"".join(fetch.request for fetch in taken)

    def feed(self, data: bytes | memoryview) -> list[Fetch]:
        """Bytes read from the connection; the fetches they completed, in order. A broken
        answer fails its fetch and closes the conversation (the rest are `unanswered`)."""
        done: list[Fetch] = []
        while data and self.outstanding and not self.closing_now:
            fetch, reader = self.outstanding[0], self.reader
            assert reader is not None
            if fetch.first_byte_at is None:
                fetch.first_byte_at = self.clock()
            try:
                self._deliver(fetch, reader.feed(data))
            except RawHTTPError as error:
                self._broken(fetch, error)
                break
            if not reader.done:
                break
            data = reader.rest
            done.append(self._finished(fetch, reader))
        if data and not self.outstanding and not self.closing_now:
            self.closing = self.closing_now = True  # bytes no request asked for: unusable
        return done

    def _deliver(self, fetch: Fetch, events: list) -> None:
        for event in events:
            if isinstance(event, memoryview):
                fetch.sink.write(event)

    def _finished(self, fetch: Fetch, reader: ResponseReader) -> Fetch:
        self.outstanding.popleft()
        fetch.head, fetch.body_size = reader.head, reader.received
        fetch.done_at = self.clock()
        self.answered += 1
        try:
            fetch.sink.finish()
        except RawHTTPError as error:
            fetch.fail(error)
        assert reader.head is not None
        if reader.framing is not None and reader.framing.kind == "close":
            self.closing = True
        if not server_keeps_alive(reader.head):
            self.closing = True  # the server closes after this one: the rest go elsewhere
        self.reader = ResponseReader(self.outstanding[0].method) if self.outstanding else None
        return fetch

    def _broken(self, fetch: Fetch, error: RawHTTPError) -> None:
        self.outstanding.popleft()
        fetch.fail(error)
        self.closing = self.closing_now = True

    def eof(self) -> list[Fetch]:
        """The server closed: a close-delimited answer ends here; what came cut short fails.
        Requests never answered are left in `unanswered()`, for the driver to send again."""
        self.closing = True
        reader = self.reader
        if not self.outstanding or reader is None or reader.fed == 0:
            return []
        fetch = self.outstanding[0]
        try:
            self._deliver(fetch, reader.eof())
        except RawHTTPError as error:
            self._broken(fetch, error)
            return []
        return [self._finished(fetch, reader)]

    def unanswered(self) -> list[Fetch]:
        """Requests sent but never answered (the server closed first), taken back, in order."""
        left = list(self.outstanding)
        self.outstanding.clear()
        for fetch in left:
            fetch.sent_at = fetch.first_byte_at = None
        return left


def requeue(queue: deque[Fetch], unanswered: list[Fetch], answered_any: bool) -> None:
    """Put requests a closed connection never answered back at the front of `queue`, to go on
    another connection; one that was already tried MAX_TRIES times on connections that
    answered nothing fails with EmptyReply (a server that always closes would loop forever)."""
    for fetch in reversed(unanswered):
        if not answered_any and fetch.tries >= MAX_TRIES:
            fetch.fail(
                EmptyReply(f"empty reply from {fetch.url.authority}: closed before any byte")
            )
            continue
        if answered_any:
            fetch.tries -= 1  # the server's own limit (keepalive_requests), not this request
        queue.appendleft(fetch)
