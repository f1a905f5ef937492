"""Sans-IO handshake messages: plaintext handshake record payloads in, `Message` values out.

Handshake messages have their own 4-byte header inside the records (RFC 8446 section 4):

    struct {
        HandshakeType msg_type;    /* 1 byte: 1 = client_hello, 2 = server_hello, ... */
        uint24 length;             /* bytes remaining in the message */
        ...                        /* the body: ClientHello, Certificate, ... */
    } Handshake;

and they are framed independently of records: a 5 KiB certificate chain spans several
records, and a TLS 1.2 server often packs ServerHello, Certificate, ServerKeyExchange and
ServerHelloDone into one. `HandshakeReader` rejoins them, one reader per direction.

Each message comes back with its body and, for the types that can be decoded, `fields`: a
ClientHello, ServerHello, Certificate... value (see `hello.py` and `messages.py`). Some bodies
depend on what the server chose (a TLS 1.3 Certificate has a different layout; a DHE key
exchange differs from ECDHE), so both directions' readers share one `Negotiated`, filled in
when the ServerHello goes by.

Only plaintext may be fed: handshake records before the ChangeCipherSpec in TLS 1.2, and in
TLS 1.3 only the hellos (what follows is application_data records). `observer.is_encrypted`
says which records those are, and `observer.TLSObserver` feeds the right ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rawhttp.tls.cursor import Cursor
from rawhttp.tls.errors import TLSDecodeError
from rawhttp.tls.hello import parse_client_hello, parse_server_hello
from rawhttp.tls.messages import (
    parse_certificate,
    parse_client_key_exchange,
    parse_finished,
    parse_new_session_ticket,
    parse_server_hello_done,
    parse_server_key_exchange,
)
from rawhttp.tls.names import (
    CERTIFICATE,
    CLIENT_HELLO,
    CLIENT_KEY_EXCHANGE,
    FINISHED,
    NEW_SESSION_TICKET,
    SERVER_HELLO,
    SERVER_HELLO_DONE,
    SERVER_KEY_EXCHANGE,
    TLS13,
    cipher_suite_name,
    handshake_name,
)

# The handshake header: msg_type (1) and uint24 length (3).
HEADER_SIZE = 4
# The largest message accepted, though uint24 allows 16 MiB: Go's crypto/tls caps a certificate
# message at 256 KiB (maxHandshakeCertificateMsg) and others at 64 KiB; OpenSSL's default
# max_cert_list is 100 KiB. A certificate chain is the largest message a server sends.
MAX_MESSAGE_SIZE = 256 * 1024


@dataclass
class Negotiated:
    """What the ServerHello chose, shared by both directions' readers (None until then)."""

    version: int | None = None
    cipher_suite: int | None = None

    @property
    def suite_name(self) -> str:
        """The chosen suite's IANA name ("" before the ServerHello)."""
        return "" if self.cipher_suite is None else cipher_suite_name(self.cipher_suite)


@dataclass(frozen=True)
class Message:
    """One handshake message: its type, its body, and the decoded body when the type is one
    rawhttp reads (None for the others, whose name is still known)."""

    msg_type: int
    body: bytes
    fields: Any = None

    @property
    def name(self) -> str:
        """RFC 8446's name: "client_hello", "certificate", ..."""
        return handshake_name(self.msg_type)


def decode_body(msg_type: int, body: bytes, negotiated: Negotiated | None = None) -> Any:
    """The decoded body of a message of `msg_type`, or None for a type not decoded here.
    `negotiated` tells the version and suite, which some bodies' layout depends on."""
    negotiated = negotiated or Negotiated()
    tls13 = negotiated.version == TLS13
    suite = negotiated.suite_name
    if msg_type == CLIENT_HELLO:
        return parse_client_hello(body)
    if msg_type == SERVER_HELLO:
        return parse_server_hello(body)
    if msg_type == CERTIFICATE:
        return parse_certificate(body, tls13)
    if msg_type == SERVER_KEY_EXCHANGE:
        return parse_server_key_exchange(body, dhe="_DHE_" in suite)
    if msg_type == CLIENT_KEY_EXCHANGE:
        rsa_or_dhe = suite.startswith("TLS_RSA_") or "_DHE_" in suite
        return parse_client_key_exchange(body, ecdhe=not rsa_or_dhe)
    if msg_type == SERVER_HELLO_DONE:
        return parse_server_hello_done(body)
    if msg_type == NEW_SESSION_TICKET:
        return parse_new_session_ticket(body, tls13)
    if msg_type == FINISHED:
        return parse_finished(body)
    return None


def parse_message(data: bytes, negotiated: Negotiated | None = None) -> Message:
    """One whole handshake message, header included (a convenience for tests and lessons)."""
    c = Cursor(data, "handshake message")
    msg_type = c.uint(1, "msg_type")
    body = c.vector(3, "body")
    c.end()
    return Message(msg_type, body, decode_body(msg_type, body, negotiated))


class HandshakeReader:
    """Rejoins one direction's handshake messages from plaintext handshake record payloads."""

    def __init__(self, negotiated: Negotiated | None = None, max_size: int = MAX_MESSAGE_SIZE):
        self.negotiated = negotiated if negotiated is not None else Negotiated()
        self.max_size = max_size
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of an unfinished message held (0 between messages)."""
        return len(self._buffer)

    def feed(self, payload: bytes) -> list[Message]:
        """Take one handshake record's payload; return the messages it completes, decoded.
        A ServerHello fills in `negotiated`. After an error, feed no more."""
        self._buffer += payload
        messages = []
        while len(self._buffer) >= HEADER_SIZE:
            msg_type = self._buffer[0]
            length = int.from_bytes(self._buffer[1:HEADER_SIZE], "big")
            if length > self.max_size:
                raise TLSDecodeError(
                    f"a {handshake_name(msg_type)} message of {length} bytes"
                    f" (the limit is {self.max_size})"
                )
            if len(self._buffer) < HEADER_SIZE + length:
                break
            body = bytes(self._buffer[HEADER_SIZE : HEADER_SIZE + length])
            del self._buffer[: HEADER_SIZE + length]
            messages.append(Message(msg_type, body, self._decode(msg_type, body)))
        return messages

    def _decode(self, msg_type: int, body: bytes) -> Any:
        """Decode a body; remember the server's choice when it is a ServerHello."""
        fields = decode_body(msg_type, body, self.negotiated)
        if msg_type == SERVER_HELLO:
            self.negotiated.version = fields.version
            self.negotiated.cipher_suite = fields.cipher_suite
        return fields
