"""TLS records and handshake flights in words, for --trace, --explain, --packets and --timing.

The `TLSRecord` events say what a wire observer sees (a record's header, the messages of a
plaintext record, or only a ciphertext length); the `TLSMessage` events say what OpenSSL wrote
or read, TLS 1.3's encrypted messages included. This module names both alike ("ServerHello",
"application data (encrypted)"), tells which messages travelled encrypted, and groups the
records of a handshake into flights: the records one side sends before it waits for the
other. A round trip is a client flight answered by a server flight, so counting them needs no
knowledge of the version: TLS 1.3 takes one, TLS 1.2 two, a HelloRetryRequest one more.
Loaded only when a view watches TLS; sans-IO, like `rawhttp.tls`, which it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rawhttp import events
from rawhttp.tls.names import (
    ALERT,
    APPLICATION_DATA,
    CHANGE_CIPHER_SPEC,
    CLIENT_HELLO,
    HANDSHAKE,
    SERVER_HELLO,
    alert_name,
    handshake_name,
    version_name,
)

# How many offered items (versions, groups...) a hello's summary lists before "...".
LISTED = 4
ENCRYPTED_DATA = "application data (encrypted)"


def title(name: str) -> str:
    """A message's RFC name as the RFCs' structures spell it: client_hello -> ClientHello."""
    return "".join(word.capitalize() for word in name.split("_"))


def message_title(msg_type: int, fields: object = None) -> str:
    """ "ClientHello", "Certificate"...; a ServerHello that is a HelloRetryRequest says so."""
    if getattr(fields, "hello_retry_request", False):
        return "HelloRetryRequest"
    return title(handshake_name(msg_type))


def record_label(seen) -> str:
    """What one record (a `tls.Seen`) holds, in a few words, as an observer can tell."""
    content_type = seen.record.content_type
    if seen.encrypted:
        if content_type == APPLICATION_DATA:
            return ENCRYPTED_DATA
        return f"{seen.record.type_name} (encrypted)"
    if content_type == CHANGE_CIPHER_SPEC:
        return "ChangeCipherSpec"
    if seen.alert is not None:
        return f"alert {seen.alert.name}"
    if content_type == HANDSHAKE:
        names = [message_title(m.msg_type, m.fields) for m in seen.messages]
        return ", ".join(names) or "part of a handshake message"
    return seen.record.type_name


def counted(labels: list[str]) -> str:
    """Labels in order, a run of equal ones counted: "ServerHello, application data x4"."""
    runs: list[list] = []
    for label in labels:
        if runs and runs[-1][0] == label:
            runs[-1][1] += 1
        else:
            runs.append([label, 1])
    return ", ".join(label if count == 1 else f"{label} x{count}" for label, count in runs)


def hello_summary(fields: object) -> str:
    """A ClientHello's or ServerHello's few fields that matter, on one line."""
    if getattr(fields, "hello_retry_request", False):
        from rawhttp.tls.names import group_name

        return f"asks the client for a key share for {group_name(fields.key_share_group or 0)}"
    if hasattr(fields, "cipher_suites"):  # a ClientHello
        parts = [f"SNI {fields.server_name or '(none)'}"]
        versions = fields.version_names or [version_name(fields.legacy_version)]
        parts.append(f"versions {_listed(versions)}")
        parts.append(f"{len(fields.cipher_suites)} cipher suites")
        if fields.key_shares:
            parts.append("key share " + ", ".join(s.group_name for s in fields.key_shares))
        if fields.alpn:
            parts.append("ALPN " + ", ".join(fields.alpn))
        return "; ".join(parts)
    parts = [f"chose {fields.version_name}", fields.cipher_suite_name]
    if fields.key_share_group is not None:
        from rawhttp.tls.names import group_name

        parts.append(f"key share {group_name(fields.key_share_group)}")
    if fields.alpn:
        parts.append(f"ALPN {fields.alpn}")
    return "; ".join(parts)


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + ", ..." if len(names) > LISTED else shown


def message_name(e: events.TLSMessage) -> str:
    """A TLSMessage by name: "Finished", "ChangeCipherSpec", "alert close_notify"."""
    if e.content_type == CHANGE_CIPHER_SPEC:
        return "ChangeCipherSpec"
    if e.content_type == ALERT:
        return f"alert {alert_name(e.msg_type & 0xFF)}"
    return title(handshake_name(e.msg_type))


class Secrecy:
    """Tells, message by message, which `TLSMessage`s travelled encrypted, so that only
    OpenSSL, not the records, could name them. Feed it every TLSRecord (`record`) and every
    TLSMessage (`encrypted`) in order.

    Incoming, OpenSSL reads a message after its record came in: a message is plaintext when
    a plaintext record showed it (and OpenSSL does not report every ChangeCipherSpec it
    reads). Outgoing, it writes a message before its record goes out, so the rule decides:
    in TLS 1.3 all but the hellos once the ServerHello is in (RFC 8446 2), in TLS 1.2 all
    that follow the client's ChangeCipherSpec (RFC 5246 7.1)."""

    def __init__(self) -> None:
        self.server_hello = False
        self.changed = False  # the client has sent ChangeCipherSpec
        self._shown: list[str] = []  # incoming plaintext messages not yet reported

    def record(self, e: events.TLSRecord) -> None:
        seen = e.seen
        if any(m.msg_type == SERVER_HELLO for m in seen.messages):
            self.server_hello = True
        if e.direction == "IN":
            self._shown += [title(handshake_name(m.msg_type)) for m in seen.messages]
            if seen.alert is not None:
                self._shown.append(f"alert {seen.alert.name}")
        elif seen.record.content_type == CHANGE_CIPHER_SPEC:
            self.changed = True

    def encrypted(self, e: events.TLSMessage) -> bool:
        if e.content_type == CHANGE_CIPHER_SPEC:
            self.changed = self.changed or e.direction == "OUT"
            return False
        if e.direction == "IN":
            name = message_name(e)
            if name in self._shown:
                self._shown.remove(name)
                return False
            return True
        hello = e.content_type == HANDSHAKE and e.msg_type in (CLIENT_HELLO, SERVER_HELLO)
        if hello:
            return False
        return self.server_hello if e.version == "TLSv1.3" else self.changed


@dataclass
class Flight:
    """The records one side sent in a row, and the messages in them OpenSSL decrypted."""

    direction: str  # "OUT" (client to server) or "IN"
    first: float  # when its first record was sent or received
    last: float
    labels: list[str] = field(default_factory=list)
    size: int = 0  # bytes on the wire, headers included
    decrypted: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # the plaintext messages' titles
    hellos: list[object] = field(default_factory=list)  # ClientHello / ServerHello fields

    @property
    def sender(self) -> str:
        return "client" if self.direction == "OUT" else "server"

    def text(self) -> str:
        """ "ServerHello, ChangeCipherSpec, application data (encrypted) x4" and, if OpenSSL
        named them, what the encrypted records held."""
        shown = counted(self.labels)
        if self.decrypted:
            shown += f" [decrypted: {', '.join(self.decrypted)}]"
        return shown


class Flights:
    """Groups a connection's TLS records into flights; feed it TLSRecord and TLSMessage events.

    A flight ends when the other side sends. OpenSSL reports a message it writes before its
    record goes out and one it reads after its record came in, so an encrypted message going
    out waits for the next outgoing flight."""

    def __init__(self) -> None:
        self.flights: list[Flight] = []
        self.secrecy = Secrecy()
        self._waiting: list[str] = []  # encrypted outgoing messages, before their records

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.TLSRecord):
            self.secrecy.record(event)
            self._record(event)
        elif isinstance(event, events.TLSMessage) and self.secrecy.encrypted(event):
            name = message_name(event)
            if event.direction == "OUT":
                self._waiting.append(name)
            elif self.flights and self.flights[-1].direction == "IN":
                self.flights[-1].decrypted.append(name)

    def _record(self, e: events.TLSRecord) -> None:
        flight = self.flights[-1] if self.flights else None
        if flight is None or flight.direction != e.direction:
            flight = Flight(e.direction, e.at, e.at)
            self.flights.append(flight)
        if e.direction == "OUT" and self._waiting:
            flight.decrypted += self._waiting
            self._waiting = []
        flight.last = e.at
        flight.labels.append(record_label(e.seen))
        flight.size += len(e.seen.record.header) + e.seen.record.length
        flight.messages += [message_title(m.msg_type, m.fields) for m in e.seen.messages]
        flight.hellos += [
            m.fields for m in e.seen.messages if m.msg_type in (CLIENT_HELLO, SERVER_HELLO)
        ]

    def round_trips(self) -> list[tuple[Flight, Flight]]:
        """Each client flight with the server flight that answered it."""
        return [
            (sent, answer)
            for sent, answer in zip(self.flights, self.flights[1:], strict=False)
            if sent.direction == "OUT" and answer.direction == "IN"
        ]
