"""curl's `-v` lines for TLS messages, word for word, so rawhttp's -v reads like curl's.

curl (lib/vtls/openssl.c, `ossl_trace`) prints one line per TLS message OpenSSL reports:

    * TLSv1.3 (OUT), TLS handshake, Client hello (1):
    * TLSv1.3 (IN), TLS handshake, Server hello (2):
    * TLSv1.3 (OUT), TLS change cipher, Change cipher spec (1):
    * TLSv1.3 (IN), TLS alert, close notify (256):

that is `"%s (%s), %s, %s (%d):"` with the version OpenSSL is at, the direction, a word for
the record type (`tls_rt_type`), a name for the message (`ssl_msg_type` for handshakes,
OpenSSL's `SSL_alert_desc_string_long` for alerts) and a number: the handshake type, the
ChangeCipherSpec byte, or for an alert level * 256 + description (so close_notify, a warning,
is 256). The names are curl's and OpenSSL's, quirks included ("Server finished" is
ServerHelloDone, "CERT verify" is CertificateVerify); the RFC names are in `names.py`.

The version is OpenSSL's idea of it at that moment: a ClientHello is labelled with the highest
version the client offers (`ClientHello.highest_version`), and everything after the ServerHello
with the negotiated one, so a TLS 1.3 connection's lines all say TLSv1.3.

curl sees TLS 1.3's encrypted messages decrypted (Encrypted Extensions, Certificate, CERT
verify, Finished); a record reader on the wire cannot, and shows those records as app data.
And OpenSSL does not report a ChangeCipherSpec it receives, so curl prints no `(IN), TLS change
cipher` line, though the wire carries one.

    >>> curl_line("OUT", 0x0304, 22, 1)
    'TLSv1.3 (OUT), TLS handshake, Client hello (1):'
    >>> curl_line("IN", "TLSv1.2", 21, 256)
    'TLSv1.2 (IN), TLS alert, close notify (256):'
"""

from __future__ import annotations

from rawhttp.tls.alerts import Alert
from rawhttp.tls.names import ALERT, CHANGE_CIPHER_SPEC, VERSIONS

# OpenSSL's SSL3_RT_HEADER: a pseudo content type for "the 5 record header bytes". curl 7.x
# printed these as "TLS header" lines, naming the record's first byte as if it were a
# handshake type (the odd "TLS header, Certificate Status (22):"); curl 8 skips them.
RECORD_HEADER = 256

# curl's tls_rt_type(); any other content type is "TLS Unknown".
RECORD_WORDS = {
    RECORD_HEADER: "TLS header",
    20: "TLS change cipher",
    21: "TLS alert",
    22: "TLS handshake",
    23: "TLS app data",
}
_UNKNOWN_RECORD = "TLS Unknown"

# curl's ssl_msg_type(), for SSL 3 and every TLS version; any other type is "Unknown".
MESSAGE_NAMES = {
    0: "Hello request",
    1: "Client hello",
    2: "Server hello",
    4: "Newsession Ticket",
    5: "End of early data",
    8: "Encrypted Extensions",
    11: "Certificate",
    12: "Server key exchange",
    13: "Request CERT",
    14: "Server finished",
    15: "CERT verify",
    16: "Client key exchange",
    20: "Finished",
    22: "Certificate Status",
    23: "Supplemental data",
    24: "Key update",
    67: "Next protocol",
    254: "Message hash",
}
_UNKNOWN_MESSAGE = "Unknown"
# What curl says when OpenSSL reports a message with no bytes.
_TRUNCATED = "Truncated message"
_CHANGE_CIPHER_SPEC = "Change cipher spec"

# OpenSSL's SSL_alert_desc_string_long() (ssl/ssl_stat.c, current; older releases, 3.0 among
# them, spell 10 "unexpected_message"). Descriptions it does not know, such as TLS 1.3's
# missing_extension (109) and certificate_required (116), it calls "unknown", and so does curl.
OPENSSL_ALERT_NAMES = {
    0: "close notify",
    10: "unexpected message",
    20: "bad record mac",
    21: "decryption failed",
    22: "record overflow",
    30: "decompression failure",
    40: "handshake failure",
    41: "no certificate",
    42: "bad certificate",
    43: "unsupported certificate",
    44: "certificate revoked",
    45: "certificate expired",
    46: "certificate unknown",
    47: "illegal parameter",
    48: "unknown CA",
    49: "access denied",
    50: "decode error",
    51: "decrypt error",
    60: "export restriction",
    70: "protocol version",
    71: "insufficient security",
    80: "internal error",
    90: "user canceled",
    100: "no renegotiation",
    110: "unsupported extension",
    111: "certificate unobtainable",
    112: "unrecognized name",
    113: "bad certificate status response",
    114: "bad certificate hash value",
    115: "unknown PSK identity",
    120: "no application protocol",
}
_UNKNOWN_ALERT = "unknown"


def curl_line(
    direction: str, version: str | int, content_type: int, message: int | Alert | None
) -> str:
    """The line `curl -v` prints for one TLS message, without curl's leading "* ".

    `direction` is "OUT" or "IN"; `version` a name such as `SSLObject.version()` returns
    ("TLSv1.3") or the wire number (0x0304); `message` the handshake type, the
    ChangeCipherSpec byte (1), the Alert (or its `code`), or None for an empty message."""
    if isinstance(version, int):
        version = VERSIONS.get(version, f"({version:x})")
    record_word = RECORD_WORDS.get(content_type, _UNKNOWN_RECORD)
    name, number = _message_name(content_type, message)
    return f"{version} ({direction}), {record_word}, {name} ({number}):"


def _message_name(content_type: int, message: int | Alert | None) -> tuple[str, int]:
    """curl's name and number for the message, as `ossl_trace` picks them."""
    if message is None:
        return _TRUNCATED, 0
    number = message.code if isinstance(message, Alert) else message
    if content_type == CHANGE_CIPHER_SPEC:
        return _CHANGE_CIPHER_SPEC, number
    if content_type == ALERT:
        return OPENSSL_ALERT_NAMES.get(number & 0xFF, _UNKNOWN_ALERT), number
    return MESSAGE_NAMES.get(number, _UNKNOWN_MESSAGE), number
