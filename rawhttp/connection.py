"""One client connection: the only client code that touches a socket.

It resolves the host (`getaddrinfo`), tries each address until one accepts the TCP handshake,
wraps the socket in TLS for https, and sends and receives with deadlines. Every OS error is
translated here into a `rawhttp.errors` class, at the one place I/O happens (httpcore's rule),
and every step is reported as an `events` event. What the bytes mean is `client.py`'s business.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from collections.abc import Callable

from rawhttp import events
from rawhttp.errors import (
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
        version, cipher = self.sock.version(), self.sock.cipher()[0]
        self.emit(events.TLSEstablished(version=version, cipher=cipher, sock=self.sock))

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
            self.emit(events.Closing(by=by))
            self.sock.close()
            self.sock = None
            self.emit(events.Closed(by=by))


def _from_os(error: RawHTTPError, exc: OSError) -> RawHTTPError:
    """Keep the errno's name (ECONNREFUSED...) on the rawhttp error, for --explain."""
    error.errno_name = errno.errorcode.get(exc.errno) if exc.errno else None
    return error
