"""Safe path resolution: a request target to a file or folder under the root, opened.

Owns the path rules (nothing outside the root is ever served: not through `..`, encoded dots
or slashes, backslashes, NUL bytes, nor symlinks pointing out) and the walk that enforces
them: `Walk` opens the path one name at a time from the root with O_NOFOLLOW and follows
symlinks itself, so a link swapped in while a request is answered cannot lead out. What is
opened is what gets checked. What is done with the opened file is `files.py`'s and
`listing.py`'s; the upload reuses `split_target` and `path_segments` for the name a PUT gives.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Sequence
from typing import BinaryIO, NamedTuple
from urllib.parse import unquote

from rawhttp.server.exchange import StatusPage

# RFC 9112 section 3.2.2: absolute-form, "http://host/path?query" (what proxies receive).
_ABSOLUTE_FORM_RE = re.compile(r"https?://[^/?]*", re.IGNORECASE)
# Symlinks followed for one request, as Linux's MAXSYMLINKS (40): more is taken for a loop.
MAX_SYMLINKS = 40
# How a walk opens the folders on its way (never through a symlink; O_PATH, where there is one,
# needs no read permission, only search, as a plain open of the whole path does) and the name
# at its end (readable, never through a symlink, not waiting for a writer if it is a FIFO, not
# made the controlling terminal if it is a tty).
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_PATH", 0)
_END_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
# What open(2) says when nothing is there: 404; any other error is a 403, as nginx answers.
_NOT_FOUND = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG})
LEADS_OUT = "that path leads outside the served folder"
# Names the server keeps for itself (the private folder of upload part files): no request
# target names them (404, as if absent) and listings leave them out.
PRIVATE_PREFIX = ".rawhttp-"


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of an origin-form ("/a?b") or absolute-form ("http://h/a?b") target."""
    if not target.isascii():
        raise StatusPage(400, "request target has bytes outside ASCII")
    if not target.startswith("/"):
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
        segment = raw
        if "%" in raw:
            try:
                segment = unquote(raw, errors="strict")
            except UnicodeDecodeError:
                raise StatusPage(400, "path is not UTF-8 once percent-decoded") from None
        if segment == "..":
            raise StatusPage(400, "'..' in the path")
        if "/" in segment or "\\" in segment or "\x00" in segment:
            raise StatusPage(400, "percent-encoded '/', '\\' or NUL in the path")
        if segment.startswith(PRIVATE_PREFIX):
            raise StatusPage(404, "nothing at that path")
        if segment not in ("", "."):
            segments.append(segment)
    return segments


class Found(NamedTuple):
    """What a request target names, opened: a regular file or a folder, by its descriptor
    (which the caller closes), the real names that lead to it from the root, and its stat
    (taken of the opened descriptor, so sending a file need not ask again)."""

    fd: int
    names: tuple[str, ...]
    is_folder: bool
    info: os.stat_result | None = None


def open_under(root: str, names: Sequence[str], shown: str) -> Found:
    """Open root/names, following symlinks only while they stay under the root; `shown` is
    the name the error pages give (404 if nothing is there, else 403)."""
    try:
        fd, real = Walk(root, follow=True).run(names)
    except OSError as error:
        if error.errno in _NOT_FOUND:
            raise StatusPage(404, f"nothing at {shown}") from None
        raise StatusPage(403, f"cannot open {shown}: {error.strerror}") from None
    info = _servable(fd)
    return Found(fd, real, stat.S_ISDIR(info.st_mode), info)


def _servable(fd: int) -> os.stat_result:
    """The stat of an opened descriptor that is a folder or a regular file; anything else
    (a FIFO, a device) is closed and refused, 403."""
    info = os.fstat(fd)
    if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
        os.close(fd)
        raise StatusPage(403, "not a regular file")
    return info


class Walk:
    """Open root/names one name at a time, each relative to the folder opened before it and
    never through a symlink: a link met on the way is read, and its target walked the same way
    while it stays under the root (`follow=False` refuses any link). A link swapped in at any
    moment changes which names are walked, never where the walk may go. (Linux's openat2 with
    RESOLVE_BENEATH does much the same in the kernel; Python has no binding for it.)"""

    def __init__(self, root: str, *, follow: bool):
        self.root = root
        self.follow = follow
        self.folders: list[int] = []  # the root, then each folder walked into (descriptors)
        self.real: list[str] = []  # the names of those folders (and the end) under the root
        self.links = 0
        self.at_end = False  # the last descriptor is the end, opened readable

    def run(self, names: Sequence[str]) -> tuple[int, tuple[str, ...]]:
        """The descriptor of root/names (readable, the caller closes it) and its real names."""
        pending = list(reversed(names))  # the next name is last
        self.folders.append(os.open(self.root, _FOLDER_FLAGS))
        try:
            while pending:
                name = pending.pop()
                if name == "..":
                    self._up()
                else:
                    link = self._into(name, is_last=not pending)
                    if link:
                        pending.extend(reversed(link))
            if not self.at_end:  # the root, or a folder reached by "..": opened to walk only
                return os.open(".", _END_FLAGS, dir_fd=self.folders[-1]), tuple(self.real)
            return self.folders.pop(), tuple(self.real)
        finally:
            for fd in self.folders:
                os.close(fd)

    def _up(self) -> None:
        if not self.real:
            raise StatusPage(403, LEADS_OUT)
        os.close(self.folders.pop())
        self.real.pop()
        self.at_end = False

    def _into(self, name: str, *, is_last: bool) -> list[str]:
        """Open `name` in the current folder: [] when done, else the names its link leads to."""
        flags = _END_FLAGS if is_last else _FOLDER_FLAGS
        try:
            fd = os.open(name, flags, dir_fd=self.folders[-1])
        except OSError as error:
            return self._link(name, error)
        self.folders.append(fd)
        self.real.append(name)
        self.at_end = is_last
        return []

    def _link(self, name: str, error: OSError) -> list[str]:
        """The names a symlink leads to; `error` (why opening it failed) if it is no link."""
        try:
            target = os.readlink(name, dir_fd=self.folders[-1])
        except OSError:
            raise error from None
        self.links += 1
        if not self.follow or self.links > MAX_SYMLINKS:
            raise StatusPage(403, "too many symlinks" if self.follow else "a symlink on the way")
        if not target.startswith("/"):
            return _names(target)
        for fd in self.folders[1:]:  # an absolute link starts again from the root
            os.close(fd)
        del self.folders[1:], self.real[:]
        return _names_under(self.root, target)


def _names(path: str) -> list[str]:
    return [name for name in path.split("/") if name not in ("", ".")]


def _names_under(root: str, path: str) -> list[str]:
    """The names of an absolute `path` below `root`; 403 if it does not start with `root`."""
    root_names, names = _names(root), _names(path)
    if names[: len(root_names)] != root_names:
        raise StatusPage(403, LEADS_OUT)
    return names[len(root_names) :]


def open_regular(path: str) -> BinaryIO:
    """Open a regular file by its real path (as `find` gives it), following no symlink, so
    one swapped in since cannot lead elsewhere. A link on the way, or anything that is not a
    regular file (a FIFO, a device), is refused: 403."""
    try:
        fd, _ = Walk("/", follow=False).run(_names(os.path.abspath(path)))
    except OSError as exc:
        raise StatusPage(403, f"cannot read the file: {exc.strerror}") from None
    if stat.S_ISDIR(_servable(fd).st_mode):
        os.close(fd)
        raise StatusPage(403, "not a regular file")
    return open(fd, "rb")  # the caller closes it
