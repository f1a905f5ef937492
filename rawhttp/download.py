"""Saving a response body: the rules `rawhttp get -o/-C/--compressed` follows, as a library
(after HTTPie's `downloads.py`), so the CLI only maps flags onto them and a Python caller of
`download()` gets the same safety.

- Atomic files: the body goes to FILE.part, renamed to FILE only when complete; a part is made
  fresh (O_EXCL, never through a symlink) or, with -C, continued (`sinks.FileSink`). A failed
  transfer (Ctrl-C too) keeps what arrived in FILE.part, never mistaken for FILE, and says so
  (`kept_note`): `-C -` continues it, as with curl's and wget's.
- Resume (-C): the Range to ask for, and what the answer allows (`resume_plan`). 206 from our
  offset is appended, and the file renamed into place only if its size is then the total the
  Content-Range gave (a total of `*`, or not a number, leaves it FILE.part: nothing says it is
  whole); 200 starts again from byte 0; 416 says the file was complete already;
  any other status (a 404 page, a 503) is refused and leaves the partial file as it was. A
  complete-looking FILE is continued too, but moved to FILE.part only once the server has
  answered with its rest: a server that is down changes nothing.
- Decoding (--compressed): every Content-Encoding listed is undone, the last applied first; a
  response without a body has nothing to decode (`decoded`). br and zstd need the packages of
  the `rawhttp[compression]` extra: offered only when installed, and a coding that cannot be
  undone is exit 61 naming it (and the extra), as curl does, never the coded bytes saved.

What a sink does with the bytes is `sinks.py`'s; the transfer itself is `client.py`'s (imported
only by `download()`, which runs one).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

from rawhttp import events
from rawhttp.errors import DecodingError, IncompleteBody, RawHTTPError, ResumeError, ResumeRefused
from rawhttp.sinks import PACKAGE_CODINGS, Decoder, Discard, FileSink, PackageDecoder, Sink

if TYPE_CHECKING:
    from rawhttp.client import HeaderArg, Response
    from rawhttp.dial import Options

# The codings `--compressed` undoes with zlib (Accept-Encoding offers the first and the last),
# then those of PACKAGE_CODINGS when their package is installed.
DECODABLE = ("gzip", "x-gzip", "deflate")
EXTRA = "pip install 'rawhttp[compression]'"

Emit = Callable[[events.Event], None]


def package_for(coding: str):
    """The imported package that decodes `coding` (br: brotli, zstd: zstandard), or None
    when the `compression` extra is not installed."""
    import importlib

    try:
        return importlib.import_module(PACKAGE_CODINGS[coding])
    except ImportError:
        return None


def accept_encoding() -> str:
    """What --compressed offers: gzip and deflate always, br and zstd when they can be undone
    (never a coding the server might pick that rawhttp could not read)."""
    extra = [coding for coding in PACKAGE_CODINGS if package_for(coding) is not None]
    return ", ".join(["gzip", "deflate", *extra])


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
        return [("Accept-Encoding", accept_encoding())] if self.decode else []

    def start(self, response: Response) -> Sink:
        self.target = decoded(self.sink, response, self.decode, self.emit)
        return self.target

    def finish(self) -> None:
        self.target.finish()

    def abort(self) -> str | None:
        """Let the sink fail; the part file it kept, if any."""
        return self.target.abort()


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
        # A 206's Content-Range whose total is `*` or not a number: the file cannot be
        # called complete (`finish` keeps the part).
        self.unknown_total: str | None = None
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
        sink = self._start(response)
        # Decoded bytes cannot be continued with a Range of the coded ones: no part kept.
        self.file.keep_part = sink is self.file or isinstance(sink, Discard)
        return sink

    def finish(self) -> None:
        if self.unknown_total is not None:
            self.target.abort()
            raise IncompleteBody(
                f"the server's Content-Range {self.unknown_total!r} gives no total size: "
                f"nothing says {self.file.path} is whole, so it is not renamed into place"
            )
        super().finish()

    def _start(self, response: Response) -> Sink:
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
        if total is None:
            self.unknown_total = content_range
        self.target = self.file
        return self.target


def decoded(sink: Sink, response: Response, decode: bool, emit: Emit = _ignore) -> Sink:
    """`sink` behind a decoder for each Content-Encoding (the last applied is undone first),
    when `decode` asks and there is a body. A coding rawhttp cannot undo is DecodingError
    (exit 61) before any byte is saved, naming the coding and, for br and zstd, the extra."""
    codings = _codings(response) if decode else []
    if not codings or response.framing.kind == "none":
        return sink
    target: Sink = sink
    for coding in codings:
        target = _decoder(target, coding)
    emit(events.Noted(f"decoding Content-Encoding: {', then '.join(reversed(codings))}"))
    return target


def _decoder(inner: Sink, coding: str) -> Sink:
    if coding in DECODABLE:
        return Decoder(inner, coding)
    module = package_for(coding) if coding in PACKAGE_CODINGS else None
    if module is not None:
        return PackageDecoder(inner, coding, module)
    if coding in PACKAGE_CODINGS:
        needs = f"the {PACKAGE_CODINGS[coding]} package is not installed ({EXTRA})"
        raise DecodingError(f"cannot decode Content-Encoding {coding}: {needs}")
    raise DecodingError(
        f"cannot decode Content-Encoding {coding}: rawhttp knows gzip, deflate, br and zstd"
    )


def kept_note(error: BaseException, part: str | None) -> None:
    """Say in `error`'s one line where the bytes that arrived are and how to go on: the part
    file, continued by the same command with -C -."""
    if part is None:
        return
    try:
        size = os.path.getsize(part)
    except OSError:
        return
    note = f"{size} bytes received are kept in {part}: the same command with -C - resumes"
    if isinstance(error, RawHTTPError) and error.args:
        error.args = (f"{error.args[0]} ({note})", *error.args[1:])
    elif isinstance(error, KeyboardInterrupt):
        error.args = (note,)


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
    `.body`; any failure raises a RawHTTPError and leaves no `path`: what arrived stays in the
    part file (the error says where), continued by `resume=True`.
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
    except BaseException as error:
        kept_note(error, destination.abort())
        raise
    return response
