"""The one error class every decoder in `rawhttp.tls` raises on bytes it cannot read.

The decoders are fed what a peer sent, so anything is possible: truncated messages, lengths
past the end, a plain-text server answering a TLS client. Whatever the bytes, the only
exception that leaves `rawhttp.tls` is a `TLSDecodeError` (a `rawhttp.errors.TLSError`, exit 35),
so a caller needs one `except`, and a user sees one line.
"""

from __future__ import annotations

from rawhttp.errors import TLSError


class TLSDecodeError(TLSError):
    """Bytes that do not decode as the TLS structure (or X.509 certificate) they should be."""


class NotTLSError(TLSDecodeError):
    """The peer's bytes are not TLS records at all: typically a plain-HTTP server answering a
    ClientHello with `HTTP/1.1 400 Bad Request`. The message quotes the first bytes."""
