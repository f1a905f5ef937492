"""`rawhttp serve --upload DIR`: PUT a file into DIR, atomically, never outside it.

The body streams into a part file, up to MAX_UPLOAD bytes; only a complete body is renamed into
place (`os.replace`, which replaces a symlink itself, never the file it points to). The target's
folder must already exist inside DIR, reached without symlinks; anything else is refused (400,
403, 404, 409). A PUT with Content-Range (a piece of a file) is 400, as RFC 9110 section 14.5
requires of a server that takes whole files only.

Part files live in a private folder made per server inside DIR (so the rename stays on one file
system, hence atomic), mode 0700, under a random name that starts with `static.PRIVATE_PREFIX`:
no request target may name such a folder (`path_segments` refuses it) and listings leave it
out, so an upload in flight can be neither read nor swapped by another client. (Linux's
O_TMPFILE and linkat would give a part file no name at all, but linking one in through
/proc/self/fd fails on some kernels and containers, EXDEV; the private folder works anywhere.)
Any failure on the way (a full disk, a name too long, the folder gone) removes the part file.
"""

from __future__ import annotations

import contextlib
import html
import os
import shutil
import tempfile
import weakref

from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.pages import html_page
from rawhttp.server.static import PRIVATE_PREFIX, path_segments, split_target
from rawhttp.wire import Headers

# The largest file a PUT may bring (curl -T has no limit; a server must have one).
MAX_UPLOAD = 100 * 1024 * 1024
# The longest file name most file systems take (Linux's NAME_MAX, in bytes): a longer one is
# refused from the head, before its body is read.
MAX_NAME_BYTES = 255


class PartFile:
    """The body on its way to DIR: a file in the private folder, renamed only once whole."""

    def __init__(self, folder: str):
        fd, self.path = tempfile.mkstemp(dir=folder, suffix=".part")
        self.file = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, piece: bytes | memoryview) -> None:
        self.file.write(piece)
        self.size += len(piece)

    def keep_as(self, target: str) -> None:
        try:
            self.file.close()  # (a full disk may show only now, as the buffer is written)
            os.replace(self.path, target)
        except OSError:
            self.discard()
            raise

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # closing flushes, which a full disk refuses
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class Upload:
    """The handler for PUT when --upload DIR is given."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = os.path.realpath(folder)
        if not os.path.isdir(self.folder):
            raise NotADirectoryError(f"not a folder: {folder}")
        self.parts = tempfile.mkdtemp(prefix=PRIVATE_PREFIX + "parts-", dir=self.folder)
        self._remove_parts = weakref.finalize(self, shutil.rmtree, self.parts, True)

    def close(self) -> None:
        """Remove the private folder (and any part file an upload cut short left in it)."""
        self._remove_parts()

    def check(self, exchange: Exchange) -> None:
        if "Content-Range" in exchange.request.headers:
            raise StatusPage(
                400, "a PUT with Content-Range (a piece of a file) is not taken: send it whole"
            )
        self.target(exchange)

    def body_limit(self, exchange: Exchange) -> int:
        return MAX_UPLOAD

    def open_body(self, exchange: Exchange) -> PartFile:
        return PartFile(self.parts)

    def target(self, exchange: Exchange) -> str:
        """The file a PUT names: inside DIR, in a folder that exists, reached without links."""
        assert exchange.request is not None
        segments = path_segments(split_target(exchange.request.target)[0])
        if not segments:
            raise StatusPage(400, "PUT needs a file name, not a folder")
        if len(segments[-1].encode()) > MAX_NAME_BYTES:
            raise StatusPage(400, f"file name longer than {MAX_NAME_BYTES} bytes")
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
        part = exchange.sink or PartFile(self.parts)  # a PUT without a body makes an empty file
        size = part.size
        part.keep_as(target)
        exchange.sink = None
        name = os.path.relpath(target, self.folder)
        if existed:  # RFC 9110 section 9.3.4: 204 for a replaced file, 201 for a new one
            exchange.send_head(204, Headers())
            return
        shown = html.escape(name)
        page = html_page("201 Created", f"<p>Saved {size} bytes as {shown}.</p>", styled=False)
        exchange.send_page(201, page, [("Location", exchange.request.target.partition("?")[0])])
