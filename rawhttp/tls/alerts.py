"""TLS alerts (RFC 8446 section 6, RFC 5246 section 7.2): two bytes, a level and a reason.

    struct {
        AlertLevel level;              /* 1 = warning, 2 = fatal (TLS 1.3 ignores it) */
        AlertDescription description;  /* 0 = close_notify, 40 = handshake_failure, ... */
    } Alert;

A peer ends a connection cleanly with close_notify, and a failed handshake usually says why
with a fatal alert: the one line a user most needs when HTTPS fails. Only a plaintext alert can
be read here: once keys are in use (after ChangeCipherSpec in TLS 1.2; every alert in TLS 1.3
after the ServerHello travels as application_data) the two bytes are encrypted.

    >>> parse_alert(b"\\x02\\x28")
    Alert(level=2, description=40)
    >>> str(parse_alert(b"\\x02\\x28"))
    'fatal handshake_failure (40)'
"""

from __future__ import annotations

from typing import NamedTuple

from rawhttp.tls.errors import TLSDecodeError
from rawhttp.tls.names import alert_level_name, alert_name

# An alert is exactly two bytes (level, description).
ALERT_SIZE = 2


class Alert(NamedTuple):
    """One alert: `level` 1 (warning) or 2 (fatal), and the `description` number."""

    level: int
    description: int

    @property
    def level_name(self) -> str:
        """ "warning" or "fatal"."""
        return alert_level_name(self.level)

    @property
    def name(self) -> str:
        """RFC 8446's name of the description: "close_notify", "unknown_ca"..."""
        return alert_name(self.description)

    @property
    def code(self) -> int:
        """level * 256 + description: the number curl prints after the name, as in
        `TLS alert, close notify (256)` (OpenSSL hands curl both bytes as one int)."""
        return self.level << 8 | self.description

    def __str__(self) -> str:
        return f"{self.level_name} {self.name} ({self.description})"


def parse_alert(payload: bytes) -> Alert:
    """Decode a plaintext alert record's payload. Anything but two bytes is a decode error:
    a longer payload is an encrypted alert (or several alerts, which no stack sends)."""
    if len(payload) != ALERT_SIZE:
        raise TLSDecodeError(
            f"an alert is {ALERT_SIZE} bytes, this one {len(payload)} (encrypted, or not an alert)"
        )
    return Alert(payload[0], payload[1])
