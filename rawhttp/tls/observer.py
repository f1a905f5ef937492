"""Both directions of one TLS connection, read as an observer on the wire reads them.

`records`, `handshake` and `alerts` each read one layer; this module composes them for a whole
connection, which needs a little state that spans the two directions:

- the ServerHello (IN) decides the version, which decides how the client's later messages
  (OUT) read and the largest record either side may send (RFC 8446 5.2);
- a ChangeCipherSpec ends the plaintext of its direction in TLS 1.2 (RFC 5246 7.1), but not
  in TLS 1.3, where it is only a compatibility gesture (RFC 8446 appendix D.4) and every
  encrypted record is application_data anyway.

The client's I/O side feeds it every byte it moves between the socket and the MemoryBIOs:

    observer = TLSObserver()
    for seen in observer.feed("OUT", outgoing_bytes):
        for line in seen.curl_lines():
            ...  # "TLSv1.3 (OUT), TLS handshake, Client hello (1):"
"""

from __future__ import annotations

from dataclasses import dataclass

from rawhttp.tls.alerts import Alert, parse_alert
from rawhttp.tls.curltrace import curl_line
from rawhttp.tls.errors import TLSDecodeError
from rawhttp.tls.handshake import HandshakeReader, Message, Negotiated
from rawhttp.tls.hello import ClientHello
from rawhttp.tls.names import (
    ALERT,
    APPLICATION_DATA,
    CHANGE_CIPHER_SPEC,
    CLIENT_HELLO,
    HANDSHAKE,
    TLS12,
    TLS13,
)
from rawhttp.tls.records import Record, RecordReader, record_limit

OUT, IN = "OUT", "IN"  # curl's words: OUT is what this side sends
# RFC 5246 7.1: the ChangeCipherSpec message is the single byte 1.
_CHANGE_CIPHER_SPEC_BYTE = b"\x01"


def is_encrypted(content_type: int, version: int | None, changed_cipher: bool) -> bool:
    """Whether a record's payload is ciphertext. application_data always is. In TLS 1.2 a
    handshake or alert record is once its sender has sent ChangeCipherSpec (RFC 5246 7.1); in
    TLS 1.3 never: an encrypted record is always typed application_data (RFC 8446 5.2), even
    after the compatibility ChangeCipherSpec (appendix D.4)."""
    if content_type == APPLICATION_DATA:
        return True
    return content_type in (HANDSHAKE, ALERT) and changed_cipher and version != TLS13


@dataclass(frozen=True)
class Seen:
    """One record and what could be read in it. `version` is the version OpenSSL (and so
    curl) would name the record's messages by at that moment."""

    direction: str
    record: Record
    version: int
    encrypted: bool = False  # the payload is ciphertext: only its length is known
    messages: tuple[Message, ...] = ()  # handshake messages this record completed
    alert: Alert | None = None

    def curl_lines(self) -> list[str]:
        """The lines `curl -v` prints for this record's messages (none for ciphertext, which
        curl shows decrypted and a wire observer cannot)."""
        content_type = self.record.content_type
        if self.encrypted:
            return []
        if content_type == CHANGE_CIPHER_SPEC:
            return [curl_line(self.direction, self.version, content_type, 1)]
        if self.alert is not None:
            return [curl_line(self.direction, self.version, content_type, self.alert)]
        return [
            curl_line(self.direction, self.version, content_type, m.msg_type) for m in self.messages
        ]


class TLSObserver:
    """Reads both directions of one connection; feed each direction's bytes in order."""

    def __init__(self) -> None:
        self.negotiated = Negotiated()
        self.client_hello: ClientHello | None = None
        self._records = {OUT: RecordReader(), IN: RecordReader()}
        self._handshakes = {
            OUT: HandshakeReader(self.negotiated),
            IN: HandshakeReader(self.negotiated),
        }
        self._changed_cipher = {OUT: False, IN: False}

    def feed(self, direction: str, data: bytes) -> list[Seen]:
        """The records `data` completes in `direction` ("OUT" or "IN"), each with what could be
        read in it. Raises TLSDecodeError (NotTLSError for a plain-text peer)."""
        return [self._read(direction, record) for record in self._records[direction].feed(data)]

    def _read(self, direction: str, record: Record) -> Seen:
        """Decode one record as far as its direction's state allows."""
        content_type = record.content_type
        changed_cipher = self._changed_cipher[direction]
        if is_encrypted(content_type, self.negotiated.version, changed_cipher):
            return Seen(direction, record, self._version(), encrypted=True)
        if content_type == CHANGE_CIPHER_SPEC:
            if record.payload != _CHANGE_CIPHER_SPEC_BYTE:
                raise TLSDecodeError(f"a ChangeCipherSpec of {record.payload!r}, not b'\\x01'")
            self._changed_cipher[direction] = True
        elif content_type == ALERT:
            return Seen(direction, record, self._version(), alert=parse_alert(record.payload))
        elif content_type == HANDSHAKE:
            messages = tuple(self._handshakes[direction].feed(record.payload))
            self._remember(messages)
            return Seen(direction, record, self._version(), messages=messages)
        return Seen(direction, record, self._version())

    def _remember(self, messages: tuple[Message, ...]) -> None:
        """Keep the ClientHello; once a version is chosen, hold both sides to its limit."""
        for message in messages:
            if message.msg_type == CLIENT_HELLO and self.client_hello is None:
                self.client_hello = message.fields
        if self.negotiated.version is not None:
            for reader in self._records.values():
                reader.max_length = record_limit(self.negotiated.version)

    def _version(self) -> int:
        """The negotiated version, else the best the client offered, else TLS 1.2's number."""
        if self.negotiated.version is not None:
            return self.negotiated.version
        if self.client_hello is not None:
            return self.client_hello.highest_version
        return TLS12
