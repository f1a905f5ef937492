"""One request and its answer: what a handler reads, and the only way it writes to the socket.

`Exchange` carries the parsed request and wraps the socket for the answer. It adds the fields
every response has (Server, Date, Connection), leaves the body out for HEAD, counts the bytes
sent for the log line, and remembers whether the connection may carry another request.
`StatusPage` is how any step says "stop here and answer this status with a small HTML page":
the errors, and the 301 that adds a folder's trailing slash.
"""

from __future__ import annotations

import html
import socket
import struct
import time
from collections.abc import Iterable
from email.utils import formatdate
from http import HTTPStatus
from typing import BinaryIO

from rawhttp import __version__
from rawhttp.wire import Headers, RequestHead, build_response_head

SERVER = f"rawhttp/{__version__}"


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


def html_page(title: str, body: str) -> bytes:
    """A minimal UTF-8 HTML document; `title` is escaped here, `body` must already be HTML."""
    title = html.escape(title)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}\n</body></html>\n"
    ).encode()


def error_page(status: int, detail: str) -> bytes:
    body = f"<p>{html.escape(detail, quote=False)}</p>"
    return html_page(f"{status} {HTTPStatus(status).phrase}", body)


def wants_keep_alive(request: RequestHead) -> bool:
    """HTTP/1.1 keeps the connection open unless told `close`; HTTP/1.0 closes it unless asked
    for `keep-alive` (RFC 9112 section 9.3)."""
    tokens = {token.lower() for token in request.headers.get_list("Connection")}
    if request.http_version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


class Exchange:
    """One request on a connection and the answer being written to it."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.request: RequestHead | None = None
        self.keep_alive = False
        self.status: int | None = None
        self.sent = 0

    def begin(self, request: RequestHead) -> None:
        self.request = request
        self.keep_alive = wants_keep_alive(request)

    @property
    def head_sent(self) -> bool:
        """A final head has gone out: from here on an error can only close the connection."""
        return self.status is not None

    @property
    def wants_body(self) -> bool:
        return self.request is None or self.request.method != "HEAD"

    def make_head(self, status: int, headers: Headers, reason: str | None = None) -> bytes:
        """A response head as bytes. A final (non-1xx) head gets Server, Date and Connection
        added, and its status is recorded for the log line."""
        if status >= 200:
            self.status = status
            headers = Headers([("Server", SERVER), ("Date", formatdate(usegmt=True)), *headers])
            if not self.keep_alive:
                headers.add("Connection", "close")
            elif self.request is not None and self.request.http_version == "HTTP/1.0":
                headers.add("Connection", "keep-alive")
        return build_response_head(status, headers, reason)

    def send_head(self, status: int, headers: Headers, reason: str | None = None) -> None:
        self.send(self.make_head(status, headers, reason))

    def send(self, data: bytes) -> None:
        """Bytes exactly as given (a head, or a whole raw response for --replay)."""
        self.sock.sendall(data)
        self.sent += len(data)

    def send_body(self, data: bytes) -> None:
        """Body bytes: nothing is sent for HEAD, whose answer is the head alone."""
        if self.wants_body:
            self.send(data)

    def send_file(self, file: BinaryIO, offset: int, count: int) -> None:
        """`count` bytes of `file` from `offset`, copied by the kernel (`sendfile`)."""
        if not self.wants_body or count == 0:  # count=0 would mean "to the end" to sendfile
            return
        sent = self.sock.sendfile(file, offset, count)
        self.sent += sent
        if sent < count:  # the file shrank while being sent: the promised length is a lie now
            self.keep_alive = False

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
        """Answer with the status page, unless an answer has already begun: then only closing
        the connection is left to say that something went wrong."""
        if error.close or self.head_sent:
            self.keep_alive = False
        if not self.head_sent:
            self.send_page(error.status, error_page(error.status, error.detail), error.headers)

    def reset(self) -> None:
        """Abort the connection with a TCP RST instead of a FIN: SO_LINGER on, timeout 0."""
        self.keep_alive = False
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def log_line(self, client: tuple) -> str:
        """http.server's format: client, time, request line, status, bytes sent (head included)."""
        when = time.strftime("%d/%b/%Y %H:%M:%S")
        line = "-"
        if self.request is not None:
            line = self.request.raw.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
        return f'{client[0]} - - [{when}] "{line}" {self.status or "-"} {self.sent}'
