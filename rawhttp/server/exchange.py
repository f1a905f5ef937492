"""One request and its answer: what a handler reads, and how it describes what to send.

`Answer` collects an answer as actions (`actions.py`): it adds the fields every response has
(Server, Date, Connection), leaves the body out for HEAD, counts the body bytes for the log
line, and remembers whether the connection may carry another request. An `Exchange` is an
answer built with its parsed request: the only kind a handler is given, so a handler never
asks whether there is a request. A bare `Answer` is what a connection sends when no request
could be read (bad bytes, a head too slow, the cap full). Nothing here touches a socket; a
driver sends the actions. `StatusPage` is how any step says "stop here and answer this status
with a small HTML page": the errors, and the 301 that adds a folder's trailing slash; the pages
themselves are written by `pages.py`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from email.utils import formatdate
from typing import BinaryIO

from rawhttp.server.actions import (
    Action,
    Pause,
    Reset,
    Send,
    SendFile,
    Stream,
    close_pieces,
    release,
)
from rawhttp.server.pages import SERVER, error_page, reason_phrase, takes_html
from rawhttp.wire import Headers, RequestHead, build_response_head

# A head's fields: a Headers, or (name, value) pairs.
Fields = Headers | Iterable[tuple[str, str]]
# Response heads already built, by status, reason and fields: the same file is answered with
# the same head (its Date changing once a second) again and again, and building one checks and
# joins every field. Bounded; emptied when full. Only short heads are kept, so the cache holds
# at most HEADS_KEPT x HEAD_KEPT_SIZE bytes (twice: fields and head) whatever clients send
# (a preflight's answer repeats a field of the request).
_HEADS: dict[tuple, bytes] = {}
HEADS_KEPT = 256
HEAD_KEPT_SIZE = 2048


def response_head(status: int, fields: tuple[tuple[str, str], ...], reason: str) -> bytes:
    """`wire.build_response_head` of these fields, built once while it is asked for again."""
    key = (status, reason, fields)
    head = _HEADS.get(key)
    if head is None:
        head = build_response_head(status, Headers(list(fields)), reason)
        if len(head) <= HEAD_KEPT_SIZE:
            if len(_HEADS) >= HEADS_KEPT:
                _HEADS.clear()
            _HEADS[key] = head
    return head


class _EverySecond:
    """A time string made at most once a second (nginx caches its Date string likewise):
    formatting dates is a visible share of a small answer's cost."""

    def __init__(self, make) -> None:
        self.make = make
        self.second = -1
        self.text = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self.second:
            self.second, self.text = now, self.make(now)
        return self.text


http_date = _EverySecond(lambda now: formatdate(now, usegmt=True))
log_time = _EverySecond(lambda now: time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(now)))
log_time_iso = _EverySecond(lambda now: time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)))
# The access log's formats (`serve --log-format`).
LOG_FORMATS = ("common", "combined", "json")


class _Counted:
    """A stream's pieces, counted for the log line; `close` reaches the pieces (a generator
    wrapping them would not pass it on if closed before its first piece)."""

    def __init__(self, exchange: Answer, pieces: Iterator[bytes]):
        self.exchange = exchange
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        piece = next(self.pieces)
        self.exchange.body_bytes += len(piece)
        return piece

    def close(self) -> None:
        close_pieces(self.pieces)


class StatusPage(Exception):
    """Stop handling the request: answer `status` with a small HTML page saying `detail`.

    `close` ends the connection afterwards (when the request's framing cannot be trusted);
    `headers` are added to the answer (Allow for 405, Location for 301, Content-Range for 416).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        close: bool = False,
        headers: Iterable[tuple[str, str]] = (),
    ):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.close = close
        self.headers = list(headers)


def wants_keep_alive(request: RequestHead) -> bool:
    """HTTP/1.1 keeps the connection open unless told `close`; HTTP/1.0 closes it unless asked
    for `keep-alive` (RFC 9112 section 9.3)."""
    if "Connection" not in request.headers:  # (the usual request)
        return request.http_version != "HTTP/1.0"
    tokens = {token.lower() for token in request.headers.get_list("Connection")}
    if request.http_version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


class Answer:
    """The answer being described on a connection, and its request if one was parsed."""

    def __init__(self, request: RequestHead | None = None) -> None:
        self.request = request
        self.keep_alive = wants_keep_alive(request) if request is not None else False
        self.status: int | None = None
        self.body_bytes = 0  # what the log line reports, as the Common Log Format does
        self.actions: list[Action] = []
        self.raw = b""  # the request's first bytes as received, for handlers with keeps_request
        self.raw_size = 0  # how many bytes the request had in all
        self.sink = None  # where the request body went (the handler's open_body), if anywhere
        self.extra_fields: list[tuple[str, str]] = []  # added to the final head (CORS, caching)
        self.note = ""  # a remark for the log line (serve --proxy: what a tunnel showed)

    @property
    def head_sent(self) -> bool:
        """A final head is in the answer: from here on an error can only close the connection."""
        return self.status is not None

    @property
    def wants_body(self) -> bool:
        return self.request is None or self.request.method != "HEAD"

    def make_head(self, status: int, headers: Fields, reason: str | None = None) -> bytes:
        """A response head as bytes. A final (non-1xx) head gets Server, Date and Connection
        added, and its status is recorded for the log line."""
        if status < 200:
            return response_head(status, tuple(headers), reason or reason_phrase(status))
        self.status = status
        fields = [("Server", SERVER), ("Date", http_date()), *headers, *self.extra_fields]
        if not self.keep_alive:
            fields.append(("Connection", "close"))
        elif self.request is not None and self.request.http_version == "HTTP/1.0":
            fields.append(("Connection", "keep-alive"))
        return response_head(status, tuple(fields), reason or reason_phrase(status))

    def send_head(self, status: int, headers: Fields, reason: str | None = None) -> None:
        self.send(self.make_head(status, headers, reason))

    def send(self, data: bytes) -> None:
        """Bytes exactly as given (a head, or a whole raw response for --replay)."""
        if data:
            self.actions.append(Send(data))

    def send_with_head(self, head: bytes, body: bytes) -> None:
        """A head and a small body in one piece (one send instead of two)."""
        self.send(head + body if self.wants_body else head)
        self.body_bytes += len(body) if self.wants_body else 0

    def send_body(self, data: bytes) -> None:
        """Body bytes: nothing is sent for HEAD, whose answer is the head alone."""
        if self.wants_body and data:
            self.body_bytes += len(data)
            self.send(data)

    def send_file(self, file: BinaryIO | int, offset: int, count: int) -> None:
        """`count` bytes of `file` (or a descriptor) from `offset`, later copied by the kernel
        (`sendfile`); the action holds its own duplicate of the descriptor."""
        if not self.wants_body or count == 0:
            return
        fd = file if isinstance(file, int) else file.fileno()
        self.body_bytes += count
        self.actions.append(SendFile(os.dup(fd), offset, count))

    def stream(self, pieces: Iterator[bytes]) -> None:
        """Body bytes made while they are sent (each piece already framed by the caller)."""
        if self.wants_body:
            self.actions.append(Stream(_Counted(self, pieces)))
        else:
            close_pieces(pieces)

    def pause(self, seconds: float) -> None:
        self.actions.append(Pause(seconds))

    def send_page(self, status: int, page: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
        fields = Headers(
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(page))),
                *headers,
            ]
        )
        self.send_head(status, fields)
        self.send_body(page)

    def fail(self, error: StatusPage) -> None:
        """Answer with the status page instead of whatever was described so far (none of it
        has been sent: a handler's answer goes out only once it has returned)."""
        self.discard()
        if error.close:
            self.keep_alive = False
        styled = takes_html(self.request.headers if self.request else None)
        page = error_page(error.status, error.detail, styled=styled)
        self.send_page(error.status, page, error.headers)

    def discard_body(self) -> None:
        """The request failed: whatever its body was being written to is thrown away."""
        if self.sink is not None:
            self.sink.discard()
            self.sink = None

    def discard(self) -> None:
        for action in self.actions:
            release(action)
        self.actions.clear()
        self.status = None
        self.body_bytes = 0

    def reset(self) -> None:
        """Abort the connection with a TCP RST instead of a FIN."""
        self.keep_alive = False
        self.actions.append(Reset())

    def log_line(self, client: tuple, style: str = "common", note: str = "") -> str:
        """The access log line: `common` (the Common Log Format: client, time, request line,
        status, body bytes or "-"), `combined` (nginx's and Apache's default: common, then the
        Referer and User-Agent, quoted), or `json` (one object per line, the same facts named).
        `note` says why an answer was cut short."""
        if self.note:  # (serve --proxy)
            note = f"{self.note}; {note}" if note else self.note
        line = "-"
        if self.request is not None:
            raw = self.request.raw
            end = raw.find(b"\n")
            line = (raw[:end] if end != -1 else raw).rstrip(b"\r").decode("latin-1")
        if style == "common":  # the hot path: no more look-ups than it needs
            size = self.body_bytes or "-"
            text = f'{client[0]} - - [{log_time()}] "{_quoted(line)}" {self.status or "-"} {size}'
            return f"{text} ({note})" if note else text
        fields = self.request.headers if self.request is not None else None
        referer = (fields.get("Referer") if fields else None) or "-"
        agent = (fields.get("User-Agent") if fields else None) or "-"
        if style == "json":
            return json.dumps(
                {
                    "time": log_time_iso(),
                    "client": client[0],
                    "request": line,
                    "status": self.status,
                    "bytes": self.body_bytes,
                    "referer": None if referer == "-" else referer,
                    "user_agent": None if agent == "-" else agent,
                    **({"note": note} if note else {}),
                }
            )
        size = self.body_bytes or "-"
        text = f'{client[0]} - - [{log_time()}] "{_quoted(line)}" {self.status or "-"} {size}'
        text += f' "{_quoted(referer)}" "{_quoted(agent)}"'  # combined
        return f"{text} ({note})" if note else text


class Exchange(Answer):
    """One parsed request on a connection and the answer being described for it."""

    request: RequestHead

    def __init__(self, request: RequestHead) -> None:
        super().__init__(request)


# What a quoted log field may not hold as is: the quote, the backslash, control bytes (nginx
# writes them as \xHH too), so one line stays one line and its fields can be split.
_UNSAFE_IN_LOG_RE = re.compile(r'["\\\x00-\x1f\x7f]')


def _quoted(value: str) -> str:
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value  # (the usual case, checked in C)
    return _UNSAFE_IN_LOG_RE.sub(lambda found: f"\\x{ord(found[0]):02x}", value)
