"""Sans-IO HTTP/1.1 (RFC 9112): bytes in, values out. This module never touches a socket.

It owns the message syntax: building request and response heads, finding and parsing a head,
deciding how the body is framed, and the body readers (Content-Length, chunked, until close)
that are fed bytes and hand back body pieces. The socket loops live in `client.py` (with
`connection.py`) and `server/`; a learner can drive everything here from a Python prompt with
literal bytes:

    >>> reader = HeadReader()
    >>> reader.feed(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nhi")
    b'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\n'
    >>> head = parse_response_head(reader.head)
    >>> body = body_reader(response_framing("GET", head.status, head.headers))
    >>> [bytes(piece) for piece in body.feed(reader.rest)], body.done
    ([b'hi'], True)
"""

from __future__ import annotations

import re
from typing import NamedTuple

from rawhttp.errors import (
    EmptyReply,
    IncompleteBody,
    InvalidRequest,
    LimitExceeded,
    ProtocolError,
)

# Limits. Each names what other implementations use, so the choice can be judged.
# A REQUEST head (the server's limits, 431 past them). Whole head (request line + headers):
# nginx 4 x 8 KiB buffers by default, h11 16 KiB (max_incomplete_event_size).
MAX_HEAD_SIZE = 64 * 1024
# Header field lines in one request head (and in a trailer section): CPython's http.client
# (_MAXHEADERS) and Go use 100 too.
MAX_HEADERS = 100
# A RESPONSE head (the client's limits, exit 8 past them), as large as curl takes: its
# MAX_HTTP_RESP_HEADER_SIZE is 300 KiB for all of a response's header lines (lib/http.h; one
# line may have CURL_MAX_HTTP_HEADER, 100 KiB) and MAX_HTTP_RESP_HEADER_COUNT 5000 fields.
# Servers send heads that large on request (httpbin's /response-headers, cookie-heavy sites).
MAX_RESPONSE_HEAD_SIZE = 300 * 1024
MAX_RESPONSE_FIELDS = 5000
# A chunk-size line with its extensions: h11 and Node's llhttp cap it similarly (a few KiB).
MAX_CHUNK_LINE = 1024
# Significant hex digits of one chunk size: 16, so a size is below 2^64 (nginx refuses sizes past
# 2^63 - 1, its off_t; h11 takes at most 20 digits). A larger one is 400 at once: read as a
# number it would have the reader wait for bytes that never come.
MAX_CHUNK_SIZE_DIGITS = 16
# Significant digits of a Content-Length: 18 (below 10^18, an exabyte; int() would refuse past
# 4,300 digits anyway). A server answers a longer one 413, as nginx does.
MAX_LENGTH_DIGITS = 18
# Redirects followed by -L: browsers stop at 20, curl at 30 since 8.3 (50 before).
MAX_REDIRECTS = 20
# Request line on the server side: nginx answers 414 past 8 KiB (large_client_header_buffers).
MAX_REQUEST_LINE = 8 * 1024
# The trailer section after the last chunk, all its lines together (and each line while it is
# still arriving): h11 bounds it by its 16 KiB max_incomplete_event_size; nginx reads none.
MAX_TRAILER_SIZE = 16 * 1024
# Chunk extensions of one message, all together: Node.js counts them against a 16 KiB limit
# since CVE-2024-22019, where a flood of extensions on tiny chunks exhausted memory.
MAX_CHUNK_EXTENSIONS = 16 * 1024
# 1xx interim responses before the final one: a server sending them forever would never let a
# client finish. Chromium and curl both stop at a small count too.
MAX_INTERIM_RESPONSES = 10

# RFC 9110 section 5.6.2: token = 1*tchar.
TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 section 5.5: field-value = *field-content; no CR, LF or NUL may appear in it.
_FORBIDDEN_IN_VALUE_RE = re.compile(r"[\r\n\x00]")
# RFC 9112 section 4: status-line = HTTP-version SP status-code SP [ reason-phrase ].
# The SP before an empty reason is often missing in practice, so it is optional here.
_STATUS_LINE_RE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: (.*))?")
# reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ): no NUL, no other control byte.
_REASON_RE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
# RFC 9110 section 15: status codes run from 100 to 599; 000 and 999 are not HTTP's.
STATUS_CODES = range(100, 600)
# A reply that does not begin with this is not HTTP at all (an SSH banner, a TLS alert, a
# greeting): said as soon as its first line is known (or MAX_STATUS_PEEK bytes of it).
_STATUS_PREFIX = b"HTTP/"
MAX_STATUS_PEEK = 62
# RFC 9112 section 3: request-line = method SP request-target SP HTTP-version.
_REQUEST_LINE_RE = re.compile(rb"([^ ]+) ([^ ]+) HTTP/(\d)\.(\d)")
# The same line as a server accepts it, in one match: the method a token (RFC 9110 5.6.2), the
# target without spaces or control bytes. A line it refuses goes through the checks one by one,
# so the error says which part is wrong.
_GOOD_REQUEST_LINE_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^\x00-\x20\x7f]+ HTTP/\d\.\d")
# RFC 9112 section 7.1.1: chunk-size = 1*HEXDIG, then chunk-ext = *( BWS ";" BWS ext-name
# [ BWS "=" BWS ext-val ] ), ext-name = token, ext-val = token / quoted-string (RFC 9110
# 5.6.4: qdtext is HTAB, SP, visible ASCII but " and \, obs-text; a quoted-pair escapes one).
# So a ";" with no name after it, an unbalanced quote and control bytes are all refused.
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x20-\x7e\x80-\xff])*"'
_EXT_VALUE = rb"(?:" + _TOKEN + rb"|" + _QUOTED + rb")"
_CHUNK_EXT = rb"[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*" + _EXT_VALUE + rb")?"
_CHUNK_SIZE_RE = re.compile(rb"([0-9A-Fa-f]+)((?:" + _CHUNK_EXT + rb")*)[ \t]*")
_DIGITS_RE = re.compile(r"[0-9]+")


class Headers:
    """Header fields in the order received: names compare case-insensitively, repeats are kept.

    A list of pairs rather than a dict, because order and repetition are part of what was sent.
    """

    def __init__(self, items: list[tuple[str, str]] | None = None):
        self._items: list[tuple[str, str]] = list(items or [])
        # Lower-cased name -> values, built on the first look-up (a server asks a request's
        # head about half a dozen fields); every change drops it.
        self._index: dict[str, list[str]] | None = None

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = self._index = {}
            for key, value in self._items:
                index.setdefault(key.lower(), []).append(value)
        return index

    def _values(self, name: str) -> list[str]:
        return self._lookup().get(name.lower(), [])

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value for `name`, or `default`."""
        values = (self._index if self._index is not None else self._lookup()).get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._values(name))

    def get_list(self, name: str) -> list[str]:
        """Comma-separated list members across all repeats (RFC 9110 section 5.3). Only SP and
        HTAB are whitespace in HTTP (`str.strip()` would also take \\x0b, \\x85, \\xa0...)."""
        return [
            member.strip(" \t")
            for value in self.get_all(name)
            for member in value.split(",")
            if member.strip(" \t")
        ]

    def set(self, name: str, value: str) -> None:
        """Replace every `name` field with one, kept at the first one's position."""
        lowered = name.lower()
        for index, (key, _) in enumerate(self._items):
            if key.lower() == lowered:
                self._items[index] = (name, value)
                self._items[index + 1 :] = [
                    item for item in self._items[index + 1 :] if item[0].lower() != lowered
                ]
                self._index = None
                return
        self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))
        self._index = None

    def remove(self, name: str) -> None:
        lowered = name.lower()
        self._items = [item for item in self._items if item[0].lower() != lowered]
        self._index = None

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        index = self._index if self._index is not None else self._lookup()
        return isinstance(name, str) and name.lower() in index

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


# --- building messages -------------------------------------------------------------------


def check_header(name: str, value: str) -> None:
    """Refuse a field that would corrupt the message: a non-token name, or CR/LF/NUL in a value."""
    if not TOKEN_RE.fullmatch(name.encode("latin-1", "replace")):
        raise InvalidRequest(f"header name {name!r} is not a valid token")
    if _FORBIDDEN_IN_VALUE_RE.search(value):
        raise InvalidRequest(f"header {name!r} has CR, LF or NUL in its value")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidRequest(f"header {name!r} has characters outside Latin-1") from None


def media_charset(content_type: str, default: str = "utf-8") -> str:
    """The charset parameter of a Content-Type value (RFC 9110 section 8.3.2), or `default`:
    `text/html; charset="ISO-8859-1"` -> `ISO-8859-1`."""
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return default


def build_request(method: str, target: str, headers: Headers, version: str = "HTTP/1.1") -> bytes:
    """The request head, byte for byte: request line, fields, empty line, CRLF line ends."""
    if not TOKEN_RE.fullmatch(method.encode("latin-1", "replace")):
        raise InvalidRequest(f"method {method!r} is not a valid token")
    if not target or re.search(r"[\x00-\x20\x7f]", target):
        raise InvalidRequest(f"request target {target!r} has spaces or control characters")
    return _build_head(f"{method} {target} {version}", headers)


def build_response_head(
    status: int, headers: Headers, reason: str | None = None, version: str = "HTTP/1.1"
) -> bytes:
    """A response head; the reason phrase defaults to the standard one for the status."""
    if reason is None:
        from http import HTTPStatus  # servers only: a client does not pay for importing it

        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return _build_head(f"{version} {status} {reason}", headers)


# Field names already checked: a server sends the same few names again and again.
_GOOD_NAMES: set[str] = set()


def _build_head(start_line: str, headers: Headers) -> bytes:
    """The head's bytes; every field checked as `check_header` does, in one pass."""
    lines = [start_line]
    for name, value in headers:
        if name not in _GOOD_NAMES or _FORBIDDEN_IN_VALUE_RE.search(value):
            check_header(name, value)
            if len(_GOOD_NAMES) < 1024:
                _GOOD_NAMES.add(name)
        lines.append(f"{name}: {value}")
    text = "\r\n".join(lines) + "\r\n\r\n"
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        for name, value in headers:
            check_header(name, value)  # names the field at fault
        raise InvalidRequest(f"start line {start_line!r} has characters outside Latin-1") from None


def encode_chunk(data: bytes, extension: str = "") -> bytes:
    """One chunk of a chunked body (RFC 9112 section 7.1), with an optional chunk-ext such as
    `;name=value`; empty data would end the body."""
    return b"%x%s\r\n%s\r\n" % (len(data), extension.encode("latin-1"), data)


def last_chunk(trailers: Headers | None = None) -> bytes:
    """The zero-size chunk that ends a chunked body, then its trailer section."""
    fields = b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in trailers or Headers())
    for name, value in trailers or Headers():
        check_header(name, value)
    return b"0\r\n" + fields + b"\r\n"


LAST_CHUNK = last_chunk()


# --- finding and parsing a head ---------------------------------------------------------------


class HeadReader:
    """Collects bytes until the empty line that ends a head, enforcing MAX_HEAD_SIZE.

    `feed()` as bytes arrive; once `head` is set, `rest` holds what came after it in the same
    reads (the start of the body, or of the next pipelined message). Bare LF line ends are
    accepted, as RFC 9112 section 2.2 allows a recipient to.
    """

    def __init__(
        self,
        max_size: int = MAX_HEAD_SIZE,
        skip_leading_newlines: bool = False,
        limit_name: str = "MAX_HEAD_SIZE",
    ):
        self.max_size = max_size
        self.limit_name = limit_name
        self.skip_leading_newlines = skip_leading_newlines
        self.head: bytes | None = None
        self.rest = b""
        self._buf = bytearray()
        self._scanned = 0

    @property
    def received(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> bytes | None:
        """Add bytes; return the complete head (with its empty line) once it has arrived."""
        if self.head is not None:
            self.rest += bytes(data)
            return self.head
        if not self._buf and type(data) is bytes:  # the usual case: a whole head in one read
            if self.skip_leading_newlines:
                data = data.lstrip(b"\r\n")
            end = _head_end(data, 0)
            if end is not None and end <= self.max_size:
                self.head, self.rest = data[:end], data[end:]
                return self.head
        self._buf += data
        if self.skip_leading_newlines:
            # RFC 9112 section 2.2: a server SHOULD ignore empty lines before the request line.
            stripped = self._buf.lstrip(b"\r\n")
            if len(stripped) != len(self._buf):
                self._buf = bytearray(stripped)
                self._scanned = 0
        end = _head_end(self._buf, self._scanned)
        if end is None:
            if len(self._buf) > self.max_size:
                raise LimitExceeded(f"head larger than {self.max_size} bytes ({self.limit_name})")
            self._scanned = max(0, len(self._buf) - 2)
            return None
        if end > self.max_size:
            raise LimitExceeded(
                f"head is {end} bytes, over the limit of {self.max_size} ({self.limit_name})"
            )
        self.head = bytes(self._buf[:end])
        self.rest = bytes(self._buf[end:])
        self._buf = bytearray()
        return self.head


def _head_end(buf: bytes | bytearray, start: int) -> int | None:
    """Where the head in `buf` ends (after its empty line), looking from `start`; None if not
    yet. The head ends at the first LF followed by an optional CR and another LF."""
    position = buf.find(b"\n", start)
    while position != -1:
        after = position + 1
        if buf[after : after + 1] == b"\n":
            return after + 1
        if buf[after : after + 2] == b"\r\n":
            return after + 2
        if after + 2 > len(buf) and buf[after:] in (b"", b"\r"):
            return None
        position = buf.find(b"\n", after)
    return None


# The parsed values below are NamedTuples rather than dataclasses: importing `dataclasses`
# costs a small `rawhttp get` about a quarter of its start-up (see bench/README.md).


class ResponseHead(NamedTuple):
    """A parsed status line and header fields, with the exact bytes they came from."""

    http_version: str
    status: int
    reason: str
    headers: Headers
    raw: bytes

    @property
    def is_interim(self) -> bool:
        """1xx: informational, followed by another head (RFC 9110 section 15.2)."""
        return 100 <= self.status < 200


class RequestHead(NamedTuple):
    """A parsed request line and header fields, as a server receives them."""

    method: str
    target: str
    http_version: str
    headers: Headers
    raw: bytes


def _split_lines(raw: bytes) -> list[bytes]:
    crlf = raw.count(b"\r\n")
    if raw.count(b"\r") == crlf == raw.count(b"\n"):  # every line ends CR LF, no bare CR
        lines = raw.split(b"\r\n")
        while lines and not lines[-1]:
            lines.pop()
        return lines
    lines = raw.split(b"\n")
    while lines and lines[-1] in (b"", b"\r"):
        lines.pop()
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    for line in lines:
        if b"\r" in line:
            raise ProtocolError(f"bare CR inside a head line: {_show(line)}")
    return lines


def _show(line: bytes, limit: int = 60) -> str:
    text = repr(bytes(line[:limit]))[2:-1]
    return text + ("..." if len(line) > limit else "")


def parse_response_head(raw: bytes) -> ResponseHead:
    """Parse a head found by `HeadReader`; raise ProtocolError on anything not HTTP/1.x."""
    lines = _split_lines(raw)
    if not lines:
        raise ProtocolError("empty response head")
    match = _STATUS_LINE_RE.fullmatch(lines[0])
    if match is None:
        raise ProtocolError(f"not an HTTP/1.x status line: {_show(lines[0])}")
    major, minor, status, reason = match.groups()
    if major != b"1":
        raise ProtocolError(f"unsupported HTTP version HTTP/{major.decode()}.{minor.decode()}")
    if int(status) not in STATUS_CODES:
        raise ProtocolError(f"status code {status.decode()} is outside 100-599")
    if reason and not _REASON_RE.fullmatch(reason):
        raise ProtocolError(f"control byte in the reason phrase: {_show(lines[0])}")
    headers = parse_fields(lines[1:], allow_obs_fold=True, max_fields=MAX_RESPONSE_FIELDS)
    return ResponseHead(
        http_version=f"HTTP/1.{minor.decode()}",
        status=int(status),
        reason=(reason or b"").decode("latin-1"),
        headers=headers,
        raw=raw,
    )


def parse_request_head(raw: bytes) -> RequestHead:
    """Parse a request head; the server answers 400/414/505 from the errors this raises."""
    lines = _split_lines(raw)
    if not lines:
        raise ProtocolError("empty request head")
    line = lines[0]
    if len(line) > MAX_REQUEST_LINE:
        raise LimitExceeded(f"request line longer than {MAX_REQUEST_LINE} bytes", status=414)
    if _GOOD_REQUEST_LINE_RE.fullmatch(line) is None:
        _refuse_request_line(line)
    return _request_head(raw, lines)


def _request_head(raw: bytes, lines: list[bytes]) -> RequestHead:
    """The head `raw`, split into `lines`, whose request line is known to be well-formed."""
    method, target, version = lines[0].split(b" ")
    return RequestHead(
        method=method.decode("ascii"),
        target=target.decode("latin-1"),
        http_version=version.decode("ascii"),
        headers=parse_fields(lines[1:], allow_obs_fold=False),
        raw=raw,
    )


def _refuse_request_line(line: bytes) -> None:
    """Say what is wrong with a request line `_GOOD_REQUEST_LINE_RE` refused."""
    match = _REQUEST_LINE_RE.fullmatch(line)
    if match is None or not TOKEN_RE.fullmatch(match.group(1)):
        raise ProtocolError(f"malformed request line: {_show(line)}")
    raise ProtocolError(f"control character in request target: {_show(match.group(2))}")


def parse_fields(
    lines: list[bytes], allow_obs_fold: bool, max_fields: int = MAX_HEADERS
) -> Headers:
    """Field lines (RFC 9112 section 5): `name: value`, with the limits and rules applied
    (`max_fields`: MAX_HEADERS for requests and trailers, MAX_RESPONSE_FIELDS for responses).

    obs-fold (a line starting with SP or HTAB) is unfolded in responses, as section 5.2 tells
    a user agent to, and rejected in requests, as it tells a server to.
    """
    items: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not allow_obs_fold or not items:
                raise ProtocolError(f"obsolete line folding: {_show(line)}")
            name, value = items[-1]
            folded = line.strip(b" \t").decode("latin-1")
            items[-1] = (name, f"{value} {folded}".strip())
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise ProtocolError(f"header line without a colon: {_show(line)}")
        text = _TOKEN_NAMES.get(name)
        if text is None:
            text = _field_name(name)
        if b"\x00" in value:
            raise ProtocolError(f"NUL byte in the value of {text}")
        items.append((text, value.strip(b" \t").decode("latin-1")))
        if len(items) > max_fields:
            name = "MAX_HEADERS" if max_fields == MAX_HEADERS else "MAX_RESPONSE_FIELDS"
            raise LimitExceeded(f"more than {max_fields} header fields ({name})")
    return Headers(items)


# Field names already found to be tokens, and their text: a peer sends the same few names in
# every message. Bounded in count and in length (so at most 64 KiB whatever peers send); a name
# past either bound is checked every time it comes.
_TOKEN_NAMES: dict[bytes, str] = {}
_TOKEN_NAMES_KEPT = 1024
_TOKEN_NAME_KEPT_SIZE = 64


def _field_name(name: bytes) -> str:
    """A field name's text, once checked to be a token."""
    if not TOKEN_RE.fullmatch(name):
        # Includes whitespace before the colon, which section 5.1 forbids (smuggling).
        raise ProtocolError(f"invalid header name: {_show(name)}")
    text = name.decode("ascii")
    if len(_TOKEN_NAMES) < _TOKEN_NAMES_KEPT and len(name) <= _TOKEN_NAME_KEPT_SIZE:
        _TOKEN_NAMES[name] = text
    return text


# --- body framing (RFC 9112 section 6.3) -----------------------------------------------------


class Framing(NamedTuple):
    """How the body's end is found: "none", "length" (with `length`), "chunked" or "close"."""

    kind: str
    length: int | None = None

    def __str__(self) -> str:
        return f"length {self.length}" if self.kind == "length" else self.kind


_NO_BODY = Framing("none")


def response_framing(request_method: str, status: int, headers: Headers) -> Framing:
    """Decide once, from the head, where the response body ends. A 2xx to CONNECT has no
    body whatever its fields say (RFC 9110 section 9.3.6): what follows is the tunnel."""
    if request_method.upper() == "HEAD" or 100 <= status < 200 or status in (204, 304):
        return Framing("none")
    if request_method.upper() == "CONNECT" and 200 <= status < 300:
        return Framing("none")
    return _framing_from_fields(headers, default=Framing("close"))


def request_framing(headers: Headers) -> Framing:
    """A request without Content-Length or chunked has no body (RFC 9112 section 6.3 rule 6).

    Transfer-Encoding must be exactly `chunked`: one not ending in chunked cannot be framed
    (400, rule 4); other codings before it (`gzip, chunked`, `chunked, chunked`) are ones a
    server need not undo (501, RFC 9112 section 6.1)."""
    if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
        return _NO_BODY  # (the usual request, decided in two look-ups)
    framing = _framing_from_fields(headers, default=_NO_BODY)
    codings = [coding.lower() for coding in headers.get_list("Transfer-Encoding")]
    if headers.get_all("Transfer-Encoding") and framing.kind != "chunked":
        raise ProtocolError("request Transfer-Encoding does not end in chunked")
    if framing.kind == "chunked" and codings != ["chunked"]:
        raise ProtocolError(f"transfer codings {', '.join(codings)} not supported", status=501)
    return framing


def _framing_from_fields(headers: Headers, default: Framing) -> Framing:
    lengths = headers.get_all("Content-Length")
    if not lengths and "Transfer-Encoding" not in headers:
        return default
    codings = headers.get_list("Transfer-Encoding")
    if headers.get_all("Transfer-Encoding") and lengths:
        raise ProtocolError("both Transfer-Encoding and Content-Length (a smuggling risk)")
    if codings:
        return Framing("chunked") if codings[-1].lower() == "chunked" else Framing("close")
    if lengths:
        return Framing("length", parse_content_length(lengths))
    return default


def parse_content_length(values: list[str]) -> int:
    """Digits only (no sign, space or underscore, unlike `int()`); equal repeats allowed."""
    members = [member.strip(" \t") for value in values for member in value.split(",")]
    if not all(_DIGITS_RE.fullmatch(member) for member in members):
        raise ProtocolError(f"invalid Content-Length {', '.join(values)!r}")
    if any(len(member.lstrip("0")) > MAX_LENGTH_DIGITS for member in members):
        raise LimitExceeded(f"Content-Length of more than {MAX_LENGTH_DIGITS} digits", 413)
    numbers = {int(member.lstrip("0") or "0") for member in members}
    if len(numbers) != 1:
        raise ProtocolError(f"conflicting Content-Length values {', '.join(values)!r}")
    return numbers.pop()


# --- body readers ------------------------------------------------------------------------------
#
# Each is fed bytes and returns the body pieces in them, as memoryviews into what it was fed (no
# copy: the caller writes them out before the next read). `done` says the body is complete;
# `rest` holds bytes after its end. `eof()` is called when the peer closes: it says whether
# that is a clean end (close-delimited) or an incomplete body, with byte counts, as h11 does.
# The two readers whose body is a plain run of bytes (Content-Length, until close) also have
# `wanted` (the most bytes still part of the body, None if unknown) and `skip(count)`: the
# client's splice fast path moves body bytes in the kernel, and only tells the reader how many.


class NoBody:
    """HEAD, 1xx, 204 and 304: the head is the whole message; any further bytes are not body."""

    done = True

    def __init__(self) -> None:
        self.received = 0
        self.rest = b""

    def feed(self, data: bytes | memoryview) -> list[memoryview]:
        self.rest += bytes(data)
        return []

    def eof(self) -> None:
        return None


class LengthBody:
    """Exactly `length` bytes (Content-Length)."""

    def __init__(self, length: int):
        self.length = length
        self.received = 0
        self.rest = b""
        self.done = length == 0

    def feed(self, data: bytes | memoryview) -> list[memoryview]:
        view = memoryview(data)
        if self.done:
            self.rest += bytes(view)
            return []
        take = min(len(view), self.length - self.received)
        self.received += take
        if self.received == self.length:
            self.done = True
            self.rest += bytes(view[take:])
        return [view[:take]] if take else []

    @property
    def wanted(self) -> int:
        return self.length - self.received

    def skip(self, count: int) -> None:
        """`count` body bytes went by without being fed (at most `wanted`)."""
        assert count <= self.wanted, "past the end of the body"
        self.received += count
        self.done = self.received == self.length

    def eof(self) -> None:
        if not self.done:
            raise IncompleteBody(
                f"connection closed after {self.received} of {self.length} body bytes",
                self.received,
                self.length,
            )


class CloseDelimitedBody:
    """No length given: the body is everything until the server closes the connection."""

    done = False
    rest = b""
    wanted = None

    def __init__(self) -> None:
        self.received = 0

    def feed(self, data: bytes | memoryview) -> list[memoryview]:
        self.received += len(data)
        return [memoryview(data)] if len(data) else []

    def skip(self, count: int) -> None:
        """`count` body bytes went by without being fed."""
        self.received += count

    def eof(self) -> None:
        self.done = True


class ChunkedDecoder:
    """Transfer-Encoding: chunked (RFC 9112 section 7.1), with extensions and trailers.

    Counts `chunks` (data chunks, not the last one) and keeps `extensions` and `trailers`, so
    views can say what the framing looked like, not just what the body was.
    """

    def __init__(self) -> None:
        self.received = 0
        self.chunks = 0
        self.extensions: list[str] = []
        self.extension_bytes = 0
        self.trailers = Headers()
        self.rest = b""
        self.done = False
        self._state = "size"
        self._line = bytearray()
        self._left = 0
        self._trailer_lines: list[bytes] = []
        self._trailer_size = 0

    def feed(self, data: bytes | memoryview) -> list[memoryview]:
        view = memoryview(data)
        pieces: list[memoryview] = []
        position, end = 0, len(view)
        while position < end:
            if self.done:
                self.rest += bytes(view[position:])
                break
            if self._state == "data":
                take = min(self._left, end - position)
                pieces.append(view[position : position + take])
                position += take
                self._left -= take
                self.received += take
                if self._left == 0:
                    self._state = "data-end"
            else:
                position = self._feed_line(view, position, end)
        return pieces

    @property
    def raw_trailers(self) -> bytes:
        """The trailer field lines as received, each ending CR LF (what curl's -D writes)."""
        return b"".join(line + b"\r\n" for line in self._trailer_lines)

    @property
    def trailer_size(self) -> int:
        """Bytes of trailer fields kept so far (at most MAX_TRAILER_SIZE)."""
        return self._trailer_size

    def _feed_line(self, view: memoryview, position: int, end: int) -> int:
        # Look at most one line-limit ahead, so a huge read is never copied just to find a LF.
        window = bytes(view[position : min(end, position + MAX_CHUNK_LINE + 2)])
        newline = window.find(b"\n")
        stop = position + (len(window) if newline == -1 else newline + 1)
        self._line += view[position:stop]
        if self._state == "trailer":
            if self._trailer_size + len(self._line) > MAX_TRAILER_SIZE:
                raise LimitExceeded(f"trailer section larger than {MAX_TRAILER_SIZE} bytes")
        elif len(self._line) > MAX_CHUNK_LINE:
            raise LimitExceeded(f"chunk-size line longer than {MAX_CHUNK_LINE} bytes", 400)
        if newline != -1:
            line = bytes(self._line[:-1]).removesuffix(b"\r")
            self._line.clear()
            self._end_of_line(line)
        return stop

    def _end_of_line(self, line: bytes) -> None:
        if self._state == "size":
            self._start_chunk(line)
        elif self._state == "data-end":
            if line:
                raise ProtocolError(f"chunk data longer than its size: {_show(line)}")
            self._state = "size"
        else:
            self._trailer_line(line)

    def _start_chunk(self, line: bytes) -> None:
        match = _CHUNK_SIZE_RE.fullmatch(line)
        if match is None:
            raise ProtocolError(f"invalid chunk-size line: {_show(line)}")
        if match.group(2):
            self.extension_bytes += len(match.group(2))
            if self.extension_bytes > MAX_CHUNK_EXTENSIONS:
                message = f"chunk extensions over {MAX_CHUNK_EXTENSIONS} bytes in one body"
                raise LimitExceeded(message, status=400)
            self.extensions.append(match.group(2).lstrip(b" \t").decode("latin-1"))
        if len(match.group(1).lstrip(b"0")) > MAX_CHUNK_SIZE_DIGITS:
            message = f"chunk size of more than {MAX_CHUNK_SIZE_DIGITS} hex digits (2^64 or more)"
            raise LimitExceeded(message, 400)
        self._left = int(match.group(1), 16)
        if self._left:
            self.chunks += 1
            self._state = "data"
        else:
            self._state = "trailer"

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            self.trailers = parse_fields(self._trailer_lines, allow_obs_fold=False)
            self.done = True
            return
        self._trailer_size += len(line) + 2
        if self._trailer_size > MAX_TRAILER_SIZE:
            raise LimitExceeded(f"trailer section larger than {MAX_TRAILER_SIZE} bytes")
        self._trailer_lines.append(line)

    def eof(self) -> None:
        if not self.done:
            raise IncompleteBody(
                f"connection closed inside a chunked body after {self.received} bytes "
                f"({self.chunks} chunks, no last chunk)",
                self.received,
            )


BodyReader = NoBody | LengthBody | ChunkedDecoder | CloseDelimitedBody


def body_reader(framing: Framing) -> BodyReader:
    """The reader for a framing decided by `response_framing` or `request_framing`."""
    if framing.kind == "none":
        return NoBody()
    if framing.kind == "length":
        return LengthBody(framing.length or 0)
    if framing.kind == "chunked":
        return ChunkedDecoder()
    return CloseDelimitedBody()


# --- the composed readers: one per direction ----------------------------------------------------
#
# The loop "find a head, skip 1xx, decide the framing, read the body, handle EOF" written once.
# Client, server, `rawhttp send`, the fuzz target and the tests all feed one of these two and
# act on the events it returns, in order:
#
#   HeadEvent(head, end)   a head (for responses, 1xx interim heads too, then the final one)
#   memoryview             a piece of the body, a view into what was fed (copy it to keep it)
#   EndOfMessage(trailers) the message is complete; `rest` holds what followed it


class HeadEvent(NamedTuple):
    """A head has arrived; `end` counts the bytes fed to the reader up to its empty line."""

    head: ResponseHead | RequestHead
    end: int


class EndOfMessage(NamedTuple):
    """The message is complete, with the trailer fields of a chunked body (else empty)."""

    trailers: Headers


Event = HeadEvent | memoryview | EndOfMessage


class _MessageReader:
    """What both readers share: counting what was fed, the body once framing is known, EOF."""

    def __init__(self) -> None:
        self.head = None
        self.framing: Framing | None = None
        self.body: BodyReader | None = None
        self.done = False
        self.fed = 0  # bytes fed so far, heads and body

    @property
    def rest(self) -> bytes:
        """Bytes fed after the end of the message: the start of the next one."""
        return self.body.rest if self.body is not None and self.done else b""

    @property
    def received(self) -> int:
        """Body bytes so far."""
        return self.body.received if self.body is not None else 0

    @property
    def wanted(self) -> int | None:
        """The most bytes still part of a plain (length or close) body; None if unknown."""
        return getattr(self.body, "wanted", None)

    def skip(self, count: int) -> list[Event]:
        """`count` body bytes went by without being fed (the client's splice fast path)."""
        assert self.body is not None and hasattr(self.body, "skip")
        self.body.skip(count)
        return self._finished()

    def _feed_body(self, data: bytes | memoryview, events: list[Event]) -> list[Event]:
        assert self.body is not None
        events.extend(self.body.feed(data))
        events.extend(self._finished())
        return events

    def _finished(self) -> list[Event]:
        if self.done or self.body is None or not self.body.done:
            return []
        self.done = True
        trailers = getattr(self.body, "trailers", None)
        return [EndOfMessage(Headers() if trailers is None else trailers)]

    def _start_body(self, framing: Framing) -> None:
        self.framing = framing
        self.body = body_reader(framing)


def _response_heads() -> HeadReader:
    return HeadReader(MAX_RESPONSE_HEAD_SIZE, limit_name="MAX_RESPONSE_HEAD_SIZE")


class ResponseReader(_MessageReader):
    """One response to a request made with `method`: interim heads, the final head, the body.

    `interim` lists the 1xx heads skipped (at most MAX_INTERIM_RESPONSES); `head` is the final
    one. `eof()` says the server closed: it returns the closing events of a close-delimited
    body, and raises EmptyReply, ProtocolError or IncompleteBody for anything cut short.
    """

    def __init__(self, method: str = "GET"):
        super().__init__()
        self.method = method
        self.head: ResponseHead | None = None
        self.interim: list[ResponseHead] = []
        self._heads = _response_heads()
        self._start: bytearray | None = bytearray()  # the head's first bytes, until judged

    def feed(self, data: bytes | memoryview) -> list[Event]:
        """Feed what one recv returned; the events it completes."""
        self.fed += len(data)
        events: list[Event] = []
        if self.body is not None:
            return self._feed_body(data, events)
        self._check_start(data)
        raw = self._heads.feed(data)
        while raw is not None:
            head = parse_response_head(raw)
            rest = self._heads.rest
            events.append(HeadEvent(head, self.fed - len(rest)))
            if not head.is_interim:
                self.head = head
                self._start_body(response_framing(self.method, head.status, head.headers))
                return self._feed_body(rest, events)
            self._interim(head)
            self._heads, self._start = _response_heads(), bytearray()
            self._check_start(rest)
            raw = self._heads.feed(rest) if rest else None
        return events

    def _check_start(self, data: bytes | memoryview, eof: bool = False) -> None:
        """Refuse a reply that is not HTTP at all (a greeting, a banner, a TLS alert) with its
        first line, instead of waiting for a head that will never end. Judged on the first
        MAX_STATUS_PEEK bytes only, once its first line (or that many bytes, or EOF) is in, so
        the answer never depends on how the bytes were cut into reads."""
        start = self._start
        if start is None or (eof and not start):  # nothing after an interim head: cut short
            return
        start += data[: MAX_STATUS_PEEK - len(start)]
        if not (eof or b"\n" in start or len(start) >= MAX_STATUS_PEEK):
            return
        if start.startswith(_STATUS_PREFIX):
            self._start = None
            return
        line = bytes(start.partition(b"\n")[0]) if b"\n" in start else bytes(start)
        line = line.removesuffix(b"\r") if b"\n" in start else line
        raise ProtocolError(f"the reply does not start with an HTTP status line: {_show(line)}")

    def _interim(self, head: ResponseHead) -> None:
        if head.status == 101:
            raise ProtocolError("101 Switching Protocols, but no upgrade was asked for")
        self.interim.append(head)
        if len(self.interim) > MAX_INTERIM_RESPONSES:
            message = f"more than {MAX_INTERIM_RESPONSES} interim (1xx) responses"
            raise LimitExceeded(f"{message} (MAX_INTERIM_RESPONSES)")

    def eof(self) -> list[Event]:
        """The server closed the connection."""
        if self.body is None:
            if self.fed == 0:
                raise EmptyReply("empty reply: closed before any byte")
            self._check_start(b"", eof=True)
            raise ProtocolError(
                f"connection closed in the middle of the response head ({self.fed} bytes received)"
            )
        self.body.eof()
        return self._finished()


class RequestReader(_MessageReader):
    """One request, as a server reads it: empty lines skipped, the request line watched as it
    arrives (414 at MAX_REQUEST_LINE, before the head fills MAX_HEAD_SIZE for 431), the head
    checked (505 for HTTP/2+), the body framed, and
    `max_body` bytes of body at most (413). Every ProtocolError it raises carries the status
    to answer with.
    """

    def __init__(self, max_body: int | None = None):
        super().__init__()
        self.max_body = max_body
        self.head: RequestHead | None = None
        self._heads: HeadReader | None = None  # made when a head takes more than one read
        self._line = bytearray()  # the request line's start, watched until its LF

    @property
    def started(self) -> bool:
        """Bytes of a request have arrived (empty lines before one do not count)."""
        return self.body is not None or (self._heads is not None and self._heads.received > 0)

    @property
    def expects_continue(self) -> bool:
        """The client waits for `100 Continue` before sending the body (RFC 9110 10.1.1)."""
        head = self.head
        return (
            head is not None
            and not self.done
            and self.received == 0
            and head.http_version == "HTTP/1.1"
            and (head.headers.get("Expect") or "").lower() == "100-continue"
        )

    def feed(self, data: bytes | memoryview) -> list[Event]:
        """Feed what one recv returned; the events it completes."""
        self.fed += len(data)
        events: list[Event] = []
        if self.body is not None:
            return self._checked(self._feed_body(data, events))
        whole = _whole_head(data) if not self._line and type(data) is bytes else None
        if whole is not None:
            raw, rest, lines = whole
            head = _request_head(raw, lines)
        else:  # the long way: the head in pieces, or something unusual or wrong in it
            self._watch_request_line(data)
            if self._heads is None:
                self._heads = HeadReader(skip_leading_newlines=True)
            raw = self._heads.feed(data)
            if raw is None:
                return events
            rest, head = self._heads.rest, parse_request_head(raw)
        events.append(HeadEvent(head, self.fed - len(rest)))
        self.head = head
        self._check_head(head)
        return self._checked(self._feed_body(rest, events))

    def _watch_request_line(self, data: bytes | memoryview) -> None:
        line = self._line
        if line.endswith(b"\n"):
            return
        room = MAX_REQUEST_LINE + 2 - len(line)
        # (empty lines before a request are skipped: RFC 9112 section 2.2)
        piece = bytes(data[:room]) if line else bytes(data).lstrip(b"\r\n")[:room]
        newline = piece.find(b"\n")
        if newline == -1:  # not finished yet: its CR may already be in
            line += piece
            whole, too_long = None, len(line) > MAX_REQUEST_LINE + 1
        else:
            line += piece[: newline + 1]
            whole = bytes(line[:-1]).removesuffix(b"\r")
            too_long = len(whole) > MAX_REQUEST_LINE
        if too_long:
            message = f"request line longer than {MAX_REQUEST_LINE} bytes (MAX_REQUEST_LINE)"
            raise LimitExceeded(message, status=414)
        if whole is not None:  # judged now, not when a head that may never end has arrived
            _check_request_line(whole)

    def _check_head(self, head: RequestHead) -> None:
        if not head.http_version.startswith("HTTP/1."):
            raise ProtocolError(f"{head.http_version} is not supported", status=505)
        framing = request_framing(head.headers)
        if self.max_body is not None and (framing.length or 0) > self.max_body:
            raise LimitExceeded(f"request body over {self.max_body} bytes", status=413)
        self._start_body(framing)

    def _checked(self, events: list[Event]) -> list[Event]:
        if self.max_body is not None and self.received > self.max_body:
            raise LimitExceeded(f"request body over {self.max_body} bytes", status=413)
        return events

    def eof(self) -> list[Event]:
        """The client closed: nothing if no request had begun, else the error it cut short."""
        if self.body is None:
            if self.started:
                raise ProtocolError("connection closed in the middle of the request head")
            return []
        self.body.eof()
        return self._finished()


def _whole_head(data: bytes) -> tuple[bytes, bytes, list[bytes]] | None:
    """The usual first read of a request: (its whole head, the bytes after it, the head's
    lines), when the head is within MAX_HEAD_SIZE, every line of it ends in CR LF (no bare CR
    or LF, so its first empty line is its end) and its request line is well-formed and within
    MAX_REQUEST_LINE; else None, and the reader takes the long way, which says what is wrong."""
    data = data.lstrip(b"\r\n")  # (empty lines before a request: RFC 9112 section 2.2)
    end = data.find(b"\r\n\r\n") + 4
    if end == 3 or end > MAX_HEAD_SIZE:
        return None
    raw = data[:end]
    crlf = raw.count(b"\r\n")
    if raw.count(b"\r") != crlf or raw.count(b"\n") != crlf:
        return None
    lines = raw.split(b"\r\n")
    del lines[-2:]  # (the empty strings after the last two CR LF)
    line = lines[0]
    if len(line) > MAX_REQUEST_LINE or _GOOD_REQUEST_LINE_RE.fullmatch(line) is None:
        return None
    return raw, data[end:], lines


def _check_request_line(line: bytes) -> None:
    if _REQUEST_LINE_RE.fullmatch(line) is None:
        if line.count(b" ") == 1:  # "GET /x": HTTP/0.9's one-line request, which has no head
            raise ProtocolError(f"request line without an HTTP version: {_show(line)}")
        raise ProtocolError(f"malformed request line: {_show(line)}")


def request_methods(data: bytes) -> list[str]:
    """The methods of the requests in `data`, in order: how many answers to wait for, and
    which are to HEAD (no body). Used by `rawhttp send` on hand-written, maybe broken, bytes:
    a request that does not parse still gets one answer (a 400), and ends the count."""
    methods: list[str] = []
    while data.strip(b"\r\n"):
        reader = RequestReader()
        try:
            reader.feed(data)
        except ProtocolError:
            return [*methods, "GET"]
        if reader.head is None:
            return [*methods, "GET"]
        methods.append(reader.head.method)
        data = reader.rest
    return methods
