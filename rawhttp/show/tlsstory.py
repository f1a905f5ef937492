"""What `--explain` says about TLS: the handshake as flights and round trips, then what
travels after it (session tickets, close_notify).

The round trips are counted from the records, not assumed from the version: a flight is
what one side sends before the other answers (`tlsrecords.Flights`), and each client flight
the server answers before the handshake is done is one round trip. TLS 1.3 needs one (the
ClientHello carries a key share, the server answers with everything, the client's Finished
goes with its request); TLS 1.2 two; a HelloRetryRequest adds one. Each flight is said with
its measured time, and with what a passive observer on the path can read in it.
"""

from __future__ import annotations

from rawhttp import events
from rawhttp.show.tlsrecords import Flight, Flights, hello_summary, message_name

# The TLSMessage types said after the handshake (RFC 8446 4.6.1, RFC 8446 6.1).
NEW_SESSION_TICKET = 4
ALERT = 21


class TLSStory:
    """Fed the TLS events of one connection; each method returns the lines to say."""

    def __init__(self, connected_at: float | None) -> None:
        self.origin = connected_at
        self.flights = Flights()
        self.told = False

    def record(self, e: events.TLSRecord) -> list[str]:
        if not self.told:
            self.flights(e)
        return []

    def message(self, e: events.TLSMessage) -> list[str]:
        if not self.told:
            self.flights(e)
            return []
        if not self.flights.secrecy.encrypted(e):
            return []
        if e.content_type == 22 and e.msg_type == NEW_SESSION_TICKET and e.direction == "IN":
            return [
                "the server sent a NewSessionTicket after the handshake (encrypted, as TLS 1.3 "
                "does): with it a later connection could resume without a full handshake"
            ]
        if e.content_type == ALERT and (e.msg_type & 0xFF) == 0:
            return [_CLOSE_NOTIFY[e.direction]]
        if e.content_type == ALERT:
            who = "rawhttp" if e.direction == "OUT" else "the server"
            return [f"{who} sent an alert ({message_name(e)}): the TLS connection ends"]
        return []

    def established(self, e: events.TLSEstablished) -> list[str]:
        lines = self.story()
        trips = len(self.flights.round_trips())
        lines.append(
            f"TLS handshake done in {trips} round trip{'s' if trips != 1 else ''}: "
            f"{e.version}, cipher {e.cipher}"
        )
        flights = self.flights.flights
        if flights and flights[-1].direction == "OUT":
            lines.append(
                "  the client's Finished was the last flight: it waits for no answer, so the "
                "request follows in the same flight"
            )
        if e.alpn:
            lines.append(f"  ALPN: the server chose {e.alpn}, inside the handshake")
        return lines

    def story(self) -> list[str]:
        """The flights so far, each with its time and what an observer reads in it."""
        if self.told:
            return []
        self.told = True
        lines = ["TLS handshake over the socket (rawhttp moves each record to and from OpenSSL):"]
        previous: Flight | None = None
        trips = 0
        for number, flight in enumerate(self.flights.flights, 1):
            when = self._when(flight)
            if previous is not None and previous.direction == "OUT" and flight.direction == "IN":
                trips += 1
                wait = (flight.first - previous.last) * 1000
                when += f", {wait:.3f} ms after flight {number - 1}: round trip {trips}"
            arrow = "client -> server" if flight.direction == "OUT" else "server -> client"
            count = len(flight.labels)
            lines.append(f"  flight {number}, {arrow}{when}:")
            lines.append(
                f"    {flight.text()} ({flight.size} bytes in {count} record"
                f"{'s' if count != 1 else ''})"
            )
            lines += [f"    {line}" for line in _observed(flight)]
            previous = flight
        return lines

    def _when(self, flight: Flight) -> str:
        if self.origin is None:
            return ""
        return f", at {(flight.first - self.origin) * 1000:.3f} ms after connect"


_CLOSE_NOTIFY = {
    "IN": "the server sent close_notify (an encrypted alert): the TLS stream ends cleanly "
    "(a FIN without it could be an attacker cutting the response short)",
    "OUT": "rawhttp sends close_notify (an encrypted alert) before close(): the TLS stream "
    "ends cleanly on its side",
}


def _observed(flight: Flight) -> list[str]:
    """What a passive observer reads in a flight, and why the flight is there."""
    lines = []
    for hello in flight.hellos:
        retry = getattr(hello, "hello_retry_request", False)
        name = "HelloRetryRequest" if retry else type(hello).__name__
        lines.append(f"{name}: {hello_summary(hello)}")
        if getattr(hello, "server_name", None):
            lines.append(
                f"  the SNI {hello.server_name} is in the clear: any observer on the path "
                "reads which site this is"
            )
        if getattr(hello, "key_shares", ()):
            lines.append("  it carries a key share, so a TLS 1.3 server can make the keys at once")
        if retry:
            lines.append(
                "  HelloRetryRequest: the key share offered does not suit the server: the "
                "client must say ClientHello again, one more round trip"
            )
    if "Certificate" in flight.messages:
        lines.append(
            "the Certificate is in the clear (TLS 1.2): an observer reads which certificate, "
            "and so which site"
        )
    elif "Certificate" in flight.decrypted:
        lines.append("the Certificate travelled encrypted: an observer cannot read it")
    if "ServerHelloDone" in flight.messages:
        lines.append(
            "the client needed the server's key exchange first: its own half and its "
            "Finished go in the next flight, and it waits for the server's Finished"
        )
    return lines
