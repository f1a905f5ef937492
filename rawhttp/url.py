"""URLs as users type them: `www.example.com`, `host:8080/p?q=1`, `[::1]:8080/`, `https://...`.

Owns turning that text into a `URL` (scheme, host, port, request target) and resolving a
`Location` against it. `urllib.parse` does the RFC 3986 splitting; this module adds what a
command-line tool needs on top: an assumed `http://`, refusal of bytes that must never reach the
wire (CR, LF, NUL, other controls), and the request target with the fragment dropped.

Host names beyond ASCII are converted as curl (libidn2) converts them: IDNA 2008 with UTS 46
mapping, non-transitional, by the `idna` package, so `faß.test` is `xn--fa-hia.test` (Python's
own "idna" codec is IDNA 2003, which would ask DNS for `fass.test`, a different name). An IPv6
literal may carry a zone id in RFC 6874's form, `[fe80::1%25eth0]` (the `%25` is a
percent-encoded `%`; the bare `%eth0` that browsers and curl also take is accepted): the zone
is kept for connecting (`fe80::1%eth0`) and never sent in `Host`, which names no interface.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple
from urllib.parse import quote, urljoin, urlsplit

from rawhttp.errors import InvalidURL

DEFAULT_PORTS = {"http": 80, "https": 443}

# RFC 3986 section 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), followed by "://".
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]")
# RFC 6874: ZoneID = 1*( unreserved / pct-encoded ); rawhttp takes unreserved characters only.
_ZONE_RE = re.compile(r"[A-Za-z0-9._~-]+")
# Characters kept as they are in a request target; anything else (non-ASCII) is %-encoded, as
# browsers do, so the request line stays visible ASCII. Spaces are refused earlier, as curl does.
_TARGET_SAFE = "/?=&;:@!$'()*+,-._~%[]"


class URL(NamedTuple):  # a NamedTuple, not a dataclass: see wire.ResponseHead
    """A parsed http(s) URL: what to connect to and what to put in the request line."""

    scheme: str
    host: str
    port: int
    target: str

    @property
    def is_default_port(self) -> bool:
        return self.port == DEFAULT_PORTS[self.scheme]

    @property
    def host_for_header(self) -> str:
        """The host as it appears in a Host header: IPv6 literals in brackets, without the
        zone id (which names an interface of this machine, meaningless to the server)."""
        return f"[{self.host.partition('%')[0]}]" if ":" in self.host else self.host

    @property
    def authority(self) -> str:
        """The Host header value (RFC 9110 section 7.2): the port only when not the default."""
        if self.is_default_port:
            return self.host_for_header
        return f"{self.host_for_header}:{self.port}"

    @property
    def origin(self) -> tuple[str, str, int]:
        """What a connection can be reused for: same scheme, host and port."""
        return (self.scheme, self.host.lower(), self.port)

    def __str__(self) -> str:
        """The URL, a zone id kept in RFC 6874's form (so a redirect keeps the interface)."""
        host = f"[{self.host.replace('%', '%25', 1)}]" if ":" in self.host else self.host
        port = "" if self.is_default_port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.target}"


def parse_url(text: str) -> URL:
    """Parse what a user typed; `http://` is assumed when no scheme is given."""
    if not text:
        raise InvalidURL("empty URL")
    if _CONTROL_RE.search(text.strip(" ")) or text != text.strip(" "):
        raise InvalidURL(f"URL contains whitespace or a control character: {text!r}")
    match = _SCHEME_RE.match(text)
    if match is None:
        if "://" in text:
            raise InvalidURL(f"malformed scheme in {text!r}")
        text = "http://" + text
    scheme = _SCHEME_RE.match(text).group(1).lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidURL(f"unsupported scheme {scheme!r} (only http and https)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"invalid URL {text!r}: {exc}") from None
    if parts.username is not None or "@" in parts.netloc:
        raise InvalidURL(f"user info in the URL is not supported: {text!r}")
    host = parts.hostname
    if not host:
        raise InvalidURL(f"no host in {text!r}")
    if parts.netloc.endswith(":"):
        raise InvalidURL(f"empty port in {text!r}")
    host = _ascii_host(host, text)
    target = _quoted(parts.path or "/")
    if parts.query or text.split("#", 1)[0].endswith("?"):
        target += "?" + _quoted(parts.query)
    return URL(scheme, host, port if port is not None else DEFAULT_PORTS[scheme], target)


def _quoted(text: str) -> str:
    """Percent-encode what may not stand in a request-target (RFC 3986 section 2.1). A byte
    that is not UTF-8 (a command-line argument arrives as str with such bytes escaped: PEP 383)
    is sent as the byte it was, %XX, as curl sends argument bytes as given."""
    return quote(text.encode("utf-8", "surrogateescape"), safe=_TARGET_SAFE)


def _ascii_host(host: str, text: str) -> str:
    if ":" in host:
        return _ipv6_host(host, text)
    if host.isascii():
        if not re.fullmatch(r"[A-Za-z0-9._-]+", host):
            raise InvalidURL(f"invalid host {host!r} in {text!r}")
        return host
    import idna  # only for a name beyond ASCII: its tables take a while to load

    try:
        return idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except (UnicodeError, ValueError) as exc:  # idna.IDNAError is a UnicodeError
        raise InvalidURL(f"invalid international host name {host!r}: {exc}") from None


def _ipv6_host(host: str, text: str) -> str:
    """`fe80::1`, or with a zone id `fe80::1%eth0` (from `%25eth0` or `%eth0` in the URL)."""
    address, percent, zone = host.partition("%")
    zone = zone.removeprefix("25")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise InvalidURL(f"invalid IPv6 address {address!r} in {text!r}") from None
    if percent and not _ZONE_RE.fullmatch(zone):
        raise InvalidURL(f"invalid IPv6 zone id {zone!r} in {text!r}")
    return f"{address}%{zone}" if percent else address


def resolve_location(base: URL, location: str) -> URL:
    """Resolve a Location header value against the URL it came from (RFC 9110 section 10.2.2)."""
    location = location.strip()
    if not location:
        raise InvalidURL("empty Location header")
    try:  # urljoin raises ValueError on a bad IPv6 literal ("http://[x")
        absolute = urljoin(str(base), location)
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError as exc:
        raise InvalidURL(f"invalid Location {location!r}: {exc}") from None
    if scheme not in DEFAULT_PORTS:  # "tel:1" must not become http://tel:1/
        raise InvalidURL(f"unsupported scheme {scheme!r} in Location (only http and https)")
    return parse_url(absolute)
