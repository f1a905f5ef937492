"""Dialling: from a URL to a connected `streams.Stream`, one step at a time.

resolve (`getaddrinfo`: every address, in order) -> connect (each address until one accepts
the TCP handshake) -> the layers the URL needs (TLS for https, run by `tlsstream.TLSStream` over
memory buffers so every record is seen). Each step and each attempt is an `events` event, and
each failure a `rawhttp.errors` class with curl's exit code (6 resolve, 7 connect, 28 timeout,
35 handshake, 60 certificate, 77 CA file). After dialling, the stream is the only I/O.

Through a proxy (`Options.proxy`, the route decided by `proxy.route`), the host resolved and
connected is the proxy's (5 and 7 when it fails); a tunnel (https, or -p) adds one layer
between connect and TLS, the CONNECT exchange of `tunnel.py`. A forwarding proxy adds none:
the stream goes to the proxy, and `client.py` writes the request for it.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import NamedTuple

from rawhttp import events
from rawhttp.errors import (
    ConnectError,
    ProxyConnectError,
    ProxyResolveError,
    RawHTTPError,
    ResolveError,
    Timeout,
)
from rawhttp.proxy import Proxy, Settings
from rawhttp.proxy import route as proxy_route
from rawhttp.streams import Listener, Stream, from_os
from rawhttp.url import URL

# Size of the one receive buffer a transfer reuses for every recv_into, and the most one
# splice moves. 1 MiB: fewer, larger system calls (curl reads 16 KiB at a time, wget 8 KiB).
# On a 1 GiB download from nginx on loopback, 64 KiB took about 25% longer; 256 KiB was within
# the noise of 1 MiB.
BUFSIZE = 1024 * 1024

# RFC 6761 section 6.3: "localhost" names the loopback whatever /etc/hosts says (many list only
# 127.0.0.1); curl answers it itself with both addresses, so a server on either one is found.
LOOPBACKS = ((socket.AF_INET6, ("::1", 0, 0, 0)), (socket.AF_INET, ("127.0.0.1", 0)))


class TLSOptions(NamedTuple):
    """What the client asks of TLS, as curl's options name it."""

    min_version: str | None = None  # --tlsv1.2, --tlsv1.3: the lowest version offered
    max_version: str | None = None  # --tls-max
    ciphers: str | None = None  # --ciphers, OpenSSL's cipher list (TLS 1.2 and below)
    alpn: tuple[str, ...] = ("http/1.1",)  # --alpn; () offers none (curl's --no-alpn)
    keylog: str | None = None  # --keylog (SSLKEYLOGFILE otherwise, read by ssl itself)
    watch: bool = False  # a view shows the records and messages: read them (costs CPU)


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
        tls: TLSOptions | None = None,
        proxy: Settings | None = None,
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
        # For https: versions, ciphers, ALPN, key log, whether a view watches the records.
        self.tls = tls if tls is not None else TLSOptions()
        # -x, -U, --noproxy, -p, --proxy-header and the proxy variables; None: always direct.
        self.proxy = proxy

    def __repr__(self) -> str:
        return f"Options({self.__dict__!r})"

    def copy(self, **changes: object) -> Options:
        """A copy with `changes` applied: a caller's Options are never changed by a call."""
        copied = Options.__new__(Options)
        copied.__dict__.update(self.__dict__, resolve=dict(self.resolve))
        copied.__dict__.update(changes)
        return copied


def dial(url: URL, options: Options, emit: Listener) -> Stream:
    """A stream to `url`'s origin, with the layers its scheme needs."""
    # The CA file is read before anything is sent: a bad --cacert is exit 77 at once.
    context = None
    if url.scheme == "https":
        from rawhttp import tlsstream

        context = tlsstream.client_context(options)
    deadline = time.monotonic() + options.max_time if options.max_time is not None else None
    via = proxy_route(url, options.proxy)
    if via.proxy is None:
        sock, remote = connect(url, options, emit, deadline)
    else:
        sock, remote = _connect_proxy(via.proxy, options, emit, deadline)
    stream = Stream(sock, url, options, emit, remote)
    if via.tunnel:
        stream.early = _tunnel(stream, url, via.proxy)
    if context is None:
        return stream
    from rawhttp import tlsstream

    # The TLS layer takes over the socket (and the tunnel's early bytes) from the plain one.
    return tlsstream.handshake(sock, url, options, emit, remote, context, stream.early)


def _tunnel(stream: Stream, url: URL, through: Proxy) -> bytes:
    """The CONNECT layer (tunnel.py): the bytes that followed the proxy's 2xx."""
    from rawhttp.tunnel import open_tunnel

    try:
        return open_tunnel(stream, url, through)
    except BaseException:
        stream.close()
        raise


def _connect_proxy(
    through: Proxy, options: Options, emit: Listener, deadline: float | None
) -> tuple[socket.socket, tuple[str, int]]:
    """Connect to the proxy: its failures are the proxy's (curl's 5 and 7, not 6 and 7)."""
    why = f"(the proxy, from {through.source})"
    try:
        return connect(through.url, options, emit, deadline)
    except ResolveError as exc:
        raise ProxyResolveError(f"{exc} {why}") from None
    except ConnectError as exc:
        error = ProxyConnectError(f"{exc} {why}")
        error.errno_name = exc.errno_name
        raise error from None


def connect(
    url: URL, options: Options, emit: Listener, deadline: float | None
) -> tuple[socket.socket, tuple[str, int]]:
    """A connected socket to the first address of `url`'s host that accepts, and its peer."""
    failures: list[tuple[str, RawHTTPError]] = []
    for family, sockaddr in resolve(url, options, emit):
        try:
            sock = _connect(family, sockaddr, options, emit, deadline)
            break
        except (ConnectError, Timeout) as exc:
            failures.append((sockaddr[0], exc))
            emit(events.ConnectFailed(sockaddr[0], sockaddr[1], reason=str(exc)))
    else:
        raise _all_failed(url, failures)
    local, remote = sock.getsockname(), sock.getpeername()
    emit(events.Connected(local=local[:2], remote=remote[:2], sock=sock))
    return sock, remote[:2]


def _all_failed(url: URL, failures: list[tuple[str, RawHTTPError]]) -> RawHTTPError:
    """The error for a host none of whose addresses took the connection: the last one's kind
    (and errno), naming every address tried (localhost is ::1 and 127.0.0.1, say)."""
    last = failures[-1][1]
    if len(failures) == 1:
        return last
    tried = "; ".join(f"{address}: {_reason(error)}" for address, error in failures)
    error = type(last)(f"could not connect to {url.host} port {url.port} at any address ({tried})")
    error.errno_name = getattr(last, "errno_name", None)
    return error


def _reason(error: RawHTTPError) -> str:
    """'could not connect to ::1 port 8: Connection refused' -> 'Connection refused'."""
    return str(error).rpartition(": ")[2] if isinstance(error, ConnectError) else str(error)


def resolve(url: URL, options: Options, emit: Listener) -> list[tuple[int, tuple]]:
    """The addresses to try, in getaddrinfo's order (for localhost, the loopbacks after)."""
    host, port = url.host, url.port
    pinned = options.resolve.get((host.lower(), port))
    flags = socket.AI_NUMERICHOST if pinned else 0
    try:
        infos = socket.getaddrinfo(
            pinned or host.partition("%")[0], port, options.family, socket.SOCK_STREAM, 0, flags
        )
    except socket.gaierror as exc:
        if not pinned and _is_localhost(host):
            infos = []  # the loopbacks are added below
        else:
            raise _unresolved(host, options.family, exc) from None
    except UnicodeError:
        raise ResolveError(f"could not resolve host {host}: invalid name") from None
    addresses = [(info[0], _with_zone(info[4], host)) for info in infos]
    added = _missing_loopbacks(addresses, port, options.family)
    if pinned or not _is_localhost(host):
        added = []
    if not addresses + added:
        raise ResolveError(f"could not resolve host {host}: no address of that family")
    emit(
        events.Resolved(
            host=host,
            port=port,
            addresses=[(socket.AddressFamily(f).name, a[0], a[1]) for f, a in addresses],
        )
    )
    if added:
        also = " and ".join(sockaddr[0] for _, sockaddr in added)
        emit(
            events.Noted(
                f"{host} is the loopback (RFC 6761): {also} added to getaddrinfo's answer,"
                " tried if the addresses before fail"
            )
        )
    return addresses + added


def _with_zone(sockaddr: tuple, host: str) -> tuple:
    """An IPv6 sockaddr with the URL's zone id (`fe80::1%eth0`, url.py) as its scope id: glibc
    takes a zone name for link-local addresses only, so the name is looked up here."""
    zone = host.partition("%")[2]
    if not zone or len(sockaddr) != 4:
        return sockaddr
    try:
        scope = int(zone) if zone.isdigit() else socket.if_nametoindex(zone)
    except OSError:
        raise ResolveError(f"could not resolve host {host}: no interface {zone!r}") from None
    return (*sockaddr[:3], scope)


def _unresolved(host: str, family: int, exc: socket.gaierror) -> ResolveError:
    only = {socket.AF_INET: " (IPv4 only)", socket.AF_INET6: " (IPv6 only)"}.get(family, "")
    return ResolveError(f"could not resolve host {host}{only}: {exc.strerror}")


def within(deadline: float | None, timeout: float, max_time: float | None) -> float:
    """`timeout`, or less if --max-time's `deadline` comes sooner (a Timeout once it passed)."""
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise Timeout(f"transfer took longer than --max-time {max_time:g} s")
    return min(timeout, left)


def _connect(
    family: int, sockaddr: tuple, options: Options, emit: Listener, deadline: float | None
) -> socket.socket:
    address, port = sockaddr[0], sockaddr[1]
    emit(events.Connecting(family=socket.AddressFamily(family).name, address=address, port=port))
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(within(deadline, options.connect_timeout, options.max_time))
        sock.connect(sockaddr)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except TimeoutError:
        sock.close()
        raise Timeout(
            f"connect to {address} port {port} timed out after {options.connect_timeout:g} s"
        ) from None
    except OSError as exc:
        sock.close()
        reason = exc.strerror or type(exc).__name__
        raise from_os(
            ConnectError(f"could not connect to {address} port {port}: {reason}"), exc
        ) from None
    except BaseException:
        sock.close()
        raise
    return sock


# How long the probe of `speaks_tls` may take, connect and answer together: it runs only after
# a plain http:// request failed, to say why.
TLS_PROBE_TIMEOUT = 2.0


def speaks_tls(url: URL, options: Options) -> bool:
    """Whether `url`'s port answers a TLS ClientHello with a TLS record (a handshake, 0x16, or
    an alert, 0x15, then version byte 0x03). Asked after a plain http:// request to it got an
    empty reply or a reset: OpenSSL servers close on a plain request without a word, so only
    asking in TLS tells that the port speaks https."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    outgoing = ssl.MemoryBIO()
    tls = context.wrap_bio(ssl.MemoryBIO(), outgoing)
    with contextlib.suppress(ssl.SSLWantReadError):  # the ClientHello written, not answered
        tls.do_handshake()
    try:
        family, sockaddr = resolve(url, options, lambda event: None)[0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(TLS_PROBE_TIMEOUT)
            sock.connect(sockaddr)
            sock.sendall(outgoing.read())
            answer = sock.recv(2)
    except (OSError, RawHTTPError):
        return False
    return len(answer) == 2 and answer[0] in (0x15, 0x16) and answer[1] == 0x03


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
