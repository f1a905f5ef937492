"""What `rawhttp serve DIR` answers with: the files under DIR, and beside them the echo page
(`--echo`) and uploads (`--upload DIR`). One small router picks the handler for each request,
so each of the three stays about one job.

With `--echo`, a GET or HEAD of a file that exists is still served (so the sample site's form
page loads), and everything else, any method at any path, is echoed back.

`SiteOptions` adds what applies to every answer: Basic authentication (`auth.py`, checked from
the head), a Cache-Control value on files, gzip for text files (`compress.py`), and CORS
(`--cors ORIGIN`): a preflight OPTIONS (one with Access-Control-Request-Method) is answered 204
with the Access-Control-* fields, before authentication (browsers send preflights without
credentials), and every other answer carries Access-Control-Allow-Origin.
"""

from __future__ import annotations

from typing import NamedTuple

from rawhttp.server.auth import BasicAuth
from rawhttp.server.echo import Echo
from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.handler import BodySink, Handler
from rawhttp.server.static import FileOptions, StaticFiles, check_method
from rawhttp.server.upload import Upload
from rawhttp.wire import Headers

# How long a browser may cache a preflight's answer (Access-Control-Max-Age), in seconds:
# Chromium caps it at 7,200, Firefox at 86,400.
CORS_MAX_AGE = 600
CORS_METHODS = "GET, HEAD, POST, PUT, OPTIONS"


class SiteOptions(NamedTuple):
    """What `serve` adds to the answers of a folder: --auth, --cache-control, --cors, --compress."""

    auth: BasicAuth | None = None
    cache_control: str | None = None
    cors: str | None = None  # an origin, or "*"
    compress: bool = False  # gzip text files when Accept-Encoding allows (compress.py)


PLAIN = SiteOptions()  # none of them


class Preflight(Handler):
    """A CORS preflight: which methods and headers the real request may use, and for how
    long the browser may remember it."""

    def __call__(self, exchange: Exchange) -> None:
        asked = exchange.request.headers.get("Access-Control-Request-Headers")
        fields = Headers([("Access-Control-Allow-Methods", CORS_METHODS)])
        if asked:
            fields.add("Access-Control-Allow-Headers", asked)
        fields.add("Access-Control-Max-Age", str(CORS_MAX_AGE))
        exchange.send_head(204, fields)


class Site(Handler):
    """The handler for plain `serve`: routes each request to files, echo or upload."""

    def __init__(
        self,
        files: StaticFiles,
        echo: Echo | None = None,
        upload: Upload | None = None,
        options: SiteOptions = PLAIN,
    ):
        self.files = files
        self.echo = echo
        self.upload = upload
        self.options = options
        cache = [("Cache-Control", options.cache_control)] if options.cache_control else []
        files.options = FileOptions(cache, options.compress)
        self.keeps_request = echo.keeps_request if echo is not None else 0
        self.preflight = Preflight()

    def route(self, exchange: Exchange) -> Handler:
        method = exchange.request.method
        if self.options.cors is not None and self.is_preflight(exchange):
            return self.preflight
        if method == "PUT" and self.upload is not None:
            return self.upload
        if self.echo is not None and (method not in ("GET", "HEAD") or not self._is_file(exchange)):
            return self.echo
        return self.files

    def _is_file(self, exchange: Exchange) -> bool:
        try:
            self.files.find(exchange.request.target)
        except StatusPage as page:
            return page.status != 404
        return True

    def check(self, exchange: Exchange) -> None:
        """Refuse from the head alone, before a body is read or 100 Continue is sent."""
        if self.options.cors is not None:
            self.add_fields(exchange)
        handler = self.route(exchange)
        if handler is self.preflight:
            return
        if self.options.auth is not None:
            self.options.auth.check(exchange)
        if handler is self.files:
            check_method(exchange.request.method)
        elif handler is self.upload:
            self.upload.check(exchange)

    def body_limit(self, exchange: Exchange) -> int:
        return self.route(exchange).body_limit(exchange)

    def open_body(self, exchange: Exchange) -> BodySink | None:
        return self.route(exchange).open_body(exchange)

    def __call__(self, exchange: Exchange) -> None:
        self.route(exchange)(exchange)

    def add_fields(self, exchange: Exchange) -> None:
        """The fields every answer to this request carries (CORS)."""
        if self.options.cors is not None:
            exchange.extra_fields.append(("Access-Control-Allow-Origin", self.options.cors))
            if self.options.cors != "*":
                exchange.extra_fields.append(("Vary", "Origin"))

    def is_preflight(self, exchange: Exchange) -> bool:
        headers = exchange.request.headers
        return (
            self.options.cors is not None
            and exchange.request.method == "OPTIONS"
            and "Access-Control-Request-Method" in headers
        )

    def close(self) -> None:
        """The server stops: the upload's private folder goes."""
        if self.upload is not None:
            self.upload.close()
