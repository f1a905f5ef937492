"""The handshake messages after the hellos that a TLS 1.2 observer can read in plaintext.

In TLS 1.2 (RFC 5246 section 7.4) the server's whole first flight is readable: Certificate,
ServerKeyExchange, ServerHelloDone; then the client's ClientKeyExchange. Finished follows a
ChangeCipherSpec and is already encrypted, and NewSessionTicket (RFC 5077) comes before it.
In TLS 1.3 everything after the ServerHello is encrypted, but the structures are decoded here
too (`tls13=True`) for anyone who has the plaintext. Each parser takes the message body.
"""

from __future__ import annotations

from dataclasses import dataclass

from rawhttp.tls.cursor import Cursor
from rawhttp.tls.errors import TLSDecodeError
from rawhttp.tls.names import group_name, signature_scheme_name

# RFC 8422 section 5.4: ECCurveType named_curve; explicit curves (1, 2) are deprecated.
_NAMED_CURVE = 3


@dataclass(frozen=True)
class Certificate:
    """The certificate chain, leaf first, as DER (RFC 5246 7.4.2, RFC 8446 4.4.2). Read each
    with `rawhttp.tls.certs.summarize`."""

    certificates: tuple[bytes, ...]
    request_context: bytes = b""  # TLS 1.3 only; empty in a server's Certificate


@dataclass(frozen=True)
class ServerKeyExchange:
    """The server's ephemeral public key, signed (RFC 8422 5.4 for ECDHE, RFC 5246 7.4.3 for
    DHE). `group` is the curve for ECDHE; `prime_bits` the size of p for finite-field DHE."""

    kind: str  # "ECDHE" or "DHE"
    public_key_length: int
    signature_algorithm: int
    signature_length: int
    group: int | None = None
    prime_bits: int | None = None

    @property
    def group_name(self) -> str | None:
        """The curve by name ("x25519"), or None for DHE."""
        return None if self.group is None else group_name(self.group)

    @property
    def signature_algorithm_name(self) -> str:
        """ "rsa_pss_rsae_sha256", "ecdsa_secp256r1_sha256"..."""
        return signature_scheme_name(self.signature_algorithm)


@dataclass(frozen=True)
class ClientKeyExchange:
    """The client's half of the key exchange: its public key (ECDHE, DHE) or the premaster
    secret encrypted to the server's RSA key (RFC 5246 7.4.7). Only the length says anything."""

    public_key_length: int


@dataclass(frozen=True)
class NewSessionTicket:
    """A ticket to resume with later (RFC 5077 3.3; RFC 8446 4.6.1 adds age_add and nonce)."""

    lifetime: int  # seconds
    ticket_length: int
    age_add: int | None = None
    nonce: bytes | None = None


@dataclass(frozen=True)
class Finished:
    """The MAC over the whole handshake (RFC 5246 7.4.9: 12 bytes; RFC 8446 4.4.4: a hash)."""

    verify_data: bytes


@dataclass(frozen=True)
class ServerHelloDone:
    """The end of the server's TLS 1.2 first flight (RFC 5246 7.4.5): an empty message."""


def parse_certificate(body: bytes, tls13: bool = False) -> Certificate:
    """TLS 1.2: ASN.1Cert certificate_list<0..2^24-1>, each <1..2^24-1>. TLS 1.3: a request
    context first, and each entry followed by its own extensions<0..2^16-1>."""
    c = Cursor(body, "Certificate")
    context = c.vector(1, "certificate_request_context") if tls13 else b""
    entries = c.sub(3, "certificate_list")
    c.end()
    certificates = []
    while entries.left:
        certificates.append(entries.vector(3, "cert_data", floor=1))
        if tls13:
            entries.vector(2, "extensions")
    return Certificate(tuple(certificates), context)


def parse_server_key_exchange(body: bytes, dhe: bool = False) -> ServerKeyExchange:
    """ECDHE (the default): ECParameters (curve_type 3, NamedCurve), ECPoint<1..2^8-1>. With
    `dhe`: ServerDHParams dh_p, dh_g, dh_Ys, each <1..2^16-1>. Then the TLS 1.2 signature:
    SignatureAndHashAlgorithm and signature<0..2^16-1>. Which one is sent depends on the cipher
    suite, which the message itself does not say."""
    c = Cursor(body, "ServerKeyExchange")
    group = prime_bits = None
    if dhe:
        prime = c.vector(2, "dh_p", floor=1)
        prime_bits = int.from_bytes(prime, "big").bit_length()
        c.vector(2, "dh_g", floor=1)
        public = c.vector(2, "dh_Ys", floor=1)
    else:
        curve_type = c.uint(1, "curve_type")
        if curve_type != _NAMED_CURVE:
            raise TLSDecodeError(f"ServerKeyExchange: curve_type {curve_type}, not named_curve")
        group = c.uint(2, "namedcurve")
        public = c.vector(1, "public", floor=1)
    algorithm = c.uint(2, "signature algorithm")
    signature = c.vector(2, "signature")
    c.end()
    return ServerKeyExchange(
        "DHE" if dhe else "ECDHE", len(public), algorithm, len(signature), group, prime_bits
    )


def parse_client_key_exchange(body: bytes, ecdhe: bool = True) -> ClientKeyExchange:
    """ECDHE: ECPoint<1..2^8-1> (RFC 8422 5.7). Otherwise (RSA, DHE) a 2-byte length."""
    c = Cursor(body, "ClientKeyExchange")
    key = c.vector(1, "ecdh_Yc", floor=1) if ecdhe else c.vector(2, "exchange_keys", floor=1)
    c.end()
    return ClientKeyExchange(len(key))


def parse_new_session_ticket(body: bytes, tls13: bool = False) -> NewSessionTicket:
    """TLS 1.2 (RFC 5077): lifetime_hint, ticket<0..2^16-1>. TLS 1.3 (RFC 8446 4.6.1):
    ticket_lifetime, ticket_age_add, ticket_nonce<0..255>, ticket<1..2^16-1>, extensions."""
    c = Cursor(body, "NewSessionTicket")
    lifetime = c.uint(4, "ticket_lifetime")
    if not tls13:
        ticket = c.vector(2, "ticket")
        c.end()
        return NewSessionTicket(lifetime, len(ticket))
    age_add = c.uint(4, "ticket_age_add")
    nonce = c.vector(1, "ticket_nonce")
    ticket = c.vector(2, "ticket", floor=1)
    c.vector(2, "extensions")
    c.end()
    return NewSessionTicket(lifetime, len(ticket), age_add, nonce)


def parse_finished(body: bytes) -> Finished:
    """Finished is nothing but verify_data; it must not be empty."""
    if not body:
        raise TLSDecodeError("Finished: empty verify_data")
    return Finished(bytes(body))


def parse_server_hello_done(body: bytes) -> ServerHelloDone:
    """ServerHelloDone has no body (RFC 5246 7.4.5: `struct { } ServerHelloDone;`)."""
    if body:
        raise TLSDecodeError(f"ServerHelloDone: {len(body)} bytes where none belong")
    return ServerHelloDone()
