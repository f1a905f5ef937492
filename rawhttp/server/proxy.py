"""`serve --proxy`: a forward proxy for lessons, sans-IO. What it decides; `relay.py` moves bytes.

A request whose target is absolute (`GET http://host:port/path HTTP/1.1`) is forwarded: the
proxy reads all of it, drops the hop-by-hop fields (RFC 9110 section 7.6.1: Connection, the
fields it names, Proxy-Authorization, TE...), adds `Via` (section 7.6.3), sends it upstream
in origin-form on a fresh connection, and streams the answer back, its framing re-done where
the client needs it (a close-delimited answer goes out chunked, so the client's connection
can stay open). A `CONNECT host:port` opens a tunnel: after `200 Connection established` the
proxy copies bytes both ways without reading them, except the first TLS record, whose
ClientHello names the server (SNI): that name and the CONNECT line are all a proxy learns of
an https:// fetch, and the log line says so.

Any other request (origin-form, `GET /index.html`) goes to the folder's handler as usual.

The rules are squid's defaults: CONNECT only to port 443 (its `SSL_ports`) and forwarding only
to its `Safe_ports`, plus any port of a loopback server (the lessons' own servers) and each
`--proxy-allow HOST:PORT`; anything else is 403. A request that would come back to this proxy
(its own address, or a `Via` that already holds its name) is a loop: 508 Loop Detected
(RFC 5842), rather than a request that multiplies until sockets run out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

from rawhttp.server.actions import Forward, Tunnel
from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.handler import MAX_REQUEST_BODY, Handler
from rawhttp.server.pages import SERVER
from rawhttp.tls import HandshakeReader, RecordReader, TLSDecodeError
from rawhttp.tls.names import HANDSHAKE
from rawhttp.wire import (
    LAST_CHUNK,
    EndOfMessage,
    Headers,
    HeadEvent,
    ResponseReader,
    build_request,
    build_response_head,
    encode_chunk,
)

# squid's default `acl SSL_ports port 443`: where CONNECT may go.
SSL_PORTS = frozenset({443})
# squid's default `acl Safe_ports`: where a plain request may be forwarded (http, ftp, https,
# gopher, wais, http-mgmt, gss-http, filemaker, multiling http, and the unregistered ports).
SAFE_PORTS = frozenset({80, 21, 443, 70, 210, 280, 488, 591, 777}) | frozenset(range(1025, 65536))
# A forwarded request's body is read whole before it goes upstream: nginx's
# client_max_body_size (1 MiB by default) bounds it the same way.
MAX_FORWARDED_BODY = MAX_REQUEST_BODY
# How much of a tunnel's first client bytes are kept to find the ClientHello's server name: a
# ClientHello fits one record (at most 16 KiB of payload and its 5-byte header) in practice.
CLIENT_HELLO_PEEK = 16 * 1024 + 5
# The fields that concern one hop only (RFC 9110 section 7.6.1, and Proxy-Connection, which
# old clients still send): never passed on, either way.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback_host(host: str) -> bool:
    """Whether `host` (a name or an address, brackets allowed) is this machine."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def split_authority(authority: str, default_port: int | None) -> tuple[str, int]:
    """`host:port` (or `[::1]:port`) as (host, port); 400 if it is not one."""
    host, sep, port = authority.rpartition(":")
    if not sep or (host.startswith("[") != host.endswith("]")) or "]" in port:
        host, port = authority, ""
    if not port and default_port is not None:
        port = str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise StatusPage(400, f"not a host:port: {authority!r}")
    return host.strip("[]"), int(port)


def without_hop_by_hop(headers: Headers) -> Headers:
    """The fields an end-to-end message keeps: the hop-by-hop ones and those that Connection
    names are dropped."""
    named = {token.lower() for token in headers.get_list("Connection")}
    return Headers([(k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP | named])


class Target(NamedTuple):
    host: str
    port: int


class ProxyRules:
    """Where this proxy may send a request: the allowed ports, and not back to itself."""

    def __init__(self, host: str, port: int, allow: Iterable[str] = ()):
        self.host, self.port = host, port
        self.name = f"{'[' + host + ']' if ':' in host else host}:{port}"  # Via's received-by
        self.allowed = {split_authority(item, None) for item in allow}

    def via(self, version: str) -> str:
        """This hop's Via entry: `1.1 127.0.0.1:8080 (rawhttp/0.1.0)`."""
        return f"{version.removeprefix('HTTP/')} {self.name} ({SERVER})"

    def check(self, target: Target, tunnel: bool, headers: Headers) -> None:
        """403 for a port the rules do not open, 508 for a request that loops back here."""
        host = target.host.lower()
        if target.port == self.port and (is_loopback_host(host) or host == self.host):
            raise StatusPage(508, f"{self.name} is this proxy: forwarding there would loop")
        for entry in headers.get_list("Via"):
            if self.name in entry.split():
                raise StatusPage(508, f"the request has been through {self.name} already (Via)")
        if (host, target.port) in self.allowed or is_loopback_host(host):
            return
        ports, which = (SSL_PORTS, "CONNECT") if tunnel else (SAFE_PORTS, "forwarding")
        if target.port not in ports:
            hint = f"--proxy-allow {target.host}:{target.port} opens it"
            raise StatusPage(403, f"{which} to port {target.port} is not allowed ({hint})")


class BufferedBody:
    """Where a forwarded request's body waits until it goes upstream (MAX_FORWARDED_BODY)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, piece: bytes | memoryview) -> None:
        self.data += piece

    def discard(self) -> None:
        self.data = bytearray()


class ForwardProxy:
    """The handler of `serve --proxy`: proxies absolute-form requests and CONNECT, and hands
    every other request to `site` (the folder's handler)."""

    def __init__(self, site: Handler, rules: ProxyRules):
        self.site = site
        self.rules = rules
        self.keeps_request = getattr(site, "keeps_request", 0)

    @staticmethod
    def proxied(exchange: Exchange) -> bool:
        request = exchange.request
        return request.method == "CONNECT" or "://" in request.target

    def check(self, exchange: Exchange) -> None:
        if self.proxied(exchange):
            self.target(exchange)
        else:
            getattr(self.site, "check", lambda _: None)(exchange)

    def body_limit(self, exchange: Exchange) -> int:
        if self.proxied(exchange):
            return MAX_FORWARDED_BODY
        return getattr(self.site, "body_limit", lambda _: MAX_REQUEST_BODY)(exchange)

    def open_body(self, exchange: Exchange):
        if self.proxied(exchange):
            return BufferedBody()
        return getattr(self.site, "open_body", lambda _: None)(exchange)

    def target(self, exchange: Exchange) -> Target:
        """Where the request goes, checked against the rules (400, 403, 508)."""
        request = exchange.request
        if request.method == "CONNECT":
            target = Target(*split_authority(request.target, None))
        else:
            url = urlsplit(request.target)
            if url.scheme.lower() != "http":
                raise StatusPage(
                    400, f"only http:// is forwarded ({url.scheme}:// goes by CONNECT)"
                )
            try:
                target = Target(url.hostname or "", url.port or 80)
            except ValueError:
                raise StatusPage(400, f"bad port in {request.target!r}") from None
            if not target.host:
                raise StatusPage(400, f"no host in {request.target!r}")
        self.rules.check(target, request.method == "CONNECT", request.headers)
        return target

    def __call__(self, exchange: Exchange) -> None:
        if not self.proxied(exchange):
            self.site(exchange)
            return
        target = self.target(exchange)
        if exchange.request.method == "CONNECT":
            exchange.actions.append(Tunnel(TunnelPlan(exchange, target)))
        else:
            exchange.actions.append(Forward(ForwardPlan(exchange, target, self.rules)))

    def close(self) -> None:
        getattr(self.site, "close", lambda: None)()


def failure_bytes(exchange: Exchange, status: int, detail: str) -> bytes:
    """A status page for the client, the exchange closing after it (recorded for the log)."""
    exchange.fail(StatusPage(status, detail, close=True))
    data = b"".join(action.data for action in exchange.actions)
    exchange.actions.clear()
    return data


class TunnelPlan:
    """One CONNECT tunnel: its answers, and what the proxy sees of the bytes it copies."""

    tunnel = True

    def __init__(self, exchange: Exchange, target: Target):
        self.exchange = exchange
        self.target = target
        self.up = self.down = 0  # bytes copied each way
        self.server_name: str | None = None
        self._records: RecordReader | None = RecordReader()  # until the ClientHello is read
        self._handshake = HandshakeReader()
        exchange.keep_alive = False  # the connection is the tunnel's until it ends

    def established(self) -> bytes:
        """Connected upstream: the client may start (RFC 9110 section 9.3.6)."""
        self.exchange.status = 200
        return ESTABLISHED

    def failed(self, status: int, why: str) -> bytes:
        """The upstream could not be reached: 502 (or 504 if it never answered)."""
        return failure_bytes(self.exchange, status, f"cannot reach {self._where()}: {why}")

    def from_client(self, data: bytes) -> None:
        """Bytes the client sends into the tunnel: counted, and the first record read for the
        ClientHello's server name (nothing after it can be read)."""
        self.up += len(data)
        if self._records is None:
            return
        try:
            for record in self._records.feed(data[: CLIENT_HELLO_PEEK - self.up + len(data)]):
                messages = (
                    self._handshake.feed(record.payload) if record.content_type == HANDSHAKE else []
                )
                for message in messages:
                    if message.name == "client_hello" and message.fields is not None:
                        self.server_name = message.fields.server_name
                self._records = None  # one record looked at: the rest is not ours to read
                break
        except TLSDecodeError:  # not TLS (a `-p` tunnel of plain HTTP): nothing to name
            self._records = None
        if self.up >= CLIENT_HELLO_PEEK:
            self._records = None

    def from_upstream(self, data: bytes) -> bytes:
        self.down += len(data)
        return data

    def ended(self) -> None:
        """The tunnel closed: its log note says what the proxy could see."""
        sni = f"SNI {self.server_name}" if self.server_name else "no SNI seen"
        self.exchange.note = f"tunnel: {sni}, {self.up} bytes up, {self.down} down"
        self.exchange.body_bytes = self.down

    def _where(self) -> str:
        return f"{self.target.host}:{self.target.port}"


class ForwardPlan:
    """One forwarded request: the bytes sent upstream, and the answer re-framed for the client."""

    tunnel = False

    def __init__(self, exchange: Exchange, target: Target, rules: ProxyRules):
        self.exchange = exchange
        self.target = target
        self.rules = rules
        request = exchange.request
        self.reader = ResponseReader(request.method)
        self.chunked = False  # the answer is re-framed as chunked for the client
        self.done = False
        self.request = self._upstream_request(exchange)

    def _upstream_request(self, exchange: Exchange) -> bytes:
        """The request in origin-form, Host from the URL (RFC 9112 section 3.2.2), the
        hop-by-hop fields dropped, Via added, and a fresh connection closed after it."""
        request = exchange.request
        url = urlsplit(request.target)
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        headers = without_hop_by_hop(request.headers)
        headers.set("Host", url.netloc.rpartition("@")[2])
        body = bytes(exchange.sink.data) if exchange.sink is not None else b""
        headers.remove("Content-Length")
        if body or request.method in ("POST", "PUT", "PATCH"):
            headers.add("Content-Length", str(len(body)))
        headers.add("Via", self.rules.via(request.http_version))
        headers.add("Connection", "close")
        exchange.sink = None
        return build_request(request.method, path, headers) + body

    def failed(self, status: int, why: str) -> bytes | None:
        """The upstream failed: a 502 or 504 for the client, or None once the answer has begun
        (then only closing the connection can tell)."""
        if self.exchange.head_sent:
            return None
        where = f"{self.target.host}:{self.target.port}"
        return failure_bytes(self.exchange, status, f"{where}: {why}")

    def from_upstream(self, data: bytes) -> bytes:
        """Upstream bytes in, the bytes for the client out (ProtocolError if not HTTP)."""
        return self._events(self.reader.feed(data))

    def upstream_closed(self) -> bytes:
        """The upstream closed: the end of a close-delimited body (or ProtocolError)."""
        return self._events(self.reader.eof())

    def _events(self, events) -> bytes:
        out = []
        for event in events:
            if isinstance(event, HeadEvent):
                if not event.head.is_interim:  # (1xx heads are this hop's business)
                    out.append(self._head(event.head))
            elif isinstance(event, EndOfMessage):
                out.append(LAST_CHUNK if self.chunked else b"")
                self.done = True
            elif self.exchange.wants_body:
                self.exchange.body_bytes += len(event)
                out.append(encode_chunk(bytes(event)) if self.chunked else bytes(event))
        return b"".join(out)

    def _head(self, head) -> bytes:
        exchange = self.exchange
        exchange.status = head.status
        headers = without_hop_by_hop(head.headers)
        headers.add("Via", self.rules.via(head.http_version))
        framing = self.reader.framing
        if framing.kind in ("chunked", "close") and exchange.wants_body:
            if exchange.request.http_version == "HTTP/1.1":
                self.chunked = True
                headers.add("Transfer-Encoding", "chunked")
            else:  # an HTTP/1.0 client knows no chunks: the close ends the body
                exchange.keep_alive = False
        if not exchange.keep_alive:
            headers.add("Connection", "close")
        elif exchange.request.http_version == "HTTP/1.0":
            headers.add("Connection", "keep-alive")
        return build_response_head(head.status, headers, head.reason or None)


Plan = TunnelPlan | ForwardPlan
