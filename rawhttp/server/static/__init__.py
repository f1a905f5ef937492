"""Static files: `StaticFiles`, the handler that answers GET and HEAD with what is under
the root, and what other modules import of it.

Split by job: `paths.py` turns a request target into a file or folder under the root, safely
(one name at a time, O_NOFOLLOW, symlinks followed only while they stay inside); `files.py`
sends a file (type, validators and preconditions, a byte range, gzip); `listing.py` lists a
folder without an index.html. This module picks between them and refuses other methods. The
scenarios reuse `StaticFiles.find` and `open_regular` for their content.
"""

from __future__ import annotations

import os
from urllib.parse import unquote

from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.handler import Handler
from rawhttp.server.pages import takes_html
from rawhttp.server.static.files import (
    PLAIN_FILES,
    FileOptions,
    content_type,
    requested_range,
    send_file,
)
from rawhttp.server.static.listing import listing_page
from rawhttp.server.static.paths import (
    PRIVATE_PREFIX,
    Found,
    open_regular,
    open_under,
    path_segments,
    split_target,
)

__all__ = [
    "PRIVATE_PREFIX",
    "FileOptions",
    "StaticFiles",
    "check_method",
    "content_type",
    "open_regular",
    "path_segments",
    "requested_range",
    "split_target",
]

INDEX = "index.html"
ALLOWED_METHODS = ("GET", "HEAD")
# Methods defined by RFC 9110 (and PATCH): a static server knows them and answers 405 with
# Allow; anything else gets 501 Not Implemented (RFC 9110 section 15.6.2), as nginx does.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


def check_method(method: str) -> None:
    if method in ALLOWED_METHODS:
        return
    if method in KNOWN_METHODS:
        raise StatusPage(
            405,
            f"{method} is not allowed here: this server only reads files",
            headers=[("Allow", ", ".join(ALLOWED_METHODS))],
        )
    raise StatusPage(501, f"unknown method {method}")


class StaticFiles(Handler):
    """The handler for plain `rawhttp serve DIR`: GET and HEAD of what is under `root`."""

    def __init__(self, root: str | os.PathLike):
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise NotADirectoryError(f"not a folder: {root}")
        self.options = PLAIN_FILES

    def __call__(self, exchange: Exchange) -> None:
        check_method(exchange.request.method)
        found = self.open(exchange.request.target)
        if not found.is_folder:
            try:
                send_file(exchange, found.fd, found.names[-1], self.options, found.info)
            finally:
                os.close(found.fd)
            return
        try:
            path = unquote(split_target(exchange.request.target)[0])
            page = listing_page(self.root, path, found, styled=takes_html(exchange.request.headers))
        finally:
            os.close(found.fd)
        exchange.send_page(200, page)

    def find(self, target: str) -> str:
        """The real path of what answers `target` (see `open`), for callers that want a name:
        open it with `open_regular`, which follows no symlink swapped in since."""
        found = self.open(target)
        os.close(found.fd)
        return os.path.join(self.root, *found.names)

    def open(self, target: str) -> Found:
        """Open what answers `target`: a file, a folder's index.html, or a folder that has none
        (to be listed). What is opened is what is checked, so no symlink swapped in between a
        check and an open can lead out. Raises StatusPage for 301, 400, 403 and 404."""
        path, query = split_target(target)
        shown = unquote(path) if "%" in path else path  # (the name error pages give)
        found = open_under(self.root, path_segments(path), shown)
        if found.is_folder and path.endswith("/"):
            return self._index_of(found)
        if not found.is_folder and not path.endswith("/"):
            return found
        os.close(found.fd)
        if not found.is_folder:
            raise StatusPage(404, f"nothing at {unquote(path)}")
        # As http.server and Apache do, so that relative links in the page resolve inside it.
        # One leading slash: "//host/" would be another host to a browser (CVE-2021-28861).
        location = "/" + path.lstrip("/") + "/" + (f"?{query}" if query else "")
        raise StatusPage(301, f"moved to {location}", headers=[("Location", location)])

    def _index_of(self, folder: Found) -> Found:
        """The folder's index.html if it has one that can be served, else the folder."""
        try:
            index = open_under(self.root, (*folder.names, INDEX), INDEX)
        except StatusPage:
            return folder
        if index.is_folder:
            os.close(index.fd)
            return folder
        os.close(folder.fd)
        return index
