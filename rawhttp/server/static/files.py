"""Sending a file that `paths.py` opened: its type, validators, conditional requests, one
byte range, and content negotiation.

Owns the MIME type (with a charset for UTF-8 text), validators (ETag, Last-Modified) and
preconditions (evaluated by `preconditions.py`), one byte range per request (else the whole
file, as RFC 9110 allows), gzip on the fly when asked (`compress.py`), and the bytes: a small
file with its head in one send, a larger one by sendfile.
"""

from __future__ import annotations

import codecs
import mimetypes
import os
import re
import time
from collections.abc import Sequence
from email.utils import formatdate
from typing import NamedTuple

from rawhttp.server import compress
from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.preconditions import Validators, evaluate, file_validators, range_applies
from rawhttp.wire import Headers

# Files up to this size are read and sent with their head in one send; larger ones go by
# sendfile, straight from the page cache (nginx's sendfile has no such threshold).
SMALL_FILE = 64 * 1024
# A text/* file gets "; charset=utf-8" when this much of its start is UTF-8: one bounded read,
# so a huge log costs what a small page does (a bad byte further in goes unseen).
CHARSET_SNIFF = 64 * 1024
# RFC 9110 section 14.1.2: one byte-range-spec, "first-last", "first-" or "-suffix".
_BYTE_RANGE_RE = re.compile(r"bytes=[ \t]*([0-9]*)-([0-9]*)[ \t]*")
# A byte position with more significant digits than this is past the end of any file (10**18
# bytes is an exabyte), so its digits never reach int(), which refuses more than 4300.
MAX_POSITION_DIGITS = 18


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


class _Described(NamedTuple):
    content_type: str
    last_modified: str
    validators: Validators
    fields: tuple[tuple[str, str], ...]  # Content-Type, ETag, Last-Modified, as a 200 has them


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
        validators = file_validators(info)
        fields = (("Content-Type", kind), ("ETag", validators.etag), ("Last-Modified", date))
        found = _DESCRIBED[key] = _Described(kind, date, validators, fields)
    return found


class FileOptions(NamedTuple):
    """How files are answered beyond the defaults: fields added to each of a file's answers
    (Cache-Control; a 304 sends them as its 200 would, RFC 9110 15.4.5), and --compress."""

    fields: Sequence[tuple[str, str]] = ()
    compress: bool = False


PLAIN_FILES = FileOptions()


def send_file(
    exchange: Exchange,
    fd: int,
    name: str,
    options: FileOptions = PLAIN_FILES,
    info: os.stat_result | None = None,
) -> None:
    """An open file whole (200), one byte range of it (206), gzipped (`compress.py`), or
    304 / 412 as its preconditions decide (`preconditions.evaluate`); `name` gives its type,
    `info` its stat if the caller has it. The caller closes `fd`."""
    request = exchange.request.headers
    info = info or os.fstat(fd)
    size = info.st_size
    described = describe(fd, name, info)
    last_modified = described.last_modified
    current = described.validators
    fields = [*described.fields, *options.fields]  # Content-Type, ETag, Last-Modified...
    coding = "identity"
    if options.compress:
        coding = negotiate(request, described.content_type)
        if coding == "gzip":
            current = current._replace(etag=compress.coded_etag(current.etag, coding))
            fields[1] = ("ETag", current.etag)
        if compress.compressible(described.content_type):
            fields.append(("Vary", "Accept-Encoding"))
    decided = evaluate(exchange.request.method, request, current, time.time())
    if decided == 304:
        exchange.send_head(304, fields[1:])  # all but Content-Type (RFC 9110 section 15.4.5)
        return
    if decided == 412:
        raise StatusPage(412, "a precondition of the request does not hold for this file")
    if coding == "gzip":
        send_gzipped(exchange, fd, size, Headers(fields))
        return
    fields.append(("Accept-Ranges", "bytes"))
    span = None
    if exchange.request.method == "GET" and "Range" in request:  # (RFC 9110 14.2: GET only)
        span = requested_range(request, size, range_applies(request, current, last_modified))
    start, end = span or (0, size - 1)
    if span:
        fields.append(("Content-Range", f"bytes {start}-{end}/{size}"))
    count = end - start + 1
    fields.append(("Content-Length", str(count)))
    head = exchange.make_head(206 if span else 200, fields)
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
