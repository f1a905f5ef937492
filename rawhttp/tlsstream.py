"""TLS as a layer of dialling: the handshake, then a `Stream` whose bytes pass through it.

OpenSSL never touches the socket here. `ssl.SSLContext.wrap_bio` gives an `SSLObject` that
reads ciphertext from one memory buffer and writes ciphertext to another (`MemoryBIO`); this
module moves the bytes between those buffers and the socket itself, as trio's `_ssl.py` does.
So every TLS record passes through rawhttp's hands: the first bytes back can be looked at (a
plain-HTTP server's answer to the hello is said in words), the records can be shown, and the
only socket calls are still `sendall` and `recv`. Loaded only for https URLs: a plain GET
never imports `ssl`.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from typing import NamedTuple

from rawhttp import events
from rawhttp.errors import (
    CAFileError,
    CertificateError,
    NetworkError,
    RawHTTPError,
    Timeout,
    TLSError,
)
from rawhttp.streams import PEEK, Listener, Stream
from rawhttp.url import URL

# Ciphertext read from the socket at most per recv: one TLS record's most (2^14 bytes of data
# plus its overhead) is about 16.6 KiB, and 256 KiB holds many, so a fast body needs few calls.
CIPHER_READ = 256 * 1024

# OpenSSL verify codes worth naming in plain words (X509_V_ERR_*).
VERIFY_REASONS = {
    10: "expired",
    9: "not yet valid",
    18: "self-signed",
    19: "self-signed CA in the chain",
    20: "unknown issuer",
    62: "wrong host",
    64: "wrong IP address",
}

# The versions --tlsv1.2, --tlsv1.3 and --tls-max name, as curl spells them.
VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class TLSOptions(NamedTuple):
    """What the client asks of TLS, as curl's options name it."""

    min_version: str | None = None  # --tlsv1.2, --tlsv1.3: the lowest version offered
    max_version: str | None = None  # --tls-max
    ciphers: str | None = None  # --ciphers, OpenSSL's cipher list (TLS 1.2 and below)
    alpn: tuple[str, ...] = ("http/1.1",)  # --alpn; () offers none (curl's --no-alpn)
    keylog: str | None = None  # --keylog (SSLKEYLOGFILE otherwise, read by ssl itself)


def client_context(options) -> ssl.SSLContext:
    """The client's context: the system's CAs (or --cacert), the versions and ciphers asked."""
    cafile = options.cafile
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise CAFileError(f"cannot read CA file {cafile}: {reason}") from None
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    asked = options.tls or TLSOptions()
    if asked.min_version:
        context.minimum_version = VERSIONS[asked.min_version]
    if asked.max_version:
        context.maximum_version = VERSIONS[asked.max_version]
    if asked.ciphers:
        try:
            context.set_ciphers(asked.ciphers)
        except ssl.SSLError:
            raise TLSError(f"--ciphers {asked.ciphers!r}: OpenSSL knows none of them") from None
    if asked.alpn:
        context.set_alpn_protocols(list(asked.alpn))
    if asked.keylog:
        context.keylog_filename = asked.keylog
    return context


def handshake(sock, url: URL, options, emit: Listener, remote, context) -> TLSStream:
    """The TLS layer over a connected socket: a TLSStream once the handshake is done."""
    stream = TLSStream(sock, url, options, emit, remote, context)
    try:
        stream.handshake()
    except BaseException:
        stream.close()
        raise
    return stream


class TLSStream(Stream):
    """A Stream whose bytes are encrypted and decrypted in memory, by an `ssl.SSLObject`."""

    tls = True

    def __init__(self, sock, url: URL, options, emit: Listener, remote, context):
        super().__init__(sock, url, options, emit, remote)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.ssl = context.wrap_bio(self._incoming, self._outgoing, server_hostname=url.host)
        self.cipher_sent = 0
        self.cipher_received = 0

    @property
    def can_splice(self) -> bool:
        return False  # the bytes must be decrypted here

    def handshake(self) -> None:
        """Drive the handshake: flush what OpenSSL wrote, read what it wants, until done."""
        deadline = time.monotonic() + self.remaining(self.options.connect_timeout)
        try:
            while True:
                try:
                    self.ssl.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    self._flush()
                    self._fill_handshake(deadline)
            self._flush()
        except ssl.SSLCertVerificationError as exc:
            reason = VERIFY_REASONS.get(exc.verify_code, "not trusted")
            raise CertificateError(
                f"certificate of {self.url.host} not trusted ({reason}): {exc.verify_message}"
            ) from None
        except RawHTTPError:
            raise
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or exc
            raise TLSError(f"handshake with {self.url.host} failed: {reason}") from None
        self.emit(
            events.TLSEstablished(
                version=self.ssl.version(),
                cipher=self.ssl.cipher()[0],
                sock=self.sock,
                alpn=self.ssl.selected_alpn_protocol(),
            )
        )

    def _fill_handshake(self, deadline: float) -> None:
        """One read of the server's handshake bytes, which must look like TLS."""
        assert self.sock is not None
        self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        first = self.cipher_received == 0
        try:
            data = self._fill()
        except TimeoutError:
            raise Timeout(
                f"TLS handshake timed out after {self.options.connect_timeout:g} s "
                "(a plain-HTTP server waits for a request and never answers a TLS hello)"
            ) from None
        if first and data.startswith(b"HTTP/"):
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            raise TLSError(
                f"handshake with {self.url.host} failed: port {self.url.port} answered in plain "
                f"HTTP, not TLS ({line!r}): use http:// for this port"
            )
        if not data:
            raise TLSError(
                f"handshake with {self.url.host} failed: the server closed the connection"
            )

    def _flush(self) -> None:
        """Send the ciphertext OpenSSL has written, if any."""
        data = self._outgoing.read()
        if data:
            assert self.sock is not None
            self.sock.sendall(data)
            self.cipher_sent += len(data)

    def _fill(self) -> bytes:
        """One recv of ciphertext, handed to OpenSSL; the server's FIN is handed on as EOF."""
        assert self.sock is not None
        data = self.sock.recv(CIPHER_READ)
        if data:
            self._incoming.write(data)
            self.cipher_received += len(data)
        else:
            self._incoming.write_eof()
        return data

    def _send(self, data: bytes) -> None:
        self.ssl.write(data)
        self._flush()

    def _recv_into(self, buffer: memoryview) -> int:
        while True:
            try:
                return self.ssl.read(len(buffer), buffer)
            except ssl.SSLWantReadError:
                self._flush()  # a key update's answer, say
                self._fill()
            except ssl.SSLZeroReturnError:
                return 0  # close_notify: the clean end of the TLS stream

    def readable(self, timeout: float) -> bool:
        if self.ssl.pending() or self._incoming.pending:
            return True
        return super().readable(timeout)

    def _peek_idle(self) -> bytes:
        """TLS cannot peek: what waits is read, and any data ends the stream anyway. A record
        without data (a session ticket, which TLS 1.3 servers send after the handshake)
        leaves it usable: BlockingIOError, as for no bytes at all."""
        assert self.sock is not None
        if not (self._incoming.pending or self._waiting()):
            raise BlockingIOError
        self.sock.settimeout(0)
        try:
            if not self._incoming.pending:
                self._fill()
            return self.ssl.read(PEEK)
        except (ssl.SSLWantReadError, BlockingIOError):
            raise BlockingIOError from None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""
        finally:
            self.sock.settimeout(self.options.read_timeout)

    def receive_error(self, exc: OSError) -> RawHTTPError:
        if isinstance(exc, ssl.SSLEOFError):
            return NetworkError(
                f"the TLS connection ended without close_notify after {self.received} bytes "
                "received: what came may be cut short"
            )
        return super().receive_error(exc)

    def close(self, by: str = "client") -> None:
        """Say close_notify first (as curl does) when we end it; then close the socket."""
        if self.sock is not None and by == "client":
            # unwrap writes the alert, then wants the server's: that one is not waited for.
            with contextlib.suppress(ssl.SSLError, OSError, ValueError):
                self.ssl.unwrap()
            with contextlib.suppress(OSError):
                self.sock.settimeout(0)
                self._flush()
        super().close(by)
