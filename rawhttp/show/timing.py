"""`--timing`: where the time of one request went, like curl's `-w` variables.

Every figure is read off the transfer's events, measured from `RequestStarted` (for a redirect,
from the start of the last hop) and cumulative, as curl's `time_*` values are.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rawhttp import events
from rawhttp.show.units import rate

# (field, label, the event that marks it), in the order a transfer passes them.
MILESTONES = [
    ("dns_lookup", "DNS lookup", events.Resolved),
    ("tcp_connect", "TCP connect", events.Connected),
    ("tls_handshake", "TLS handshake", events.TLSEstablished),
    ("request_sent", "request sent", events.Sent),
    ("first_byte", "first byte", events.Received),
    ("body_done", "body done", events.BodyDone),
    ("total", "total", events.Closed),
]


# The steps a request on a kept connection does not take again.
SKIPPED_WHEN_REUSED = ("dns_lookup", "tcp_connect", "tls_handshake")


class Timing:
    """A listener that keeps the marks of the latest request; `report()` when it is over."""

    def __init__(self, style: str = "text") -> None:
        self.style = style
        self.start: float | None = None
        self.marks: dict[str, float] = {}
        self.remote: tuple[str, int] | None = None
        self.head_bytes = 0
        self.body_bytes = 0
        self.reused = False  # on a kept connection: no DNS, connect or TLS this time

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.RequestStarted):
            self.__init__(self.style)
            self.start = event.at
            return
        if self.start is None:
            return
        for name, _, kind in MILESTONES:
            # The request is sent when its last piece is (a body may follow the head).
            if isinstance(event, kind) and (name not in self.marks or name == "request_sent"):
                self.marks[name] = event.at - self.start
        if isinstance(event, (events.Connected, events.Reused)):
            self.remote = event.remote
            self.reused = isinstance(event, events.Reused)
        elif isinstance(event, events.TunnelAnswered):
            self.marks.pop("first_byte", None)  # that was the proxy's: the origin's is next
        elif isinstance(event, events.HeadReceived):
            self.head_bytes += len(event.head.raw)
        elif isinstance(event, events.BodyDone):
            self.body_bytes = event.received

    def report(self) -> dict:
        """The figures in seconds, None where a step did not happen (no TLS on http)."""
        result: dict = {name: self.marks.get(name) for name, _, _ in MILESTONES}
        if result["total"] is None:
            result["total"] = result["body_done"]
        address, port = self.remote or (None, None)
        total = result["total"] or 0.0
        result.update(
            address=address,
            port=port,
            reused=self.reused,
            head_bytes=self.head_bytes,
            body_bytes=self.body_bytes,
            mean_rate=self.body_bytes / total if total else None,
        )
        return result

    def finish(self) -> None:
        """After the transfer: the figures on stderr, as --timing asked."""
        self.render(self.style)

    def render(self, style: str = "text", out: TextIO | None = None) -> None:
        out = out or sys.stderr
        data = self.report()
        if style == "json":
            import json  # only for --timing=json: a plain GET does not pay for it

            print(json.dumps(data), file=out)
            return
        for name, label, _ in MILESTONES:
            value = data[name]
            shown = f"{value * 1000:10.3f} ms" if value is not None else f"{'-':>10}"
            if value is None and self.reused and name in SKIPPED_WHEN_REUSED:
                shown = f"{'-':>10}    skipped: the connection was reused"
            print(f"  {label:<14}{shown}", file=out)
        print(f"  {'address':<14}{data['address']} port {data['port']}", file=out)
        print(f"  {'head':<14}{data['head_bytes']} bytes", file=out)
        print(f"  {'body':<14}{data['body_bytes']} bytes", file=out)
        print(f"  {'mean rate':<14}{rate(self.body_bytes, data['total'] or 0)}", file=out)
