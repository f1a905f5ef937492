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

Preconditions (RFC 9110 section 13.2.2, `preconditions.evaluate`) are checked twice: from the
head, so a PUT bound to fail is refused before its body is read, and again when the body is
whole, atomically with the rename: under a lock held by every PUT of this folder (a thread lock
and flock(2) on the private folder, so workers exclude each other too), the current file's
validators are read, evaluated and the part renamed, so no other PUT can slip in between.
`If-None-Match: *` (create only) also renames by link(2), which fails if the name exists, so
even a writer that takes no lock cannot be overwritten. 201 for a new file, 204 for a replaced
one (section 9.3.4), each with the new file's ETag.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import html
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator

from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.handler import Handler
from rawhttp.server.pages import html_page
from rawhttp.server.preconditions import Validators, evaluate, file_validators
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

    def link_as(self, target: str) -> bool:
        """Give the file the name `target` only if nothing has it (create-only); False if
        something has. The part file is gone either way."""
        try:
            self.file.close()
            os.link(self.path, target)
        except FileExistsError:
            return False
        finally:
            self.discard()
        return True

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # closing flushes, which a full disk refuses
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class Upload(Handler):
    """The handler for PUT when --upload DIR is given."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = os.path.realpath(folder)
        if not os.path.isdir(self.folder):
            raise NotADirectoryError(f"not a folder: {folder}")
        self.parts = tempfile.mkdtemp(prefix=PRIVATE_PREFIX + "parts-", dir=self.folder)
        self._remove_parts = weakref.finalize(self, shutil.rmtree, self.parts, True)
        self._thread_lock = threading.Lock()
        # (pid, descriptor of the private folder): flock(2) locks belong to an open file, which
        # forked workers would share, so each process opens its own.
        self._lock_file: tuple[int, int] | None = None

    def close(self) -> None:
        """Remove the private folder (and any part file an upload cut short left in it)."""
        if self._lock_file is not None and self._lock_file[0] == os.getpid():
            os.close(self._lock_file[1])
        self._lock_file = None
        self._remove_parts()

    def check(self, exchange: Exchange) -> None:
        if "Content-Range" in exchange.request.headers:
            raise StatusPage(
                400, "a PUT with Content-Range (a piece of a file) is not taken: send it whole"
            )
        self.preconditions(exchange, current_validators(self.target(exchange)))

    def preconditions(self, exchange: Exchange, current: Validators | None) -> None:
        if evaluate("PUT", exchange.request.headers, current, time.time()) is not None:
            state = "no file is there" if current is None else f"the file is {current.etag}"
            raise StatusPage(412, f"a precondition of the PUT does not hold: {state}")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held from reading the target's validators to the rename, by every PUT."""
        with self._thread_lock:
            if self._lock_file is None or self._lock_file[0] != os.getpid():  # a new worker
                self._lock_file = (os.getpid(), os.open(self.parts, os.O_RDONLY | os.O_DIRECTORY))
            fcntl.flock(self._lock_file[1], fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file[1], fcntl.LOCK_UN)

    def body_limit(self, exchange: Exchange) -> int:
        return MAX_UPLOAD

    def open_body(self, exchange: Exchange) -> PartFile:
        return PartFile(self.parts)

    def target(self, exchange: Exchange) -> str:
        """The file a PUT names: inside DIR, in a folder that exists, reached without links."""
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
        part = exchange.sink or PartFile(self.parts)  # a PUT without a body makes an empty file
        exchange.sink = None
        size = part.size
        create_only = [v.strip() for v in exchange.request.headers.get_all("If-None-Match")]
        try:
            with self.locked():
                current = current_validators(target)
                self.preconditions(exchange, current)
                if create_only == ["*"]:
                    if not part.link_as(target):
                        self.preconditions(exchange, current_validators(target))  # 412
                else:
                    part.keep_as(target)
                etag = current_validators(target)
        finally:
            part.discard()  # (nothing left to remove once renamed)
        validator = [("ETag", etag.etag)] if etag else []
        if current is not None:  # RFC 9110 section 9.3.4: 204 for a replaced file, 201 if new
            exchange.send_head(204, Headers(validator))
            return
        name = html.escape(os.path.relpath(target, self.folder))
        page = html_page("201 Created", f"<p>Saved {size} bytes as {name}.</p>", styled=False)
        location = ("Location", exchange.request.target.partition("?")[0])
        exchange.send_page(201, page, [location, *validator])


def current_validators(path: str) -> Validators | None:
    """The validators of what is at `path` now (a symlink itself), None if nothing is."""
    try:
        return file_validators(os.lstat(path))
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
