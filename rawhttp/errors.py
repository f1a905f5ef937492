"""The exception hierarchy: every failure rawhttp reports is one of these.

Each class carries the layer it happened in (dns, tcp, tls, http, file) and the exit code the CLI
uses for it. The numbers are curl's, so scripts and lessons can use either tool.
"""


class RawHTTPError(Exception):
    """Base of every rawhttp error; `str()` is the one-line message shown to the user."""

    exit_code = 1
    layer = "http"
    # The OS error's name (ECONNREFUSED...) when a system call failed: --explain shows it.
    errno_name: str | None = None


class InvalidURL(RawHTTPError):
    """The URL cannot be understood; nothing was sent."""

    exit_code = 3
    layer = "url"


class NetworkError(RawHTTPError):
    """The socket failed after connecting (reset, broken pipe): curl calls it a receive failure."""

    exit_code = 56
    layer = "tcp"


class ListenError(NetworkError):
    """The server could not listen on the address (in use, not allowed, not resolvable)."""

    exit_code = 7


class ResolveError(NetworkError):
    """getaddrinfo could not turn the host name into an address."""

    exit_code = 6
    layer = "dns"


class ConnectError(NetworkError):
    """No address of the host accepted the TCP connection."""

    exit_code = 7


class Timeout(NetworkError):
    """A connect, a read or the whole transfer took longer than allowed."""

    exit_code = 28


class TLSError(NetworkError):
    """The TLS handshake failed for a reason other than trust."""

    exit_code = 35
    layer = "tls"


class TLSTruncated(NetworkError):
    """The TLS stream ended without close_notify: what came may be cut short (curl's 56). A
    body whose framing counts its bytes says instead how many are missing (IncompleteBody)."""

    layer = "tls"


class CertificateError(TLSError):
    """The server's certificate is not trusted (unknown issuer, expired, wrong host)."""

    exit_code = 60


class ProtocolError(RawHTTPError):
    """The peer's bytes are not valid HTTP/1.1 framing.

    `status` is what a server answers it with (400 unless the error says otherwise: 413, 414,
    431, 501, 505), so one place picks the error page.
    """

    exit_code = 8
    status = 400

    def __init__(self, message: str = "", status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class LimitExceeded(ProtocolError):
    """A head, header count or chunk-size line is larger than the named limit in `wire`."""

    status = 431


class IncompleteBody(ProtocolError):
    """The connection closed before Content-Length bytes or the last chunk arrived."""

    exit_code = 18

    def __init__(self, message: str, received: int = 0, expected: int | None = None):
        super().__init__(message, status=400)
        self.received = received
        self.expected = expected


class EmptyReply(ProtocolError):
    """The server closed the connection without sending a single byte."""

    exit_code = 52


class TooManyRedirects(RawHTTPError):
    """Following Location headers went past the redirect limit."""

    exit_code = 47


class HTTPStatusError(RawHTTPError):
    """`--fail` was given and the final status was 400 or more (the body was still saved)."""

    exit_code = 22


class OutputError(RawHTTPError):
    """The body could not be written where it was asked to go."""

    exit_code = 23
    layer = "file"


class InvalidRequest(RawHTTPError):
    """The caller asked for a request that cannot be sent as valid HTTP (a bad header name,
    CR/LF/NUL in a value): refused before anything reaches the wire. Exit 2, a usage error."""

    exit_code = 2
    layer = "usage"


class DecodingError(ProtocolError):
    """`--compressed`: the gzip or deflate body is corrupt or cut short (curl's exit 61)."""

    exit_code = 61


class ResumeError(RawHTTPError):
    """`-C`: the server's answer to a Range request cannot continue the partial file."""

    exit_code = 33


class ResumeRefused(HTTPStatusError):
    """`-C`: the server answered the Range request with an error page (404, 503...), not with
    the rest of the file: the partial file is left as it was, and nothing is saved over it.
    Exit 22, as `--fail` would."""


class CAFileError(RawHTTPError):
    """`--cacert FILE` cannot be read, or holds no PEM certificate (curl's exit 77)."""

    exit_code = 77
    layer = "tls"


class InputError(RawHTTPError):
    """A request body could not be read (-d @FILE, -T FILE), or changed while being sent
    (curl's exit 26, "read error")."""

    exit_code = 26
    layer = "file"


class CaptureUnavailable(RawHTTPError):
    """`--packets` or `--pcap` cannot open an AF_PACKET socket (no root or CAP_NET_RAW, not
    Linux): said before any transfer, which is not made. Exit 2, as for a usage error: the
    command asks for what this process cannot do."""

    exit_code = 2
    layer = "capture"


class ProxyError(NetworkError):
    """Going through an HTTP proxy failed: the proxy's own fault or answer, not the origin's.
    The base is curl's receive failure (56): the proxy closed or garbled its CONNECT answer."""

    exit_code = 56
    layer = "proxy"


class InvalidProxy(ProxyError):
    """`-x` or a proxy variable cannot be used: bad syntax, or a scheme other than http://
    (curl answers both with its "could not resolve proxy", exit 5)."""

    exit_code = 5


class ProxyResolveError(ProxyError):
    """The proxy's host name does not resolve (curl's exit 5, not 6: the proxy, not the host)."""

    exit_code = 5


class ProxyConnectError(ProxyError):
    """The proxy does not accept the TCP connection (curl's exit 7)."""

    exit_code = 7


class TunnelRefused(ProxyError):
    """The proxy answered CONNECT with a status other than 2xx (403: that port is not
    allowed, 502: the origin cannot be reached...). `head` and `body` are its answer, shown
    in full. Exit 56, as curl's "CONNECT tunnel failed"."""

    def __init__(self, message: str, head=None, body: bytes = b""):
        super().__init__(message)
        self.head = head
        self.body = body


class ProxyAuthRequired(TunnelRefused):
    """The proxy answered CONNECT with 407: it wants credentials (-U USER:PASSWORD)."""


class TLSSetupError(RawHTTPError):
    """`serve --tls` cannot start: the certificate or key cannot be loaded, or (without
    `--cert`) the optional extra that makes one is missing. Exit 2, as for a usage error."""

    exit_code = 2
    layer = "tls"


class NamespaceUnavailable(RawHTTPError):
    """`lesson page-load` cannot make network namespaces and TUN devices (not root, no
    /dev/net/tun, a kernel or container that refuses them). The lesson says so and falls back
    to `serve --latency`; exit 2 (as CaptureUnavailable) only if it ever surfaced."""

    exit_code = 2
    layer = "netns"


class LessonUnavailable(RawHTTPError):
    """A lesson cannot run as asked (a page given by URL, before the page-requisites finder
    exists): exit 2, as for a usage error."""

    exit_code = 2
    layer = "usage"
