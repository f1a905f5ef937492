"""`--timing`: where the time of one request went, like curl's `-w` variables.

Every figure is read off the transfer's events, measured from `RequestStarted` (for a redirect,
from the start of the last hop) and cumulative, as curl's `time_*` values are.

Through a proxy's tunnel, "TCP connect" is the connection to the proxy, and "proxy CONNECT"
the moment its answer to CONNECT came (with the round trip it took: the proxy connecting to the
origin); in JSON `proxy_connect` (None without a tunnel).

Over TLS the handshake is split into its flights (`show.tlsrecords`): each client flight when
its last record was sent, each server flight when its last record came, with the round trip
it answered (from the client's last record to the server's first); in JSON as `tls_flights`
and `tls_round_trips`, which a plain-HTTP transfer does not have.
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
        self.flights = None  # show.tlsrecords.Flights of the TLS handshake, if any
        self.tunnel = ""  # what the proxy's CONNECT step was, for its row
        self._tunnel_sent: float | None = None

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.RequestStarted):
            self.__init__(self.style)
            self.start = event.at
            return
        if self.start is None:
            return
        if isinstance(event, (events.TLSRecord, events.TLSMessage)):
            self._tls(event)
        for name, _, kind in MILESTONES:
            # The request is sent when its last piece is (a body may follow the head).
            if isinstance(event, kind) and (name not in self.marks or name == "request_sent"):
                self.marks[name] = event.at - self.start
        if isinstance(event, (events.Connected, events.Reused)):
            self.remote = event.remote
            self.reused = isinstance(event, events.Reused)
        elif isinstance(event, events.TunnelRequestSent):
            self._tunnel_sent = event.at
        elif isinstance(event, events.TunnelAnswered):
            self.marks.pop("first_byte", None)  # that was the proxy's: the origin's is next
            self.marks["proxy_connect"] = event.at - self.start
            head = event.head
            trip = (event.at - self._tunnel_sent) * 1000 if self._tunnel_sent else 0.0
            self.tunnel = f"< {head.status} {head.reason} ({trip:.3f} ms after the CONNECT)"
        elif isinstance(event, events.HeadReceived):
            self.head_bytes += len(event.head.raw)
        elif isinstance(event, events.BodyDone):
            self.body_bytes = event.received

    def _tls(self, event: events.Event) -> None:
        """Handshake records and messages, until the handshake is done."""
        if "tls_handshake" in self.marks:
            return
        if self.flights is None:
            from rawhttp.show.tlsrecords import Flights

            self.flights = Flights()
        self.flights(event)

    def tls_steps(self) -> list[tuple[str, float, str]]:
        """(label, seconds since the start, what) for each flight of the TLS handshake."""
        steps: list[tuple[str, float, str]] = []
        if self.flights is None or self.start is None:
            return steps
        trips, previous = 0, None
        for flight in self.flights.flights:
            what = ", ".join(flight.messages + flight.decrypted) or flight.text()
            if flight.direction == "OUT":
                label = "TLS hello" if "ClientHello" in flight.messages else "TLS finish"
                what = f"> {what}"
            else:
                trips += 1
                label = f"TLS round {trips}"
                what = f"< {what}"
                if previous is not None and previous.direction == "OUT":
                    wait = (flight.first - previous.last) * 1000
                    what += f" ({wait:.3f} ms after the client's flight)"
            steps.append((label, flight.last - self.start, what))
            previous = flight
        return steps

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
            proxy_connect=self.marks.get("proxy_connect"),
        )
        if self.flights is not None and self.start is not None:
            result["tls_flights"] = [
                {
                    "direction": flight.direction.lower(),
                    "first": flight.first - self.start,
                    "last": flight.last - self.start,
                    "bytes": flight.size,
                    "messages": flight.messages + flight.decrypted,
                }
                for flight in self.flights.flights
            ]
            result["tls_round_trips"] = [
                answer.first - sent.last for sent, answer in self.flights.round_trips()
            ]
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
            if name == "tls_handshake":
                for step, at, what in self.tls_steps():
                    print(f"  {step:<14}{at * 1000:10.3f} ms  {what}", file=out)
            value = data[name]
            shown = f"{value * 1000:10.3f} ms" if value is not None else f"{'-':>10}"
            if value is None and self.reused and name in SKIPPED_WHEN_REUSED:
                shown = f"{'-':>10}    skipped: the connection was reused"
            print(f"  {label:<14}{shown}", file=out)
            if name == "tcp_connect" and data["proxy_connect"] is not None:
                at = data["proxy_connect"] * 1000  # (a row only through a proxy's tunnel)
                print(f"  {'proxy CONNECT':<14}{at:10.3f} ms  {self.tunnel}", file=out)
        print(f"  {'address':<14}{data['address']} port {data['port']}", file=out)
        print(f"  {'head':<14}{data['head_bytes']} bytes", file=out)
        print(f"  {'body':<14}{data['body_bytes']} bytes", file=out)
        print(f"  {'mean rate':<14}{rate(self.body_bytes, data['total'] or 0)}", file=out)
