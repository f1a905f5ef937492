"""Static files: turn a request target into a file under the root, safely, and send it.

Owns the path rules (nothing outside the root is ever served: not through `..`, encoded dots or
slashes, backslashes, NUL bytes, nor symlinks pointing out), index.html and folder listings,
MIME types, Last-Modified / If-Modified-Since, one byte range per request, and sending the bytes
with `socket.sendfile`. The scenarios reuse `StaticFiles.find` and `open_regular` for their
content.
"""

from __future__ import annotations

import html
import mimetypes
import os
import re
import stat
import time
from datetime import timezone
from email.utils import formatdate, parsedate_to_datetime
from typing import BinaryIO
from urllib.parse import quote, unquote

from rawhttp.server.exchange import Exchange, StatusPage, html_page
from rawhttp.wire import Headers

INDEX = "index.html"
# Files up to this size are read and sent with their head in one send; larger ones go by
# sendfile, straight from the page cache (nginx's sendfile has no such threshold).
SMALL_FILE = 64 * 1024
ALLOWED_METHODS = ("GET", "HEAD")
# Methods defined by RFC 9110 (and PATCH): a static server knows them and answers 405 with
# Allow; anything else gets 501 Not Implemented (RFC 9110 section 15.6.2), as nginx does.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
# RFC 9112 section 3.2.2: absolute-form, "http://host/path?query" (what proxies receive).
_ABSOLUTE_FORM_RE = re.compile(r"https?://[^/?]*", re.IGNORECASE)
# RFC 9110 section 14.1.2: one byte-range-spec, "first-last", "first-" or "-suffix".
_BYTE_RANGE_RE = re.compile(r"bytes=[ \t]*([0-9]*)-([0-9]*)[ \t]*")
# A byte position with more significant digits than this is past the end of any file (10**18
# bytes is an exabyte), so its digits never reach int(), which refuses more than 4300.
MAX_POSITION_DIGITS = 18


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


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of an origin-form ("/a?b") or absolute-form ("http://h/a?b") target."""
    if not target.isascii():
        raise StatusPage(400, "request target has bytes outside ASCII")
    absolute = _ABSOLUTE_FORM_RE.match(target)
    if absolute:
        target = target[absolute.end() :] or "/"
    if not target.startswith("/"):
        raise StatusPage(400, "request target does not start with '/'")
    path, _, query = target.partition("?")
    return path, query


def path_segments(path: str) -> list[str]:
    """The path's segments, each percent-decoded on its own, refusing any that could step
    outside the folder it is in: `..`, or a `/`, `\\` or NUL hidden by percent-encoding."""
    if "\\" in path:
        raise StatusPage(400, "backslash in the path")
    segments = []
    for raw in path.split("/"):
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise StatusPage(400, "path is not UTF-8 once percent-decoded") from None
        if segment == "..":
            raise StatusPage(400, "'..' in the path")
        if any(char in segment for char in "/\\\x00"):
            raise StatusPage(400, "percent-encoded '/', '\\' or NUL in the path")
        if segment not in ("", "."):
            segments.append(segment)
    return segments


class StaticFiles:
    """The handler for plain `rawhttp serve DIR`: GET and HEAD of what is under `root`."""

    def __init__(self, root: str | os.PathLike):
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise NotADirectoryError(f"not a folder: {root}")

    def __call__(self, exchange: Exchange) -> None:
        assert exchange.request is not None
        check_method(exchange.request.method)
        found = self.find(exchange.request.target)
        if os.path.isdir(found):
            url_path = unquote(split_target(exchange.request.target)[0])
            exchange.send_page(200, listing_page(url_path, found))
        else:
            send_file(exchange, found)

    def find(self, target: str) -> str:
        """The real path that answers `target`: a file, a folder's index.html, or a folder that
        has none (to be listed). Raises StatusPage for 301, 400, 403 and 404."""
        path, query = split_target(target)
        found = self._inside_root(os.path.join(self.root, *path_segments(path)))
        if not os.path.exists(found) or (path.endswith("/") and not os.path.isdir(found)):
            raise StatusPage(404, f"nothing at {unquote(path)}")
        if not os.path.isdir(found):
            return found
        if not path.endswith("/"):
            # As http.server and Apache do, so that relative links in the page resolve inside it.
            # One leading slash: "//host/" would be another host to a browser (CVE-2021-28861).
            location = "/" + path.lstrip("/") + "/" + (f"?{query}" if query else "")
            raise StatusPage(301, f"moved to {location}", headers=[("Location", location)])
        index = os.path.realpath(os.path.join(found, INDEX))
        if os.path.isfile(index) and self._is_inside(index):
            return index
        return found

    def _inside_root(self, path: str) -> str:
        real = os.path.realpath(path)  # follows every symlink on the way
        if not self._is_inside(real):
            raise StatusPage(403, "that path leads outside the served folder")
        return real

    def _is_inside(self, real: str) -> bool:
        return os.path.commonpath([real, self.root]) == self.root


def listing_page(url_path: str, folder: str) -> bytes:
    """An HTML list of a folder's entries, folders first marked with a slash; names escaped."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: (not entry.is_dir(), entry.name))
    except OSError as exc:
        raise StatusPage(403, f"cannot list this folder: {exc.strerror}") from None
    items = []
    for entry in entries:
        name = entry.name + ("/" if entry.is_dir() else "")
        items.append(f'<li><a href="{html.escape(quote(name))}">{html.escape(name)}</a></li>')
    return html_page(f"Index of {url_path}", "<ul>\n" + "\n".join(items) + "\n</ul>")


def content_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def open_regular(path: str) -> BinaryIO:
    """Open a regular file for reading; anything else (a FIFO, a device) is refused, 403."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise StatusPage(403, "not a regular file")
        return open(path, "rb")  # the caller closes it
    except OSError as exc:
        raise StatusPage(403, f"cannot read the file: {exc.strerror}") from None


def send_file(exchange: Exchange, path: str) -> None:
    """A file whole (200), one byte range of it (206), or 304 if the client's copy is current."""
    assert exchange.request is not None
    request = exchange.request.headers
    with open_regular(path) as file:
        info = os.fstat(file.fileno())
        size, mtime = info.st_size, int(info.st_mtime)
        last_modified = formatdate(mtime, usegmt=True)
        if not_modified(request, mtime):
            exchange.send_head(304, Headers([("Last-Modified", last_modified)]))
            return
        headers = Headers(
            [
                ("Content-Type", content_type(path)),
                ("Last-Modified", last_modified),
                ("Accept-Ranges", "bytes"),
            ]
        )
        span = None
        if exchange.request.method == "GET":  # RFC 9110 section 14.2: Range is for GET only
            span = requested_range(request, size, last_modified)
        start, end = span or (0, size - 1)
        if span:
            headers.add("Content-Range", f"bytes {start}-{end}/{size}")
        count = end - start + 1
        headers.add("Content-Length", str(count))
        head = exchange.make_head(206 if span else 200, headers)
        if count <= SMALL_FILE and exchange.wants_body:
            # Head and body in one send: one system call instead of a send and a sendfile
            # (which Python wraps in a selector); about 20% more small-file requests/s (bench/).
            file.seek(start)
            body = file.read(count)
            exchange.send_with_head(head, body)
            if len(body) < count:  # the file shrank meanwhile: the Content-Length is a lie now
                exchange.keep_alive = False
        else:
            exchange.send(head)
            exchange.send_file(file, start, count)


def not_modified(request: Headers, mtime: int) -> bool:
    """If-Modified-Since at or after the file's time (whole seconds, as Last-Modified has).
    An unparsable date is ignored, and so is the field when If-None-Match is present
    (RFC 9110 section 13.1.3)."""
    value = request.get("If-Modified-Since")
    if value is None or "If-None-Match" in request:
        return False
    try:
        since = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # Overflow: a 20-digit year or zone
        return False
    if since.tzinfo is None:  # "-0000" parses as naive; HTTP dates are always GMT
        since = since.replace(tzinfo=timezone.utc)
    if since.timestamp() > time.time():
        return False  # a date later than our clock is invalid, so ignored (RFC 9110 13.1.3)
    return mtime <= since.timestamp()


def requested_range(request: Headers, size: int, last_modified: str) -> tuple[int, int] | None:
    """The (first, last) byte positions asked for by Range, or None to send the whole file.

    One range only: several ranges, a syntax we do not understand, or an If-Range that does not
    match our Last-Modified all get the whole file, which RFC 9110 section 14.2 allows.
    Unsatisfiable ranges get 416 with the real size.
    """
    value = request.get("Range")
    if_range = request.get("If-Range")
    if value is None or (if_range is not None and if_range != last_modified):
        return None
    match = _BYTE_RANGE_RE.fullmatch(value)
    if match is None or match.groups() == ("", ""):
        return None
    first, last = (position(digits) if digits else None for digits in match.groups())
    if first is None:  # "-N": the last N bytes
        start, end = max(0, size - last), size - 1
        satisfiable = last > 0 and size > 0
    else:
        start, end = first, size - 1
        if last is not None and last < start:
            return None  # invalid, so ignored (RFC 9110 section 14.1.1)
        if last is not None:
            end = min(last, end)
        satisfiable = start < size
    if not satisfiable:
        content_range = ("Content-Range", f"bytes */{size}")
        raise StatusPage(416, f"range {value} is outside the file", headers=[content_range])
    return start, end


def position(digits: str) -> int:
    """A byte position from its digits: any number of them, capped past the end of any file."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_POSITION_DIGITS else 10**MAX_POSITION_DIGITS
