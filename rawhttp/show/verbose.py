"""`-v`: the request as sent (`> ` lines) and connection notes (`* ` lines), on stderr.

The response head is not repeated here: it is on stdout exactly as received. A request body
is shown as curl's -v shows it: a short text body as its lines, a longer or binary one as
`} [N bytes data]` per send, then a note of how much was sent. On a terminal (`--color`) the
request line and header names and values are coloured as the response head is, the notes dimmed.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rawhttp import events
from rawhttp.show.color import OFF, Palette

# A body up to this size, and all text, is shown as its lines; a larger one is summarised.
SHOW_BODY = 256


class Verbose:
    """A listener: call it with each event of a transfer."""

    def __init__(
        self, out: TextIO | None = None, palette: Palette = OFF, keylog: str | None = None
    ):
        self.out = out or sys.stderr
        self.palette = palette
        self.keylog = keylog
        self.body_sent = 0
        self.chain: tuple[bytes, ...] = ()

    def __call__(self, event: events.Event) -> None:
        for line in self.lines(event):
            if line.startswith(("* ", "} ")):
                line = self.palette.paint("note", line)
            print(line, file=self.out)

    def lines(self, event: events.Event) -> list[str]:
        render = getattr(self, "_" + type(event).__name__, None)
        return render(event) if render else []

    def _Resolved(self, e: events.Resolved) -> list[str]:
        addresses = ", ".join(address for _, address, _ in e.addresses)
        return [f"* Resolved {e.host} to {addresses}"]

    def _Connecting(self, e: events.Connecting) -> list[str]:
        return [f"*   Trying {_hostport(e.address, e.port)}..."]

    def _ConnectFailed(self, e: events.ConnectFailed) -> list[str]:
        return [f"* {e.reason}"]

    def _Connected(self, e: events.Connected) -> list[str]:
        return [f"* Connected to {_hostport(*e.remote)} from {_hostport(*e.local)}"]

    def _Reused(self, e: events.Reused) -> list[str]:
        return [f"* Reusing connection to {_hostport(*e.remote)}"]

    def _TLSMessage(self, e: events.TLSMessage) -> list[str]:
        from rawhttp.show.tlsnotes import CERTIFICATE, message_lines

        if e.direction == "IN" and e.msg_type == CERTIFICATE and e.content_type == 22:
            self.chain = _chain(e)
        return message_lines(e)

    def _TLSEstablished(self, e: events.TLSEstablished) -> list[str]:
        from rawhttp.show.tlsnotes import established_lines, keylog_path

        return established_lines(e, keylog_path(self.keylog))

    def error(self, error) -> None:
        """A certificate that was not trusted: show it, so the reason can be seen in it."""
        from rawhttp.errors import CertificateError

        if isinstance(error, CertificateError) and self.chain:
            from rawhttp.show.tlsnotes import certificate_lines

            for line in certificate_lines(self.chain[0], verified=None):
                print(self.palette.paint("note", line), file=self.out)

    def _Sent(self, e: events.Sent) -> list[str]:
        lines = bytes(e.data).decode("latin-1").split("\r\n")[:-1]
        paint = self.palette
        painted = [paint.request_line(line) for line in lines[:1]]
        painted += [paint.header_line(line) for line in lines[1:]]
        return [paint.paint("marker", ">") + " " + line for line in painted]

    def _RequestHeadSent(self, e: events.RequestHeadSent) -> list[str]:
        self.body_sent = 0
        return self._Sent(e)

    def _RequestBodySent(self, e: events.RequestBodySent) -> list[str]:
        data = bytes(e.data)
        self.body_sent += len(data)
        if e.body_offset == 0 and len(data) <= SHOW_BODY and _is_text(data):
            return ["> " + line for line in data.decode("ascii").splitlines()]
        return [f"}} [{len(data)} bytes data]"]

    def _ContinueAwaited(self, e: events.ContinueAwaited) -> list[str]:
        return [f"* Waiting up to {e.timeout:g} s for 100 Continue before sending the body"]

    def _ContinueReceived(self, e: events.ContinueReceived) -> list[str]:
        return ["* The server said 100 Continue: sending the body"]

    def _BodyWithheld(self, e: events.BodyWithheld) -> list[str]:
        return [f"* Request body not sent: {e.reason}"]

    def _Noted(self, e: events.Noted) -> list[str]:
        return [f"* {e.message}"]

    def _HeadReceived(self, e: events.HeadReceived) -> list[str]:
        sent = [f"* Request body sent: {self.body_sent} bytes"] if self.body_sent else []
        self.body_sent = 0
        kind = "interim" if e.head.is_interim else "final"
        return [
            *sent,
            f"* Received {kind} head: {e.head.status} {e.head.reason} ({len(e.head.raw)} bytes)",
        ]

    def _FramingDecided(self, e: events.FramingDecided) -> list[str]:
        return [f"* Body framing: {e.framing}"]

    def _BodyDone(self, e: events.BodyDone) -> list[str]:
        # Trailer fields, as `< ` lines like a head's (curl 7.88's -v leaves them out; curl
        # writes them to -D and -i, and they are part of what arrived).
        trailers = e.trailers.decode("latin-1").split("\r\n")[:-1]
        marker = self.palette.paint("marker", "<")
        lines = [f"{marker} {self.palette.header_line(line)}" for line in trailers]
        lines.append(f"* Body complete: {e.received} bytes, {e.reason}")
        if e.extra:
            lines.append(f"* Ignored {e.extra} bytes after the end of the message")
        return lines

    def _Redirecting(self, e: events.Redirecting) -> list[str]:
        return [f"* Following {e.status} to {e.location} ({e.method})"]

    def _ProxyChosen(self, e: events.ProxyChosen) -> list[str]:
        if e.source == "-x":
            why = f"* Uses proxy {e.value!r} (-x)"
        else:
            why = f"* Uses proxy env variable {e.source} == {e.value!r}"  # curl's words
        how = "a CONNECT tunnel" if e.tunnel else "it forwards the request (absolute-form target)"
        return [why, f"* Through proxy {e.proxy}: {how}"]

    def _ProxySkipped(self, e: events.ProxySkipped) -> list[str]:
        return [
            f"* Not using proxy {e.value!r} (from {e.source}) for {e.host}: "
            f"{e.rules_source} entry {e.entry!r} matches it"
        ]

    _TunnelRequestSent = _Sent

    def _TunnelAnswered(self, e: events.TunnelAnswered) -> list[str]:
        lines = ["< " + line for line in e.head.raw.decode("latin-1").split("\r\n")[:-1]]
        if 200 <= e.head.status < 300:
            lines.append(f"* CONNECT tunnel established, response {e.head.status}")
            if e.extra:
                lines.append(f"* {e.extra} bytes came after it: the origin's, kept for it")
        else:
            lines.append(f"* CONNECT refused by the proxy, response {e.head.status}")
        return lines

    def _Closed(self, e: events.Closed) -> list[str]:
        if e.kept:
            return ["* Connection kept open for the next request"]
        return [f"* Connection closed by the {e.by}"]


def _chain(e: events.TLSMessage) -> tuple[bytes, ...]:
    """The certificates of a Certificate message (none if it cannot be read)."""
    from rawhttp.tls import TLSDecodeError
    from rawhttp.tls.messages import parse_certificate

    try:
        return parse_certificate(e.data[4:], tls13=e.version == "TLSv1.3").certificates
    except TLSDecodeError:
        return ()


def _is_text(data: bytes) -> bool:
    return data.isascii() and all(byte >= 0x20 or byte in b"\t\r\n" for byte in data)


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
