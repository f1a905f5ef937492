"""One client connection: the only client code that touches a socket.

It resolves the host (`getaddrinfo`), tries each address until one accepts the TCP handshake,
wraps the socket in TLS for https, and sends and receives with deadlines. Every OS error is
translated here into a `rawhttp.errors` class, at the one place I/O happens (httpcore's rule),
and every step is reported as an `events` event. What the bytes mean is `client.py`'s business.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import socket
import time
from collections.abc import Callable, Iterator

from rawhttp import events
from rawhttp.errors import (
    CAFileError,
    CertificateError,
    ConnectError,
    NetworkError,
    RawHTTPError,
    ResolveError,
    Timeout,
    TLSError,
)
from rawhttp.url import URL

# Size of the one receive buffer a transfer reuses for every recv_into, and the most one
# splice moves. 1 MiB: fewer, larger system calls (curl reads 16 KiB at a time, wget 8 KiB).
# On a 1 GiB download from nginx on loopback, 64 KiB took about 25% longer; 256 KiB was within
# the noise of 1 MiB.
BUFSIZE = 1024 * 1024

Listener = Callable[[events.Event], None]

# RFC 6761 section 6.3: "localhost" names the loopback whatever /etc/hosts says (many list only
# 127.0.0.1); curl answers it itself with both addresses, so a server on either one is found.
LOOPBACKS = ((socket.AF_INET6, ("::1", 0, 0, 0)), (socket.AF_INET, ("127.0.0.1", 0)))
# Bytes looked at, before the TLS library reads them, to tell a plain-HTTP answer to the hello.
PLAIN_HTTP_PEEK = 64
# OpenSSL's words for "the first bytes back are not a TLS record".
NOT_TLS_REASONS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG")
# What follows `HTTP/` in a status line: `1.1 400`.
_STATUS_REST_RE = re.compile(rb"\d\.\d \d{3}")


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

    def copy(self, **changes: object) -> Options:
        """A copy with `changes` applied: a caller's Options are never changed by a call."""
        copied = Options.__new__(Options)
        copied.__dict__.update(self.__dict__, resolve=dict(self.resolve))
        copied.__dict__.update(changes)
        return copied


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
        self._buffer: memoryview | None = None
        # While a response head is read, every read shares this deadline (see `reading_head`).
        self.head_deadline: float | None = None
        self._head_from = 0
        self.start_transfer(url)

    @property
    def buffer(self) -> memoryview:
        """The one receive buffer of this connection (options.bufsize bytes), made on first use
        and reused by every read of every response on it: heads and bodies alike."""
        if self._buffer is None:
            self._buffer = memoryview(bytearray(self.options.bufsize))
        return self._buffer

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
        # The CA file is read before anything is sent: a bad --cacert is exit 77 at once.
        context = self._tls_context() if self.url.scheme == "https" else None
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
        self.emit(events.Connected(local=local[:2], remote=self.remote, sock=self.sock))
        if context is not None:
            self._start_tls(context)
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
            if not pinned and _is_localhost(host):
                infos = []  # the loopbacks are added below
            else:
                raise self._unresolved(host, exc) from None
        except UnicodeError:
            raise ResolveError(f"could not resolve host {host}: invalid name") from None
        addresses = [(info[0], info[4]) for info in infos]
        added = _missing_loopbacks(addresses, port, self.options.family)
        if pinned or not _is_localhost(host):
            added = []
        if not addresses + added:
            raise ResolveError(f"could not resolve host {host}: no address of that family")
        self.emit(
            events.Resolved(
                host=host,
                port=port,
                addresses=[(socket.AddressFamily(f).name, a[0], a[1]) for f, a in addresses],
            )
        )
        if added:
            also = " and ".join(sockaddr[0] for _, sockaddr in added)
            self.emit(events.Noted(f"{host} is the loopback (RFC 6761): {also} tried too"))
        return addresses + added

    def _unresolved(self, host: str, exc: socket.gaierror) -> ResolveError:
        family = {socket.AF_INET: " (IPv4 only)", socket.AF_INET6: " (IPv6 only)"}
        only = family.get(self.options.family, "")
        return ResolveError(f"could not resolve host {host}{only}: {exc.strerror}")

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

    def _tls_context(self):
        import ssl  # only when a URL needs it: a plain GET does not pay for importing ssl

        cafile = self.options.cafile
        try:
            context = ssl.create_default_context(cafile=cafile)
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or exc
            raise CAFileError(f"cannot read CA file {cafile}: {reason}") from None
        if self.options.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _start_tls(self, context) -> None:
        import ssl

        try:
            self.sock = context.wrap_socket(
                self.sock,
                server_hostname=self.url.host,
                do_handshake_on_connect=False,
                # A close without close_notify must not look like the end of the body: a
                # close-delimited body cut by an attacker's FIN would be taken as whole.
                suppress_ragged_eofs=False,
            )
            self._handshake(self.sock)
        except ssl.SSLCertVerificationError as exc:
            self.close()
            reason = _VERIFY_REASONS.get(exc.verify_code, "not trusted")
            raise CertificateError(
                f"certificate of {self.url.host} not trusted ({reason}): {exc.verify_message}"
            ) from None
        except RawHTTPError:
            self.close()
            raise
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or exc
            error = TLSError(f"handshake with {self.url.host} failed: {reason}")
            if reason in NOT_TLS_REASONS:
                error = self._plain_http(self.sock, after_header=True) or error
            self.close()
            raise error from None
        self.tls = True
        version, cipher = self.sock.version(), self.sock.cipher()[0]
        self.emit(events.TLSEstablished(version=version, cipher=cipher, sock=self.sock))

    def _handshake(self, sock) -> None:
        """The TLS handshake, driven by hand on a non-blocking socket so that the first bytes
        back can be looked at before OpenSSL reads them: a plain-HTTP server's answer to the
        hello is then said at once, in words, instead of as a record-layer error."""
        import ssl

        deadline = time.monotonic() + self._remaining(self.options.connect_timeout)
        sock.settimeout(0)
        peeked = False
        while True:
            try:
                sock.do_handshake()
                return
            except ssl.SSLWantReadError:
                self._await(sock, select.POLLIN, deadline)
                if not peeked:
                    peeked = True
                    plain = self._plain_http(sock)
                    if plain is not None:
                        raise plain from None
            except ssl.SSLWantWriteError:
                self._await(sock, select.POLLOUT, deadline)

    def _await(self, sock, mask: int, deadline: float) -> None:
        poller = select.poll()
        poller.register(sock, mask)
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            raise Timeout(
                f"TLS handshake timed out after {self.options.connect_timeout:g} s "
                "(a plain-HTTP server waits for a request and never answers a TLS hello)"
            )

    def _plain_http(self, sock, after_header: bool = False) -> TLSError | None:
        """Look at the first bytes the server sent, without taking them: `HTTP/` there means
        the port speaks plain HTTP (the answer to a hello it could not parse). When the answer
        came so fast that OpenSSL read it first (`after_header`), it took only a record
        header's 5 bytes, which for HTTP are `HTTP/`: the rest of the status line is still
        there to be seen."""
        with socket.socket(fileno=os.dup(sock.fileno())) as raw:
            try:
                first = raw.recv(PLAIN_HTTP_PEEK, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except OSError:
                return None  # let the handshake say what is wrong
        if after_header and _STATUS_REST_RE.match(first):
            first = b"HTTP/" + first
        if not first.startswith(b"HTTP/"):
            return None
        line = first.split(b"\r\n", 1)[0].decode("latin-1")
        return TLSError(
            f"handshake with {self.url.host} failed: port {self.url.port} answered in plain "
            f"HTTP, not TLS ({line!r}): use http:// for this port"
        )

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

    def send(self, data: bytes, kind: type[events.Sent] = events.Sent, **fields: object) -> None:
        """Send all of `data`, then emit `kind` (a request head, a body piece, raw bytes)."""
        assert self.sock is not None
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise Timeout("sending the request timed out") from None
        except OSError as exc:
            raise _from_os(NetworkError(f"send failed: {exc.strerror or exc}"), exc) from None
        self.emit(kind(data=data, offset=self.sent, **fields))
        self.sent += len(data)

    def recv_into(self, buffer: memoryview) -> int:
        """One recv; 0 means the server closed its side."""
        assert self.sock is not None
        try:
            if self.deadline is not None or self.head_deadline is not None:
                self._set_timeout(self._read_wait())
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
        if not self.readable(self.options.read_timeout):
            raise self._read_timeout()

    def readable(self, timeout: float) -> bool:
        """Whether bytes (or the server's close) arrive within `timeout` seconds."""
        assert self.sock is not None
        if self.tls and self.sock.pending():
            return True
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(self._remaining(timeout) * 1000))

    @contextlib.contextmanager
    def reading_head(self) -> Iterator[None]:
        """While a response head (with its 1xx heads) is read, --timeout covers all of it, not
        each read: a server trickling a head, or sending 1xx answers without end, is stopped."""
        self.head_deadline = time.monotonic() + self.options.read_timeout
        self._head_from = self.received
        try:
            yield
        finally:
            self.head_deadline = None
            if self.sock is not None:
                self._set_timeout(self.options.read_timeout)

    def _read_wait(self) -> float:
        """How long the next read may wait: --timeout, or less if the head's deadline is near."""
        if self.head_deadline is None:
            return self.options.read_timeout
        left = self.head_deadline - time.monotonic()
        if left <= 0:
            raise self._read_timeout()
        return min(self.options.read_timeout, left)

    def stale(self) -> str | None:
        """Why this kept connection, idle between two requests, cannot carry the next one: the
        server closed it, or sent bytes where no response may start (a body after a HEAD
        answer, say), which would be taken as the next answer. None if it looks usable."""
        if self.sock is None:
            return "it is closed"
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        if not (self.tls and self.sock.pending()) and not poller.poll(0):
            return None
        try:
            data = self._peek_idle()
        except BlockingIOError:  # for TLS, a record with no data (a session ticket, say)
            return None
        except OSError as exc:
            return "the server closed it" if self.tls else f"it failed: {exc.strerror or exc}"
        if not data:
            return "the server closed it"
        more = "+" if len(data) == PLAIN_HTTP_PEEK else ""
        return f"{len(data)}{more} bytes came after the last response, where none may start"

    def _peek_idle(self) -> bytes:
        """What waits on an idle connection. TLS cannot peek, so it reads: any data ends the
        connection anyway. A TLS record without data (a session ticket, which TLS 1.3 servers
        send after the handshake) leaves it usable: BlockingIOError, as for no bytes at all."""
        assert self.sock is not None
        if not self.tls:
            return self.sock.recv(PLAIN_HTTP_PEEK, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        self.sock.settimeout(0)
        try:
            return self.sock.recv(PLAIN_HTTP_PEEK)
        except OSError as exc:
            if type(exc).__name__ in ("SSLWantReadError", "SSLWantWriteError"):
                raise BlockingIOError from None
            raise
        finally:
            self.sock.settimeout(self.options.read_timeout)

    def _read_timeout(self) -> Timeout:
        now = time.monotonic()
        trickled = self.head_deadline is not None and self.received > self._head_from
        if trickled and now >= self.head_deadline:
            return Timeout(
                f"the response head did not arrive within {self.options.read_timeout:g} s "
                f"(read timeout, which covers the whole head; {self.received - self._head_from} "
                "bytes of it came)"
            )
        if self.deadline is not None and now >= self.deadline:
            return Timeout(f"transfer took longer than --max-time {self.options.max_time:g} s")
        return Timeout(
            f"no data from the server for {self.options.read_timeout:g} s (read timeout)"
        )

    def _receive_error(self, exc: OSError) -> RawHTTPError:
        if isinstance(exc, ConnectionResetError):
            message = f"connection reset by peer after {self.received} bytes received"
        elif self.tls and type(exc).__name__ == "SSLEOFError":
            message = (
                f"the TLS connection ended without close_notify after {self.received} bytes "
                "received: what came may be cut short"
            )
        else:
            message = f"receive failed: {exc.strerror or exc}"
        return _from_os(NetworkError(message), exc)

    def close(self, by: str = "client") -> None:
        if self.sock is not None:
            self.emit(events.Closing(by=by))
            self.sock.close()
            self.sock = None
            self.emit(events.Closed(by=by))


def _is_localhost(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


def _missing_loopbacks(addresses: list[tuple[int, tuple]], port: int, family: int) -> list:
    """The loopback addresses getaddrinfo did not give for localhost, to try after its own."""
    known = {sockaddr[0] for _, sockaddr in addresses}
    return [
        (fam, (sockaddr[0], port, *sockaddr[2:]))
        for fam, sockaddr in LOOPBACKS
        if family in (socket.AF_UNSPEC, fam) and sockaddr[0] not in known
    ]


def _from_os(error: RawHTTPError, exc: OSError) -> RawHTTPError:
    """Keep the errno's name (ECONNREFUSED...) on the rawhttp error, for --explain."""
    error.errno_name = errno.errorcode.get(exc.errno) if exc.errno else None
    return error
