"""The client: the only module of it that touches a socket.

It resolves, connects, sends the request bytes from `wire.build_request`, loops `recv_into` a
reused buffer, and hands what arrives to the sans-IO readers in `wire`. Every OS error is
translated into a `rawhttp.errors` class here, at the one place I/O happens (httpcore's rule),
and every step is reported as an `events` event for the views in `show`.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

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
    response_framing,
)

# Size of the one receive buffer a transfer reuses for every recv_into.
BUFSIZE = 256 * 1024
# The in-memory `get()` keeps the body in RAM, so it has a ceiling; streaming to a file has none.
MAX_BODY = 100 * 1024 * 1024
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Credentials are for the host they were given for: not sent on after a redirect elsewhere.
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")

Listener = Callable[[events.Event], None]
HeaderArg = Mapping[str, str | None] | list[tuple[str, str | None]] | None


def _ignore(event: events.Event) -> None:
    return None


@dataclass
class Options:
    """How patient and how strict a transfer is; the CLI's flags map onto these."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_time: float | None = None
    bufsize: int = BUFSIZE
    insecure: bool = False
    cafile: str | None = None
    http_version: str = "HTTP/1.1"


class Connection:
    """One TCP (optionally TLS) connection, with deadlines and errors in rawhttp's terms."""

    def __init__(self, url: URL, options: Options, emit: Listener):
        self.url = url
        self.options = options
        self.emit = emit
        self.sock: socket.socket | None = None
        self.sent = 0
        self.received = 0
        self.deadline = (
            time.monotonic() + options.max_time if options.max_time is not None else None
        )

    def open(self) -> None:
        addresses = self._resolve()
        last: RawHTTPError | None = None
        for family, sockaddr in addresses:
            try:
                self.sock = self._connect(family, sockaddr)
                break
            except (ConnectError, Timeout) as exc:
                last = exc
                self.emit(
                    events.ConnectFailed(address=sockaddr[0], port=sockaddr[1], reason=str(exc))
                )
        else:
            assert last is not None
            raise last
        local, remote = self.sock.getsockname(), self.sock.getpeername()
        self.emit(events.Connected(local=local[:2], remote=remote[:2]))
        if self.url.scheme == "https":
            self._start_tls()
        self._set_timeout(self.options.read_timeout)

    def _resolve(self) -> list[tuple[int, tuple]]:
        host, port = self.url.host, self.url.port
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ResolveError(f"could not resolve host {host}: {exc.strerror}") from None
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
        self.emit(
            events.Connecting(family=socket.AddressFamily(family).name, address=address, port=port)
        )
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
            raise ConnectError(f"could not connect to {address} port {port}: {reason}") from None
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
            raise CertificateError(f"certificate not trusted: {exc.verify_message}") from None
        except TimeoutError:
            self.close()
            raise Timeout("TLS handshake timed out") from None
        except (ssl.SSLError, OSError) as exc:
            self.close()
            raise TLSError(f"handshake failed: {getattr(exc, 'reason', None) or exc}") from None
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
            raise NetworkError(f"send failed: {exc.strerror or exc}") from None
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
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise Timeout(
                    f"transfer took longer than --max-time {self.options.max_time:g} s"
                ) from None
            raise Timeout(
                f"no data from the server for {self.options.read_timeout:g} s (read timeout)"
            ) from None
        except ConnectionResetError:
            raise NetworkError(
                f"connection reset by peer after {self.received} bytes received"
            ) from None
        except OSError as exc:
            raise NetworkError(f"receive failed: {exc.strerror or exc}") from None
        if count:
            self.emit(events.Received(data=buffer[:count], offset=self.received))
            self.received += count
        return count

    def close(self, by: str = "client") -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.emit(events.Closed(by=by))


def request_headers(url: URL, extra: HeaderArg = None, http_version: str = "HTTP/1.1") -> Headers:
    """The defaults rawhttp sends, then the caller's: a value replaces, None removes."""
    from rawhttp import __version__

    headers = Headers(
        [
            ("Host", url.authority),
            ("User-Agent", f"rawhttp/{__version__}"),
            ("Accept", "*/*"),
            ("Connection", "close"),
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

    def __init__(self, url: URL, head: ResponseHead, method: str, conn: Connection, rest: bytes):
        self.url = url
        self.head = head
        self.method = method
        self.history: list[ResponseHead] = []
        self.body = b""
        self._conn = conn
        self._rest = rest
        framing = response_framing(method, head.status, head.headers)
        self._reader: BodyReader = body_reader(framing)
        conn.emit(events.FramingDecided(framing=framing))

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
        yield from reader.feed(self._rest)
        self._rest = b""
        buffer = memoryview(bytearray(conn.options.bufsize))
        closed_by_server = False
        while not reader.done:
            count = conn.recv_into(buffer)
            if count == 0:
                closed_by_server = True
                reader.eof()
                break
            yield from reader.feed(buffer[:count])
        chunks = getattr(reader, "chunks", None)
        conn.emit(
            events.BodyDone(
                received=reader.received,
                reason=_stop_reason(self._reader, closed_by_server),
                extra=len(reader.rest),
                chunks=chunks,
            )
        )
        self.close(by="server" if closed_by_server else "client")

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

    def close(self, by: str = "client") -> None:
        self._conn.close(by=by)


def _stop_reason(reader: BodyReader, closed_by_server: bool) -> str:
    kind = type(reader).__name__
    if kind == "NoBody":
        return "no body for this request or status"
    if kind == "LengthBody":
        return "Content-Length reached"
    if kind == "ChunkedDecoder":
        return "last chunk received"
    return "server closed the connection" if closed_by_server else "done"


def _read_head(conn: Connection, method: str, url: URL) -> tuple[ResponseHead, bytes]:
    """Read heads until a final (non-1xx) one; return it and the bytes that followed it."""
    buffer = memoryview(bytearray(conn.options.bufsize))
    pending = b""
    while True:
        reader = HeadReader()
        raw = reader.feed(pending) if pending else None
        while raw is None:
            count = conn.recv_into(buffer)
            if count == 0:
                conn.close(by="server")
                if reader.received == 0 and conn.received == 0:
                    raise EmptyReply(f"empty reply from {url.authority}: closed before any byte")
                raise ProtocolError(
                    f"connection closed in the middle of the response head "
                    f"({reader.received} bytes received)"
                )
            raw = reader.feed(buffer[:count])
        head = parse_response_head(raw)
        conn.emit(events.HeadReceived(head=head))
        pending = reader.rest
        if not head.is_interim:
            return head, pending
        if head.status == 101:
            raise ProtocolError("101 Switching Protocols, but no upgrade was asked for")


def open_response(
    url: URL, method: str, headers: Headers, options: Options, emit: Listener
) -> Response:
    """One request on a new connection, up to the final head."""
    conn = Connection(url, options, emit)
    try:
        conn.open()
        conn.send(build_request(method, url.target, headers, options.http_version))
        head, rest = _read_head(conn, method, url)
        return Response(url, head, method, conn, rest)
    except BaseException:
        conn.close()
        raise


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
    """Send one request (following redirects if asked) and yield the response, body unread."""
    options = options or Options()
    if timeout is not None:
        options.read_timeout = options.connect_timeout = timeout
    emit = on_event or _ignore
    current = url if isinstance(url, URL) else parse_url(url)
    request = request_headers(current, headers, options.http_version)
    history: list[ResponseHead] = []
    while True:
        response = open_response(current, method, request, options, emit)
        location = response.headers.get("Location")
        if not (follow_redirects and response.status in REDIRECT_STATUSES and location):
            break
        try:
            if len(history) >= max_redirects:
                raise TooManyRedirects(f"more than {max_redirects} redirects (--max-redirs)")
            history.append(response.head)
            target = resolve_location(current, location)
            method = _redirect_method(method, response.status)
            emit(events.Redirecting(status=response.status, location=str(target), method=method))
            request = _redirect_headers(request, current, target)
            current = target
        finally:
            response.close()
    response.history = history
    try:
        yield response
    finally:
        response.close()


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
