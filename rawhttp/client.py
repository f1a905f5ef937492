"""The client: the only module of it that touches a socket.

It resolves, connects, sends the request bytes from `wire.build_request`, loops `recv_into` a
reused buffer, and hands what arrives to the sans-IO readers in `wire`. Every OS error is
translated into a `rawhttp.errors` class here, at the one place I/O happens (httpcore's rule),
and every step is reported as an `events` event for the views in `show`.

A body saved to a file without anyone looking at its bytes takes a faster road,
`Response.copy_body_to`: `os.splice` moves it from the socket through a pipe into the file
inside the kernel, never copying it into Python (see `Connection.splice_into`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from rawhttp import events
from rawhttp.errors import (
    CertificateError,
    ConnectError,
    EmptyReply,
    LimitExceeded,
    NetworkError,
    ProtocolError,
    RawHTTPError,
    ResolveError,
    Timeout,
    TLSError,
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

# Size of the one receive buffer a transfer reuses for every recv_into, and the most one
# splice moves. 1 MiB: fewer, larger system calls (curl reads 16 KiB at a time, wget 8 KiB).
# On a 1 GiB download from nginx on loopback, 64 KiB took about 25% longer; 256 KiB was within
# the noise of 1 MiB.
BUFSIZE = 1024 * 1024
# Linux's splice(2), socket -> pipe -> file with no copy through Python. False on other systems
# (and in tests, to compare the two roads).
SPLICE = hasattr(os, "splice")
# The in-memory `get()` keeps the body in RAM, so it has a ceiling; streaming to a file has none.
MAX_BODY = 100 * 1024 * 1024
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Credentials are for the host they were given for: not sent on after a redirect elsewhere.
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")

Listener = Callable[[events.Event], None]
HeaderArg = Mapping[str, str | None] | list[tuple[str, str | None]] | None


class BodySink(Protocol):
    """Where `Response.copy_body_to` writes: `write(bytes)`, and for the splice fast path
    `splice_from(pipe, count)` (see `sinks.FileSink`)."""

    def write(self, data: bytes | memoryview) -> None: ...


def _ignore(event: events.Event) -> None:
    return None


class Options:
    """How patient and how strict a transfer is; the CLI's flags map onto these."""

    def __init__(
        self,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_time: float | None = None,
        bufsize: int = BUFSIZE,
        insecure: bool = False,
        cafile: str | None = None,
        http_version: str = "HTTP/1.1",
        family: int = socket.AF_UNSPEC,
        resolve: dict[tuple[str, int], str] | None = None,
    ):
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_time = max_time
        self.bufsize = bufsize
        self.insecure = insecure
        self.cafile = cafile
        self.http_version = http_version
        self.family = family
        # curl's --resolve: (host, port) -> address to use instead of asking DNS.
        self.resolve = resolve if resolve is not None else {}

    def __repr__(self) -> str:
        return f"Options({self.__dict__!r})"


# OpenSSL verify codes worth naming in plain words (X509_V_ERR_*).
_VERIFY_REASONS = {
    10: "expired",
    9: "not yet valid",
    18: "self-signed",
    19: "self-signed CA in the chain",
    20: "unknown issuer",
    62: "wrong host",
    64: "wrong IP address",
}


class Connection:
    """One TCP (optionally TLS) connection, with deadlines and errors in rawhttp's terms."""

    def __init__(self, url: URL, options: Options, emit: Listener):
        self.options = options
        self.emit = emit
        self.sock: socket.socket | None = None
        self.remote: tuple[str, int] = ("", 0)
        self.keep_alive = False
        self.tls = False
        self.sent = 0
        self.received = 0
        self.start_transfer(url)

    def start_transfer(self, url: URL) -> None:
        """A new request on this connection: its own --max-time clock and byte count."""
        self.url = url
        self._received_at_start = self.received
        max_time = self.options.max_time
        self.deadline = time.monotonic() + max_time if max_time is not None else None

    @property
    def received_this_transfer(self) -> int:
        return self.received - self._received_at_start

    def open(self) -> None:
        last: RawHTTPError | None = None
        for family, sockaddr in self._resolve():
            try:
                self.sock = self._connect(family, sockaddr)
                break
            except (ConnectError, Timeout) as exc:
                last = exc
                self.emit(events.ConnectFailed(sockaddr[0], sockaddr[1], reason=str(exc)))
        else:
            assert last is not None
            raise last
        local, remote = self.sock.getsockname(), self.sock.getpeername()
        self.remote = remote[:2]
        self.emit(events.Connected(local=local[:2], remote=self.remote))
        if self.url.scheme == "https":
            self._start_tls()
        self._set_timeout(self.options.read_timeout)

    def _resolve(self) -> list[tuple[int, tuple]]:
        host, port = self.url.host, self.url.port
        pinned = self.options.resolve.get((host.lower(), port))
        flags = socket.AI_NUMERICHOST if pinned else 0
        try:
            infos = socket.getaddrinfo(
                pinned or host, port, self.options.family, socket.SOCK_STREAM, 0, flags
            )
        except socket.gaierror as exc:
            family = {socket.AF_INET: " (IPv4 only)", socket.AF_INET6: " (IPv6 only)"}
            only = family.get(self.options.family, "")
            raise ResolveError(f"could not resolve host {host}{only}: {exc.strerror}") from None
        except UnicodeError:
            raise ResolveError(f"could not resolve host {host}: invalid name") from None
        addresses = [(info[0], info[4]) for info in infos]
        self.emit(
            events.Resolved(
                host=host,
                port=port,
                addresses=[(socket.AddressFamily(f).name, a[0], a[1]) for f, a in addresses],
            )
        )
        return addresses

    def _connect(self, family: int, sockaddr: tuple) -> socket.socket:
        address, port = sockaddr[0], sockaddr[1]
        family_name = socket.AddressFamily(family).name
        self.emit(events.Connecting(family=family_name, address=address, port=port))
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._remaining(self.options.connect_timeout))
            sock.connect(sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except TimeoutError:
            sock.close()
            raise Timeout(
                f"connect to {address} port {port} timed out after "
                f"{self.options.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            sock.close()
            reason = exc.strerror or type(exc).__name__
            raise _from_os(
                ConnectError(f"could not connect to {address} port {port}: {reason}"), exc
            ) from None
        return sock

    def _start_tls(self) -> None:
        import ssl  # only when a URL needs it: a plain GET does not pay for importing ssl

        context = ssl.create_default_context(cafile=self.options.cafile)
        if self.options.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=self.url.host)
        except ssl.SSLCertVerificationError as exc:
            self.close()
            reason = _VERIFY_REASONS.get(exc.verify_code, "not trusted")
            raise CertificateError(
                f"certificate of {self.url.host} not trusted ({reason}): {exc.verify_message}"
            ) from None
        except TimeoutError:
            self.close()
            raise Timeout("TLS handshake timed out") from None
        except (ssl.SSLError, OSError) as exc:
            self.close()
            reason = getattr(exc, "reason", None) or exc.strerror or exc
            raise TLSError(f"handshake with {self.url.host} failed: {reason}") from None
        self.tls = True
        self.emit(events.TLSEstablished(version=self.sock.version(), cipher=self.sock.cipher()[0]))

    def _remaining(self, timeout: float) -> float:
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Timeout(f"transfer took longer than --max-time {self.options.max_time:g} s")
        return min(timeout, left)

    def _set_timeout(self, timeout: float) -> None:
        assert self.sock is not None
        self.sock.settimeout(self._remaining(timeout))

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise Timeout("sending the request timed out") from None
        except OSError as exc:
            raise _from_os(NetworkError(f"send failed: {exc.strerror or exc}"), exc) from None
        self.emit(events.Sent(data=data, offset=self.sent))
        self.sent += len(data)

    def recv_into(self, buffer: memoryview) -> int:
        """One recv; 0 means the server closed its side."""
        assert self.sock is not None
        try:
            if self.deadline is not None:
                self._set_timeout(self.options.read_timeout)
            count = self.sock.recv_into(buffer)
        except TimeoutError:
            raise self._read_timeout() from None
        except OSError as exc:
            raise self._receive_error(exc) from None
        if count:
            self.emit(events.Received(data=buffer[:count], offset=self.received))
            self.received += count
        return count

    def splice_into(self, pipe: int, count: int) -> int:
        """Move up to `count` bytes from the socket into `pipe` inside the kernel (splice(2));
        0 means the server closed its side. Waits and times out as `recv_into` does.

        The bytes never reach Python, so no `Received` event is emitted: the fast path is only
        taken when no view needs to see them.
        """
        assert self.sock is not None and not self.tls  # TLS bytes must be decrypted first
        while True:
            try:
                # The socket is non-blocking underneath (Python's timeouts work that way), so
                # splice returns at once with EAGAIN when nothing has arrived yet.
                moved = os.splice(self.sock.fileno(), pipe, count, flags=os.SPLICE_F_MOVE)
                break
            except BlockingIOError:
                self._wait_readable()
            except OSError as exc:
                raise self._receive_error(exc) from None
        self.received += moved
        return moved

    def _wait_readable(self) -> None:
        assert self.sock is not None
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        if not poller.poll(self._remaining(self.options.read_timeout) * 1000):
            raise self._read_timeout()

    def _read_timeout(self) -> Timeout:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return Timeout(f"transfer took longer than --max-time {self.options.max_time:g} s")
        return Timeout(
            f"no data from the server for {self.options.read_timeout:g} s (read timeout)"
        )

    def _receive_error(self, exc: OSError) -> RawHTTPError:
        if isinstance(exc, ConnectionResetError):
            message = f"connection reset by peer after {self.received} bytes received"
        else:
            message = f"receive failed: {exc.strerror or exc}"
        return _from_os(NetworkError(message), exc)

    def close(self, by: str = "client") -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.emit(events.Closed(by=by))


def _from_os(error: RawHTTPError, exc: OSError) -> RawHTTPError:
    """Keep the errno's name (ECONNREFUSED...) on the rawhttp error, for --explain."""
    error.errno_name = errno.errorcode.get(exc.errno) if exc.errno else None
    return error


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
        buffer = memoryview(bytearray(conn.options.bufsize))
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
    buffer = memoryview(bytearray(conn.options.bufsize))
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
