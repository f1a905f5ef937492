"""Sans-IO TLS records: the bytes of one direction of a connection in, `Record` values out.

Everything TLS sends travels in records (RFC 8446 section 5.1, RFC 5246 section 6.2.1):

    struct {
        ContentType type;                   /* 1 byte: 20..24, see names.CONTENT_TYPES */
        ProtocolVersion legacy_record_version;  /* 2 bytes: 0x0301..0x0303 */
        uint16 length;                      /* the payload's length, at most 2^14 + 2048 */
        opaque fragment[TLSPlaintext.length];
    } TLSPlaintext;

The record layer does not care what a payload means: a handshake message may be split over
records, several may share one, and once keys are in use the payload is ciphertext. So this
module only frames; `handshake.py` reads handshake payloads and `alerts.py` alert payloads.

`RecordReader` is fed whatever bytes arrive, in any pieces, and returns each record once its
last byte is in. It is on the hot path of every HTTPS transfer, so it copies only the payloads
it keeps: by default application_data payloads (the encrypted body, 16 KiB a record) are
counted and skipped, never buffered, and the record comes back with `payload == b""`.

    >>> reader = RecordReader()
    >>> reader.feed(bytes.fromhex("15030300020100"))    # an alert record, in one piece
    [Record(content_type=21, version=771, length=2, header=b'\\x15\\x03\\x03\\x00\\x02', payload=b'\\x01\\x00')]
    >>> reader.feed(b"\\x17\\x03\\x03\\x00\\x03ab"), reader.feed(b"c")[0].length
    ([], 3)
"""  # noqa: E501

from __future__ import annotations

from typing import NamedTuple

from rawhttp.tls.errors import NotTLSError, TLSDecodeError
from rawhttp.tls.names import (
    APPLICATION_DATA,
    CONTENT_TYPES,
    TLS13,
    content_type_name,
    version_name,
)

# The record header: type (1), legacy_record_version (2), length (2).
HEADER_SIZE = 5
# RFC 8446 section 5.1 and RFC 5246 section 6.2.1: a plaintext fragment is at most 2^14 bytes.
MAX_PLAINTEXT = 2**14
# RFC 5246 section 6.2.3: TLS 1.2 ciphertext may add up to 2048 bytes (MAC, padding, IV).
MAX_TLS12_CIPHERTEXT = 2**14 + 2048
# RFC 8446 section 5.2: TLS 1.3 ciphertext adds at most 256 (the content type byte and the AEAD
# tag); a longer record is a record_overflow alert. OpenSSL and Go check the same two limits.
MAX_TLS13_CIPHERTEXT = 2**14 + 256
# Before the version is known (the first flights), the larger limit of any version applies.
MAX_RECORD_LENGTH = MAX_TLS12_CIPHERTEXT
# The legacy_record_version's first byte: 3 for SSL 3.0 and every TLS (RFC 8446 appendix D).
_VERSION_MAJOR = 3
# How many bytes of a non-TLS reply NotTLSError quotes.
_QUOTED_BYTES = 24


class Record(NamedTuple):
    """One TLS record. `payload` is b"" when the reader skipped it (application_data by
    default); `length` is always the length the header announced."""

    content_type: int
    version: int
    length: int
    header: bytes
    payload: bytes

    @property
    def type_name(self) -> str:
        """RFC 8446's name of the content type: "handshake", "application_data"..."""
        return content_type_name(self.content_type)

    @property
    def version_name(self) -> str:
        """The record header's version as OpenSSL spells it ("TLSv1.2"). In TLS 1.3 this is a
        legacy field, always TLSv1.2 (or TLSv1.0 in a first ClientHello): the real version is
        in the hellos' supported_versions extension (RFC 8446 section 5.1)."""
        return version_name(self.version)


def record_limit(version: int) -> int:
    """The largest record length a peer may send once `version` is negotiated: RFC 8446 5.2's
    2^14 + 256 for TLS 1.3, RFC 5246 6.2.3's 2^14 + 2048 before it."""
    return MAX_TLS13_CIPHERTEXT if version == TLS13 else MAX_TLS12_CIPHERTEXT


def parse_header(header: bytes, limit: int = MAX_RECORD_LENGTH) -> tuple[int, int, int]:
    """(content type, version, length) of a 5-byte record header, checked against RFC 8446
    section 5.1: a known content type, a 3.x version, a length within `limit`, and no empty
    fragment except application_data. Bytes that cannot start a record raise NotTLSError."""
    content_type, major, minor, high, low = header
    if content_type not in CONTENT_TYPES or major != _VERSION_MAJOR:
        raise NotTLSError(_not_tls_message(header))
    length = high << 8 | low
    if length > limit:
        raise TLSDecodeError(
            f"record_overflow: a {content_type_name(content_type)} record of {length} bytes"
            f" (the limit is {limit}, RFC 8446 section 5.2)"
        )
    if length == 0 and content_type != APPLICATION_DATA:
        raise TLSDecodeError(
            f"an empty {content_type_name(content_type)} record (only application_data may be"
            " empty, RFC 8446 section 5.1)"
        )
    return content_type, major << 8 | minor, length


def _not_tls_message(data: bytes) -> str:
    """Say what the peer sent instead of TLS, quoting it, and guess why if it is HTTP."""
    quoted = repr(bytes(data[:_QUOTED_BYTES]))
    if bytes(data[:5]) == b"HTTP/":
        return f"the server answered in plain HTTP, not TLS ({quoted}): is the port HTTPS?"
    return f"the peer's bytes are not a TLS record ({quoted})"


class RecordReader:
    """Cuts one direction's byte stream into records, buffering a partial one across feeds.

    `skip` is the set of content types whose payloads are not kept (application_data by
    default: the encrypted body is the bulk of a transfer and no view can read it). Set
    `max_length` to `record_limit(version)` once the version is negotiated.
    """

    def __init__(
        self,
        skip: frozenset[int] = frozenset({APPLICATION_DATA}),
        max_length: int = MAX_RECORD_LENGTH,
    ):
        self.skip = skip
        self.max_length = max_length
        self.records = 0  # records completed so far
        self._buffer = bytearray()  # a partial header, or a kept payload so far
        self._header: bytes | None = None  # the current record's header, once complete
        self._fields = (0, 0, 0)  # its content type, version, length
        self._skipping = 0  # payload bytes of a skipped record still to come

    def feed(self, data: bytes) -> list[Record]:
        """Take the next bytes from the peer; return the records they complete, in order.

        Kept payloads are copied out of `data`, so the caller may reuse its buffer (as a
        `recv_into` loop does). After an error the reader must not be fed again."""
        records: list[Record] = []
        view = memoryview(data)
        pos, end = 0, len(view)
        while pos < end:
            if self._skipping:
                step = min(self._skipping, end - pos)
                self._skipping -= step
                pos += step
                if not self._skipping:
                    records.append(self._finish(b""))
                continue
            wanted = HEADER_SIZE if self._header is None else self._fields[2]
            step = min(wanted - len(self._buffer), end - pos)
            self._buffer += view[pos : pos + step]
            pos += step
            if len(self._buffer) < wanted:
                break
            if self._header is None:
                self._start(records, view[pos : pos + _QUOTED_BYTES])
            else:
                records.append(self._finish(bytes(self._buffer)))
        return records

    @property
    def pending(self) -> int:
        """Bytes of an unfinished record received so far (0 between records): a peer that
        closes while this is above 0 cut a record short."""
        if self._header is None:
            return len(self._buffer)
        received = self._fields[2] - self._skipping if self._skipping else len(self._buffer)
        return HEADER_SIZE + received

    def _start(self, records: list[Record], following: memoryview) -> None:
        """The buffer holds a whole header: check it, then keep, skip or finish its payload.
        `following` is what came after it, quoted if the header shows the peer is not TLS."""
        header = bytes(self._buffer)
        try:
            self._fields = parse_header(header, self.max_length)
        except NotTLSError:
            raise NotTLSError(_not_tls_message(header + bytes(following))) from None
        self._header = header
        self._buffer.clear()
        content_type, _, length = self._fields
        if not length:
            records.append(self._finish(b""))
        elif content_type in self.skip:
            self._skipping = length

    def _finish(self, payload: bytes) -> Record:
        """The current record is complete: make its value and get ready for the next header."""
        header, self._header = self._header, None
        self._buffer.clear()
        self.records += 1
        return Record(*self._fields, header, payload)
