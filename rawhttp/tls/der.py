"""A minimal DER reader (ITU-T X.690): just enough ASN.1 to read an X.509 certificate.

DER encodes everything as tag, length, value (TLV):

    30 82 01 0a ...      SEQUENCE (tag 0x30), length in 2 bytes (0x82): 0x010a = 266 bytes
    02 01 05             INTEGER, 1 byte: 5
    06 03 55 04 03       OBJECT IDENTIFIER, 3 bytes: 2.5.4.3 (commonName)

A constructed value (SEQUENCE, SET, an explicit [n] tag) holds more TLVs; `Element.children`
reads them. Only what certificates use is supported: single-byte tags and definite lengths
(DER forbids the indefinite form). Every failure is a `TLSDecodeError`, whatever the bytes.

    >>> parse(bytes.fromhex("30 08 020105 0603550403")).children()
    [Element(tag=2, value=b'\\x05'), Element(tag=6, value=b'U\\x04\\x03')]
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

from rawhttp.tls.errors import TLSDecodeError

# Universal tags (X.680 section 8.4) that X.509 uses.
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
TELETEX_STRING = 0x14
IA5_STRING = 0x16
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
UNIVERSAL_STRING = 0x1C
BMP_STRING = 0x1E
SEQUENCE = 0x30  # 0x10 with the constructed bit (0x20)
SET = 0x31
CONSTRUCTED = 0x20
CONTEXT = 0x80  # class bits of [n] tags: [0] is 0x80 (primitive) or 0xA0 (constructed)
# The high-tag-number form (low 5 bits all ones) is never used by X.509.
_HIGH_TAG = 0x1F
# A length of more than 4 bytes would describe a value over 4 GiB: no certificate is.
_MAX_LENGTH_BYTES = 4

# How each string type's bytes become text. TeletexString is really T.61; latin-1 is what
# OpenSSL and browsers use for it in practice.
_STRING_CODECS = {
    UTF8_STRING: "utf-8",
    PRINTABLE_STRING: "ascii",
    IA5_STRING: "ascii",
    TELETEX_STRING: "latin-1",
    BMP_STRING: "utf-16-be",
    UNIVERSAL_STRING: "utf-32-be",
}


def context(number: int, constructed: bool = True) -> int:
    """The tag byte of a context-specific [number] tag: `context(3)` is 0xA3."""
    return CONTEXT | (CONSTRUCTED if constructed else 0) | number


class Element(NamedTuple):
    """One TLV: the tag byte and the value bytes."""

    tag: int
    value: bytes

    def encoded(self) -> bytes:
        """The element's DER bytes again: tag, length (short or long form), value."""
        size = len(self.value)
        if size < 0x80:
            return bytes([self.tag, size]) + self.value
        count = (size.bit_length() + 7) // 8
        return bytes([self.tag, 0x80 | count]) + size.to_bytes(count, "big") + self.value

    def children(self) -> list[Element]:
        """The TLVs inside a constructed value, in order."""
        if not self.tag & CONSTRUCTED:
            raise TLSDecodeError(f"certificate: tag 0x{self.tag:02x} holds no elements")
        return read_all(self.value)

    def expect(self, tag: int, what: str) -> Element:
        """Self, if its tag is `tag`; a decode error naming `what` otherwise."""
        if self.tag != tag:
            raise TLSDecodeError(f"certificate: {what} has tag 0x{self.tag:02x}, not 0x{tag:02x}")
        return self

    def integer(self) -> int:
        """An INTEGER's value (two's complement, big-endian)."""
        if self.tag != INTEGER or not self.value:
            raise TLSDecodeError("certificate: not an INTEGER")
        return int.from_bytes(self.value, "big", signed=True)

    def boolean(self) -> bool:
        """A BOOLEAN (one byte; DER's TRUE is 0xff, but any non-zero byte is read as true)."""
        if self.tag != BOOLEAN or len(self.value) != 1:
            raise TLSDecodeError("certificate: not a BOOLEAN")
        return self.value != b"\x00"

    def oid(self) -> str:
        """An OBJECT IDENTIFIER in dotted form, "2.5.4.3". The first byte packs two arcs
        (40 * first + second); each later arc is base-128 with the high bit meaning "more"."""
        if self.tag != OID or not self.value or self.value[-1] & 0x80:
            raise TLSDecodeError("certificate: not an OBJECT IDENTIFIER")
        arcs, arc = [], 0
        for byte in self.value:
            arc = arc << 7 | byte & 0x7F
            if not byte & 0x80:
                arcs.append(arc)
                arc = 0
        first = min(arcs[0] // 40, 2)
        return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))

    def bit_string(self) -> bytes:
        """A BIT STRING's bytes (the first value byte counts unused bits; keys use none)."""
        if self.tag != BIT_STRING or not self.value or self.value[0] > 7:
            raise TLSDecodeError("certificate: not a BIT STRING")
        return self.value[1:]

    def string(self) -> str:
        """A character string's text, whichever of X.509's string types it is."""
        codec = _STRING_CODECS.get(self.tag)
        if codec is None:
            raise TLSDecodeError(f"certificate: tag 0x{self.tag:02x} is not a string")
        try:
            return self.value.decode(codec)
        except UnicodeDecodeError as error:
            raise TLSDecodeError(f"certificate: a string that is not {codec}") from error

    def time(self) -> datetime:
        """A UTCTime (YYMMDDHHMMSSZ; years 50..99 are 19xx, RFC 5280 4.1.2.5.1) or
        GeneralizedTime (YYYYMMDDHHMMSSZ), as an aware UTC datetime."""
        text = self.value.decode("ascii", "replace")
        if self.tag == UTC_TIME and len(text) == 13:
            text = ("19" if text[:2] >= "50" else "20") + text
        elif self.tag != GENERALIZED_TIME or len(text) != 15:
            raise TLSDecodeError(f"certificate: {text!r} is not a UTCTime or GeneralizedTime")
        if not text.endswith("Z") or not text[:-1].isdigit():
            raise TLSDecodeError(f"certificate: {text!r} is not a time in UTC")
        try:
            return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError as error:
            raise TLSDecodeError(f"certificate: {text!r} is not a valid date") from error


def read(data: bytes, pos: int) -> tuple[Element, int]:
    """The element starting at `pos`, and the position after it."""
    end = len(data)
    if end - pos < 2:
        raise TLSDecodeError("certificate: an element cut short in its header")
    tag, first = data[pos], data[pos + 1]
    if tag & _HIGH_TAG == _HIGH_TAG:
        raise TLSDecodeError(f"certificate: a multi-byte tag (0x{tag:02x}), not in X.509")
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not count or count > _MAX_LENGTH_BYTES or end - pos < count:
            raise TLSDecodeError("certificate: an indefinite, oversized or cut-short length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if length > end - pos:
        raise TLSDecodeError(f"certificate: a {length}-byte value with {end - pos} bytes left")
    return Element(tag, bytes(data[pos : pos + length])), pos + length


def read_all(data: bytes) -> list[Element]:
    """Every element in `data`, back to back."""
    elements, pos = [], 0
    while pos < len(data):
        element, pos = read(data, pos)
        elements.append(element)
    return elements


def parse(data: bytes) -> Element:
    """Exactly one element filling all of `data` (a whole certificate, say)."""
    element, end = read(data, 0)
    if end != len(data):
        raise TLSDecodeError(f"certificate: {len(data) - end} bytes after the end")
    return element
