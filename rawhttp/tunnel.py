"""A CONNECT tunnel as a layer of dialling: ask the proxy for a byte pipe to the origin.

On a `Stream` connected to the proxy: send `CONNECT host:port HTTP/1.1` with `Host` (and
`Proxy-Authorization`, `--proxy-header`), read the answer with `wire.ResponseReader("CONNECT")`.
A 2xx has no body (RFC 9110 section 9.3.6): from its empty line on, the bytes are the
origin's, and any that came with the head are handed to the next layer (TLS, or the plain
request of `-p`). Anything else is a refusal, read whole (up to MAX_REFUSAL_BODY) so it can be
shown, and raised as `TunnelRefused` (407: `ProxyAuthRequired`), exit 56 as curl.
"""

from __future__ import annotations

from rawhttp import events
from rawhttp.errors import (
    EmptyReply,
    IncompleteBody,
    NetworkError,
    ProtocolError,
    ProxyAuthRequired,
    ProxyError,
    TunnelRefused,
)
from rawhttp.proxy import Proxy
from rawhttp.streams import Stream
from rawhttp.url import URL
from rawhttp.wire import Headers, ResponseHead, ResponseReader, build_request

# The most of a refusal's body kept to show (a proxy's error page is a few KiB; squid's are
# about 4 KiB, tinyproxy's under 1 KiB); the rest is not read, and the connection is closed.
MAX_REFUSAL_BODY = 64 * 1024


def authority(url: URL) -> str:
    """CONNECT's target and Host: host:port, the port always written (RFC 9110 9.3.6)."""
    return f"{url.host_for_header}:{url.port}"


def connect_request(url: URL, proxy: Proxy) -> bytes:
    """The CONNECT head: Host, User-Agent, then what the proxy alone is sent."""
    from rawhttp.version import __version__

    headers = Headers([("Host", authority(url)), ("User-Agent", f"rawhttp/{__version__}")])
    for name, value in proxy.fields():
        headers.set(name, value)
    return build_request("CONNECT", authority(url), headers)


def open_tunnel(stream: Stream, url: URL, proxy: Proxy) -> bytes:
    """CONNECT through `stream` to `url`'s host and port; the bytes that came after the 2xx
    head (the origin's, normally none). Raises ProxyError if the proxy fails or refuses."""
    stream.send(connect_request(url, proxy), events.TunnelRequestSent)
    reader = ResponseReader("CONNECT")
    got: list = []
    try:
        with stream.reading_head():
            while reader.head is None:
                got = _feed(stream, reader)
    except (EmptyReply, ProtocolError) as error:
        raise ProxyError(
            f"proxy {proxy.address} failed to answer CONNECT {authority(url)}: {error}"
        ) from None
    head = reader.head
    opened = 200 <= head.status < 300
    extra = reader.rest if opened else b""
    stream.emit(events.TunnelAnswered(head=head, extra=len(extra)))
    if opened:
        return extra
    raise _refusal(head, _refusal_body(stream, reader, got), proxy, url)


def _feed(stream: Stream, reader: ResponseReader) -> list:
    """One read fed to the reader, and the events it gave (the server's close: eof's)."""
    count = stream.recv_into(stream.buffer)
    if count == 0:
        stream.close(by="server")
        return reader.eof()
    return reader.feed(stream.buffer[:count])


def _refusal_body(stream: Stream, reader: ResponseReader, got: list) -> bytes:
    """The refusal's body as far as it comes (cut at MAX_REFUSAL_BODY, or where it ends):
    the pieces read with the head, then more reads."""
    body = bytearray()
    try:
        while True:
            body += b"".join(bytes(piece) for piece in got if isinstance(piece, memoryview))
            if reader.done or len(body) >= MAX_REFUSAL_BODY or stream.sock is None:
                break
            got = _feed(stream, reader)
    except (IncompleteBody, NetworkError):
        pass  # what came is shown; the refusal is the error
    return bytes(body[:MAX_REFUSAL_BODY])


def _refusal(head: ResponseHead, body: bytes, proxy: Proxy, url: URL) -> TunnelRefused:
    what = f"proxy {proxy.address} refused CONNECT {authority(url)}: {head.status} {head.reason}"
    if head.status == 407:
        why = "the proxy wants credentials (-U)"
        if proxy.credentials is not None:
            why = "the proxy did not accept the credentials given (-U)"
        return ProxyAuthRequired(f"{what}: {why}", head, body)
    return TunnelRefused(what, head, body)
