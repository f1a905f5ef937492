"""ClientHello and ServerHello: the two plaintext messages that say what a connection will be.

The ClientHello (RFC 8446 section 4.1.2) offers everything the client can do; the ServerHello
(section 4.1.3) picks one of each. Both are readable on the wire in every TLS version, which is
why a view can show them even though it never sees a key:

    struct {
        ProtocolVersion legacy_version = 0x0303;    /* TLS 1.3 says its version in an extension */
        Random random;                              /* 32 bytes */
        opaque legacy_session_id<0..32>;
        CipherSuite cipher_suites<2..2^16-2>;       /* ServerHello: one CipherSuite */
        opaque legacy_compression_methods<1..2^8-1>;  /* ServerHello: one byte */
        Extension extensions<8..2^16-1>;            /* may be absent before TLS 1.3 */
    } ClientHello;

The extensions carry most of the meaning: server_name (SNI, RFC 6066 section 3), ALPN
(RFC 7301), supported_versions (RFC 8446 4.2.1), supported_groups (4.2.7), key_share (4.2.8),
signature_algorithms (4.2.3). Each is decoded here; any other is kept by number and name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from rawhttp.tls.cursor import Cursor
from rawhttp.tls.errors import TLSDecodeError
from rawhttp.tls.names import (
    ALPN,
    EARLY_DATA,
    KEY_SHARE,
    PRE_SHARED_KEY,
    SERVER_NAME,
    SIGNATURE_ALGORITHMS,
    SUPPORTED_GROUPS,
    SUPPORTED_VERSIONS,
    cipher_suite_name,
    extension_name,
    group_name,
    is_grease,
    signature_scheme_name,
    version_name,
)

RANDOM_SIZE = 32
# RFC 8446 section 4.1.3: a HelloRetryRequest is a ServerHello whose random is SHA-256 of
# "HelloRetryRequest"; the server asks the client to try again with another key share.
HELLO_RETRY_REQUEST_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()
# Section 4.1.3 too: a TLS 1.3 server talked down to an older version says so in the last 8
# bytes of its random, so a client that could do 1.3 can detect a downgrade attack.
DOWNGRADE_SENTINELS = {b"DOWNGRD\x01": "TLSv1.2", b"DOWNGRD\x00": "TLSv1.1 or below"}
# RFC 6066 section 3: NameType host_name is 0, the only one defined.
_HOST_NAME = 0


@dataclass(frozen=True)
class Extension:
    """One extension as sent: its number and its undecoded bytes."""

    type: int
    data: bytes

    @property
    def name(self) -> str:
        """ "server_name", "key_share", ... or the number in hex (GREASE for RFC 8701's)."""
        return extension_name(self.type)


@dataclass(frozen=True)
class KeyShare:
    """A key_share entry: the group and how long the public key is (RFC 8446 4.2.8)."""

    group: int
    key_length: int

    @property
    def group_name(self) -> str:
        """ "x25519", "X25519MLKEM768", ..."""
        return group_name(self.group)


@dataclass(frozen=True)
class ClientHello:
    """What the client offers. Lists keep the client's order, GREASE values included."""

    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suites: tuple[int, ...]
    compression_methods: bytes
    extensions: tuple[Extension, ...]
    server_name: str | None = None
    alpn: tuple[str, ...] = ()
    supported_versions: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    key_shares: tuple[KeyShare, ...] = ()
    signature_algorithms: tuple[int, ...] = ()
    psk: bool = False  # pre_shared_key: a resumption attempt
    early_data: bool = False  # 0-RTT data follows (RFC 8446 4.2.10)

    @property
    def highest_version(self) -> int:
        """The best version offered: supported_versions' highest real value, else the legacy
        field. OpenSSL (and so curl's trace) calls the ClientHello by this version."""
        offered = [v for v in self.supported_versions if not is_grease(v)]
        return max(offered, default=self.legacy_version)

    @property
    def cipher_suite_names(self) -> list[str]:
        """The offered suites by IANA name."""
        return [cipher_suite_name(suite) for suite in self.cipher_suites]

    @property
    def version_names(self) -> list[str]:
        """supported_versions by name: "TLSv1.3", "TLSv1.2", "GREASE"..."""
        return [version_name(v) for v in self.supported_versions]

    @property
    def group_names(self) -> list[str]:
        """supported_groups by name."""
        return [group_name(g) for g in self.groups]

    @property
    def signature_algorithm_names(self) -> list[str]:
        """signature_algorithms by name."""
        return [signature_scheme_name(s) for s in self.signature_algorithms]


@dataclass(frozen=True)
class ServerHello:
    """What the server picked. `version` is the real one: supported_versions' choice when
    present (TLS 1.3), else legacy_version (RFC 8446 section 4.2.1)."""

    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: tuple[Extension, ...]
    version: int
    key_share_group: int | None = None
    alpn: str | None = None

    @property
    def hello_retry_request(self) -> bool:
        """True when this is a HelloRetryRequest (RFC 8446 4.1.3): the client must send a
        second ClientHello with a key share for `key_share_group`."""
        return self.random == HELLO_RETRY_REQUEST_RANDOM

    @property
    def downgrade(self) -> str | None:
        """The version a TLS 1.3-capable server says it was held down to, or None."""
        return DOWNGRADE_SENTINELS.get(self.random[-8:])

    @property
    def cipher_suite_name(self) -> str:
        """The chosen suite by IANA name."""
        return cipher_suite_name(self.cipher_suite)

    @property
    def version_name(self) -> str:
        """The negotiated version as OpenSSL spells it."""
        return version_name(self.version)


def parse_client_hello(body: bytes) -> ClientHello:
    """Decode a ClientHello message body (after the 4-byte handshake header)."""
    c = Cursor(body, "ClientHello")
    legacy_version = c.uint(2, "legacy_version")
    random = c.take(RANDOM_SIZE, "random")
    session_id = _session_id(c)
    cipher_suites = tuple(c.sub(2, "cipher_suites", floor=2).uints(2, "cipher suite"))
    compression = c.vector(1, "legacy_compression_methods", floor=1)
    extensions = _extensions(c)
    decoded = {ext.type: ext.data for ext in extensions}
    fields: dict = {}
    for number, decode in _CLIENT_EXTENSIONS.items():
        if number in decoded:
            field, value = decode(Cursor(decoded[number], f"ClientHello {extension_name(number)}"))
            fields[field] = value
    return ClientHello(
        legacy_version,
        random,
        session_id,
        cipher_suites,
        compression,
        extensions,
        psk=PRE_SHARED_KEY in decoded,
        early_data=EARLY_DATA in decoded,
        **fields,
    )


def parse_server_hello(body: bytes) -> ServerHello:
    """Decode a ServerHello (or HelloRetryRequest) message body."""
    c = Cursor(body, "ServerHello")
    legacy_version = c.uint(2, "legacy_version")
    random = c.take(RANDOM_SIZE, "random")
    session_id = _session_id(c)
    cipher_suite = c.uint(2, "cipher_suite")
    compression = c.uint(1, "legacy_compression_method")
    extensions = _extensions(c)
    decoded = {ext.type: ext.data for ext in extensions}
    retry = random == HELLO_RETRY_REQUEST_RANDOM
    version, group, alpn = legacy_version, None, None
    if SUPPORTED_VERSIONS in decoded:
        v = Cursor(decoded[SUPPORTED_VERSIONS], "ServerHello supported_versions")
        version = v.uint(2, "selected_version")
        v.end()
    if KEY_SHARE in decoded:
        group = _server_key_share(Cursor(decoded[KEY_SHARE], "ServerHello key_share"), retry)
    if ALPN in decoded:
        names = _alpn(Cursor(decoded[ALPN], "ServerHello ALPN"))[1]
        if len(names) != 1:
            raise TLSDecodeError(f"ServerHello ALPN: {len(names)} protocols, RFC 7301 says 1")
        alpn = names[0]
    return ServerHello(
        legacy_version, random, session_id, cipher_suite, compression, extensions, version,
        group, alpn,
    )  # fmt: skip


def _session_id(c: Cursor) -> bytes:
    """legacy_session_id<0..32>."""
    session_id = c.vector(1, "legacy_session_id")
    if len(session_id) > RANDOM_SIZE:
        raise TLSDecodeError(f"{c.what}: a session id of {len(session_id)} bytes (at most 32)")
    return session_id


def _extensions(c: Cursor) -> tuple[Extension, ...]:
    """The extensions block, if any (a TLS 1.2 hello may end before it, RFC 5246 7.4.1.2).
    RFC 8446 section 4.2: the same extension twice is an error."""
    if not c.left:
        return ()
    block = c.sub(2, "extensions")
    c.end()
    extensions: list[Extension] = []
    seen: set[int] = set()
    while block.left:
        number = block.uint(2, "extension type")
        data = block.vector(2, f"extension {extension_name(number)}")
        if number in seen:
            raise TLSDecodeError(f"{c.what}: extension {extension_name(number)} sent twice")
        seen.add(number)
        extensions.append(Extension(number, data))
    return tuple(extensions)


def _server_name(c: Cursor) -> tuple[str, str | None]:
    """server_name (RFC 6066 3): ServerName server_name_list<1..2^16-1>; the host_name."""
    names = c.sub(2, "server_name_list", floor=1)
    c.end()
    host = None
    while names.left:
        name_type = names.uint(1, "name_type")
        name = names.vector(2, "host_name", floor=1)
        if name_type == _HOST_NAME and host is None:
            if not name.isascii():
                raise TLSDecodeError("ClientHello server_name: a host name that is not ASCII")
            host = name.decode("ascii")
    return "server_name", host


def _alpn(c: Cursor) -> tuple[str, tuple[str, ...]]:
    """ALPN (RFC 7301 3.1): ProtocolName protocol_name_list<2..2^16-1>, each <1..2^8-1>."""
    names = c.sub(2, "protocol_name_list", floor=2)
    c.end()
    protocols = []
    while names.left:
        protocols.append(names.vector(1, "protocol name", floor=1).decode("latin-1"))
    return "alpn", tuple(protocols)


def _uint16_list(field: str, prefix: int):
    """A decoder for an extension that is one list of 16-bit values (floor 2 bytes)."""

    def decode(c: Cursor) -> tuple[str, tuple[int, ...]]:
        values = c.sub(prefix, field, floor=2).uints(2, field)
        c.end()
        return field, tuple(values)

    return decode


def _client_key_shares(c: Cursor) -> tuple[str, tuple[KeyShare, ...]]:
    """key_share (RFC 8446 4.2.8): KeyShareEntry client_shares<0..2^16-1>."""
    entries = c.sub(2, "client_shares")
    c.end()
    shares = []
    while entries.left:
        group = entries.uint(2, "group")
        shares.append(KeyShare(group, len(entries.vector(2, "key_exchange", floor=1))))
    return "key_shares", tuple(shares)


def _server_key_share(c: Cursor, retry: bool) -> int:
    """ServerHello key_share: one KeyShareEntry; a HelloRetryRequest's: the selected_group."""
    group = c.uint(2, "group")
    if not retry:
        c.vector(2, "key_exchange", floor=1)
    c.end()
    return group


# The ClientHello extensions decoded into fields: number -> decoder returning (field, value).
_CLIENT_EXTENSIONS = {
    SERVER_NAME: _server_name,
    ALPN: _alpn,
    SUPPORTED_VERSIONS: _uint16_list("supported_versions", 1),
    SUPPORTED_GROUPS: _uint16_list("groups", 2),
    KEY_SHARE: _client_key_shares,
    SIGNATURE_ALGORITHMS: _uint16_list("signature_algorithms", 2),
}
