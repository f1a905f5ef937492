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

from rawhttp import events
from rawhttp.errors import (
    CAFileError,
    CertificateError,
    RawHTTPError,
    Timeout,
    TLSError,
    TLSTruncated,
)
from rawhttp.streams import PEEK, Listener, Stream
from rawhttp.url import URL

# Ciphertext read from the socket at most per recv: one TLS record's most (2^14 bytes of data
# plus its overhead) is about 16.6 KiB, and 256 KiB holds many, so a fast body needs few calls.
CIPHER_READ = 256 * 1024

# A TLS record's header: type, version, length (RFC 8446 5.1).
RECORD_HEADER = 5
# The first payload bytes of each record a watched stream keeps, for --trace=hex's excerpt.
EXCERPT = 16

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
    asked = options.tls
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


def handshake(
    sock, url: URL, options, emit: Listener, remote, context, early: bytes = b""
) -> TLSStream:
    """The TLS layer over a connected socket: a TLSStream once the handshake is done.
    `early` is ciphertext the layer below already received (a proxy's tunnel)."""
    kind = WatchedTLSStream if options.tls.watch else TLSStream
    try:
        stream = kind(sock, url, options, emit, remote, context)
    except BaseException:
        sock.close()
        raise
    try:
        if early:
            stream.take_early(early)
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
        try:
            self.ssl = context.wrap_bio(self._incoming, self._outgoing, server_hostname=url.host)
        except (ValueError, UnicodeError) as error:  # a name ssl cannot put in the SNI ('.')
            raise TLSError(f"cannot start TLS for host {url.host!r}: {error}") from None
        self.cipher_sent = 0
        self.cipher_received = 0
        # Ciphertext is received into one reused buffer: a fresh 256 KiB bytes object per
        # recv is a fresh mapping of memory, paid for in page faults on every read.
        self._cipher_buffer = memoryview(bytearray(CIPHER_READ))
        self.close_notified = False  # the server said close_notify: ours answers it

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
                certificate=self.ssl.getpeercert(binary_form=True),
                verified=self.ssl.context.verify_mode != ssl.CERT_NONE,
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
        if first and bytes(data[:5]) == b"HTTP/":
            line = bytes(data).split(b"\r\n", 1)[0].decode("latin-1")
            raise TLSError(
                f"handshake with {self.url.host} failed: port {self.url.port} answered in plain "
                f"HTTP, not TLS ({line!r}): use http:// for this port"
            )
        if not data:
            raise TLSError(
                f"handshake with {self.url.host} failed: the server closed the connection"
            )

    def take_early(self, data: bytes) -> None:
        """Ciphertext received before this layer existed: OpenSSL reads it first."""
        self._moved("IN", data, self.cipher_received)
        self._incoming.write(data)
        self.cipher_received += len(data)

    def _flush(self) -> None:
        """Send the ciphertext OpenSSL has written, if any."""
        data = self._outgoing.read()
        if data:
            assert self.sock is not None
            self.sock.sendall(data)
            self._moved("OUT", data, self.cipher_sent)
            self.cipher_sent += len(data)

    def _fill(self) -> bytes:
        """One recv of ciphertext, handed to OpenSSL; the server's FIN is handed on as EOF.
        The bytes returned are a view of the reused buffer, valid until the next fill."""
        assert self.sock is not None
        count = self.sock.recv_into(self._cipher_buffer)
        data = self._cipher_buffer[:count]
        if count:
            self._moved("IN", data, self.cipher_received)
            self._incoming.write(data)
            self.cipher_received += count
        else:
            self._incoming.write_eof()
        return data

    def _moved(self, direction: str, data: bytes, offset: int) -> None:
        """TLS bytes went out or came in: nothing to do unless a view watches (below)."""

    def _send(self, data: bytes) -> None:
        self.ssl.write(data)
        self._flush()

    def _recv_into(self, buffer: memoryview) -> int:
        while True:
            try:
                count = self.ssl.read(len(buffer), buffer)
            except ssl.SSLWantReadError:
                self._flush()  # a key update's answer, say
                self._fill()
                continue
            except ssl.SSLZeroReturnError:
                count = 0
            # 0 is close_notify, the clean end of the TLS stream (ssl returns it, or raises).
            self.close_notified = count == 0
            if self.close_notified:
                return 0
            return count + self._read_more(buffer[count:])

    def _read_more(self, buffer: memoryview) -> int:
        """Decrypt what is already here into the rest of the buffer: OpenSSL hands out one
        record (16 KiB at most) per read, and a body loop turn per record would cost more
        than the decryption. Stops at the first record not yet complete (never waits), and
        at close_notify, which the next read reports."""
        count = 0
        while count < len(buffer) and self._incoming.pending:
            try:
                got = self.ssl.read(len(buffer) - count, buffer[count:])
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                break
            if not got:
                break
            count += got
        return count

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
            data = self.ssl.read(PEEK)
        except (ssl.SSLWantReadError, BlockingIOError):
            raise BlockingIOError from None
        except ssl.SSLZeroReturnError:
            data = b""
        except ssl.SSLEOFError:
            return b""
        finally:
            self.sock.settimeout(self.options.read_timeout)
        self.close_notified = not data
        return data

    def receive_error(self, exc: OSError) -> RawHTTPError:
        if isinstance(exc, ssl.SSLEOFError):
            return TLSTruncated(
                f"the TLS connection ended without close_notify after {self.received} bytes "
                "received: what came may be cut short"
            )
        return super().receive_error(exc)

    def close(self, by: str = "client") -> None:
        """Say close_notify first (as curl does) when we end it, or in answer to the server's
        (RFC 8446 section 6.1: each side says it before closing; curl does); then close the
        socket. A server that only closed TCP gets none: that end was not TLS's."""
        if self.sock is not None and (by == "client" or self.close_notified):
            # unwrap writes the alert, then wants the server's: that one is not waited for.
            with contextlib.suppress(ssl.SSLError, OSError, ValueError):
                self.ssl.unwrap()
            with contextlib.suppress(OSError):
                self.sock.settimeout(0)
                self._flush()
        super().close(by)


class WatchedTLSStream(TLSStream):
    """A TLSStream whose records and messages are read as they pass, for the views: every
    record is a `TLSRecord` event (what a wire observer sees, read by `rawhttp.tls`), every
    handshake message, alert and change_cipher_spec a `TLSMessage` (what OpenSSL wrote or
    read, TLS 1.3's encrypted ones included).

    The messages come from OpenSSL's message callback, which CPython has but keeps private
    (`SSLContext._msg_callback`, the hook curl's -v uses through OpenSSL): this class is the
    one place rawhttp touches it. Where it is missing, the messages are those the records
    showed in the clear, so TLS 1.3's encrypted ones are named by their records only.
    """

    def __init__(self, sock, url: URL, options, emit: Listener, remote, context):
        from rawhttp.tls import TLSObserver

        self.observer = TLSObserver()
        # Per direction: where the next record starts, and the first payload bytes of a
        # record that began in an earlier chunk (recv and sendall cut records anywhere).
        self._starts = {"OUT": 0, "IN": 0}
        self._carried = {"OUT": b"", "IN": b""}
        self.hooked = hasattr(context, "_msg_callback")
        if self.hooked:
            context._msg_callback = self._message
        super().__init__(sock, url, options, emit, remote, context)

    def _read_more(self, buffer: memoryview) -> int:
        """One record per read while watched: what OpenSSL reads ahead it also reports (an
        alert after the body, say), and the views would show it before the HTTP it follows."""
        return 0

    def _moved(self, direction: str, data: bytes, offset: int) -> None:
        from rawhttp.tls import TLSDecodeError

        try:
            seen = self.observer.feed(direction, data)
        except TLSDecodeError as error:  # shown, never fatal: OpenSSL judges the bytes
            self.emit(events.Noted(f"TLS records ({direction}) cannot be read further: {error}"))
            self._moved = super()._moved  # type: ignore[method-assign]
            return
        start = self._starts[direction]
        for item in seen:
            excerpt = self._excerpt(direction, data, offset, start, item.record.length)
            self.emit(
                events.TLSRecord(direction=direction, seen=item, offset=start, excerpt=excerpt)
            )
            start += len(item.record.header) + item.record.length
            if not self.hooked:
                self._messages_seen(item)
        self._starts[direction] = start
        self._carry(direction, data, offset, start)

    def _excerpt(self, direction: str, data: bytes, chunk: int, start: int, length: int) -> bytes:
        """The first EXCERPT payload bytes of the record at `start`, which ends in `data` (at
        `chunk` in the stream): the record reader keeps no application data, --trace=hex
        shows a little of it."""
        payload = start + RECORD_HEADER
        kept = self._carried[direction] if payload < chunk else b""
        begin = max(payload - chunk, 0)
        return kept + bytes(data[begin : begin + min(EXCERPT, length) - len(kept)])

    def _carry(self, direction: str, data: bytes, chunk: int, start: int) -> None:
        """Keep the first payload bytes of the record at `start` that `data` holds, since the
        record ends in a later chunk."""
        payload = start + RECORD_HEADER
        if payload >= chunk + len(data):
            self._carried[direction] = b""
        elif payload >= chunk:
            self._carried[direction] = bytes(data[payload - chunk : payload - chunk + EXCERPT])
        else:  # the same record as before, still unfinished
            kept = self._carried[direction]
            self._carried[direction] = kept + bytes(data[: EXCERPT - len(kept)])

    def _messages_seen(self, seen) -> None:
        """Without OpenSSL's callback: the messages a record showed in the clear."""
        from rawhttp.tls.names import ALERT, CHANGE_CIPHER_SPEC, HANDSHAKE, version_name

        version = version_name(seen.version)
        kind = seen.record.content_type
        if kind == CHANGE_CIPHER_SPEC and not seen.encrypted:
            self._emit_message(seen.direction, version, kind, 1, seen.record.payload)
        elif seen.alert is not None:
            alert = seen.alert
            self._emit_message(seen.direction, version, ALERT, alert.code, seen.record.payload)
        for message in seen.messages:
            header = bytes([message.msg_type]) + len(message.body).to_bytes(3, "big")
            self._emit_message(
                seen.direction, version, HANDSHAKE, message.msg_type, header + message.body
            )

    def _message(self, conn, direction, version, content_type, msg_type, data) -> None:
        """OpenSSL's message callback: one message handled (or a record header, skipped)."""
        kind = int(content_type)
        if kind not in (20, 21, 22):  # 256, 257: OpenSSL's record-header pseudo types
            return
        number = 1 if kind == 20 else int(msg_type)  # change_cipher_spec's one byte is 1
        if kind == 21 and len(data) == 2:
            number = data[0] * 256 + data[1]  # curl's number for an alert: level and reason
        name = "OUT" if direction == "write" else "IN"
        self._emit_message(name, _version_name(version), kind, number, bytes(data))

    def _emit_message(self, direction, version, content_type, msg_type, data) -> None:
        self.emit(
            events.TLSMessage(
                direction=direction,
                version=version,
                content_type=content_type,
                msg_type=msg_type,
                data=data,
            )
        )


def _version_name(version) -> str:
    """OpenSSL's record version as -v names it: TLSVersion.TLSv1_3 -> "TLSv1.3"."""
    name = getattr(version, "name", str(version))
    return name.replace("_", ".")
