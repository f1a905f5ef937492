"""`rawhttp serve --compress`: gzip on the fly for text, as Accept-Encoding allows (RFC 9110
section 12.5.3), for the lesson on content negotiation.

`choose_coding` is pure: the request's Accept-Encoding and whether the file is worth coding
in, the coding to send out ("gzip" or "identity"), or None when the client accepts neither
(`identity;q=0` or `*;q=0`): 406, which section 12.5.3 allows. q-values are honoured, `*`
stands for any coding not named, `x-gzip` is gzip; a missing field gets identity (any coding
is acceptable then, but a client that did not ask may not undo one), an empty one too.

`gzip_pieces` streams the file through one zlib compressor, a piece at a time, each framed as
a chunk (HTTP/1.1) or sent as is (HTTP/1.0, the end then marked by closing): the coded length
is unknown until the end, and a large file is never held in memory. The coded form is another
representation, so it gets its own ETag (the file's with "-gzip" inside the quotes, as Apache's
mod_deflate does) and every answer about a text file says `Vary: Accept-Encoding`. A Range
request is never coded: ranges of a coding that changes with the level would mean nothing.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator

from rawhttp.wire import Headers

# Types worth compressing: text, and the structured text formats served as application/*.
COMPRESSIBLE = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/xhtml+xml",
    "image/svg+xml",
)
# zlib's level: 6 is its default and gzip(1)'s; nginx's gzip_comp_level defaults to 1.
GZIP_LEVEL = 6
# Bytes of the file read and compressed per piece sent (one turn of the event loop each).
PIECE = 64 * 1024
# RFC 9110 section 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
_QVALUE_RE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
_ALIASES = {"x-gzip": "gzip"}
# The weight of identity when Accept-Encoding does not name it (nor `*`): acceptable, but after
# any coding named (RFC 9110 section 12.5.3 gives it no weight; this is the least qvalue).
UNNAMED_IDENTITY = 0.001


def compressible(content_type: str) -> bool:
    return content_type.lower().startswith(COMPRESSIBLE)


def qualities(value: str) -> dict[str, float]:
    """coding -> q of an Accept-Encoding value (codings lowercased; bad members skipped)."""
    found: dict[str, float] = {}
    for member in value.split(","):
        coding, *params = (part.strip(" \t") for part in member.split(";"))
        if not coding:
            continue
        q = 1.0
        for param in params:
            name, _, number = param.partition("=")
            if name.strip(" \t").lower() == "q":
                number = number.strip(" \t")
                q = float(number) if _QVALUE_RE.fullmatch(number) else -1.0
        if q >= 0:
            found[_ALIASES.get(coding.lower(), coding.lower())] = q
    return found


def choose_coding(accept_encoding: str | None, offer_gzip: bool) -> str | None:
    """ "gzip", "identity", or None when the client accepts neither (406)."""
    if accept_encoding is None:
        return "identity"
    q = qualities(accept_encoding)
    star = q.get("*")

    def quality(coding: str) -> float:
        if coding in q:
            return q[coding]
        if star is not None:
            return star
        return UNNAMED_IDENTITY if coding == "identity" else 0.0  # fine unless refused

    gzip, identity = (quality("gzip") if offer_gzip else 0.0), quality("identity")
    if gzip > 0 and gzip >= identity:
        return "gzip"
    return "identity" if identity > 0 else None


def coded_etag(etag: str, coding: str) -> str:
    """The ETag of the coded representation: '"abc"' -> '"abc-gzip"'."""
    return f'{etag[:-1]}-{coding}"'


def vary(fields: Headers) -> None:
    fields.add("Vary", "Accept-Encoding")


class GzipPieces:
    """The file (open as `fd`, owned and closed here) gzipped, piece by piece, framed as
    chunks when `chunked` (then ending with the last chunk). An iterator with `close`, so the
    descriptor is freed even when the answer is dropped before its first piece."""

    def __init__(self, fd: int, size: int, chunked: bool):
        self.fd: int | None = fd
        self.size = size
        self.offset = 0
        self.chunked = chunked
        self.coder = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        while self.fd is not None:
            data = b""
            if self.offset < self.size:
                data = os.pread(self.fd, min(PIECE, self.size - self.offset), self.offset)
                self.offset += len(data)
            if not data:  # the end (or the file shrank meanwhile: the coding ends there)
                self.close()
                tail = self._frame(self.coder.flush())
                return tail + (b"0\r\n\r\n" if self.chunked else b"")
            coded = self.coder.compress(data)
            if coded:
                return self._frame(coded)
        raise StopIteration

    def _frame(self, data: bytes) -> bytes:
        if not self.chunked or not data:
            return data
        return b"%x\r\n%s\r\n" % (len(data), data)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
