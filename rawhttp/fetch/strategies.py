"""The four ways to fetch a page and its objects that networking courses compare.

Kurose and Ross (chapter 2) time a base HTML page with N referenced objects:

- non-persistent: each object on its own TCP connection, asked for with `Connection: close`
  (one round trip for the handshake, one for the request): about 2 RTT per object;
- persistent: one kept connection, one request after another: 1 RTT per object;
- pipelined: every request sent before the first answer is read (RFC 9112 section 9.3.2):
  about 1 RTT for all the objects together;
- parallel: N connections at once (`-Z`, `--parallel-max N`), combined with any of the three.

`fetch_urls` and `fetch_page` do exactly that and return a `Report`: each `Fetch` (when its
request went out, its first answer byte and its last came, on which connection) and each
`Lane` (a connection: opened, connected, closed). One connection at a time is driven here,
blocking, over `dial.dial`'s `streams.Stream` (so https works as anywhere else); parallel ones
by the selectors loop of `parallel.py`. Both feed the same sans-IO `Conversation`.

A page's objects are given as a list, or found by a `find(html, base_url)` function (the
page-requisites finder, `fetch/requisites.py`, plugs in there).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from rawhttp import events
from rawhttp.dial import Options, dial
from rawhttp.errors import InvalidRequest, NetworkError, RawHTTPError, Timeout
from rawhttp.fetch import PARALLEL_LIMIT
from rawhttp.fetch.conversation import (
    STRATEGIES,
    Conversation,
    Fetch,
    Lane,
    MemorySink,
    Sink,
    requeue,
)
from rawhttp.request import IDEMPOTENT
from rawhttp.streams import Listener, Stream
from rawhttp.url import URL
from rawhttp.wire import Headers, build_request

Finder = Callable[[bytes, URL], list[URL]]
SinkFor = Callable[[int, URL], Sink]
# The caller's header fields: the same for every URL, or made per URL (cookies match paths).
HeaderArg = list[tuple[str, str | None]] | Callable[[URL], list[tuple[str, str | None]]] | None


class Report:
    """What a run of fetches did: every fetch (in the order asked), every connection opened."""

    def __init__(self, fetches: list[Fetch], lanes: list[Lane], started: float, ended: float):
        self.fetches = fetches
        self.lanes = lanes
        self.started = started
        self.ended = ended

    @property
    def elapsed(self) -> float:
        return self.ended - self.started

    @property
    def failed(self) -> list[Fetch]:
        return [fetch for fetch in self.fetches if not fetch.ok]


def _ignore(event: events.Event) -> None:
    return None


def _never(kind: type[events.Event]) -> bool:
    return False


def check_plan(strategy: str, method: str, parallel: int) -> None:
    """Refuse what the strategies cannot do: an unknown strategy, a method that may not be
    sent twice (a request a closed connection never answered is sent again; RFC 9112 section
    9.3.2 forbids pipelining one), and more connections than PARALLEL_LIMIT."""
    if strategy not in STRATEGIES:
        raise InvalidRequest(f"unknown strategy {strategy!r}: one of {', '.join(STRATEGIES)}")
    if method not in IDEMPOTENT:
        why = "pipelined (RFC 9112 9.3.2)" if strategy == "pipelined" else "sent again"
        raise InvalidRequest(f"{method} is not idempotent: it may not be {why}; use GET or HEAD")
    if not 0 <= parallel <= PARALLEL_LIMIT:
        raise InvalidRequest(f"--parallel-max must be 1 to {PARALLEL_LIMIT}")


def make_fetches(
    urls: Iterable[URL],
    strategy: str,
    method: str = "GET",
    headers: HeaderArg = None,
    http_version: str = "HTTP/1.1",
    sink_for: SinkFor | None = None,
    start: int = 0,
) -> list[Fetch]:
    """A Fetch per URL, its request head built once: the defaults rawhttp sends, the caller's
    headers, and `Connection: close` for non-persistent connections (keep-alive otherwise)."""
    from rawhttp.client import request_headers

    keep_alive = strategy != "non-persistent"
    fetches = []
    same: dict[str, Headers] = {}  # fixed headers: the fields made once per Host value
    for index, url in enumerate(urls, start):
        if callable(headers):
            fields = request_headers(url, headers(url), http_version, keep_alive)
        elif (fields := same.get(url.authority)) is None:
            fields = same[url.authority] = request_headers(url, headers, http_version, keep_alive)
        head = build_request(method, url.target, fields, http_version)
        sink = sink_for(index, url) if sink_for is not None else MemorySink()
        fetches.append(Fetch(index, url, head, method, sink))
    return fetches


def by_origin(fetches: Iterable[Fetch]) -> OrderedDict[tuple, deque[Fetch]]:
    """Fetches grouped by origin (scheme, host, port), origins in order of first appearance."""
    queues: OrderedDict[tuple, deque[Fetch]] = OrderedDict()
    for fetch in fetches:
        queues.setdefault(fetch.url.origin, deque()).append(fetch)
    return queues


class SerialDriver:
    """One connection at a time, blocking: dial, send what the conversation takes, read until
    it has its answers; a kept connection waits for the next run (a page's objects)."""

    def __init__(
        self, strategy: str, options: Options, emit: Listener = _ignore, lanes: list | None = None
    ):
        self.strategy = strategy
        self.options = options
        self.emit = emit
        self.lanes: list[Lane] = lanes if lanes is not None else []
        self._kept: dict[tuple, tuple[Stream, Conversation]] = {}

    def run(self, fetches: list[Fetch]) -> None:
        for origin, queue in by_origin(fetches).items():
            while queue:
                try:
                    stream, conversation = self._connection(origin, queue[0].url)
                except RawHTTPError as error:  # no connection to this origin: all of it fails
                    for fetch in queue:
                        fetch.fail(error)
                    break
                self._exchange(stream, conversation, queue)
                if conversation.closing:
                    self._close(origin)

    def _connection(self, origin: tuple, url: URL) -> tuple[Stream, Conversation]:
        if origin in self._kept:
            return self._kept[origin]
        lane = Lane(len(self.lanes) + 1, origin, time.perf_counter())
        self.lanes.append(lane)

        def watch(event: events.Event) -> None:
            if isinstance(event, events.Connected):
                lane.connected_at, lane.local, lane.remote = event.at, event.local, event.remote
            self.emit(event)

        stream = dial(url, self.options, watch)
        if self.emit is _ignore:  # the lane needed Connected alone: no event per send or recv
            stream.listens = _never
        self._kept[origin] = stream, Conversation(lane, self.strategy)
        return self._kept[origin]

    def _exchange(self, stream: Stream, conversation: Conversation, queue: deque[Fetch]) -> None:
        data = conversation.take(queue)
        try:
            if data:
                stream.send(data, events.RequestHeadSent)
            while conversation.outstanding and not conversation.closing_now:
                count = stream.recv_into(stream.buffer)
                if count == 0:
                    conversation.eof()
                    break
                conversation.feed(stream.buffer[:count])
        except Timeout as error:
            conversation.closing = True
            for fetch in conversation.unanswered():
                fetch.fail(error)
            return
        except NetworkError:  # reset: as a close, for what had no byte of its answer yet
            conversation.eof()
        answered = conversation.answered > 0
        requeue(queue, conversation.unanswered(), answered)

    def _close(self, origin: tuple) -> None:
        stream, conversation = self._kept.pop(origin)
        stream.close()
        conversation.lane.closed_at = time.perf_counter()

    def close(self) -> None:
        for origin in list(self._kept):
            self._close(origin)


def _driver(strategy: str, parallel: int, options: Options, emit: Listener):
    if parallel:
        from rawhttp.fetch.parallel import ParallelDriver

        return ParallelDriver(strategy, parallel, options)
    return SerialDriver(strategy, options, emit)


def fetch_urls(
    urls: list[URL],
    strategy: str = "persistent",
    parallel: int = 0,
    *,
    method: str = "GET",
    headers: HeaderArg = None,
    options: Options | None = None,
    sink_for: SinkFor | None = None,
    emit: Listener = _ignore,
) -> Report:
    """Fetch every URL with `strategy`, on `parallel` connections at once (0: one at a time)."""
    options = options or Options()
    check_plan(strategy, method, parallel)
    fetches = make_fetches(urls, strategy, method, headers, options.http_version, sink_for)
    driver = _driver(strategy, parallel, options, emit)
    started = time.perf_counter()
    try:
        driver.run(fetches)
    except BaseException:  # Ctrl-C, say: no half-written file is left behind
        _abort_unfinished(fetches)
        raise
    finally:
        driver.close()
    return Report(fetches, driver.lanes, started, time.perf_counter())


def fetch_page(
    page: URL,
    objects: list[URL] | Finder,
    strategy: str = "persistent",
    parallel: int = 0,
    *,
    headers: HeaderArg = None,
    options: Options | None = None,
    emit: Listener = _ignore,
) -> Report:
    """The base page first, then its objects (a list, or `find(html, page)`'s), with
    `strategy` on `parallel` connections: the connection that brought the page stays open for
    the objects when the strategy keeps connections."""
    options = options or Options()
    check_plan(strategy, "GET", parallel)
    driver = _driver(strategy, parallel, options, emit)
    version = options.http_version
    started = time.perf_counter()
    (base,) = make_fetches([page], strategy, headers=headers, http_version=version)
    rest: list[Fetch] = []
    try:
        driver.run([base])
        if callable(objects):
            body = base.sink.body if isinstance(base.sink, MemorySink) else b""
            objects = objects(bytes(body), page) if base.ok else []
        rest = make_fetches(objects, strategy, headers=headers, http_version=version, start=1)
        driver.run(rest)
    except BaseException:
        _abort_unfinished([base, *rest])
        raise
    finally:
        driver.close()
    return Report([base, *rest], driver.lanes, started, time.perf_counter())


def _abort_unfinished(fetches: list[Fetch]) -> None:
    for fetch in fetches:
        if fetch.done_at is None:
            fetch.sink.abort()
