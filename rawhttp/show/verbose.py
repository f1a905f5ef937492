"""`-v`: the request as sent (`> ` lines) and connection notes (`* ` lines), on stderr.

The response head is not repeated here: it is on stdout exactly as received.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rawhttp import events


class Verbose:
    """A listener: call it with each event of a transfer."""

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stderr

    def __call__(self, event: events.Event) -> None:
        for line in self.lines(event):
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

    def _TLSEstablished(self, e: events.TLSEstablished) -> list[str]:
        return [f"* TLS handshake done: {e.version}, cipher {e.cipher}"]

    def _Sent(self, e: events.Sent) -> list[str]:
        text = bytes(e.data).decode("latin-1")
        return ["> " + line for line in text.split("\r\n")[:-1]]

    def _HeadReceived(self, e: events.HeadReceived) -> list[str]:
        kind = "interim" if e.head.is_interim else "final"
        return [
            f"* Received {kind} head: {e.head.status} {e.head.reason} ({len(e.head.raw)} bytes)"
        ]

    def _FramingDecided(self, e: events.FramingDecided) -> list[str]:
        return [f"* Body framing: {e.framing}"]

    def _BodyDone(self, e: events.BodyDone) -> list[str]:
        lines = [f"* Body complete: {e.received} bytes, {e.reason}"]
        if e.extra:
            lines.append(f"* Ignored {e.extra} bytes after the end of the message")
        return lines

    def _Redirecting(self, e: events.Redirecting) -> list[str]:
        return [f"* Following {e.status} to {e.location} ({e.method})"]

    def _Closed(self, e: events.Closed) -> list[str]:
        if e.kept:
            return ["* Connection kept open for the next request"]
        return [f"* Connection closed by the {e.by}"]


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
