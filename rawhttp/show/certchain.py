"""`--cert-chain FILE`: the certificates the server sent, leaf first, written as PEM.

`openssl x509 -text -in FILE` reads the first; `openssl crl2pkcs7 -nocrl -certfile FILE |
openssl pkcs7 -print_certs -text` reads them all. The chain comes from the server's
Certificate message (TLS 1.3 sends it encrypted: it is read as OpenSSL handled it, see
`tlsstream.WatchedTLSStream`); where that message was not seen, the one certificate the
handshake verified is written instead.
"""

from __future__ import annotations

from rawhttp import events
from rawhttp.errors import OutputError

CERTIFICATE = 11  # the handshake message type (RFC 8446 section 4.4.2)


class CertChain:
    """A listener: keeps the chain from the Certificate message, writes it at the handshake's
    end (once per connection: a kept connection's next request has no handshake)."""

    def __init__(self, path: str):
        self.path = path
        self.chain: tuple[bytes, ...] = ()

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.TLSMessage):
            self._message(event)
        elif isinstance(event, events.TLSEstablished):
            self._write(self.chain or ((event.certificate,) if event.certificate else ()))

    def _message(self, e: events.TLSMessage) -> None:
        if e.direction != "IN" or e.content_type != 22 or e.msg_type != CERTIFICATE:
            return
        from rawhttp.tls import TLSDecodeError
        from rawhttp.tls.messages import parse_certificate

        try:
            self.chain = parse_certificate(e.data[4:], tls13=e.version == "TLSv1.3").certificates
        except TLSDecodeError:
            self.chain = ()  # the verified leaf is written instead

    def _write(self, chain: tuple[bytes, ...]) -> None:
        from rawhttp.tls import to_pem

        try:
            with open(self.path, "w", encoding="ascii") as file:
                file.write("".join(to_pem(der) for der in chain))
        except OSError as error:
            raise OutputError(f"cannot write --cert-chain {self.path}: {error.strerror}") from None
