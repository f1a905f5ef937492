"""The numbers TLS puts on the wire, and the names people read them by.

Every table here is a slice of an IANA registry ("Transport Layer Security (TLS) Parameters"
and "TLS ExtensionType Values"), keyed by the number on the wire. Only the values a learner
meets in practice are named; any other number is shown as hex by the `*_name` functions, so an
unknown value is still visible, never dropped. Cipher suites have two names: IANA's, used by
the RFCs and Wireshark (`TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`), and OpenSSL's, which Python's
`ssl` and curl print (`ECDHE-RSA-AES256-GCM-SHA384`); both are kept so a view can say either.

GREASE (RFC 8701) values are reserved numbers a client sprinkles into its lists (cipher suites,
extensions, groups, versions) so servers learn to ignore what they do not know; they are named
"GREASE" here rather than "unknown".
"""

from __future__ import annotations

# RFC 8446 section 5.1 (ContentType) and RFC 6520 (heartbeat).
CHANGE_CIPHER_SPEC = 20
ALERT = 21
HANDSHAKE = 22
APPLICATION_DATA = 23
HEARTBEAT = 24
CONTENT_TYPES = {
    CHANGE_CIPHER_SPEC: "change_cipher_spec",
    ALERT: "alert",
    HANDSHAKE: "handshake",
    APPLICATION_DATA: "application_data",
    HEARTBEAT: "heartbeat",
}

# ProtocolVersion: {3, 1} is TLS 1.0 because TLS began as SSL 3.1 (RFC 2246 appendix E).
SSL3, TLS10, TLS11, TLS12, TLS13 = 0x0300, 0x0301, 0x0302, 0x0303, 0x0304
VERSIONS = {
    SSL3: "SSLv3",
    TLS10: "TLSv1.0",
    TLS11: "TLSv1.1",
    TLS12: "TLSv1.2",
    TLS13: "TLSv1.3",
}

# HandshakeType (RFC 8446 section 4, RFC 5246 section 7.4, the IANA registry).
CLIENT_HELLO = 1
SERVER_HELLO = 2
NEW_SESSION_TICKET = 4
CERTIFICATE = 11
SERVER_KEY_EXCHANGE = 12
SERVER_HELLO_DONE = 14
CLIENT_KEY_EXCHANGE = 16
FINISHED = 20
HANDSHAKE_TYPES = {
    0: "hello_request",
    CLIENT_HELLO: "client_hello",
    SERVER_HELLO: "server_hello",
    3: "hello_verify_request",
    NEW_SESSION_TICKET: "new_session_ticket",
    5: "end_of_early_data",
    8: "encrypted_extensions",
    CERTIFICATE: "certificate",
    SERVER_KEY_EXCHANGE: "server_key_exchange",
    13: "certificate_request",
    SERVER_HELLO_DONE: "server_hello_done",
    15: "certificate_verify",
    CLIENT_KEY_EXCHANGE: "client_key_exchange",
    FINISHED: "finished",
    21: "certificate_url",
    22: "certificate_status",
    23: "supplemental_data",
    24: "key_update",
    25: "compressed_certificate",
    67: "next_protocol",
    254: "message_hash",
}

# AlertLevel and AlertDescription (RFC 8446 section 6, RFC 5246 section 7.2).
ALERT_LEVELS = {1: "warning", 2: "fatal"}
ALERT_DESCRIPTIONS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    21: "decryption_failed",
    22: "record_overflow",
    30: "decompression_failure",
    40: "handshake_failure",
    41: "no_certificate",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    60: "export_restriction",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    100: "no_renegotiation",
    109: "missing_extension",
    110: "unsupported_extension",
    111: "certificate_unobtainable",
    112: "unrecognized_name",
    113: "bad_certificate_status_response",
    114: "bad_certificate_hash_value",
    115: "unknown_psk_identity",
    116: "certificate_required",
    120: "no_application_protocol",
    121: "ech_required",
}

# ExtensionType (RFC 8446 section 4.2 and the IANA registry).
SERVER_NAME = 0
SUPPORTED_GROUPS = 10
SIGNATURE_ALGORITHMS = 13
ALPN = 16
PRE_SHARED_KEY = 41
EARLY_DATA = 42
SUPPORTED_VERSIONS = 43
KEY_SHARE = 51
EXTENSIONS = {
    SERVER_NAME: "server_name",
    1: "max_fragment_length",
    5: "status_request",
    SUPPORTED_GROUPS: "supported_groups",
    11: "ec_point_formats",
    SIGNATURE_ALGORITHMS: "signature_algorithms",
    14: "use_srtp",
    15: "heartbeat",
    ALPN: "application_layer_protocol_negotiation",
    18: "signed_certificate_timestamp",
    21: "padding",
    22: "encrypt_then_mac",
    23: "extended_master_secret",
    27: "compress_certificate",
    28: "record_size_limit",
    34: "delegated_credential",
    35: "session_ticket",
    PRE_SHARED_KEY: "pre_shared_key",
    EARLY_DATA: "early_data",
    SUPPORTED_VERSIONS: "supported_versions",
    44: "cookie",
    45: "psk_key_exchange_modes",
    47: "certificate_authorities",
    48: "oid_filters",
    49: "post_handshake_auth",
    50: "signature_algorithms_cert",
    KEY_SHARE: "key_share",
    17513: "application_settings",
    0xFE0D: "encrypted_client_hello",
    0xFF01: "renegotiation_info",
}

# NamedGroup (RFC 8446 section 4.2.7, RFC 7919 for ffdhe, draft-ietf-tls-ecdhe-mlkem).
GROUPS = {
    23: "secp256r1",
    24: "secp384r1",
    25: "secp521r1",
    29: "x25519",
    30: "x448",
    31: "brainpoolP256r1tls13",
    32: "brainpoolP384r1tls13",
    33: "brainpoolP512r1tls13",
    256: "ffdhe2048",
    257: "ffdhe3072",
    258: "ffdhe4096",
    259: "ffdhe6144",
    260: "ffdhe8192",
    512: "MLKEM512",
    513: "MLKEM768",
    514: "MLKEM1024",
    0x11EB: "SecP256r1MLKEM768",
    0x11EC: "X25519MLKEM768",
    0x11ED: "SecP384r1MLKEM1024",
    0x6399: "X25519Kyber768Draft00",
}

# SignatureScheme (RFC 8446 section 4.2.3; the 0x02xx/0x03xx ones are TLS 1.2's hash/sign pairs).
SIGNATURE_SCHEMES = {
    0x0201: "rsa_pkcs1_sha1",
    0x0203: "ecdsa_sha1",
    0x0303: "ecdsa_sha224",
    0x0301: "rsa_pkcs1_sha224",
    0x0401: "rsa_pkcs1_sha256",
    0x0501: "rsa_pkcs1_sha384",
    0x0601: "rsa_pkcs1_sha512",
    0x0403: "ecdsa_secp256r1_sha256",
    0x0503: "ecdsa_secp384r1_sha384",
    0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256",
    0x0805: "rsa_pss_rsae_sha384",
    0x0806: "rsa_pss_rsae_sha512",
    0x0807: "ed25519",
    0x0808: "ed448",
    0x0809: "rsa_pss_pss_sha256",
    0x080A: "rsa_pss_pss_sha384",
    0x080B: "rsa_pss_pss_sha512",
    0x081A: "ecdsa_brainpoolP256r1tls13_sha256",
    0x081B: "ecdsa_brainpoolP384r1tls13_sha384",
    0x081C: "ecdsa_brainpoolP512r1tls13_sha512",
}

# CipherSuite: number -> (IANA name, OpenSSL name or None). TLS 1.3 suites have one name in
# both (RFC 8446 appendix B.4); the TLS 1.2 names are from RFC 5288, 5289, 7905, 5246.
CIPHER_SUITES = {
    0x1301: ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    0x1302: ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    0x1303: ("TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
    0x1304: ("TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_SHA256"),
    0x1305: ("TLS_AES_128_CCM_8_SHA256", "TLS_AES_128_CCM_8_SHA256"),
    0xC02B: ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    0xC02C: ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
    0xC02F: ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    0xC030: ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
    0xCCA8: ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
    0xCCA9: ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    0xCCAA: ("TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "DHE-RSA-CHACHA20-POLY1305"),
    0x009E: ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256"),
    0x009F: ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384"),
    0xC023: ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"),
    0xC024: ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384"),
    0xC027: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"),
    0xC028: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384"),
    0xC009: ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"),
    0xC00A: ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"),
    0xC013: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
    0xC014: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
    0x0067: ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE-RSA-AES128-SHA256"),
    0x006B: ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "DHE-RSA-AES256-SHA256"),
    0x0033: ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE-RSA-AES128-SHA"),
    0x0039: ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE-RSA-AES256-SHA"),
    0x009C: ("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"),
    0x009D: ("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
    0x003C: ("TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"),
    0x003D: ("TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256"),
    0x002F: ("TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
    0x0035: ("TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"),
    0x000A: ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"),
    # Signalling values, not real suites: RFC 5746 (secure renegotiation), RFC 7507 (fallback).
    0x00FF: ("TLS_EMPTY_RENEGOTIATION_INFO_SCSV", None),
    0x5600: ("TLS_FALLBACK_SCSV", None),
}
_OPENSSL_TO_IANA = {openssl: iana for iana, openssl in CIPHER_SUITES.values() if openssl}


def is_grease(value: int) -> bool:
    """RFC 8701 section 2: 0x0A0A, 0x1A1A ... 0xFAFA, the values reserved to keep peers honest."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


def _name(table: dict[int, str], value: int, width: int = 4) -> str:
    """A table's name for `value`, "GREASE" for RFC 8701's, else the number in hex."""
    if value in table:
        return table[value]
    if width == 4 and is_grease(value):
        return "GREASE"
    return f"0x{value:0{width}x}"


def content_type_name(value: int) -> str:
    """`22` -> "handshake"."""
    return _name(CONTENT_TYPES, value, 2)


def version_name(value: int) -> str:
    """`0x0303` -> "TLSv1.2" (OpenSSL's and curl's spelling)."""
    return _name(VERSIONS, value)


def handshake_name(value: int) -> str:
    """`1` -> "client_hello" (RFC 8446's spelling)."""
    return _name(HANDSHAKE_TYPES, value, 2)


def extension_name(value: int) -> str:
    """`0` -> "server_name"."""
    return _name(EXTENSIONS, value)


def group_name(value: int) -> str:
    """`29` -> "x25519"."""
    return _name(GROUPS, value)


def signature_scheme_name(value: int) -> str:
    """`0x0804` -> "rsa_pss_rsae_sha256"."""
    return _name(SIGNATURE_SCHEMES, value)


def cipher_suite_name(value: int) -> str:
    """`0x1302` -> "TLS_AES_256_GCM_SHA384": the IANA name, as the RFCs and Wireshark say it."""
    if value in CIPHER_SUITES:
        return CIPHER_SUITES[value][0]
    return _name({}, value)


def openssl_cipher_name(value: int) -> str | None:
    """`0xC030` -> "ECDHE-RSA-AES256-GCM-SHA384": what `ssl.SSLSocket.cipher()` and curl say."""
    return CIPHER_SUITES.get(value, (None, None))[1]


def iana_cipher_name(openssl_name: str) -> str | None:
    """The IANA name of an OpenSSL cipher name, so `cipher()[0]` can be shown as the RFCs say."""
    return _OPENSSL_TO_IANA.get(openssl_name)


def alert_level_name(value: int) -> str:
    """`2` -> "fatal"."""
    return _name(ALERT_LEVELS, value, 2)


def alert_name(value: int) -> str:
    """`40` -> "handshake_failure" (RFC 8446 section 6's spelling)."""
    return _name(ALERT_DESCRIPTIONS, value, 2)
