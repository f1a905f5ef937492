"""`rawhttp serve --auth USER:PASSWORD` (or `--auth-file`): HTTP Basic authentication
(RFC 7617), for the lesson that shows what a browser sends and why it needs TLS.

A request without valid credentials gets 401 with `WWW-Authenticate: Basic realm="...",
charset="UTF-8"` and a page telling a student exactly what to send: the header, and that its
value is base64 of USER:PASSWORD, which anyone on the path can decode (base64 is an encoding,
not a cipher: hence Basic only over TLS). The comparison is hmac.compare_digest against every
known pair, so how long it takes says nothing about how much of a guess was right.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable

from rawhttp.server.exchange import Exchange, StatusPage

REALM = "rawhttp"


class BasicAuth:
    """Checks a request's Authorization field against USER:PASSWORD pairs."""

    def __init__(self, credentials: Iterable[str], realm: str = REALM):
        self.pairs = [pair.encode() for pair in credentials]
        if not self.pairs or not all(b":" in pair for pair in self.pairs):
            raise ValueError("credentials are USER:PASSWORD")
        self.realm = realm

    def check(self, exchange: Exchange) -> None:
        """Return if the request carries known credentials, else raise the 401."""
        given = credentials_of(exchange.request.headers.get("Authorization"))
        known = False
        for pair in self.pairs:  # every pair, so the time does not say which was close
            known |= given is not None and hmac.compare_digest(pair, given)
        if not known:
            raise self.refusal(given is not None)

    def refusal(self, tried: bool) -> StatusPage:
        challenge = f'Basic realm="{self.realm}", charset="UTF-8"'
        why = "those credentials are not known here" if tried else "this server needs a login"
        detail = (
            f"{why}. Send the header 'Authorization: Basic X' where X is the base64 of "
            "USER:PASSWORD (for alice:secret, YWxpY2U6c2VjcmV0), as curl -u alice:secret does. "
            "Base64 is not encryption: anyone who sees the request can decode it, so Basic "
            "authentication belongs on https only."
        )
        return StatusPage(401, detail, headers=[("WWW-Authenticate", challenge)])


def credentials_of(value: str | None) -> bytes | None:
    """The USER:PASSWORD bytes of an `Authorization: Basic ...` value, None if there are none."""
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def read_auth_file(path: str) -> list[str]:
    """USER:PASSWORD lines of a file (blank lines and # comments skipped)."""
    with open(path, encoding="utf-8") as file:
        lines = [line.strip() for line in file]
    return [line for line in lines if line and not line.startswith("#")]
