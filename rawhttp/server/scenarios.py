"""Scenarios: the server misbehaving on purpose, so lessons and client tests can watch it.

Each scenario is a function registered under its name with `@scenario`; the first line of its
docstring is what `rawhttp serve --scenario list` prints. It answers with the file the request
names under the root (a folder's index.html), or a fixed page when the folder has none, so
`chunked` or `ignore-range` can be watched on real files. `Replay` (`--replay FILE`) lives here
too: it sends a hand-written response verbatim.

Everything here describes its answer through `Exchange` (bytes, pauses, a reset: never a
socket or a sleep), so the log line and HEAD handling stay right even when the framing is
deliberately wrong, and a dripping answer holds no thread.
"""

from __future__ import annotations

import hashlib
import html
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rawhttp.server.exchange import Exchange
from rawhttp.server.handler import Handler
from rawhttp.server.pages import html_page
from rawhttp.server.static import StaticFiles, check_method, content_type, open_regular
from rawhttp.wire import Headers, encode_chunk, last_chunk

# Pause between the pieces of `drip` and `slow-head`, in seconds (tests make it shorter).
DRIP_DELAY = 0.01
# `drip` sends at most this many bytes one by one, then the rest at once: bounded at ~5 s.
DRIP_MAX_BYTES = 512
# `chunked` cuts the body into CHUNK_COUNT chunks, or chunks of CHUNK_MAX bytes if it is big.
CHUNK_COUNT = 4
CHUNK_MAX = 64 * 1024
# How much longer than the body `wrong-length` says it is.
WRONG_LENGTH_EXTRA = 100
# `reset` waits this long after half the body, so the client has read it when the RST comes.
RESET_PAUSE = 0.05


@dataclass(frozen=True)
class Page:
    """What a scenario sends as the body: a file's bytes (read when asked for) or fixed ones,
    and their Content-Type."""

    inline: bytes
    content_type: str
    path: str | None = None

    @property
    def data(self) -> bytes:
        if self.path is None:
            return self.inline
        with open_regular(self.path) as file:
            return file.read()

    @property
    def size(self) -> int:
        return len(self.inline) if self.path is None else os.path.getsize(self.path)

    def pieces(self, size: int) -> Iterator[bytes]:
        """The body in pieces of `size` bytes, read one at a time: a large file is never
        held in memory whole."""
        if self.path is None:
            yield from (self.inline[at : at + size] for at in range(0, len(self.inline), size))
            return
        with open_regular(self.path) as file:
            while piece := file.read(size):
                yield piece


PageLoader = Callable[[], Page]
Play = Callable[[Exchange, PageLoader], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    play: Play


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Play], Play]:
    """Register a scenario function under `name`; its docstring's first line is its summary."""

    def register(play: Play) -> Play:
        summary = (play.__doc__ or "").strip().splitlines()[0]
        SCENARIOS[name] = Scenario(name, summary, play)
        return play

    return register


class ScenarioHandler(Handler):
    """The handler for `rawhttp serve --scenario NAME`."""

    def __init__(self, name: str, root: str | os.PathLike):
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}: choose from {', '.join(SCENARIOS)}")
        self.scenario = SCENARIOS[name]
        self.files = StaticFiles(root)

    def __call__(self, exchange: Exchange) -> None:
        check_method(exchange.request.method)
        self.scenario.play(exchange, lambda: self.page(exchange.request.target))

    def page(self, target: str) -> Page:
        found = self.files.find(target)
        if os.path.isdir(found):
            name, summary = self.scenario.name, self.scenario.summary
            body = html_page(
                f"rawhttp scenario {name}", f"<p>{html.escape(summary)}</p>", styled=False
            )
            return Page(body, "text/html; charset=utf-8")
        open_regular(found).close()  # a 403 now, not half-way through the answer
        return Page(b"", content_type(found), found)


class Replay(Handler):
    """The handler for `rawhttp serve --replay FILE`: the file's bytes, verbatim, as the answer
    to every request, then the connection closes (the file may frame its body any way)."""

    def __init__(self, path: str | os.PathLike):
        self.raw = Path(path).read_bytes()

    def __call__(self, exchange: Exchange) -> None:
        exchange.keep_alive = False
        exchange.send(self.raw)
        exchange.body_bytes = len(self.raw.partition(b"\r\n\r\n")[2])


def _sized(page: Page, *extra: tuple[str, str]) -> Headers:
    """Content-Type and Content-Length of `page`, then `extra` fields."""
    return Headers(
        [("Content-Type", page.content_type), ("Content-Length", str(len(page.data))), *extra]
    )


def _whole(exchange: Exchange, page: Page, *extra: tuple[str, str]) -> None:
    """A plain 200 answer with Content-Length, what several scenarios end with."""
    exchange.send_head(200, _sized(page, *extra))
    exchange.send_body(page.data)


@scenario("chunked")
def chunked(exchange: Exchange, load: PageLoader) -> None:
    """Body in chunks, with a chunk extension and a trailer field: how chunked framing works."""
    page = load()
    headers = Headers(
        [
            ("Content-Type", page.content_type),
            ("Transfer-Encoding", "chunked"),
            ("Trailer", "X-Body-SHA256"),
        ]
    )
    exchange.send_head(200, headers)
    exchange.stream(_chunks(page))


def _chunks(page: Page) -> Iterator[bytes]:
    size = min(CHUNK_MAX, max(1, math.ceil(page.size / CHUNK_COUNT)))
    digest = hashlib.sha256()
    for index, piece in enumerate(page.pieces(size)):
        digest.update(piece)
        # The first chunk has a chunk-ext (RFC 9112 section 7.1.1), which a client must skip.
        yield encode_chunk(piece, ';note="first chunk"' if index == 0 else "")
    # The last chunk, "0", then a trailer section with one field instead of an empty one.
    yield last_chunk(Headers([("X-Body-SHA256", digest.hexdigest())]))


@scenario("close-delimited")
def close_delimited(exchange: Exchange, load: PageLoader) -> None:
    """No Content-Length, no chunks: the body ends when the server closes the connection."""
    page = load()
    exchange.keep_alive = False
    exchange.send_head(200, Headers([("Content-Type", page.content_type)]))
    exchange.send_body(page.data)


@scenario("wrong-length")
def wrong_length(exchange: Exchange, load: PageLoader) -> None:
    """Content-Length promises more than is sent, then close: spotting an incomplete body."""
    page = load()
    exchange.keep_alive = False
    length = len(page.data) + WRONG_LENGTH_EXTRA
    headers = Headers([("Content-Type", page.content_type), ("Content-Length", str(length))])
    exchange.send_head(200, headers)
    exchange.send_body(page.data)


@scenario("drip")
def drip(exchange: Exchange, load: PageLoader) -> None:
    """The body one byte at a time, a pause between: TCP is a stream, reads come in any size."""
    page = load()
    headers = _sized(page)
    exchange.send_head(200, headers)
    dripped = page.data[:DRIP_MAX_BYTES]
    for index in range(len(dripped)):
        exchange.send_body(dripped[index : index + 1])
        exchange.pause(DRIP_DELAY)
    exchange.send_body(page.data[DRIP_MAX_BYTES:])


@scenario("interim")
def interim(exchange: Exchange, load: PageLoader) -> None:
    """100 Continue and 103 Early Hints before the final 200: reading past 1xx heads."""
    page = load()
    if exchange.request.http_version != "HTTP/1.0":  # RFC 9110 15.2: no 1xx to HTTP/1.0
        exchange.send_head(100, Headers())
        exchange.send_head(103, Headers([("Link", "</style.css>; rel=preload; as=style")]))
    _whole(exchange, page)


@scenario("gzip")
def gzip_encoded(exchange: Exchange, load: PageLoader) -> None:
    """Content-Encoding: gzip even when not asked for: the bytes sent are not the file's."""
    import gzip  # here, so that `rawhttp get` (whose CLI imports this module) never loads zlib

    page = load()
    _whole(
        exchange,
        Page(gzip.compress(page.data, mtime=0), page.content_type),
        ("Content-Encoding", "gzip"),
        ("Vary", "Accept-Encoding"),
    )


@scenario("redirect-loop")
def redirect_loop(exchange: Exchange, load: PageLoader) -> None:
    """302 from /P to /P?again and back, forever: why clients cap the redirects they follow."""
    path, _, query = exchange.request.target.partition("?")
    location = path if query == "again" else f"{path}?again"
    link = f'<p>Go to <a href="{html.escape(location)}">here</a>.</p>'
    body = html_page("302 Found", link, styled=False)
    exchange.send_page(302, body, [("Location", location)])


@scenario("reset")
def reset(exchange: Exchange, load: PageLoader) -> None:
    """Half the body, then a TCP reset (SO_LINGER 0): a connection dying mid-transfer."""
    page = load()
    headers = _sized(page)
    exchange.send_head(200, headers)
    exchange.send_body(page.data[: len(page.data) // 2])
    exchange.pause(RESET_PAUSE)
    exchange.reset()


@scenario("ignore-range")
def ignore_range(exchange: Exchange, load: PageLoader) -> None:
    """Range ignored, always 200 and the whole body (allowed): a client must check for 206."""
    _whole(exchange, load())


@scenario("slow-head")
def slow_head(exchange: Exchange, load: PageLoader) -> None:
    """The head one byte at a time: it may arrive split anywhere, even inside a CR LF."""
    page = load()
    headers = _sized(page)
    head = exchange.make_head(200, headers)
    for index in range(len(head)):
        exchange.send(head[index : index + 1])
        exchange.pause(DRIP_DELAY)
    exchange.send_body(page.data)
