"""`--explain`: the transfer told as a walk-through in socket-API words, for students.

Rendered from the same events as every other view: what `getaddrinfo` returned, the
`socket()` and `connect()` calls and the 4-tuple, the request line and each header (who added
it and what it is for), the status line and each response header, the framing decision, why
the read loop stopped, how many `recv` calls it took, and who closed the connection.

Through a proxy it says which proxy and why, the CONNECT step (what was asked, what the proxy
answered, where the tunnel begins), and what the proxy could read: all of a forwarded http://
request and its answer; of a tunnel only `CONNECT host:port` and, for https://, the server
name in the ClientHello (SNI), the rest being encrypted between the client and the origin.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rawhttp import events
from rawhttp.errors import ProtocolError, RawHTTPError
from rawhttp.wire import Headers, parse_fields

REQUEST_HEADERS = {
    "host": "names the site: one IP address can serve many (required in HTTP/1.1)",
    "user-agent": "says which program is asking",
    "accept": "the media types the client will take (*/* is anything)",
    "accept-encoding": "the compressions the client can undo (gzip, deflate)",
    "connection": "close: one request, then the connection ends; keep-alive: more may follow",
    "range": "asks for part of the body only (bytes=N- is from byte N to the end)",
    "authorization": "credentials for the site",
    "cookie": "state the site stored earlier",
    "content-type": "what the request body is: a form (urlencoded, multipart), JSON...",
    "content-length": "the request body's size in bytes: the server reads exactly that many",
    "transfer-encoding": "chunked: the body's size is not known, so it goes in sized chunks",
    "expect": "100-continue: the client waits for the server's go-ahead before the body",
    "proxy-authorization": "credentials for the proxy (-U): it removes them before forwarding",
}

RESPONSE_HEADERS = {
    "content-length": "the body's size in bytes: the client reads exactly that many",
    "transfer-encoding": "chunked: the body comes in pieces, each preceded by its size",
    "content-type": "what the body is (a media type), and its charset for text",
    "content-encoding": "the body is compressed (gzip, deflate): undo it to get the content",
    "connection": "close: the server will end the connection after this response",
    "keep-alive": "how long the server keeps an idle connection open",
    "date": "when the server made the response",
    "server": "which server program answered",
    "last-modified": "when the resource last changed (for If-Modified-Since)",
    "etag": "a version tag of the resource (for If-None-Match)",
    "location": "where to go instead (with 3xx) or what was created (with 201)",
    "cache-control": "who may cache the response, and for how long",
    "expires": "after this date the response is stale",
    "accept-ranges": "bytes: the server can send parts of the body (Range requests)",
    "content-range": "which part of the body this is, and the whole size",
    "set-cookie": "state the client should store and send back",
    "vary": "which request headers changed the answer (for caches)",
    "link": "related resources (with 103 Early Hints: what to preload)",
    "via": "the proxies the message passed through, each adding itself (RFC 9110 7.6.3)",
    "trailer": "the fields that come after a chunked body (in its trailer section)",
}

STATUS_CLASSES = {
    1: "informational: an interim answer, the final one follows",
    2: "success: the request worked",
    3: "redirection: the resource is elsewhere (see Location)",
    4: "client error: the request was wrong or not allowed",
    5: "server error: the server failed to answer a valid request",
}

FRAMING_WHY = {
    "none": "this response has no body (HEAD request, 1xx, 204 or 304)",
    "length": "Content-Length gives the size: read exactly that many bytes",
    "chunked": "Transfer-Encoding: chunked: read chunk-size lines and chunks until the 0 chunk",
    "close": "no length given: the body is everything until the server closes",
}

ERROR_WHY = {
    "ECONNREFUSED": "the host answered with a reset: nothing listens on that port",
    "ETIMEDOUT": "no answer came in time: a firewall dropped the packets, or the host is down",
    "ECONNRESET": "the peer aborted the connection (a TCP RST) instead of closing it cleanly",
    "EHOSTUNREACH": "no route to that host: the network path does not exist",
    "ENETUNREACH": "this machine has no network route to that address",
    "EADDRNOTAVAIL": "that address cannot be used from this machine",
}

LAYER_NAMES = {"dns": "DNS", "tcp": "TCP", "tls": "TLS", "http": "HTTP", "url": "URL"}


class Explain:
    """A listener; `user_headers` names the headers the user gave with -H."""

    def __init__(self, out: TextIO | None = None, user_headers: list[str] | None = None):
        from rawhttp.show.color import Palette, is_terminal

        self.out = out or sys.stderr
        # what the server sent is told on a terminal with its control bytes written out
        self.shown = Palette(visible=is_terminal(self.out)).shown
        self.user_headers = {name.lower() for name in user_headers or []}
        self.recv_calls = 0
        self.request_count = 0
        self.connect_at: float | None = None
        self.tcp = None  # show.tcpnotes.TcpNotes, made at the first connect
        self.tls = None  # show.tlsstory.TLSStory, made at a connection's first TLS record
        self.connected_at: float | None = None
        self.https = False  # the request goes over TLS: reads and writes are TLS's
        # Who closed and why is only said when it is known: a close by rawhttp before the
        # whole response is held back until error() names the failure.
        self.whole = False
        self.redirecting = False
        self.framing = ""
        self._unexplained: events.Closed | None = None
        self.proxy: events.ProxyChosen | None = None  # the proxy this request goes through

    def __call__(self, event: events.Event) -> None:
        render = getattr(self, "_" + type(event).__name__, None)
        if render is not None:
            render(event)

    def say(self, text: str = "", indent: int = 0) -> None:
        print("  " * indent + self.shown(text), file=self.out)

    def _RequestStarted(self, e: events.RequestStarted) -> None:
        self.request_count += 1
        self.recv_calls = 0
        self.whole = self.redirecting = False
        self.framing = ""
        self.https = e.url.startswith("https:")
        self.say(f"== {e.method} {e.url}")

    def _Resolved(self, e: events.Resolved) -> None:
        self.say(f"getaddrinfo({e.host!r}, {e.port}) returned {len(e.addresses)} address(es):")
        for family, address, port in e.addresses:
            self.say(f"{family:<9} {address} port {port}", 1)

    def _Noted(self, e: events.Noted) -> None:
        self.say(f"note: {e.message}")

    def _ProxyChosen(self, e: events.ProxyChosen) -> None:
        self.proxy = e
        how = "opens a CONNECT tunnel through it" if e.tunnel else "asks it to forward the request"
        self.say(f"proxy: {e.proxy} (from {e.source}): rawhttp connects to it, not to the origin,")
        self.say(f"and {how}", 1)

    def _ProxySkipped(self, e: events.ProxySkipped) -> None:
        self.say(f"no proxy for {e.host}: {e.rules_source} lists {e.entry!r} (connecting directly)")

    def _TunnelRequestSent(self, e: events.TunnelRequestSent) -> None:
        line = bytes(e.data).split(b"\r\n", 1)[0].decode("latin-1")
        self.say(f"send() wrote {len(e.data)} bytes to the proxy, in plaintext: {line}")
        self.say("CONNECT asks the proxy for a TCP connection to that host and port, then a", 1)
        self.say("byte pipe to it (RFC 9110 section 9.3.6); the proxy reads this line and Host", 1)

    def _TunnelAnswered(self, e: events.TunnelAnswered) -> None:
        head = e.head
        self.recv_calls = 0  # (the reads of the origin's answer are counted from here)
        self.say(f"the proxy answered {head.status} {head.reason}")
        if not 200 <= head.status < 300:
            self.say("not 2xx: no tunnel; the answer is the proxy's own, shown in full", 1)
            return
        self.say("2xx: the tunnel is open. Its head has no body: every byte after its empty", 1)
        self.say("line is the origin's, copied by the proxy without being read", 1)
        if self.https:
            self.say("what the proxy can read of this fetch: CONNECT host:port, and the server", 1)
            self.say("name (SNI) in the ClientHello, which is plaintext; from the handshake on,", 1)
            self.say("the path, the headers and both bodies are encrypted between you and", 1)
            self.say("the origin", 1)
        else:
            self.say("the HTTP inside is plaintext (-p on http://): the proxy does not parse", 1)
            self.say("it, but could read every byte of it", 1)

    def _Connecting(self, e: events.Connecting) -> None:
        self.connect_at = e.at
        self.say(f"socket({e.family}, SOCK_STREAM) makes a TCP socket;")
        self.say(f"connect(({e.address!r}, {e.port})) starts the three-way handshake")

    def _ConnectFailed(self, e: events.ConnectFailed) -> None:
        self.say(f"that connect failed: {e.reason}", 1)

    def _Connected(self, e: events.Connected) -> None:
        self.connected_at, self.tls = e.at, None
        (la, lp), (ra, rp) = e.local, e.remote
        self.say("connected. The connection is this 4-tuple:")
        self.say(f"local  {la} port {lp} (an ephemeral port the kernel chose)", 1)
        self.say(f"remote {ra} port {rp}", 1)
        # What the kernel says (Linux): the handshake's time and round trip, later who
        # closed first and the TIME_WAIT it leaves (show/tcpnotes.py).
        from rawhttp.show.tcpnotes import TcpNotes

        self.tcp = TcpNotes()
        self._say_all(self.tcp.connected(e, self.connect_at))

    def _Reused(self, e: events.Reused) -> None:
        self.say(f"reusing the open connection to {e.remote[0]} port {e.remote[1]} (keep-alive)")

    def _story(self):
        if self.tls is None:
            from rawhttp.show.tlsstory import TLSStory

            self.tls = TLSStory(self.connected_at)
        return self.tls

    def _TLSRecord(self, e: events.TLSRecord) -> None:
        self._say_lines(self._story().record(e))

    def _TLSMessage(self, e: events.TLSMessage) -> None:
        self._say_lines(self._story().message(e))

    def _TLSEstablished(self, e: events.TLSEstablished) -> None:
        self._say_lines(self._story().established(e))
        if self.tcp is not None:
            self.tcp.tls(e)

    def _wrote(self, count: int) -> str:
        if not self.https:
            return f"send() wrote {count} bytes"
        return f"{count} bytes went into TLS (sent encrypted, in application data records)"

    @property
    def _reads(self) -> str:
        """What one read is called: recv() on a plain socket, a TLS read of decrypted bytes."""
        return "TLS read(s) of decrypted bytes" if self.https else "recv() call(s)"

    def _say_lines(self, lines: list[str]) -> None:
        for line in lines:
            self.say(line)

    def _RequestHeadSent(self, e: events.RequestHeadSent) -> None:
        lines = bytes(e.data).decode("latin-1").split("\r\n")[:-2]
        method, target, version = [*lines[0].split(" "), "", ""][:3]
        self.say(f"{self._wrote(len(e.data))}: the request head, lines ending in \\r\\n")
        self.say(f"request line: {lines[0]}", 1)
        self.say(f"method  {method}: what to do", 2)
        if "://" in target:  # absolute-form: to a proxy that forwards it
            self.say(f"target  {target}: the whole URL (absolute-form), as a proxy needs it", 2)
            self.say("to know where to forward; the proxy reads this request in full: every", 3)
            self.say("header and the body, and the answer it passes back", 3)
        else:
            self.say(f"target  {target}: the path and query on that host", 2)
        self.say(f"version {version}: the protocol spoken", 2)
        headers = _fields(lines[1:])
        for name, value in headers:
            who = "you (-H)" if name.lower() in self.user_headers else "rawhttp"
            meaning = REQUEST_HEADERS.get(name.lower(), "a header rawhttp has no note for")
            self.say(f"{name}: {value}", 1)
            self.say(f"added by {who}; {meaning}", 2)
        self.say(f"an empty line (\\r\\n) ends the head; {_body_framing(headers)}", 1)

    def _RequestBodySent(self, e: events.RequestBodySent) -> None:
        self.say(f"{self._wrote(len(e.data))} of the request body (from byte {e.body_offset})")

    def _ContinueAwaited(self, e: events.ContinueAwaited) -> None:
        self.say(f"the body waits: recv() for up to {e.timeout:g} s for 100 Continue first")

    def _ContinueReceived(self, e: events.ContinueReceived) -> None:
        self.say("the server answered 100 Continue (an interim head): the body goes now")

    def _BodyWithheld(self, e: events.BodyWithheld) -> None:
        self.say(f"the body was not sent: {e.reason}")

    def _Received(self, e: events.Received) -> None:
        self.recv_calls += 1

    def _HeadReceived(self, e: events.HeadReceived) -> None:
        head = e.head
        self.say(f"after {self.recv_calls} {self._reads}, the response head is complete")
        self.say(f"({len(head.raw)} bytes; it ends at offset {e.end} of what was received)", 1)
        self.say(f"status line: {head.http_version} {head.status} {head.reason}", 1)
        meaning = STATUS_CLASSES.get(head.status // 100, "not a standard class")
        self.say(f"{head.status} is {head.status // 100}xx, {meaning}", 2)
        for name, value in head.headers:
            self.say(f"{name}: {value}", 1)
            gloss = RESPONSE_HEADERS.get(name.lower())
            self.say(gloss or "(not in rawhttp's table: a header this server chose to send)", 2)

    def _FramingDecided(self, e: events.FramingDecided) -> None:
        self.framing = e.framing.kind
        self.say(f"framing: {e.framing}. {FRAMING_WHY[e.framing.kind]}")

    def _BodyDone(self, e: events.BodyDone) -> None:
        self.whole = True
        self.say(f"the read loop stopped: {e.reason}")
        chunks = f" in {e.chunks} chunk(s)" if e.chunks is not None else ""
        self.say(f"body: {e.received} bytes{chunks}", 1)
        called = "the TLS layer was read" if self.https else "recv() was called"
        self.say(f"{called} {self.recv_calls} time(s) in all", 1)
        if e.extra:
            self.say(f"{e.extra} byte(s) came after the end of the message and were ignored", 1)

    def _Redirecting(self, e: events.Redirecting) -> None:
        self.redirecting = True
        self.say(f"{e.status} redirect: following it to {e.location} with {e.method}")

    def _Closing(self, e: events.Closing) -> None:
        if self.tcp is not None:
            self._say_all(self.tcp.closing(e))

    def _Closed(self, e: events.Closed) -> None:
        if e.kept:
            self.say("the connection stays open for the next request (keep-alive)")
            return
        if e.by == "server":
            self.recv_calls += 1
            end = "; close() ours"
            if not self.whole and self.framing != "close":
                end = ", before the response was complete; close() ours"
            if self.https:
                self.say(f"the TLS read returned 0 bytes: the server's close_notify{end}")
            else:
                self.say(f"recv() returned 0 bytes: the server closed its side (FIN){end}")
        elif self.whole:
            self.say("rawhttp called close(): it has the whole response")
        elif self.redirecting:
            self.say("rawhttp called close(): the redirect's own body is not needed")
        else:
            self._unexplained = e  # said by error(), which knows why
            return
        self._tcp_closed(e)

    def _tcp_closed(self, e: events.Closed) -> None:
        if self.tcp is not None:
            self._say_all(self.tcp.closed(e))

    def _say_close(self, error: RawHTTPError | None) -> None:
        closed, self._unexplained = self._unexplained, None
        if closed is None:
            return
        why = close_reason(error) if error is not None else "the body was not read to its end"
        self.say(f"rawhttp called close() without a whole response: {why}")
        self._tcp_closed(closed)

    def finish(self) -> None:
        self._say_close(None)

    def _say_all(self, lines: list[str]) -> None:
        for line in lines:
            self.say(line, 1)

    def error(self, error: RawHTTPError) -> None:
        """An error, explained: its layer, the errno name, and one plain sentence."""
        if self.tls is not None:
            self._say_lines(self.tls.story())  # a handshake that failed: how far it went
        self._say_close(error)
        layer = LAYER_NAMES.get(error.layer, error.layer.upper())
        name = getattr(error, "errno_name", None)
        self.say(f"failed at the {layer} layer{f' ({name})' if name else ''}: {error}")
        self.say(explain_error(error, name), 1)


def _fields(lines: list[str]) -> Headers:
    """The sent head's fields, parsed without a server's limits: a view never fails."""
    try:
        return parse_fields([line.encode("latin-1") for line in lines], allow_obs_fold=False)
    except ProtocolError:
        return Headers([tuple(line.partition(":")[::2]) for line in lines])


def _body_framing(headers: Headers) -> str:
    if "Transfer-Encoding" in headers:
        return "the body follows in chunks (Transfer-Encoding: chunked), ended by a 0 chunk"
    if "Content-Length" in headers:
        return f"the body follows: exactly {headers['Content-Length']} bytes (Content-Length)"
    return "no Content-Length and no chunked: this request has no body"


# Why rawhttp closed a connection before the whole response, by error class (first match in
# the class's MRO).
CLOSE_REASONS = {
    "CertificateError": "the server's certificate was not trusted, so no HTTP was sent",
    "TLSError": "the TLS handshake failed, so no HTTP was sent",
    "Timeout": "it stopped waiting (a timeout)",
    "ProtocolError": "what arrived is not valid HTTP, so nothing after it can be trusted",
    "OutputError": "the body could not be written where it was asked to go",
    "HTTPStatusError": "the answer's status says the body is not the one wanted",
    "ResumeError": "the server's range does not continue the partial file",
    "NetworkError": "the connection failed under it",
}


def close_reason(error: RawHTTPError) -> str:
    if getattr(error, "errno_name", None) == "ECONNRESET":
        return "the server reset the connection (a TCP RST): nothing more can arrive"
    for cls in type(error).__mro__:
        if cls.__name__ in CLOSE_REASONS:
            return CLOSE_REASONS[cls.__name__]
    return "the transfer failed"


def explain_error(error: RawHTTPError, errno_name: str | None) -> str:
    if errno_name in ERROR_WHY:
        return ERROR_WHY[errno_name]
    plain = {
        "ResolveError": "DNS has no address for that name: check the spelling, or that it exists",
        "ConnectError": "the TCP handshake did not complete, so no byte of HTTP was sent",
        "Timeout": "nothing arrived within the allowed time; the peer is slow or silent",
        "CertificateError": "the server's certificate does not prove it is that host",
        "TLSError": "the TLS handshake failed: the peer may not speak TLS on that port",
        "EmptyReply": "the server accepted the connection and closed it without answering",
        "IncompleteBody": "the connection ended before the framing said the body was complete",
        "InvalidURL": "the URL could not be understood, so nothing was sent",
        "InvalidProxy": "the proxy (-x or a proxy variable) cannot be used: http:// ones only",
        "ProxyResolveError": "DNS has no address for the proxy's name: nothing was sent",
        "ProxyConnectError": "the proxy did not accept the TCP connection: nothing was sent",
        "ProxyAuthRequired": "the proxy wants credentials first (407): give them with -U",
        "TunnelRefused": "the proxy would not open a tunnel to that host and port",
        "ProxyError": "the proxy failed during CONNECT: no byte reached the origin",
    }
    for cls in type(error).__mro__:
        if cls.__name__ in plain:
            return plain[cls.__name__]
    return "the bytes received do not follow HTTP/1.1's rules (RFC 9112)"
