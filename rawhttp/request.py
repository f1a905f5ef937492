"""What a client sends: a `Request` value (method, URL, headers, body) and the rule that turns a
redirect into the next request, as a pure function (`redirected`).

A body is a small object that says how long it is (None: unknown, so it is sent chunked),
whether it can be sent again (a file can be re-read, standard input cannot), and yields its
bytes in pieces, so a 1 GiB upload never sits in memory. Nothing here touches a socket.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from rawhttp.errors import InputError, RawHTTPError
from rawhttp.url import URL, resolve_location
from rawhttp.wire import Headers

# Bytes read from a file or a pipe for each send of a streamed body.
PIECE = 256 * 1024
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Credentials are for the host they were given for: not sent on after a redirect elsewhere.
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")
# The fields that describe a body, dropped with it when a redirect turns the request into a GET.
BODY_HEADERS = ("Content-Type", "Content-Length", "Transfer-Encoding", "Expect")
# RFC 9110 section 9.2.2: a request that may be repeated without a different effect.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


class CannotReplayBody(RawHTTPError):
    """A 307/308 redirect asks for the body again, but it came from a stream already read
    (curl's exit 65: "necessary data rewind wasn't possible")."""

    exit_code = 65


class BytesBody:
    """A body held in memory (-d, --json, -F): known length, sent again at will."""

    replayable = True

    def __init__(self, data: bytes, description: str = ""):
        self.data = data
        self.length: int | None = len(data)
        self.description = description or f"{len(data)} bytes"

    def pieces(self) -> Iterator[bytes]:
        if self.data:
            yield self.data


class FileBody:
    """A regular file's bytes (-T FILE): its size when the request is made is the
    Content-Length, and exactly that many bytes are sent, read piece by piece. A file that
    grows meanwhile is cut at that length (a byte more would be read by the server as the start
    of the next request); one that shrinks cannot fill its length: InputError (exit 26)."""

    replayable = True

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.length: int = os.path.getsize(self.path)
        self.description = f"{self.length} bytes from {self.path}"

    def pieces(self) -> Iterator[bytes]:
        left = self.length
        with open(self.path, "rb") as file:
            while left:
                piece = file.read(min(PIECE, left))
                if not piece:
                    sent = self.length - left
                    raise InputError(
                        f"{self.path} shrank while being sent: it ended after {sent} of the "
                        f"{self.length} bytes its Content-Length announced"
                    )
                left -= len(piece)
                yield piece


class StreamBody:
    """Bytes from a pipe (-T -): length unknown, so sent chunked; read once only."""

    replayable = False
    length = None

    def __init__(self, stream: BinaryIO, description: str = "standard input", owned: bool = False):
        self.stream = stream
        self.description = description
        self.owned = owned  # opened for this body (a FIFO named by -T): closed once read
        self._used = False

    def pieces(self) -> Iterator[bytes]:
        if self._used:
            raise CannotReplayBody(f"the body from {self.description} was already sent")
        self._used = True
        try:
            while piece := self.stream.read(PIECE):
                yield piece
        finally:
            if self.owned:
                self.stream.close()


Body = BytesBody | FileBody | StreamBody

# Folders whose "regular" files say size 0 but hold bytes, made as they are read.
GENERATED_FOLDERS = ("/proc/", "/sys/")


def file_body(path: str) -> Body:
    """-T FILE: a regular file is sent with its Content-Length (`FileBody`); anything else (a
    FIFO, a pipe from `<(...)`, /dev/zero, a /proc file) has no length known in advance and is
    sent chunked, as curl does: a Content-Length of 0 would leave its bytes on the connection
    to be read as the next request."""
    import stat

    info = os.stat(path)
    real = os.path.realpath(path)
    generated = not info.st_size and real.startswith(GENERATED_FOLDERS)
    if stat.S_ISREG(info.st_mode) and not generated:
        return FileBody(path)
    return StreamBody(open(path, "rb"), description=path, owned=True)


class Request(NamedTuple):
    """One request to send. `headers` are complete (Host, framing fields and all)."""

    method: str
    url: URL
    headers: Headers
    body: Body | None = None

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT and (self.body is None or self.body.replayable)


def body_headers(headers: Headers, body: Body | None) -> Headers:
    """`headers` with the framing fields the body needs: Content-Length, or chunked when its
    length is unknown (RFC 9112 section 6). A caller's own value is kept."""
    framed = Headers(headers.items())
    if body is None:
        return framed
    if body.length is None:
        if "Transfer-Encoding" not in framed:
            framed.set("Transfer-Encoding", "chunked")
    elif "Content-Length" not in framed and "Transfer-Encoding" not in framed:
        framed.set("Content-Length", str(body.length))
    return framed


def redirected(request: Request, status: int, location: str | None) -> Request | None:
    """The request a redirect asks for next, or None if the answer is not a redirect.

    303 turns anything but HEAD into a GET without a body; 301 and 302 do so for a POST, as
    browsers and curl do (RFC 9110 section 15.4 allows it); 307 and 308 repeat the method and
    the body, which a stream cannot do (CannotReplayBody). The Host follows the new URL, and
    credentials are dropped when it goes to another host or port.
    """
    if status not in REDIRECT_STATUSES or not location:
        return None
    target = resolve_location(request.url, location)
    headers = Headers(request.headers.items())
    headers.set("Host", target.authority)
    if (request.url.host.lower(), request.url.port) != (target.host.lower(), target.port):
        for name in CREDENTIAL_HEADERS:
            headers.remove(name)
    method, body = request.method, request.body
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
        for name in BODY_HEADERS:
            headers.remove(name)
    elif body is not None and not body.replayable:
        raise CannotReplayBody(
            f"{status} asks for the body again, but {body.description} cannot be read twice"
        )
    return Request(method, target, headers, body)
