"""The client: requests and responses over a `streams.Stream` (made by `dial.dial`).

It sends a `request.Request` (the head from `wire.build_request`, then its body, raw or
chunked, after `100 Continue` for a large one), loops `recv_into` a reused buffer, and feeds
what arrives to one `wire.ResponseReader` per response (heads, 1xx skipped, framing, body,
EOF); it follows redirects (`request.redirected` decides the next request) and keeps
connections open between requests to one origin (`Session`). The socket calls themselves, and
the translation of OS errors, are in `streams.py`; resolving, connecting and TLS in `dial.py`.

Through a proxy (`proxy.route`, once per request, so per redirect hop too): a forwarding
proxy is sent the absolute-form target (`GET http://host/path HTTP/1.1`) and
`Proxy-Authorization`, never the origin; a kept connection to it carries requests to any
origin. Through a tunnel the origin gets the usual request and the proxy saw only CONNECT.

A body saved to a file without anyone looking at its bytes takes a faster road,
`Response.copy_body_to`: `os.splice` moves it from the socket through a pipe into the file
inside the kernel, never copying it into Python (see `Stream.splice_into`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

from rawhttp import events
from rawhttp.dial import Options, dial
from rawhttp.errors import (
    EmptyReply,
    InputError,
    LimitExceeded,
    NetworkError,
    ProtocolError,
    Timeout,
    TLSTruncated,
    TooManyRedirects,
)
from rawhttp.proxy import Route
from rawhttp.proxy import route as proxy_route
from rawhttp.request import Body, BytesBody, Request, body_headers, redirected
from rawhttp.streams import Listener, Stream
from rawhttp.url import URL, parse_url
from rawhttp.version import __version__
from rawhttp.wire import (
    LAST_CHUNK,
    MAX_REDIRECTS,
    Event,
    Headers,
    ResponseHead,
    ResponseReader,
    build_request,
    encode_chunk,
    media_charset,
    request_methods,
)

if TYPE_CHECKING:
    from rawhttp.cookies import CookieJar

# Whether to use splice(2), socket -> pipe -> file with no copy through Python, where the
# stream can (`Stream.can_splice`). False in tests that compare the two roads.
SPLICE = True
# The in-memory `get()` keeps the body in RAM, so it has a ceiling; streaming to a file has none.
MAX_BODY = 100 * 1024 * 1024
# A body larger than this (or of unknown length) is announced with `Expect: 100-continue`, and
# sent after the server's 100 or after CONTINUE_WAIT seconds without an answer: curl's rule.
EXPECT_OVER = 1024 * 1024
CONTINUE_WAIT = 1.0
# While a body is sent, how long a readable socket may take to give bytes of an answer before
# the next piece goes (over TLS it may be readable for a session ticket alone).
ANSWER_PEEK = 0.005
# BodyDone's reason, by framing: a close-delimited body can only end with the server's close.
STOP_REASONS = {
    "none": "no body for this request or status",
    "length": "Content-Length reached",
    "chunked": "last chunk received",
    "close": "server closed the connection",
}

HeaderArg = Mapping[str, str | None] | list[tuple[str, str | None]] | None

# What the bytes read with the final head gave the reader: its events; None when no byte came
# after the head; or the error its body's first bytes raised, kept for when the body is read
# (so the head is still reported, and a redirect still followed, as when read apart).
Early = list[Event] | ProtocolError | None


class BodySink(Protocol):
    """Where `Response.copy_body_to` writes: `write(bytes)`, and for the splice fast path
    `splice_from(pipe, count)` (see `sinks.FileSink`)."""

    def write(self, data: bytes | memoryview) -> None: ...


def _ignore(event: events.Event) -> None:
    return None


def request_headers(
    url: URL, extra: HeaderArg = None, http_version: str = "HTTP/1.1", keep_alive: bool = False
) -> Headers:
    """The defaults rawhttp sends, then the caller's: a value replaces, None removes."""
    headers = Headers(
        [
            ("Host", url.authority),
            ("User-Agent", f"rawhttp/{__version__}"),
            ("Accept", "*/*"),
            ("Connection", "keep-alive" if keep_alive else "close"),
        ]
    )
    for name, value in _pairs(extra):
        if value is None:
            headers.remove(name)
        else:
            headers.set(name, value)
    return headers


def _pairs(extra: HeaderArg) -> list[tuple[str, str | None]]:
    return list(extra.items()) if isinstance(extra, Mapping) else list(extra or [])


class Response:
    """A response whose head has arrived; the body is read by `iter_body()` (or `read()`)."""

    def __init__(
        self,
        url: URL,
        reader: ResponseReader,
        conn: Stream,
        early: Early,
        on_done: Callable[[Stream, bool], None],
    ):
        assert reader.head is not None and reader.framing is not None, "no final head yet"
        self.url = url
        self.head = reader.head
        self.method = reader.method
        self.framing = reader.framing
        self.history: list[ResponseHead] = []
        self.body = b""
        self.leftover = b""  # bytes after the body's end: the next pipelined response
        self._conn: Stream | None = conn
        self._reader = reader
        self._early = early
        self._on_done = on_done
        if conn.listens(events.FramingDecided):
            conn.emit(events.FramingDecided(framing=self.framing))

    status = property(lambda self: self.head.status)
    reason = property(lambda self: self.head.reason)
    http_version = property(lambda self: self.head.http_version)
    headers = property(lambda self: self.head.headers)

    @property
    def text(self) -> str:
        """The body decoded with the charset from Content-Type (UTF-8 when none is given)."""
        charset = media_charset(self.headers.get("Content-Type", "") or "")
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def iter_body(self) -> Iterator[memoryview]:
        """Body pieces as they arrive: views into one reused buffer, valid until the next one."""
        reader, conn = self._reader, self._conn
        assert conn is not None, "the body was already read"
        yield from self._early_pieces(conn)
        while not reader.done:
            data = _recv_body(conn, self.framing.kind)
            if not data:
                reader.eof()
                break
            yield from _pieces(reader.feed(data))
            _progress(conn, reader)
        self._body_done(conn)

    def _early_pieces(self, conn: Stream) -> Iterator[memoryview]:
        """The body pieces read with the head, then their progress event."""
        early, self._early = self._early, None
        if isinstance(early, ProtocolError):
            raise early
        if early is not None:
            yield from _pieces(early)
            _progress(conn, self._reader)

    def copy_body_to(self, sink: BodySink, splice: bool = True) -> None:
        """Write the whole body to `sink`, emitting the same progress events as `iter_body`.

        The fast path: a Content-Length or close-delimited body on a stream that can splice
        (plain TCP on Linux), going to a sink that can take bytes from a pipe (`FileSink`), is
        moved by the kernel, socket -> pipe -> file, never copied through Python. Bytes that
        came with the head are written first, and a body is never read past its end. Anything
        else (chunked, TLS, or `splice=False` because a view such as --trace wants to see the
        bytes) goes through the `recv_into` loop of `iter_body`.
        """
        conn = self._conn
        assert conn is not None, "the body was already read"
        fast = (
            splice
            and SPLICE
            and conn.can_splice
            and self.framing.kind in ("length", "close")
            and hasattr(sink, "splice_from")
        )
        if not fast:
            for piece in self.iter_body():
                sink.write(piece)
            return
        reader = self._reader
        for piece in self._early_pieces(conn):
            sink.write(piece)
        step = conn.splice_step if not reader.done else 0  # a small body came with its head
        while not reader.done:
            count = conn.splice_into(sink, min(step, reader.wanted or step))
            if count == 0:
                conn.close(by="server")
                reader.eof()
                break
            reader.skip(count)
            _progress(conn, reader)
        self._body_done(conn)

    def _body_done(self, conn: Stream) -> None:
        reader = self._reader
        if conn.listens(events.BodyDone):
            conn.emit(
                events.BodyDone(
                    received=reader.received,
                    reason=STOP_REASONS[self.framing.kind],
                    extra=len(reader.rest),
                    chunks=getattr(reader.body, "chunks", None),
                    trailers=getattr(reader.body, "raw_trailers", b""),
                )
            )
        self._conn = None
        self.leftover = reader.rest
        reusable = not reader.rest and self.framing.kind != "close"
        self._on_done(conn, reusable and _server_keeps_alive(self.head), len(reader.rest))

    def read(self, max_body: int = MAX_BODY) -> bytes:
        """The whole body in memory, refused once the response held (heads, chunk extensions,
        trailers and body together) passes `max_body` bytes."""
        body = bytearray()
        held = self._held()
        for piece in self.iter_body():
            body += piece
            if len(body) + held > max_body:
                self.close()
                raise LimitExceeded(
                    f"response larger than max_body={max_body} bytes "
                    f"({held} of them heads, chunk extensions and trailers)"
                )
            held = self._held()
        self.body = bytes(body)
        return self.body

    def _held(self) -> int:
        """Bytes this response keeps besides its body: heads, chunk extensions, trailers."""
        heads = sum(len(head.raw) for head in self._reader.interim) + len(self.head.raw)
        decoder = self._reader.body
        return heads + getattr(decoder, "extension_bytes", 0) + getattr(decoder, "trailer_size", 0)

    def close(self) -> None:
        """Drop the connection if the body was not read to its end."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _progress(conn: Stream, reader: ResponseReader) -> None:
    """After each read of the body: BodyProgress, if anyone reads it."""
    if conn.listens(events.BodyProgress):
        conn.emit(events.BodyProgress(received=reader.received))


def _server_keeps_alive(head: ResponseHead) -> bool:
    """RFC 9112 section 9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive"."""
    tokens = [token.lower() for token in head.headers.get_list("Connection")]
    if "close" in tokens:
        return False
    return head.http_version != "HTTP/1.0" or "keep-alive" in tokens


def _recv(conn: Stream) -> memoryview:
    """One read into the connection's buffer; empty when the server has closed (and then the
    connection is closed on this side too; a read after that is the same close again)."""
    if conn.sock is None:
        return memoryview(b"")
    count = conn.recv_into(conn.buffer)
    if count == 0:
        conn.close(by="server")
    return conn.buffer[:count]


def _recv_body(conn: Stream, framing: str) -> memoryview:
    """One read of body bytes. A TLS stream cut without close_notify is an error only
    close_notify could have told from a whole close-delimited body; a body that counts its
    bytes says itself how many are missing (IncompleteBody, 18, as curl says)."""
    try:
        return _recv(conn)
    except TLSTruncated:
        if framing == "close":
            raise
        conn.close(by="server")
        return conn.buffer[:0]


def _pieces(got: list[Event]) -> Iterator[memoryview]:
    return (event for event in got if isinstance(event, memoryview))


def _read_head(conn: Stream, reader: ResponseReader, pending: bytes = b"") -> Early:
    """Feed `reader` up to the final head, emitting HeadReceived for each head (1xx too).
    `pending` holds bytes received after a previous response (pipelining)."""
    heads = _Heads(conn, start=conn.received - len(pending))
    try:
        with conn.reading_head():
            got = reader.feed(pending)
            while reader.head is None:
                heads.emit(reader)
                got = _feed_read(conn, reader)
    except ProtocolError as error:
        heads.emit(reader)  # the heads parsed before the error, as they would have been
        if reader.framing is None:
            raise
        return error
    heads.emit(reader)
    return got if conn.received > heads.end else None


def _feed_read(conn: Stream, reader: ResponseReader) -> list[Event]:
    """One read fed to `reader`; before the final head the server's close is an error."""
    data = _recv(conn)
    if data:
        return reader.feed(data)
    try:
        return reader.eof()  # raises: there is no final head yet
    except EmptyReply:  # the reader does not know whom it was talking to
        raise EmptyReply(f"empty reply from {conn.url.authority}: closed before any byte") from None


class _Heads:
    """Emits HeadReceived once for each head a ResponseReader has parsed, with `end` its end's
    offset on the connection: a response's heads follow one another from its first byte. (Not
    from the HeadEvents feed() returns: when it raises, the heads before the error still count.)"""

    def __init__(self, conn: Stream, start: int):
        self.conn = conn
        self.end = start
        self.count = 0

    def emit(self, reader: ResponseReader) -> None:
        heads = [*reader.interim, reader.head] if reader.head else reader.interim
        for head in heads[self.count :]:
            self.end += len(head.raw)
            self.conn.emit(events.HeadReceived(head=head, end=self.end))
        self.count = len(heads)


class Session:
    """Requests made one after another, keeping a connection open between two to the same origin.

    `rawhttp get URL1 URL2` uses one; `rawhttp.stream()` and `get()` use a throwaway one.
    A kept connection the server has closed meanwhile is replaced transparently, once, for a
    request that may be repeated; one that may not (a POST: RFC 9110 section 9.2.2) always
    goes on a fresh connection. `connect` makes connections (tests pass a scripted one).
    With `cookies` (a `cookies.CookieJar`), each request and redirect hop carries the cookies
    that match it, and each response's Set-Cookie fields are stored (RFC 6265).
    """

    def __init__(
        self,
        options: Options | None = None,
        on_event: Listener | None = None,
        connect: Callable[[URL, Options, Listener], Stream] = dial,
        cookies: CookieJar | None = None,
    ):
        self.options = (options or Options()).copy()
        # curl's cookie engine (-b FILE, -c FILE): Set-Cookie answers are kept and sent on.
        self.cookies = cookies
        self.emit = on_event or _ignore
        # The event classes `emit` reads (None: every class); a caller that changes `emit`
        # sets it too. Events of other classes are not even made on the hot path.
        self.kinds: tuple[type[events.Event], ...] | None = None
        self.connect = connect
        self._idle: Stream | None = None
        # What the kept connection was dialled for (`reuse_key`), and the request's in flight.
        self._idle_key: tuple | None = None
        self._key: tuple | None = None

    def listens(self, kind: type[events.Event]) -> bool:
        """Whether the listener of the moment reads events of this class."""
        return self.kinds is None or issubclass(kind, self.kinds)

    def _relay(self, event: events.Event) -> None:
        """What connections emit goes to the listener of the moment: `rawhttp get A B` gives
        each URL its own views, and B may ride A's connection."""
        self.emit(event)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._idle is not None:
            self._idle.close()
            self._idle = None

    def _done(self, conn: Stream, reusable: bool, stray: int = 0) -> None:
        if stray and conn.keep_alive:
            self.emit(
                events.Noted(
                    f"{stray} bytes came after the end of the response, where no response may "
                    "start: the connection cannot be reused, closing it"
                )
            )
        if reusable and conn.keep_alive:
            self._idle, self._idle_key = conn, self._key
            if self.listens(events.Closed):
                conn.emit(events.Closed(by="client", kept=True))
        else:
            conn.close(by="client" if conn.sock is not None else "server")

    def reuse_key(self, url: URL) -> tuple:
        """What a kept connection must have been dialled for to carry a request to `url`:
        its origin, or through a forwarding proxy the proxy (any origin), see `proxy.Route`."""
        return proxy_route(url, self.options.proxy).key(url)

    def _take_idle(self, request: Request, key: tuple) -> Stream | None:
        conn, self._idle = self._idle, None
        if conn is None:
            return None
        if self._idle_key != key or not request.idempotent:
            if self._idle_key == key:
                self.emit(
                    events.Noted(
                        f"{request.method} is not retried if a kept connection "
                        "fails (RFC 9110 9.2.2): it goes on a fresh one"
                    )
                )
            conn.close()
            return None
        why = conn.stale()
        if why is not None:
            self.emit(events.Noted(f"the kept connection cannot be reused ({why}): a new one"))
            conn.close(by="server" if why == "the server closed it" else "client")
            return None
        return conn

    def open_response(self, request: Request) -> Response:
        """Send one request and read up to its final head, on a kept or a new connection."""
        if self.listens(events.RequestStarted):
            self.emit(events.RequestStarted(url=str(request.url), method=request.method))
        via = self._route(request.url)
        self._key = via.key(request.url)
        request = self._with_cookies(request)
        response = self._kept_exchange(request, via)
        if response is None:
            conn = self.connect(request.url, self.options, self._relay)
            response = self._exchange(conn, request, via)
        if via.forwards and response.status == 407:
            self.emit(events.Noted("the proxy answered 407: it wants credentials (-U)"))
        if self.cookies is not None:
            self.cookies.store(response.headers.get_all("Set-Cookie"), request.url)
            self._cookie_notes()
        return response

    def _with_cookies(self, request: Request) -> Request:
        """The request as sent: with the jar's cookies for its URL, then any Cookie it has
        (the caller's `-b NAME=VALUE`: curl's order). The request itself is unchanged, so a
        redirect is worked out from it, and the next hop gets its own cookies, never these
        again."""
        if self.cookies is None:
            return request
        self._cookie_notes()  # what loading the file said
        jar = self.cookies.cookie_header(request.url)
        if jar is None:
            return request
        headers = Headers(request.headers.items())
        given = headers.get("Cookie")
        headers.set("Cookie", f"{jar}; {given}" if given else jar)
        return request._replace(headers=headers)

    def _cookie_notes(self) -> None:
        assert self.cookies is not None
        notes, self.cookies.notes = self.cookies.notes, []
        for note in notes:
            self.emit(events.Noted(note))

    def _kept_exchange(self, request: Request, via: Route) -> Response | None:
        """The request on the kept connection, if it fits and still works; None if not."""
        conn = self._take_idle(request, self._key)
        if conn is None:
            return None
        conn.start_transfer(request.url)
        if self.listens(events.Reused):
            self.emit(events.Reused(remote=conn.remote))
        try:
            return self._exchange(conn, request, via)
        except (EmptyReply, NetworkError) as exc:
            if conn.received_this_transfer:
                raise
            # The server closed the kept connection between requests: start afresh, once.
            self.emit(events.ConnectFailed(*conn.remote, reason=f"kept connection: {exc}"))
        return None

    def _route(self, url: URL) -> Route:
        """The proxy rules for this URL (each redirect hop asks again), said in events."""
        via = proxy_route(url, self.options.proxy)
        if via.proxy is not None:
            proxy = via.proxy
            self.emit(events.ProxyChosen(proxy.address, proxy.source, proxy.text, via.tunnel))
        elif via.skipped is not None:
            value, source, entry = via.skipped
            self.emit(events.ProxySkipped(url.host, value, source, entry, via.no_proxy_source))
        return via

    def _exchange(self, conn: Stream, request: Request, via: Route) -> Response:
        headers, target = request.headers, request.url.target
        conn.listens = self.listens
        conn.keep_alive = "keep-alive" in [v.lower() for v in headers.get_list("Connection")]
        if via.forwards:
            assert via.proxy is not None
            # RFC 9112 3.2.2: a proxy is sent the absolute form; only it gets these fields.
            headers, target = Headers(headers.items()), str(request.url)
            for name, value in via.proxy.fields():
                headers.set(name, value)
        try:
            head = build_request(request.method, target, headers, self.options.http_version)
            conn.send(head, events.RequestHeadSent)
            pending, cut = _send_body(conn, request) if request.body is not None else (b"", None)
            reader = ResponseReader(request.method)
            try:
                early = _read_head(conn, reader, pending)
            except (EmptyReply, NetworkError):
                if cut is not None:
                    raise cut from None  # no answer after all: the send's error says it
                raise
            return Response(request.url, reader, conn, early, self._done)
        except BaseException:
            conn.close()
            raise

    @contextlib.contextmanager
    def stream(
        self,
        url: str | URL,
        method: str = "GET",
        headers: HeaderArg = None,
        *,
        body: Body | bytes | None = None,
        follow_redirects: bool = False,
        max_redirects: int = MAX_REDIRECTS,
        keep_alive: bool = False,
    ) -> Iterator[Response]:
        """Send a request (following redirects if asked) and yield the response, body unread."""
        request = self.request(url, method, headers, body, keep_alive)
        history: list[ResponseHead] = []
        while True:
            response = self.open_response(request)
            following = self._next_hop(request, response, follow_redirects, history, max_redirects)
            if following is None:
                break
            history.append(response.head)
            response.close()
            self._redirecting(request, following, response.status)
            request = following
        response.history = history
        try:
            yield response
        finally:
            response.close()

    def _next_hop(
        self, request: Request, response: Response, follow: bool, history: list, limit: int
    ) -> Request | None:
        """The request a redirect asks for, if redirects are followed; the response is closed
        if that fails (too many, or a body that cannot be sent again)."""
        if not follow:
            return None
        try:
            following = redirected(request, response.status, response.headers.get("Location"))
            if following is not None and len(history) >= limit:
                raise TooManyRedirects(f"more than {limit} redirects (--max-redirs)")
        except BaseException:
            response.close()
            raise
        return following

    def request(
        self,
        url: str | URL,
        method: str = "GET",
        headers: HeaderArg = None,
        body: Body | bytes | None = None,
        keep_alive: bool = False,
    ) -> Request:
        """The Request these arguments describe: rawhttp's default headers, the caller's, and
        the fields the body's framing needs (Expect: 100-continue for a large one)."""
        target = url if isinstance(url, URL) else parse_url(url)
        if isinstance(body, bytes):
            body = BytesBody(body)
        fields = request_headers(target, headers, self.options.http_version, keep_alive)
        fields = body_headers(fields, body)
        large = body is not None and (body.length is None or body.length > EXPECT_OVER)
        # The caller's own Expect, or `-H 'Expect:'` (None: curl's way to say "send none").
        named = any(name.lower() == "expect" for name, _ in _pairs(headers))
        if large and self.options.http_version == "HTTP/1.1" and not named:
            fields.add("Expect", "100-continue")
        return Request(method, target, fields, body)

    def _redirecting(self, old: Request, new: Request, status: int) -> None:
        self.emit(events.Redirecting(status=status, location=str(new.url), method=new.method))
        if old.url.scheme == "https" and new.url.scheme == "http":
            self.emit(events.Warned(f"redirect from https to plain http: {new.url}"))


def _send_body(conn: Stream, request: Request) -> tuple[bytes, NetworkError | None]:
    """Send the body, after 100 Continue if the head asked for one, watching for the server's
    answer meanwhile (RFC 9112 section 9.5): a final response stops the sending. Returns the
    bytes received meanwhile (the start of the answer, fed first to the head reader) and, if
    sending failed after the server had answered, that error (raised if no answer is read)."""
    pending = b""
    expect = (request.headers.get("Expect") or "").lower() == "100-continue"
    if expect:
        go_on, pending = _await_continue(conn, request.method)
        if not go_on:
            conn.keep_alive = False  # the server may still be waiting for a body: start afresh
            return pending, None
    watch = _AnswerWatch(conn, request.method, pending)
    try:
        sent = _send_pieces(conn, request, watch)
    except NetworkError as error:
        if conn.sock is None or not conn.readable(0):
            raise
        watch.stopped(f"sending failed ({error}), and the server has answered")
        return bytes(watch.received), error
    if sent is not None:
        watch.stopped(f"the server answered after {sent} bytes of it")
    return bytes(watch.received), None


def _send_pieces(conn: Stream, request: Request, watch: _AnswerWatch) -> int | None:
    """The body's pieces, raw or as chunks; the offset it stopped at if the server answered
    before the end, else None."""
    body = request.body
    assert body is not None
    chunked = body.length is None
    offset = 0
    try:
        for piece in body.pieces():
            if watch.answered():
                return offset
            data = encode_chunk(piece) if chunked else piece
            conn.send(data, events.RequestBodySent, body_offset=offset)
            offset += len(piece)
    except OSError as error:
        raise InputError(f"cannot read the body from {body.description}: {error}") from None
    if chunked:
        conn.send(LAST_CHUNK, events.RequestBodySent, body_offset=offset)
    elif offset != body.length:
        raise InputError(f"{body.description} changed size while being sent ({offset} bytes)")
    return None


def _recv_until(conn: Stream, deadline: float) -> memoryview | None:
    """One read that waits no later than `deadline` (monotonic): None if nothing came by
    then. A readable socket does not promise an answer: over TLS 1.3 it may hold only the
    server's session tickets, and a plain read would then wait for bytes that never come."""
    with conn.reading_head():  # restores the read timeout afterwards
        conn.head_deadline = deadline
        try:
            return _recv(conn)
        except Timeout:
            if conn.deadline is not None and time.monotonic() >= conn.deadline:
                raise  # --max-time, not this wait, ran out
            return None


class _AnswerWatch:
    """What the server sends while the body goes out. A 1xx is kept for the head reader and the
    sending goes on; a final head (or the server's close) means the server has answered: the
    rest of the body is not sent, and the connection is not reused (the request was cut)."""

    def __init__(self, conn: Stream, method: str, received: bytes):
        self.conn = conn
        self.received = bytearray(received)
        self.probe = ResponseReader(method)
        self.final = self._feed(received)

    def _feed(self, data: bytes | memoryview) -> bool:
        try:
            self.probe.feed(data)
        except ProtocolError:
            return True  # the head reader will say what is wrong
        return self.probe.head is not None

    def answered(self) -> bool:
        conn = self.conn
        while not self.final and conn.sock is not None and conn.readable(0):
            data = _recv_until(conn, time.monotonic() + ANSWER_PEEK)
            if data is None:
                break  # TLS records with no data in them (session tickets)
            self.received += data
            self.final = not data or self._feed(data)
        return self.final

    def stopped(self, why: str) -> None:
        self.conn.keep_alive = False
        self.conn.emit(events.BodyWithheld(reason=f"the rest was not sent: {why}"))


def _await_continue(conn: Stream, method: str) -> tuple[bool, bytes]:
    """Wait at most CONTINUE_WAIT s for `100 Continue`. (True, bytes) to send the body after a
    100 or the wait; (False, bytes) if a final answer (or the server's close) came first."""
    conn.emit(events.ContinueAwaited(timeout=CONTINUE_WAIT))
    probe, received = ResponseReader(method), bytearray()
    deadline = time.monotonic() + CONTINUE_WAIT
    while not probe.interim and probe.head is None:
        data = _recv_until(conn, deadline)
        if data is None:
            return True, bytes(received)  # no answer within the wait: send the body anyway
        if not data:
            return False, bytes(received)
        received += data
        try:
            probe.feed(data)
        except ProtocolError:
            return False, bytes(received)  # the head reader will say what is wrong
    if any(head.status == 100 for head in probe.interim):
        conn.emit(events.ContinueReceived())
        return True, bytes(received)
    status = probe.head.status if probe.head is not None else "an interim status"
    conn.emit(events.BodyWithheld(reason=f"the server answered {status} before asking for it"))
    return False, bytes(received)


@contextlib.contextmanager
def stream(
    url: str | URL,
    method: str = "GET",
    headers: HeaderArg = None,
    *,
    body: Body | bytes | None = None,
    follow_redirects: bool = False,
    max_redirects: int = MAX_REDIRECTS,
    options: Options | None = None,
    on_event: Listener | None = None,
    timeout: float | None = None,
) -> Iterator[Response]:
    """One request on its own connection; the body is read from the yielded response."""
    options = options or Options()
    if timeout is not None:
        options = options.copy(read_timeout=timeout, connect_timeout=timeout)
    with (
        Session(options, on_event) as session,
        session.stream(
            url,
            method,
            headers,
            body=body,
            follow_redirects=follow_redirects,
            max_redirects=max_redirects,
        ) as response,
    ):
        yield response


def send_raw(
    url: URL, data: bytes, options: Options | None = None, on_event: Listener | None = None
) -> list[Response]:
    """`rawhttp send`: hand-written request bytes, sent as they are; read one answer per
    request they hold (pipelined ones in order), until the server closes or all came."""
    options = options or Options()
    emit = on_event or _ignore
    emit(events.RequestStarted(url=str(url), method="(raw)"))
    conn = dial(url, options, emit)
    responses: list[Response] = []
    try:
        conn.send(data)
        pending = b""
        for method in request_methods(data) or ["GET"]:
            if responses and conn.sock is None:
                break  # the server closed after its last answer
            reader = ResponseReader(method)
            try:
                early = _read_head(conn, reader, pending)
            except EmptyReply:
                if responses:
                    break  # answered some, then closed: the rest were not served
                raise
            response = Response(url, reader, conn, early, on_done=lambda *_: None)
            response.read()
            responses.append(response)
            if tunnel_opened(response):
                break  # what follows is the origin's, through the tunnel: not an answer here
            pending = response.leftover
    finally:
        conn.close()
    return responses


def tunnel_opened(response: Response) -> bool:
    """A 2xx to CONNECT: the proxy opened a tunnel, and the answer has no body (RFC 9110
    9.3.6); the bytes after its head are the origin's."""
    return response.method.upper() == "CONNECT" and 200 <= response.status < 300


def get(
    url: str | URL,
    headers: HeaderArg = None,
    *,
    timeout: float | None = None,
    follow_redirects: bool = False,
    max_redirects: int = MAX_REDIRECTS,
    max_body: int = MAX_BODY,
    options: Options | None = None,
    on_event: Listener | None = None,
) -> Response:
    """GET a URL and return the response with its whole body in `.body` (at most `max_body`)."""
    with stream(
        url,
        "GET",
        headers,
        follow_redirects=follow_redirects,
        max_redirects=max_redirects,
        options=options,
        on_event=on_event,
        timeout=timeout,
    ) as response:
        response.read(max_body)
    return response
