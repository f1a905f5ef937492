"""Reading TLS's presentation language (RFC 8446 section 3) safely out of untrusted bytes.

TLS structures are built from big-endian integers (uint8, uint16, uint24, uint32) and vectors:
`opaque legacy_session_id<0..32>` is a 1-byte length then that many bytes, `CipherSuite
cipher_suites<2..2^16-2>` a 2-byte length then the list. The size of the length prefix follows
from the vector's ceiling (section 3.4). A `Cursor` reads these from the front of a message,
checking every length against what is left, so a hostile length can only ever raise
`TLSDecodeError`, naming the field that was cut short.
"""

from __future__ import annotations

from rawhttp.tls.errors import TLSDecodeError


class Cursor:
    """A position in `data`; each read moves it forward or raises TLSDecodeError."""

    def __init__(self, data: bytes, what: str):
        self.data = bytes(data)
        self.what = what  # the structure being read, for error messages
        self.pos = 0

    @property
    def left(self) -> int:
        """Bytes not read yet."""
        return len(self.data) - self.pos

    def take(self, size: int, field: str) -> bytes:
        """The next `size` bytes, or an error naming `field` if fewer are left."""
        if size > self.left:
            raise TLSDecodeError(
                f"{self.what}: {field} needs {size} bytes, only {self.left} are left"
            )
        start = self.pos
        self.pos += size
        return self.data[start : self.pos]

    def uint(self, size: int, field: str) -> int:
        """A big-endian unsigned integer of `size` bytes (uint8 ... uint32)."""
        return int.from_bytes(self.take(size, field), "big")

    def vector(self, prefix: int, field: str, floor: int = 0) -> bytes:
        """A vector with a `prefix`-byte length; shorter than `floor` is a decode error
        (RFC 8446 section 3.4: `<2..2^16-2>` means at least 2 bytes)."""
        body = self.take(self.uint(prefix, f"{field} length"), field)
        if len(body) < floor:
            raise TLSDecodeError(f"{self.what}: {field} has {len(body)} bytes, below {floor}")
        return body

    def sub(self, prefix: int, field: str, floor: int = 0) -> Cursor:
        """A Cursor over the next vector, to read a structure nested inside it."""
        return Cursor(self.vector(prefix, field, floor), f"{self.what} {field}")

    def uints(self, size: int, field: str) -> list[int]:
        """Read the rest as a list of `size`-byte integers (a vector of CipherSuite, ...)."""
        if self.left % size:
            raise TLSDecodeError(f"{self.what}: {self.left} bytes is not a list of {size}s")
        return [self.uint(size, field) for _ in range(self.left // size)]

    def end(self) -> None:
        """Every byte must have been read: trailing bytes are a decode error (RFC 8446 4)."""
        if self.left:
            raise TLSDecodeError(f"{self.what}: {self.left} unexpected bytes at the end")
