"""Static files: turn a request target into a file under the root, safely, and send it.

Owns the path rules (nothing outside the root is ever served: not through `..`, encoded dots or
slashes, backslashes, NUL bytes, nor symlinks pointing out), index.html and folder listings,
MIME types, validators (ETag, Last-Modified) and preconditions (`preconditions.py`), one byte
range per request, and sending the bytes
with `socket.sendfile`. A file is opened first and the opened file is what gets checked: `Walk`
opens the path one name at a time from the root and follows symlinks itself, so a link swapped
in while a request is answered cannot lead out. The scenarios reuse `StaticFiles.find` and
`open_regular` for their content.
"""

from __future__ import annotations

import codecs
import errno
import html
import mimetypes
import os
import re
import stat
import time
from collections.abc import Sequence
from email.utils import formatdate
from typing import BinaryIO, NamedTuple
from urllib.parse import quote, unquote

from rawhttp.server import compress
from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.handler import Handler
from rawhttp.server.pages import html_page, takes_html
from rawhttp.server.preconditions import Validators, evaluate, file_validators, range_applies
from rawhttp.wire import Headers

INDEX = "index.html"
# Files up to this size are read and sent with their head in one send; larger ones go by
# sendfile, straight from the page cache (nginx's sendfile has no such threshold).
SMALL_FILE = 64 * 1024
# A text/* file gets "; charset=utf-8" when this much of its start is UTF-8: one bounded read,
# so a huge log costs what a small page does (a bad byte further in goes unseen).
CHARSET_SNIFF = 64 * 1024
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
        if segment.startswith(PRIVATE_PREFIX):
            raise StatusPage(404, "nothing at that path")
        if segment not in ("", "."):
            segments.append(segment)
    return segments


class Found(NamedTuple):
    """What a request target names, opened: a regular file or a folder, by its descriptor
    (which the caller closes), and the real names that lead to it from the root."""

    fd: int
    names: tuple[str, ...]
    is_folder: bool


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
                send_file(exchange, found.fd, found.names[-1], self.options)
            finally:
                os.close(found.fd)
            return
        try:
            path = unquote(split_target(exchange.request.target)[0])
            page = self.listing_page(path, found, styled=takes_html(exchange.request.headers))
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
        found = self._open_names(path_segments(path), unquote(path))
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
            index = self._open_names((*folder.names, INDEX), INDEX)
        except StatusPage:
            return folder
        if index.is_folder:
            os.close(index.fd)
            return folder
        os.close(folder.fd)
        return index

    def listing_page(self, url_path: str, folder: Found, styled: bool = True) -> bytes:
        """An HTML table of the opened folder's entries: a link to the parent folder, then
        folders (marked with a slash) before files, each sorted by name, with their size and
        modification time. Every entry is shown, its name escaped (bytes that are not UTF-8 as
        `\\xff`), and one odd entry never fails the page; only those a request can be answered
        with are links, the others say they are not served."""
        try:
            with os.scandir(folder.fd) as entries:
                items = sorted(
                    self._listing_item(folder.names, entry)
                    for entry in entries
                    if not entry.name.startswith(PRIVATE_PREFIX)
                )
        except OSError as exc:
            raise StatusPage(403, f"cannot list this folder: {exc.strerror}") from None
        rows = [row for *_, row in items] or [EMPTY_ROW]
        if url_path.strip("/"):  # the root has no parent to go to
            rows.insert(0, PARENT_ROW)
        return html_page(f"Index of {url_path}", listing_table(rows), styled=styled)

    def _listing_item(self, names: tuple[str, ...], entry: os.DirEntry) -> tuple[bool, str, str]:
        """(not a folder, name, the table row) of one entry, in the order they are listed."""
        info = self._served(names, entry)
        is_folder = not isinstance(info, str) and stat.S_ISDIR(info.st_mode)
        name = entry.name + ("/" if is_folder else "")
        return not is_folder, entry.name, listing_row(name, info)

    def _served(self, names: tuple[str, ...], entry: os.DirEntry) -> os.stat_result | str:
        """What a request for `entry` is answered with (a folder or a regular file: its stat),
        or why none can be: a name no URL of ours names (with a backslash, or not UTF-8), a
        symlink that loops, dangles or leads out, anything but a folder or a regular file."""
        unnameable = _unnameable(entry.name)
        if unnameable:
            return unnameable
        try:
            if not entry.is_symlink():
                info = entry.stat(follow_symlinks=False)
                return (
                    info
                    if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)
                    else _kind(info)
                )
            found = self._open_names((*names, entry.name), entry.name)
        except OSError as error:
            return f"cannot be read: {error.strerror}"
        except StatusPage as refused:
            return _link_refused(refused)
        try:
            return os.fstat(found.fd)
        finally:
            os.close(found.fd)

    def _open_names(self, names: Sequence[str], shown: str) -> Found:
        """Open root/names, following symlinks only while they stay under the root."""
        try:
            fd, real = Walk(self.root, follow=True).run(names)
        except OSError as error:
            if error.errno in _NOT_FOUND:
                raise StatusPage(404, f"nothing at {shown}") from None
            raise StatusPage(403, f"cannot open {shown}: {error.strerror}") from None
        return Found(fd, real, is_folder=_is_folder(fd))


PARENT_ROW = (
    '<tr class="parent"><td><a href="../">../</a> (parent folder)</td><td></td><td></td></tr>'
)
EMPTY_ROW = '<tr><td class="muted">(an empty folder)</td><td></td><td></td></tr>'


def listing_row(name: str, info: os.stat_result | str) -> str:
    """One entry's row: its name (a link if it is served, else why not), its size in bytes,
    when it was modified."""
    shown = html.escape(os.fsencode(name).decode("utf-8", "backslashreplace"))
    if isinstance(info, str):
        why = f'<span class="muted">(not served: {html.escape(info)})</span>'
        return f'<tr class="unserved"><td>{shown} {why}</td><td></td><td></td></tr>'
    is_folder = stat.S_ISDIR(info.st_mode)
    link = f'<a href="{html.escape(quote(name))}">{shown}</a>'
    size = "" if is_folder else f"{info.st_size:,}"
    cells = f'<td class="size">{size}</td><td class="time">{modified(info.st_mtime)}</td>'
    return f'<tr class="{"folder" if is_folder else "file"}"><td>{link}</td>{cells}</tr>'


def modified(mtime: float) -> str:
    """A modification time for a listing, in UTC to the minute (the full time in `datetime`)."""
    when = time.gmtime(mtime)
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", when)
    return f'<time datetime="{iso}">{time.strftime("%Y-%m-%d %H:%M", when)}</time>'


def listing_table(rows: list[str]) -> str:
    """The listing's table: name, size in bytes, last modification (UTC), one row each."""
    head = '<tr><th>Name</th><th class="size">Size (bytes)</th><th>Modified (UTC)</th></tr>'
    note = '<p class="muted">This folder has no index.html, so the server lists it.</p>'
    body = "\n".join(rows)
    return f"{note}\n<table>\n<thead>{head}</thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _unnameable(name: str) -> str:
    """Why no request target can name a file called `name` ("" if one can): `path_segments`
    refuses a backslash, and percent-decodes to UTF-8 only, while a file name that is not UTF-8
    comes from the file system holding surrogates (surrogateescape)."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return "the name is not UTF-8: no URL names it"
    return "a backslash in the name: no URL names it" if "\\" in name else ""


def _kind(info: os.stat_result) -> str:
    """What an entry that is neither a folder nor a regular file is."""
    if stat.S_ISFIFO(info.st_mode):
        return "a FIFO, not a file"
    if stat.S_ISSOCK(info.st_mode):
        return "a socket, not a file"
    return "a device, not a file"


def _link_refused(refused: StatusPage) -> str:
    """Why a symlink in a listing cannot be followed, from the page a request for it gets."""
    if refused.status == 404:
        return "a symlink to nothing"
    if refused.detail == LEADS_OUT:
        return "a symlink out of the served folder"
    if refused.detail == "too many symlinks":
        return "a symlink loop"
    return f"a symlink to what cannot be served ({refused.detail})"


def _is_folder(fd: int) -> bool:
    """Whether an opened descriptor is a folder; one that is neither that nor a regular file
    (a FIFO, a device) is closed and refused, 403."""
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        os.close(fd)
        raise StatusPage(403, "not a regular file")
    return stat.S_ISDIR(mode)


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
                    pending.extend(reversed(self._into(name, is_last=not pending)))
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


def content_type(path: str, fd: int | None = None) -> str:
    """The MIME type the name's extension gives. A text/* file (open as `fd`) that starts as
    UTF-8 also gets `charset=utf-8`, or a browser would guess one (windows-1252, for a .txt)."""
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if fd is not None and kind.startswith("text/") and starts_as_utf8(fd):
        return kind + "; charset=utf-8"
    return kind


def starts_as_utf8(fd: int) -> bool:
    """Whether the file's first CHARSET_SNIFF bytes are UTF-8: a character cut by the end of
    that read still counts, one cut by the end of the file does not."""
    start = os.pread(fd, CHARSET_SNIFF, 0)  # at offset 0, whatever the file's position
    is_whole = len(start) >= os.fstat(fd).st_size
    try:
        codecs.getincrementaldecoder("utf-8")().decode(start, final=is_whole)
    except UnicodeDecodeError:
        return False
    return True


def open_regular(path: str) -> BinaryIO:
    """Open a regular file by its real path (as `find` gives it), following no symlink, so
    one swapped in since cannot lead elsewhere. A link on the way, or anything that is not a
    regular file (a FIFO, a device), is refused: 403."""
    try:
        fd, _ = Walk("/", follow=False).run(_names(os.path.abspath(path)))
    except OSError as exc:
        raise StatusPage(403, f"cannot read the file: {exc.strerror}") from None
    if _is_folder(fd):
        os.close(fd)
        raise StatusPage(403, "not a regular file")
    return open(fd, "rb")  # the caller closes it


class _Described(NamedTuple):
    content_type: str
    last_modified: str
    validators: Validators


# What a file's name, first bytes and stat say about it (type, date, ETag), by (device, inode,
# size, mtime, name): a file served again unchanged is not sniffed, dated or tagged again.
# Bounded; emptied when full.
_DESCRIBED: dict[tuple, _Described] = {}
DESCRIBED_MAX = 4096


def describe(fd: int, name: str, info: os.stat_result) -> _Described:
    key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, name)
    found = _DESCRIBED.get(key)
    if found is None:
        if len(_DESCRIBED) >= DESCRIBED_MAX:
            _DESCRIBED.clear()
        kind = content_type(name, fd)
        date = formatdate(int(info.st_mtime), usegmt=True)
        found = _DESCRIBED[key] = _Described(kind, date, file_validators(info))
    return found


class FileOptions(NamedTuple):
    """How files are answered beyond the defaults: fields added to each of a file's answers
    (Cache-Control; a 304 sends them as its 200 would, RFC 9110 15.4.5), and --compress."""

    fields: Sequence[tuple[str, str]] = ()
    compress: bool = False


PLAIN_FILES = FileOptions()


def send_file(exchange: Exchange, fd: int, name: str, options: FileOptions = PLAIN_FILES) -> None:
    """An open file whole (200), one byte range of it (206), gzipped (`compress.py`), or
    304 / 412 as its preconditions decide (`preconditions.evaluate`); `name` gives its type.
    The caller closes `fd`."""
    request = exchange.request.headers
    info = os.fstat(fd)
    size = info.st_size
    described = describe(fd, name, info)
    last_modified = described.last_modified
    current = described.validators
    fields = list(options.fields)
    coding = "identity"
    if options.compress and compress.compressible(described.content_type):
        fields.append(("Vary", "Accept-Encoding"))
    if options.compress:
        coding = negotiate(request, described.content_type)
    if coding == "gzip":
        current = current._replace(etag=compress.coded_etag(current.etag, coding))
    validators = [("ETag", current.etag), ("Last-Modified", last_modified), *fields]
    decided = evaluate(exchange.request.method, request, current, time.time())
    if decided == 304:
        exchange.send_head(304, Headers(validators))
        return
    if decided == 412:
        raise StatusPage(412, "a precondition of the request does not hold for this file")
    if coding == "gzip":
        send_gzipped(
            exchange, fd, size, Headers([("Content-Type", described.content_type), *validators])
        )
        return
    headers = Headers([("Content-Type", described.content_type), *validators])
    headers.add("Accept-Ranges", "bytes")
    span = None
    if exchange.request.method == "GET":  # RFC 9110 section 14.2: Range is for GET only
        span = requested_range(request, size, range_applies(request, current, last_modified))
    start, end = span or (0, size - 1)
    if span:
        headers.add("Content-Range", f"bytes {start}-{end}/{size}")
    count = end - start + 1
    headers.add("Content-Length", str(count))
    head = exchange.make_head(206 if span else 200, headers)
    if count <= SMALL_FILE and exchange.wants_body:
        # Head and body in one send: one system call instead of a send and a sendfile
        # (which Python wraps in a selector); about 20% more small-file requests/s (bench/).
        body = os.pread(fd, count, start)
        exchange.send_with_head(head, body)
        if len(body) < count:  # the file shrank meanwhile: the Content-Length is a lie now
            exchange.keep_alive = False
    else:
        exchange.send(head)
        exchange.send_file(fd, start, count)


def negotiate(request: Headers, content_type: str) -> str:
    """The coding to send (`compress.choose_coding`): gzip is offered for text, never for a
    Range request; 406 when the client accepts nothing offered."""
    offered = compress.compressible(content_type) and "Range" not in request
    accepted = request.get_all("Accept-Encoding")
    coding = compress.choose_coding(", ".join(accepted) if accepted else None, offered)
    if coding is None:
        offer = "gzip or identity" if offered else "identity"
        raise StatusPage(
            406,
            f"Accept-Encoding refuses every coding this file can be sent in ({offer})",
            headers=[("Vary", "Accept-Encoding")],
        )
    return coding


def send_gzipped(exchange: Exchange, fd: int, size: int, headers: Headers) -> None:
    """The file gzipped while it is sent: chunked for HTTP/1.1, for HTTP/1.0 ended by closing
    (the coded length is known only at the end)."""
    headers.add("Content-Encoding", "gzip")
    chunked = exchange.request.http_version == "HTTP/1.1"
    if chunked:
        headers.add("Transfer-Encoding", "chunked")
    else:
        exchange.keep_alive = False
    exchange.send_head(200, headers)
    if exchange.wants_body:
        exchange.stream(compress.GzipPieces(os.dup(fd), size, chunked))


def requested_range(request: Headers, size: int, applies: bool = True) -> tuple[int, int] | None:
    """The (first, last) byte positions asked for by Range, or None to send the whole file.

    One range only: several ranges, a syntax we do not understand, or an If-Range that does not
    match (`applies` False) all get the whole file, which RFC 9110 section 14.2 allows.
    Unsatisfiable ranges get 416 with the real size.
    """
    value = request.get("Range")
    if value is None or not applies:
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
