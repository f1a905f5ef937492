"""The client: requests and responses over a `connection.Connection`.

It sends the request bytes from `wire.build_request`, loops `recv_into` a reused buffer, and
hands what arrives to the sans-IO readers in `wire`: heads (1xx skipped), bodies by their
framing, redirects, and connections kept open between requests to one origin (`Session`).
The socket calls themselves, and the translation of OS errors, are in `connection.py`.

A body saved to a file without anyone looking at its bytes takes a faster road,
`Response.copy_body_to`: `os.splice` moves it from the socket through a pipe into the file
inside the kernel, never copying it into Python (see `Connection.splice_into`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from rawhttp import events
from rawhttp.connection import Connection, Listener, Options
from rawhttp.errors import (
    EmptyReply,
    LimitExceeded,
    NetworkError,
    ProtocolError,
    TooManyRedirects,
)
from rawhttp.url import URL, parse_url, resolve_location
from rawhttp.wire import (
    MAX_REDIRECTS,
    BodyReader,
    Headers,
    HeadReader,
    ResponseHead,
    body_reader,
    build_request,
    parse_response_head,
    request_methods,
    response_framing,
)

# Linux's splice(2), socket -> pipe -> file with no copy through Python. False on other systems
# (and in tests, to compare the two roads).
SPLICE = hasattr(os, "splice")
# The in-memory `get()` keeps the body in RAM, so it has a ceiling; streaming to a file has none.
MAX_BODY = 100 * 1024 * 1024
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Credentials are for the host they were given for: not sent on after a redirect elsewhere.
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")

HeaderArg = Mapping[str, str | None] | list[tuple[str, str | None]] | None


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
    from rawhttp import __version__

    headers = Headers(
        [
            ("Host", url.authority),
            ("User-Agent", f"rawhttp/{__version__}"),
            ("Accept", "*/*"),
            ("Connection", "keep-alive" if keep_alive else "close"),
        ]
    )
    pairs = extra.items() if isinstance(extra, Mapping) else (extra or [])
    for name, value in pairs:
        if value is None:
            headers.remove(name)
        else:
            headers.set(name, value)
    return headers


class Response:
    """A response whose head has arrived; the body is read by `iter_body()` (or `read()`)."""

    def __init__(
        self,
        url: URL,
        head: ResponseHead,
        method: str,
        conn: Connection,
        rest: bytes,
        on_done: Callable[[Connection, bool], None],
    ):
        self.url = url
        self.head = head
        self.method = method
        self.history: list[ResponseHead] = []
        self.body = b""
        self.leftover = b""  # bytes after the body's end: the next pipelined response
        self._conn: Connection | None = conn
        self._rest = rest
        self._on_done = on_done
        self.framing = response_framing(method, head.status, head.headers)
        self._reader: BodyReader = body_reader(self.framing)
        conn.emit(events.FramingDecided(framing=self.framing))

    status = property(lambda self: self.head.status)
    reason = property(lambda self: self.head.reason)
    http_version = property(lambda self: self.head.http_version)
    headers = property(lambda self: self.head.headers)

    @property
    def text(self) -> str:
        """The body decoded with the charset from Content-Type (UTF-8 when none is given)."""
        content_type = self.headers.get("Content-Type", "") or ""
        charset = "utf-8"
        for param in content_type.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def iter_body(self) -> Iterator[memoryview]:
        """Body pieces as they arrive: views into one reused buffer, valid until the next one."""
        reader, conn = self._reader, self._conn
        assert conn is not None, "the body was already read"
        if self._rest:
            yield from reader.feed(self._rest)
            conn.emit(events.BodyProgress(received=reader.received))
            self._rest = b""
        buffer = conn.buffer
        closed_by_server = False
        while not reader.done:
            count = conn.recv_into(buffer)
            if count == 0:
                closed_by_server = True
                conn.close(by="server")
                reader.eof()
                break
            yield from reader.feed(buffer[:count])
            conn.emit(events.BodyProgress(received=reader.received))
        self._body_done(conn, closed_by_server)

    def copy_body_to(self, sink: BodySink, splice: bool = True) -> None:
        """Write the whole body to `sink`, emitting the same progress events as `iter_body`.

        The fast path: a Content-Length or close-delimited body on a plain TCP connection, going
        to a sink that can take bytes from a pipe (`FileSink`), is moved by the kernel with
        splice(2), socket -> pipe -> file, never copied through Python. Bytes that came with the
        head are written first, and a body is never read past its end. Anything else (chunked,
        TLS, no splice on this system, or `splice=False` because a view such as --trace wants
        to see the bytes) goes through the `recv_into` loop of `iter_body`.
        """
        conn = self._conn
        assert conn is not None, "the body was already read"
        fast = (
            splice
            and SPLICE
            and not conn.tls
            and self.framing.kind in ("length", "close")
            and hasattr(sink, "splice_from")
        )
        if not fast:
            for piece in self.iter_body():
                sink.write(piece)
            return
        reader = self._reader
        if self._rest:
            for piece in reader.feed(self._rest):
                sink.write(piece)
            conn.emit(events.BodyProgress(received=reader.received))
            self._rest = b""
        closed_by_server = False
        pipe_out, pipe_in = os.pipe()
        try:
            step = _grow_pipe(pipe_in, conn.options.bufsize)
            while not reader.done:
                count = conn.splice_into(pipe_in, min(step, reader.wanted or step))
                if count == 0:
                    closed_by_server = True
                    conn.close(by="server")
                    reader.eof()
                    break
                sink.splice_from(pipe_out, count)
                reader.skip(count)
                conn.emit(events.BodyProgress(received=reader.received))
        finally:
            os.close(pipe_out)
            os.close(pipe_in)
        self._body_done(conn, closed_by_server)

    def _body_done(self, conn: Connection, closed_by_server: bool) -> None:
        reader = self._reader
        conn.emit(
            events.BodyDone(
                received=reader.received,
                reason=_stop_reason(reader, closed_by_server),
                extra=len(reader.rest),
                chunks=getattr(reader, "chunks", None),
            )
        )
        self._conn = None
        self.leftover = reader.rest
        reusable = not closed_by_server and not reader.rest and self.framing.kind != "close"
        self._on_done(conn, reusable and _server_keeps_alive(self.head))

    def read(self, max_body: int = MAX_BODY) -> bytes:
        """The whole body in memory, refused past `max_body` bytes."""
        body = bytearray()
        for piece in self.iter_body():
            body += piece
            if len(body) > max_body:
                self.close()
                raise LimitExceeded(f"body larger than max_body={max_body} bytes")
        self.body = bytes(body)
        return self.body

    def close(self) -> None:
        """Drop the connection if the body was not read to its end."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _grow_pipe(pipe: int, size: int) -> int:
    """Ask for a pipe of `size` bytes (Linux's default is 64 KiB; unprivileged processes may
    go up to /proc/sys/fs/pipe-max-size, 1 MiB by default); return the size it has."""
    import fcntl

    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, size)
    return min(size, fcntl.fcntl(pipe, fcntl.F_GETPIPE_SZ))


def _server_keeps_alive(head: ResponseHead) -> bool:
    """RFC 9112 section 9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive"."""
    tokens = [token.lower() for token in head.headers.get_list("Connection")]
    if "close" in tokens:
        return False
    return head.http_version != "HTTP/1.0" or "keep-alive" in tokens


def _stop_reason(reader: BodyReader, closed_by_server: bool) -> str:
    kind = type(reader).__name__
    if kind == "NoBody":
        return "no body for this request or status"
    if kind == "LengthBody":
        return "Content-Length reached"
    if kind == "ChunkedDecoder":
        return "last chunk received"
    return "server closed the connection" if closed_by_server else "done"


def _read_head(conn: Connection, url: URL, pending: bytes = b"") -> tuple[ResponseHead, bytes]:
    """Read heads until a final (non-1xx) one; return it and the bytes that followed it.

    `pending` holds bytes already received after a previous response (pipelining)."""
    buffer = conn.buffer
    before = conn.received
    while True:
        reader = HeadReader()
        raw = reader.feed(pending) if pending else None
        while raw is None:
            count = conn.recv_into(buffer)
            if count == 0:
                conn.close(by="server")
                if conn.received == before:
                    raise EmptyReply(f"empty reply from {url.authority}: closed before any byte")
                raise ProtocolError(
                    f"connection closed in the middle of the response head "
                    f"({reader.received} bytes received)"
                )
            raw = reader.feed(buffer[:count])
        head = parse_response_head(raw)
        conn.emit(events.HeadReceived(head=head, end=conn.received - len(reader.rest)))
        pending = reader.rest
        if not head.is_interim:
            return head, pending
        if head.status == 101:
            raise ProtocolError("101 Switching Protocols, but no upgrade was asked for")


class Session:
    """Requests made one after another, keeping a connection open between two to the same origin.

    `rawhttp get URL1 URL2` uses one; `rawhttp.stream()` and `get()` use a throwaway one.
    A kept connection the server has closed meanwhile is replaced transparently, once.
    """

    def __init__(self, options: Options | None = None, on_event: Listener | None = None):
        self.options = options or Options()
        self.emit = on_event or _ignore
        self._idle: Connection | None = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._idle is not None:
            self._idle.close()
            self._idle = None

    def _done(self, conn: Connection, reusable: bool) -> None:
        if reusable and conn.keep_alive:
            self._idle = conn
            conn.emit(events.Closed(by="client", kept=True))
        else:
            conn.close(by="client" if conn.sock is not None else "server")

    def _take_idle(self, url: URL) -> Connection | None:
        conn, self._idle = self._idle, None
        if conn is not None and conn.url.origin != url.origin:
            conn.close()
            return None
        return conn

    def open_response(self, url: URL, method: str, headers: Headers) -> Response:
        """Send one request and read up to its final head, on a kept or a new connection."""
        self.emit(events.RequestStarted(url=str(url), method=method))
        request = build_request(method, url.target, headers, self.options.http_version)
        keep_alive = "keep-alive" in [v.lower() for v in headers.get_list("Connection")]
        conn = self._take_idle(url)
        if conn is not None:
            conn.start_transfer(url)
            self.emit(events.Reused(remote=conn.remote))
            try:
                return self._exchange(conn, url, method, request, keep_alive)
            except (EmptyReply, NetworkError) as exc:
                if conn.received_this_transfer:
                    raise
                # The server closed the kept connection between requests: start afresh, once.
                self.emit(events.ConnectFailed(*conn.remote, reason=f"kept connection: {exc}"))
        conn = Connection(url, self.options, self.emit)
        conn.open()
        return self._exchange(conn, url, method, request, keep_alive)

    def _exchange(
        self, conn: Connection, url: URL, method: str, request: bytes, keep_alive: bool
    ) -> Response:
        conn.keep_alive = keep_alive
        try:
            conn.send(request)
            head, rest = _read_head(conn, url)
            return Response(url, head, method, conn, rest, self._done)
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
        follow_redirects: bool = False,
        max_redirects: int = MAX_REDIRECTS,
        keep_alive: bool = False,
    ) -> Iterator[Response]:
        """Send a request (following redirects if asked) and yield the response, body unread."""
        current = url if isinstance(url, URL) else parse_url(url)
        request = request_headers(current, headers, self.options.http_version, keep_alive)
        history: list[ResponseHead] = []
        while True:
            response = self.open_response(current, method, request)
            location = response.headers.get("Location")
            if not (follow_redirects and response.status in REDIRECT_STATUSES and location):
                break
            try:
                if len(history) >= max_redirects:
                    raise TooManyRedirects(f"more than {max_redirects} redirects (--max-redirs)")
                history.append(response.head)
                target = resolve_location(current, location)
                method = _redirect_method(method, response.status)
                self.emit(
                    events.Redirecting(status=response.status, location=str(target), method=method)
                )
                if current.scheme == "https" and target.scheme == "http":
                    self.emit(events.Warned(f"redirect from https to plain http: {target}"))
                request = _redirect_headers(request, current, target)
                current = target
            finally:
                response.close()
        response.history = history
        try:
            yield response
        finally:
            response.close()


@contextlib.contextmanager
def stream(
    url: str | URL,
    method: str = "GET",
    headers: HeaderArg = None,
    *,
    follow_redirects: bool = False,
    max_redirects: int = MAX_REDIRECTS,
    options: Options | None = None,
    on_event: Listener | None = None,
    timeout: float | None = None,
) -> Iterator[Response]:
    """One request on its own connection; the body is read from the yielded response."""
    options = options or Options()
    if timeout is not None:
        options.read_timeout = options.connect_timeout = timeout
    with (
        Session(options, on_event) as session,
        session.stream(
            url, method, headers, follow_redirects=follow_redirects, max_redirects=max_redirects
        ) as response,
    ):
        yield response


def _redirect_method(method: str, status: int) -> str:
    """303 always becomes GET (but HEAD stays HEAD); 301/302 change a POST, as browsers do."""
    if method == "HEAD":
        return method
    if status == 303 or (status in (301, 302) and method != "GET"):
        return "GET"
    return method


def _redirect_headers(headers: Headers, old: URL, new: URL) -> Headers:
    moved = Headers(headers.items())
    moved.set("Host", new.authority)
    if (old.host.lower(), old.port) != (new.host.lower(), new.port):
        for name in CREDENTIAL_HEADERS:
            moved.remove(name)
    return moved


def send_raw(
    url: URL, data: bytes, options: Options | None = None, on_event: Listener | None = None
) -> list[Response]:
    """`rawhttp send`: hand-written request bytes, sent as they are; read one answer per
    request they hold (pipelined ones in order), until the server closes or all came."""
    options = options or Options()
    emit = on_event or _ignore
    emit(events.RequestStarted(url=str(url), method="(raw)"))
    conn = Connection(url, options, emit)
    responses: list[Response] = []
    try:
        conn.open()
        conn.send(data)
        pending = b""
        for method in request_methods(data) or ["GET"]:
            if responses and conn.sock is None:
                break  # the server closed after its last answer
            try:
                head, rest = _read_head(conn, url, pending)
            except EmptyReply:
                if responses:
                    break  # answered some, then closed: the rest were not served
                raise
            response = Response(url, head, method, conn, rest, on_done=lambda *_: None)
            response.read()
            responses.append(response)
            pending = response.leftover
    finally:
        conn.close()
    return responses


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
