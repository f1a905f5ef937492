"""Saving a response body: the rules `rawhttp get -o/-C/--compressed` follows, as a library
(after HTTPie's `downloads.py`), so the CLI only maps flags onto them and a Python caller of
`download()` gets the same safety.

- Atomic files: the body goes to FILE.part, renamed to FILE only when complete; a part is made
  fresh (O_EXCL, never through a symlink) or, with -C, continued (`sinks.FileSink`).
- Resume (-C): the Range to ask for, and what the answer allows (`resume_plan`). 206 from our
  offset is appended, and the file renamed into place only if its size is then the total the
  Content-Range gave; 200 starts again from byte 0; 416 says the file was complete already;
  any other status (a 404 page, a 503) is refused and leaves the partial file as it was. A
  complete-looking FILE is continued too, but moved to FILE.part only once the server has
  answered with its rest: a server that is down changes nothing.
- Decoding (--compressed): every Content-Encoding listed is undone, the last applied first; a
  response without a body has nothing to decode (`decoded`).

What a sink does with the bytes is `sinks.py`'s; the transfer itself is `client.py`'s (imported
only by `download()`, which runs one).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

from rawhttp import events
from rawhttp.errors import ResumeError, ResumeRefused
from rawhttp.sinks import Decoder, Discard, FileSink, StdoutSink

if TYPE_CHECKING:
    from rawhttp.client import HeaderArg, Response
    from rawhttp.dial import Options

# The codings `--compressed` asks for and can undo (Accept-Encoding sends the first two).
DECODABLE = ("gzip", "x-gzip", "deflate")
ACCEPT_ENCODING = "gzip, deflate"

Emit = Callable[[events.Event], None]
Sink = FileSink | StdoutSink | Discard | Decoder


def _ignore(event: events.Event) -> None:
    return None


class Destination:
    """Where one response body goes, decided from the response's head: `start(response)` gives
    the sink for its bytes (through decoders if asked), then `finish()` or `abort()`."""

    def __init__(self, sink: Sink, decode: bool = False, emit: Emit | None = None):
        self.sink = sink
        self.decode = decode
        self.emit = emit or _ignore
        self.target: Sink = sink

    def request_headers(self) -> list[tuple[str, str]]:
        """The fields this destination needs the request to carry."""
        return [("Accept-Encoding", ACCEPT_ENCODING)] if self.decode else []

    def start(self, response: Response) -> Sink:
        self.target = decoded(self.sink, response, self.decode, self.emit)
        return self.target

    def finish(self) -> None:
        self.target.finish()

    def abort(self) -> None:
        self.target.abort()


class Download(Destination):
    """A body saved to `path`; with `resume`, continuing what an earlier transfer left."""

    def __init__(
        self, path: str, resume: bool = False, decode: bool = False, emit: Emit | None = None
    ):
        self.file = FileSink(path, resume=resume)
        super().__init__(self.file, decode, emit)
        # -C on a complete-looking FILE (no FILE.part): continued from its size, left in place
        # until the server answers with the rest.
        self.source: str | None = None
        if resume and not self.file.direct and not self.file.offset and _is_regular(path):
            self.file.offset = os.path.getsize(path)
            self.source = path

    @property
    def offset(self) -> int:
        """Bytes already saved, asked to be skipped with Range (0: the whole body)."""
        return self.file.offset

    def request_headers(self) -> list[tuple[str, str]]:
        headers = super().request_headers()
        if self.offset:
            headers.append(("Range", f"bytes={self.offset}-"))
        return headers

    def start(self, response: Response) -> Sink:
        if not self.offset:
            return super().start(response)
        length = response.framing.length if response.framing.kind == "length" else None
        content_range = response.headers.get("Content-Range")
        plan = resume_plan(self.offset, response.status, content_range, length)
        if plan == "refuse":
            kept = self.source or self.file.part
            raise ResumeRefused(
                f"the server answered {response.status} {response.reason} to the resume "
                f"request (Range: bytes={self.offset}-): {kept} is left as it was, nothing "
                "saved over it"
            )
        if plan == "complete":
            self.emit(events.Noted(f"the file already has all {self.offset} bytes (416)"))
            self.target = Discard(self.file if self.source is None else None)
            return self.target
        if plan == "restart":
            self.emit(events.Noted(f"the server sent the whole body ({response.status}): from 0"))
            self.file.restart()
            return super().start(response)
        return self._append(response, content_range)

    def _append(self, response: Response, content_range: str | None) -> Sink:
        if self.decode and _codings(response):
            raise ResumeError("cannot append a compressed range to a decoded file: use no -C")
        start, end, total = parse_content_range(content_range)
        if total is not None and end is not None and end + 1 < total:
            self.emit(
                events.Noted(
                    f"the server sends bytes {start}-{end} of {total}: the file stays partial"
                )
            )
        if self.source is not None:
            self.file.adopt(self.source)
        self.file.expected = total
        self.target = self.file
        return self.target


def decoded(sink: Sink, response: Response, decode: bool, emit: Emit = _ignore) -> Sink:
    """`sink` behind a Decoder for each Content-Encoding (the last applied is undone first),
    when `decode` asks and there is a body. A coding rawhttp cannot undo leaves the body as it
    came, with a note."""
    codings = _codings(response)
    if not decode or not codings or response.framing.kind == "none":
        return sink
    unknown = [coding for coding in codings if coding not in DECODABLE]
    if unknown:
        emit(events.Noted(f"cannot decode {', '.join(unknown)}: the body is saved as it came"))
        return sink
    target: Sink = sink
    for coding in codings:
        target = Decoder(target, coding)
    emit(events.Noted(f"decoding Content-Encoding: {', then '.join(reversed(codings))}"))
    return target


def _codings(response: Response) -> list[str]:
    codings = [coding.lower() for coding in response.headers.get_list("Content-Encoding")]
    return [coding for coding in codings if coding != "identity"]


def resume_plan(
    offset: int, status: int, content_range: str | None, length: int | None = None
) -> str:
    """What a -C transfer does with the answer to `Range: bytes=offset-`.

    "append" on 206 starting at our offset (its range checked against itself, its total and
    the Content-Length); "restart" on 200 (the whole body came: never append it to the partial
    one); "complete" on 416 when the file already has every byte; "refuse" for any other status,
    whose body is an error page, not the file.
    """
    start, end, total = parse_content_range(content_range)
    if status == 206:
        if start != offset or end is None:
            raise ResumeError(f"asked for bytes from {offset}, got Content-Range {content_range!r}")
        if end < start or (total is not None and end >= total):
            raise ResumeError(f"Content-Range {content_range!r} is not a range of the file")
        if length is not None and length != end - start + 1:
            raise ResumeError(
                f"Content-Range {content_range!r} is {end - start + 1} bytes, "
                f"but Content-Length says {length}"
            )
        return "append"
    if status == 416:
        if total == offset:
            return "complete"
        raise ResumeError(f"cannot resume at byte {offset}: server says {content_range!r}")
    return "restart" if status == 200 else "refuse"


def parse_content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """RFC 9110 section 14.4: `bytes 0-99/200` -> (0, 99, 200); `bytes */200` ->
    (None, None, 200); a total of `*` (unknown) is None. Digits only, as for Content-Length."""
    unit, _, spec = (value or "").strip().partition(" ")
    if unit.lower() != "bytes":
        return None, None, None
    span, _, total = spec.strip().partition("/")
    first, _, last = span.partition("-")
    return _number(first), _number(last), _number(total)


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _is_regular(path: str) -> bool:
    """A regular file itself, not a symlink to one (-C continues only what rawhttp wrote)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def download(
    url: str,
    path: str,
    headers: HeaderArg = None,
    *,
    resume: bool = False,
    decode: bool = False,
    follow_redirects: bool = True,
    timeout: float | None = None,
    options: Options | None = None,
    on_event: Emit | None = None,
) -> Response:
    """GET `url` into `path` with `rawhttp get -o`'s rules: atomic, `resume` as -C does,
    `decode` as --compressed does. The response is returned with its body on disk, not in
    `.body`; any failure raises a RawHTTPError and leaves no `path` (the part only if resuming).
    """
    from rawhttp.client import stream

    destination = Download(path, resume=resume, decode=decode, emit=on_event)
    pairs = list(headers.items()) if hasattr(headers, "items") else list(headers or [])
    try:
        with stream(
            url,
            "GET",
            [*pairs, *destination.request_headers()],
            follow_redirects=follow_redirects,
            options=options,
            on_event=on_event,
            timeout=timeout,
        ) as response:
            response.copy_body_to(destination.start(response))
        destination.finish()
    except BaseException:
        destination.abort()
        raise
    return response
