"""`serve --tls`: the server's side of TLS, sans-IO, for both drivers.

A `TLSSession` is one client's TLS connection over two `ssl.MemoryBIO`s: a driver hands it the
ciphertext its socket received and sends what `outgoing()` returns; the session never touches
a socket, so the event loop never blocks on a handshake and the threads driver uses the same
code. `feed` carries one batch of received bytes into a `ServerConnection`: the handshake's
end, the plaintext, the client's close_notify, or plain HTTP sent to the TLS port (answered
400 in plain HTTP, as nginx does). Until the handshake ends the connection is in its
"handshake" state, which has the head's deadline and counts toward the cap as a slow head.

sendfile(2) cannot encrypt, so over TLS a file is read in pieces (`file_pieces`) and each
piece encrypted and sent: memory stays one piece. Making a certificate is `certs.py`'s job.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
from collections.abc import Iterator

from rawhttp.errors import TLSSetupError
from rawhttp.server.actions import SendFile
from rawhttp.server.protocol import ServerConnection

# The oldest version served: TLS 1.0 and 1.1 are deprecated (RFC 8996); nginx's default
# ssl_protocols has been TLSv1.2 TLSv1.3 since 1.23.4.
MIN_VERSION = ssl.TLSVersion.TLSv1_2
# The application protocols this server speaks (RFC 7301): HTTP/1.1 only, as nginx without
# `http2 on`. A client offering only h2 gets a no_application_protocol alert.
ALPN = ["http/1.1"]
# The first byte of a TLS record that carries a handshake message (RFC 8446 section 5.1). Plain
# HTTP starts with a method's letter, so one byte tells them apart (nginx peeks the same way).
HANDSHAKE = 0x16
CLIENT_HELLO = 1
ALPN_EXTENSION = 16
# Bytes kept of what arrives before the handshake ends, to read the ALPN protocols offered:
# one TLS record, a 5-byte header and at most 16 KiB (RFC 8446 section 5.1).
MAX_HELLO = 5 + 16 * 1024
# Plaintext asked of the TLS object per read (a record holds at most 16 KiB).
READ_SIZE = 64 * 1024
# Bytes of a file read, encrypted and sent at a time where sendfile cannot be used.
FILE_PIECE = 64 * 1024
# nginx's words for it, in its 400 page ("The plain HTTP request was sent to HTTPS port").
PLAIN_HTTP = "the plain HTTP request was sent to the HTTPS port"


class NotTLS(Exception):
    """The client's first byte does not start a TLS handshake record: plain HTTP, most likely."""


class ServerTLS:
    """The server's TLS settings: its context (certificate, ALPN, TLS 1.2 at least), the CA
    file clients should trust when the certificate was made at start-up, and whether each
    handshake is logged (`serve -v`)."""

    def __init__(
        self,
        context: ssl.SSLContext,
        cafile: str | None = None,
        verbose: bool = False,
        made_in: str | None = None,
    ):
        self.context = context
        self.cafile = cafile
        self.verbose = verbose
        self._made_in = made_in  # a private folder to remove at close

    def session(self) -> TLSSession:
        return TLSSession(self.context, self.verbose)

    def close(self) -> None:
        if self._made_in is not None:
            shutil.rmtree(self._made_in, ignore_errors=True)
            self._made_in = None


def server_tls(
    cert: str | os.PathLike | None = None,
    key: str | os.PathLike | None = None,
    cafile: str | os.PathLike | None = None,
    verbose: bool = False,
) -> ServerTLS:
    """TLS from `cert` (and `key`, unless the key is in the cert's file); without `cert`, a
    fresh local CA and a certificate for localhost, 127.0.0.1 and ::1 (the `tls` extra), the
    CA written to `cafile` or to a private temporary folder removed at close."""
    context = server_context()
    if cert is not None:
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror or exc.reason or str(exc)
            raise TLSSetupError(f"cannot load the certificate {cert}: {reason}") from None
        return ServerTLS(context, verbose=verbose)
    from rawhttp.server.certs import local_certificate

    cafile, made_in = local_certificate(context, cafile)
    return ServerTLS(context, cafile, verbose, made_in)


def server_context() -> ssl.SSLContext:
    """A server context with the default ciphers, TLS 1.2 at least, ALPN http/1.1, and a
    callback that keeps the server name (SNI) each client asks for."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MIN_VERSION
    context.set_alpn_protocols(ALPN)
    context.sni_callback = _keep_server_name
    return context


def _keep_server_name(tls: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
    tls.requested_name = name  # the SSLObject the session made: it reads it back


class TLSSession:
    """One client's TLS connection, sans-IO: `receive` ciphertext, get plaintext; `wrap`
    plaintext to send; send `outgoing()` after each. `state` is "new", "handshake", "open",
    "closed" (the client's close_notify came), "failed" (in the handshake or after), or
    "plain" (plain HTTP arrived: then `wrap` passes bytes through unencrypted, for the 400
    page)."""

    def __init__(self, context: ssl.SSLContext, verbose: bool = False):
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._in, self._out, server_side=True)
        self.tls.requested_name = None
        self.verbose = verbose
        self.state = "new"
        self.hello = bytearray()  # with -v, the first bytes received, for the ALPN offered

    @property
    def open(self) -> bool:
        return self.state in ("open", "closed")

    def receive(self, data: bytes | memoryview) -> bytes:
        """Ciphertext from the client; the plaintext it completes (often none). Raises NotTLS
        for plain HTTP, ssl.SSLError when the handshake fails."""
        if self.state == "new":
            if data[0] != HANDSHAKE:
                self.state = "plain"
                raise NotTLS
            self.state = "handshake"
        if self.state == "handshake" and self.verbose:
            self.hello += data[: MAX_HELLO - len(self.hello)]
        self._in.write(data)
        if self.state == "handshake":
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                return b""
            except ssl.SSLError:
                self.state = "failed"
                raise
            self.state = "open"
        return self._plaintext()

    def _plaintext(self) -> bytes:
        pieces = []
        while self.state == "open":
            try:
                piece = self.tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                piece = b""
            except ssl.SSLError:  # a record that does not decrypt, an unexpected message
                self.state = "failed"
                raise
            if not piece:  # the client's close_notify (ssl says so either way)
                self.state = "closed"
                break
            pieces.append(piece)
        return b"".join(pieces)

    def wrap(self, data: bytes | memoryview) -> bytes:
        """What goes on the wire for `data`: its records (or `data` itself, in plain mode)."""
        if self.state == "plain":
            return bytes(data)
        self.tls.write(data)
        return self._out.read()

    def outgoing(self) -> bytes:
        """Ciphertext waiting to be sent: handshake messages, session tickets, alerts."""
        return self._out.read()

    def close_notify(self) -> bytes:
        """The alert that ends the TLS session politely (nothing unless it is open)."""
        if self.open:
            with contextlib.suppress(ssl.SSLError):
                self.tls.unwrap()  # sends close_notify; does not wait for the client's
        return self._out.read()

    def summary(self) -> str:
        """What the client offered and what was chosen, for `serve -v`."""
        offered = offered_alpn(bytes(self.hello))
        cipher = self.tls.cipher()
        return (
            f"TLS {self.tls.version()} {cipher[0] if cipher else '-'}, "
            f"server name {printable(self.tls.requested_name or '(none)')}, "
            f"ALPN offered {printable(','.join(offered)) if offered else '(none)'}, "
            f"chosen {self.tls.selected_alpn_protocol() or '(none)'}"
        )


def feed(session: TLSSession, conn: ServerConnection, data: bytes) -> None:
    """Carry ciphertext a driver received into `session` and what it yields into `conn`.

    The driver then sends `session.outgoing()`. The handshake's end is logged with `-v` and a
    failure always (one line each); plain HTTP gets the 400 page.
    """
    try:
        plaintext = session.receive(data)
    except NotTLS:
        conn.not_tls(PLAIN_HTTP)
        return
    except ssl.SSLError as error:
        step = "TLS handshake failed" if conn.state == "handshake" else "TLS failed"
        conn.log(f"{conn.client[0]} - - {step}: {error.reason or error}")
        conn.close()
        return
    if conn.state == "handshake" and session.open:
        if session.verbose:
            conn.log(f"{conn.client[0]} - - {session.summary()}")
        conn.handshake_done()
    if plaintext:
        conn.receive(plaintext)
    if session.state == "closed":
        conn.eof()


def file_pieces(action: SendFile) -> Iterator[bytes]:
    """The file range a SendFile names, a piece at a time (closing its descriptor at the end
    or when abandoned): for a TLS connection, where the kernel cannot copy it."""
    try:
        offset, left = action.offset, action.count
        while left:
            piece = os.pread(action.fd, min(FILE_PIECE, left), offset)
            if not piece:
                raise ConnectionAbortedError("file shrank while being sent")
            offset += len(piece)
            left -= len(piece)
            yield piece
    finally:
        action.close()


def offered_alpn(record: bytes) -> list[str] | None:
    """The ALPN protocols a ClientHello offers (RFC 8446 section 4.1.2, RFC 7301), read from
    the first TLS record; None when the record is not a whole ClientHello or offers none."""
    try:
        if record[0] != HANDSHAKE or record[5] != CLIENT_HELLO:
            return None
        at = 5 + 4 + 2 + 32  # record header, handshake header, legacy_version, random
        at += 1 + record[at]  # legacy_session_id
        at += 2 + int.from_bytes(record[at : at + 2], "big")  # cipher_suites
        at += 1 + record[at]  # legacy_compression_methods
        end = at + 2 + int.from_bytes(record[at : at + 2], "big")
        at += 2
        while at + 4 <= min(end, len(record)):
            kind = int.from_bytes(record[at : at + 2], "big")
            size = int.from_bytes(record[at + 2 : at + 4], "big")
            if kind == ALPN_EXTENSION:
                return _names(record[at + 6 : at + 4 + size])
            at += 4 + size
    except IndexError:
        pass
    return None


def printable(text: str) -> str:
    """`text` safe for a log line: what the client chose to send, control characters escaped."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _names(data: bytes) -> list[str]:
    """A ProtocolNameList without its length: one length byte before each name."""
    names, at = [], 0
    while at < len(data):
        names.append(data[at + 1 : at + 1 + data[at]].decode("ascii", "backslashreplace"))
        at += 1 + data[at]
    return names
