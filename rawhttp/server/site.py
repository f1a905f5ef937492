"""What `rawhttp serve DIR` answers with: the files under DIR, and beside them the echo page
(`--echo`) and uploads (`--upload DIR`). One small router picks the handler for each request,
so each of the three stays about one job.

With `--echo`, a GET or HEAD of a file that exists is still served (so the sample site's form
page loads), and everything else, any method at any path, is echoed back.
"""

from __future__ import annotations

from rawhttp.server.connection import MAX_REQUEST_BODY, Handler
from rawhttp.server.echo import Echo
from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.static import StaticFiles, check_method
from rawhttp.server.upload import Upload


class Site:
    """The handler for plain `serve`: routes each request to files, echo or upload."""

    def __init__(self, files: StaticFiles, echo: Echo | None = None, upload: Upload | None = None):
        self.files = files
        self.echo = echo
        self.upload = upload
        self.keeps_request = echo.keeps_request if echo is not None else 0

    def route(self, exchange: Exchange) -> Handler:
        assert exchange.request is not None
        method = exchange.request.method
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
        handler = self.route(exchange)
        if handler is self.files:
            check_method(exchange.request.method)
        elif handler is self.upload:
            self.upload.check(exchange)

    def body_limit(self, exchange: Exchange) -> int:
        handler = self.route(exchange)
        return getattr(handler, "body_limit", lambda _: MAX_REQUEST_BODY)(exchange)

    def open_body(self, exchange: Exchange):
        handler = self.route(exchange)
        return getattr(handler, "open_body", lambda _: None)(exchange)

    def __call__(self, exchange: Exchange) -> None:
        self.route(exchange)(exchange)

    def close(self) -> None:
        """The server stops: the upload's private folder goes."""
        if self.upload is not None:
            self.upload.close()
