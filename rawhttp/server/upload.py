"""`rawhttp serve --upload DIR`: PUT a file into DIR, atomically, never outside it.

The body streams into a temporary file inside DIR (created with O_EXCL by `tempfile`), up to
MAX_UPLOAD bytes; only a complete body is renamed into place (`os.replace`, which replaces a
symlink itself, never the file it points to). The target's folder must already exist inside
DIR, reached without symlinks; anything else is refused (400, 403, 404, 409).
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.pages import html_page
from rawhttp.server.static import path_segments, split_target
from rawhttp.wire import Headers

# The largest file a PUT may bring (curl -T has no limit; a server must have one).
MAX_UPLOAD = 100 * 1024 * 1024


class PartFile:
    """The body on its way to DIR: a temporary file there, renamed only once it is whole."""

    def __init__(self, folder: str):
        fd, self.path = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
        self.file = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, piece: bytes | memoryview) -> None:
        self.file.write(piece)
        self.size += len(piece)

    def keep_as(self, target: str) -> None:
        self.file.close()
        os.replace(self.path, target)

    def discard(self) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class Upload:
    """The handler for PUT when --upload DIR is given."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = os.path.realpath(folder)
        if not os.path.isdir(self.folder):
            raise NotADirectoryError(f"not a folder: {folder}")

    def check(self, exchange: Exchange) -> None:
        self.target(exchange)

    def body_limit(self, exchange: Exchange) -> int:
        return MAX_UPLOAD

    def open_body(self, exchange: Exchange) -> PartFile:
        return PartFile(self.folder)

    def target(self, exchange: Exchange) -> str:
        """The file a PUT names: inside DIR, in a folder that exists, reached without links."""
        assert exchange.request is not None
        segments = path_segments(split_target(exchange.request.target)[0])
        if not segments:
            raise StatusPage(400, "PUT needs a file name, not a folder")
        parent = os.path.join(self.folder, *segments[:-1])
        if os.path.realpath(parent) != os.path.normpath(parent) or not os.path.isdir(parent):
            raise StatusPage(404, "no such folder in the upload folder (folders are not made)")
        target = os.path.join(parent, segments[-1])
        if os.path.isdir(target) and not os.path.islink(target):
            raise StatusPage(409, "a folder of that name is there")
        return target

    def __call__(self, exchange: Exchange) -> None:
        target = self.target(exchange)
        existed = os.path.lexists(target)
        part = exchange.sink or PartFile(self.folder)  # a PUT without a body makes an empty file
        size = part.size
        part.keep_as(target)
        exchange.sink = None
        name = os.path.relpath(target, self.folder)
        if existed:  # RFC 9110 section 9.3.4: 204 for a replaced file, 201 for a new one
            exchange.send_head(204, Headers())
            return
        page = html_page("201 Created", f"<p>Saved {size} bytes as {name}.</p>", styled=False)
        exchange.send_page(201, page, [("Location", exchange.request.target.partition("?")[0])])
