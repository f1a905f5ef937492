"""Which proxy a request goes through, decided as curl decides it: pure rules, no I/O.

The inputs are the user's settings (`-x`, `-U`, `--noproxy`, `-p`, `--proxy-header`) and a
snapshot of the environment taken once by the CLI; the answer for one URL is a `Route`: no
proxy, a proxy that forwards (plain http: the request goes to the proxy with the absolute-form
target), or a proxy that tunnels (https, or `-p`: `CONNECT host:port` first). `dial.py`
connects along the route; `client.py` writes the request for it; the views say why.

curl's rules (lib/proxy.c):
- `-x URL` wins over the environment; `-x ""` turns proxies off, the environment's too.
- The environment: for http:// URLs `http_proxy`, lower case only (httpoxy: a CGI program
  gets a `Proxy:` request header as `HTTP_PROXY`); for https:// `https_proxy`, then
  `HTTPS_PROXY`; then `all_proxy`, `ALL_PROXY`. An empty variable counts as unset.
- `--noproxy LIST` replaces `no_proxy`/`NO_PROXY` (lower case first), which apply to the
  proxy of `-x` too. A list is names and addresses separated by commas or blanks; `*`
  alone means every host. A name matches itself
  and its subdomains, with or without a leading dot (`example.com` and `.example.com` both
  match `www.example.com`, never `badexample.com`); an address or a CIDR range (`10.0.0.0/8`,
  `::1/128`) matches a URL whose host is an address in it (not a name that resolves to one).
- A proxy URL's scheme defaults to http://, its port to 1080; `user:password@` in it wins
  over `-U`. Only http:// proxies are spoken here (not https://, not socks).

One difference from curl, on purpose: an entry with a port (`localhost:8000`,
`[::1]:8080`) matches that port only. curl compares the entry whole with the host name, so
such an entry never matches anything there.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from rawhttp.errors import InvalidProxy
from rawhttp.url import URL

# curl's port for a proxy named without one (CURLOPT_PROXYPORT's default), whatever the scheme.
DEFAULT_PORT = 1080

# The variables read, in the order curl reads them for each URL scheme.
PROXY_VARIABLES = {
    "http": ("http_proxy", "all_proxy", "ALL_PROXY"),
    "https": ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"),
}
NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")
ENVIRONMENT = (*PROXY_VARIABLES["https"], "http_proxy", *NO_PROXY_VARIABLES)

# A NO_PROXY list: entries separated by commas and blanks (curl's tokenizer).
_SEPARATORS = re.compile(r"[,\s]+")


class Settings(NamedTuple):
    """What the user asked for, and the environment as it was when asked."""

    proxy: str | None = None  # -x; "" turns proxies off
    user: str | None = None  # -U USER:PASSWORD
    noproxy: str | None = None  # --noproxy; replaces no_proxy/NO_PROXY
    tunnel: bool = False  # -p: CONNECT for http:// URLs too
    headers: tuple[tuple[str, str], ...] = ()  # --proxy-header: sent to the proxy only
    environ: Mapping[str, str] = {}  # the proxy variables (see `from_environment`)


def from_environment(environ: Mapping[str, str], **settings) -> Settings:
    """Settings with the proxy variables of `environ` (os.environ, say) copied in."""
    kept = {name: environ[name] for name in ENVIRONMENT if environ.get(name)}
    return Settings(environ=kept, **settings)


class Proxy(NamedTuple):
    """An HTTP proxy to go through: where it is, its credentials, and where it came from."""

    url: URL  # http://host:port/, what dial connects to
    credentials: str | None  # "user:password", from the proxy URL or -U
    source: str  # "-x" or the variable's name, for -v
    headers: tuple[tuple[str, str], ...] = ()  # --proxy-header
    text: str = ""  # as written (a password in it hidden), for -v

    @property
    def address(self) -> str:
        return f"{self.url.host_for_header}:{self.url.port}"

    @property
    def authorization(self) -> str | None:
        """The Proxy-Authorization value (Basic, RFC 7617), if there are credentials."""
        if self.credentials is None:
            return None
        return "Basic " + base64.b64encode(self.credentials.encode("utf-8")).decode("ascii")

    def fields(self) -> list[tuple[str, str]]:
        """What the proxy alone is sent: Proxy-Authorization, then the --proxy-header ones."""
        authorization = self.authorization
        pairs = [("Proxy-Authorization", authorization)] if authorization else []
        return [*pairs, *self.headers]


class Route(NamedTuple):
    """How one URL is reached: directly (`proxy` None), forwarded, or tunnelled; `skipped`
    names the proxy NO_PROXY turned down and the entry that matched, for -v."""

    proxy: Proxy | None = None
    tunnel: bool = False
    skipped: tuple[str, str, str] | None = None  # (proxy as written, its source, entry)
    no_proxy_source: str = ""  # --noproxy or the variable the entry came from

    @property
    def forwards(self) -> bool:
        """The proxy reads the request itself: absolute-form target, Proxy-Authorization."""
        return self.proxy is not None and not self.tunnel

    def key(self, url: URL) -> tuple:
        """What a kept connection must match to carry a request to `url`: the origin when
        direct, the proxy when it forwards (any origin), both through a tunnel."""
        if self.proxy is None:
            return ("direct", url.origin)
        if self.tunnel:
            return ("tunnel", self.proxy.url.origin, url.origin)
        return ("forward", self.proxy.url.origin)


DIRECT = Route()


def route(url: URL, settings: Settings | None) -> Route:
    """The route to `url` under `settings` (None: always direct)."""
    if settings is None:
        return DIRECT
    candidate = _candidate(url.scheme, settings)
    if candidate is None:
        return DIRECT
    text, source = candidate
    rules, rules_source = _no_proxy(settings)
    entry = no_proxy_entry(url.host, url.port, rules)
    if entry is not None:
        return Route(skipped=(_hide_password(text), source, entry), no_proxy_source=rules_source)
    proxy = parse_proxy(text, source, settings.user, settings.headers)
    return Route(proxy, tunnel=url.scheme == "https" or settings.tunnel)


def _candidate(scheme: str, settings: Settings) -> tuple[str, str] | None:
    """The proxy text and where it came from, before NO_PROXY is asked."""
    if settings.proxy is not None:
        return (settings.proxy, "-x") if settings.proxy else None
    for name in PROXY_VARIABLES[scheme]:
        value = settings.environ.get(name)
        if value:
            return value, name
    return None


def _no_proxy(settings: Settings) -> tuple[str, str]:
    if settings.noproxy is not None:
        return settings.noproxy, "--noproxy"
    for name in NO_PROXY_VARIABLES:
        value = settings.environ.get(name)
        if value:
            return value, name
    return "", ""


def parse_proxy(
    text: str, source: str = "-x", user: str | None = None, headers: tuple = ()
) -> Proxy:
    """`[http://][user:password@]host[:port]` as a Proxy (InvalidProxy, exit 5, if not)."""
    written = _hide_password(text)
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidProxy(f"proxy {_hide_password(text)!r} (from {source}): {exc}") from None
    scheme = parts.scheme.lower()
    if scheme != "http":
        raise InvalidProxy(
            f"proxy {_hide_password(text)!r} (from {source}): {scheme}:// proxies are not "
            "supported, only http://"
        )
    host = parts.hostname
    if not host or re.search(r"[^A-Za-z0-9._:%-]", host):
        raise InvalidProxy(f"proxy {_hide_password(text)!r} (from {source}): no valid host")
    credentials = user
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    address = URL("http", host, port if port is not None else DEFAULT_PORT, "/")
    return Proxy(address, credentials, source, tuple(headers), written)


def _hide_password(text: str) -> str:
    """The proxy URL as -v may show it: a password in it becomes ***."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", text)


def no_proxy_entry(host: str, port: int, rules: str) -> str | None:
    """The entry of a NO_PROXY list that matches `host` (and `port`), or None."""
    if not host or not rules.strip():
        return None
    if rules.strip() == "*":
        return "*"
    address = _address(host)
    name = host.lower().rstrip(".")
    for entry in _SEPARATORS.split(rules.strip()):
        pattern, entry_port = _split_port(entry)
        if not pattern or (entry_port is not None and entry_port != port):
            continue
        if address is None and _name_matches(pattern, name):
            return entry
        if address is not None and _address_matches(pattern, address):
            return entry
    return None


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None


def _split_port(entry: str) -> tuple[str, int | None]:
    """`name:80` -> (name, 80); `[::1]:80` -> (::1, 80); `::1` and `10.0.0.0/8` have none."""
    if entry.startswith("["):
        inside, _, after = entry[1:].partition("]")
        port = after[1:] if after.startswith(":") else ""
        return inside, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        pattern, _, port = entry.partition(":")
        return pattern, int(port) if port.isdigit() else -1  # -1: a port that matches none
    return entry, None


def _name_matches(pattern: str, name: str) -> bool:
    """curl's match_host: exact, or a dot-bounded suffix; a leading or trailing dot ignored."""
    pattern = pattern.lower().rstrip(".").removeprefix(".")
    if not pattern:
        return False
    return name == pattern or name.endswith("." + pattern)


def _address_matches(pattern: str, address) -> bool:
    """An address equal to the entry, or inside the entry's CIDR range."""
    try:
        if "/" in pattern:
            return address in ipaddress.ip_network(pattern, strict=False)
        return address == ipaddress.ip_address(pattern)
    except ValueError:
        return False
