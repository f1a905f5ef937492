"""Where a response body goes: a file (atomic via FILE.part, resumable) or standard output,
optionally through a gzip/deflate decoder.

Owns writing and the guarantee that a failed transfer never leaves a file that looks complete.
Sinks are handed body pieces and told, at the end, whether they were all; the only HTTP they
know is how to continue a partial file (`resume_plan`) and which Content-Encoding to undo.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from typing import BinaryIO

from rawhttp.errors import DecodingError, OutputError, ResumeError

# Output produced per decompress call: bounds memory whatever the compression ratio.
DECODE_STEP = 1024 * 1024


class FileSink:
    """Writes to `FILE.part` and renames it to `FILE` only when the body is complete.

    A target that exists and is not a regular file (`/dev/null`, a FIFO, a terminal) is written
    directly: renaming over it would replace the device with a file.
    """

    def __init__(self, path: str, resume: bool = False):
        self.path = path
        self.direct = _exists_not_regular(path)
        self.part = path if self.direct else path + ".part"
        self.keep_part = resume and not self.direct
        self.offset = self._resume_offset() if self.keep_part else 0
        self.written = 0
        self._file: BinaryIO | None = None

    def _resume_offset(self) -> int:
        """-C: continue FILE.part, or a complete-looking FILE (moved back to FILE.part)."""
        try:
            if not os.path.exists(self.part) and os.path.isfile(self.path):
                os.replace(self.path, self.part)
            return os.path.getsize(self.part)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise OutputError(f"cannot resume {self.path}: {exc.strerror}") from None

    def restart(self) -> None:
        """The server sent the whole body after all: write it from byte zero."""
        self.offset = 0

    def _open(self) -> BinaryIO:
        if self._file is None:
            try:
                # Resuming continues at the end, but not through "ab": splice(2) refuses files
                # opened for appending (O_APPEND).
                self._file = open(self.part, "r+b" if self.offset else "wb")  # noqa: SIM115
                self._file.seek(0, os.SEEK_END)
            except OSError as exc:
                raise OutputError(f"cannot open {self.part}: {exc.strerror}") from None
        return self._file

    def write(self, data: bytes | memoryview) -> None:
        file = self._open()
        try:
            file.write(data)
        except OSError as exc:
            raise OutputError(f"cannot write {self.part}: {exc.strerror}") from None
        self.written += len(data)

    def splice_from(self, pipe: int, count: int) -> None:
        """Move exactly `count` bytes waiting in `pipe` into the file inside the kernel
        (splice(2)): the client's fast path, where the body never passes through Python."""
        file = self._open()
        try:
            file.flush()  # what `write` buffered goes first, so the bytes stay in order
            while count:
                moved = os.splice(pipe, file.fileno(), count)
                count -= moved
                self.written += moved
        except OSError as exc:
            raise OutputError(f"cannot write {self.part}: {exc.strerror}") from None

    def finish(self) -> None:
        """The body is complete: close and move the file into place."""
        file = self._open()
        try:
            file.close()
            if not self.direct:
                os.replace(self.part, self.path)
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot save {self.path}: {exc.strerror}") from None

    def abort(self) -> None:
        """The transfer failed: no FILE appears; FILE.part stays only for a later -C."""
        if self._file is not None:
            self._file.close()
        if not self.direct and not self.keep_part:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.part)


class StdoutSink:
    """Writes the body to standard output, but not binary bytes onto a terminal."""

    def __init__(self, stream: BinaryIO | None = None, is_terminal: bool | None = None):
        self.stream = stream or sys.stdout.buffer
        self.is_terminal = self.stream.isatty() if is_terminal is None else is_terminal
        self.written = 0
        self.suppressed = False

    def write(self, data: bytes | memoryview) -> None:
        if self.written == 0 and self.is_terminal and b"\x00" in data:
            self.suppressed = True
        self.written += len(data)
        if not self.suppressed:
            write_stream(self.stream, data, flush=False)

    def finish(self) -> None:
        write_stream(self.stream, b"")
        if self.suppressed:
            print(
                f"rawhttp: note: binary body of {self.written} bytes not shown on the terminal;"
                " save it with -o FILE",
                file=sys.stderr,
            )

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.flush()


class Decoder:
    """Undoes Content-Encoding gzip or deflate while streaming, then writes to `inner`.

    zlib's decompressobj keeps only its window, and output is taken DECODE_STEP at a time, so
    memory stays flat even for a body that expands a thousandfold.
    """

    def __init__(self, inner: FileSink | StdoutSink, coding: str):
        import zlib  # only when a body is compressed

        self.zlib = zlib
        self.inner = inner
        self.coding = coding
        gzip = coding in ("gzip", "x-gzip")
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self._first = not gzip  # deflate: servers send zlib-wrapped or raw; try both

    @property
    def written(self) -> int:
        return self.inner.written

    def write(self, data: bytes | memoryview) -> None:
        if self._z.eof:
            if len(data):
                raise DecodingError(f"data after the end of the {self.coding} stream")
            return
        try:
            out = self._z.decompress(data, DECODE_STEP)
        except self.zlib.error:
            if not self._first:
                raise DecodingError(f"corrupt {self.coding} body") from None
            self._z = self.zlib.decompressobj(-self.zlib.MAX_WBITS)  # raw deflate (RFC 1951)
            self._first = False
            return self.write(data)
        self._first = False
        self.inner.write(out)
        while self._z.unconsumed_tail:
            self.inner.write(self._z.decompress(self._z.unconsumed_tail, DECODE_STEP))

    def finish(self) -> None:
        if not self._z.eof:
            raise DecodingError(f"{self.coding} body ended before its end marker")
        if self._z.unused_data:
            raise DecodingError(f"data after the end of the {self.coding} stream")
        self.inner.finish()

    def abort(self) -> None:
        self.inner.abort()


class Discard:
    """A body nobody wants: --show-code's, or the 416 answer to -C on a file already complete
    (then `inner`, the file, is still finished: it is whole)."""

    def __init__(self, inner: FileSink | None = None):
        self.inner = inner
        self.written = 0

    def write(self, data: bytes | memoryview) -> None:
        return None

    def finish(self) -> None:
        if self.inner is not None:
            self.inner.finish()

    def abort(self) -> None:
        if self.inner is not None:
            self.inner.abort()


def resume_plan(offset: int, status: int, content_range: str | None) -> str:
    """What a -C transfer does with the answer to `Range: bytes=offset-`.

    "append" on 206 starting at our offset; "restart" on 200 (the whole body came: never
    append it to the partial one); "complete" on 416 when the file already has every byte.
    """
    start, total = _parse_content_range(content_range)
    if status == 206 and start == offset:
        return "append"
    if status == 206:
        raise ResumeError(f"asked for bytes from {offset}, got Content-Range {content_range!r}")
    if status == 416 and total == offset:
        return "complete"
    if status == 416:
        raise ResumeError(f"cannot resume at byte {offset}: server says {content_range!r}")
    return "restart"


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """RFC 9110 section 14.4: `bytes 0-99/200` or `bytes */200` -> (start, total)."""
    unit, _, spec = (value or "").strip().partition(" ")
    if unit.lower() != "bytes":
        return None, None
    span, _, total = spec.partition("/")
    start = span.split("-")[0]
    return (
        int(start) if start.isdigit() else None,
        int(total) if total.isdigit() else None,
    )


def remote_name(target: str) -> str:
    """-O: the file name from the URL path, `index.html` for a folder; never a path."""
    from urllib.parse import unquote

    name = unquote(target.split("?", 1)[0].rsplit("/", 1)[-1]) or "index.html"
    if "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise OutputError(f"refusing remote file name {name!r}: it is not a plain file name")
    return name


def unclobbered(path: str, limit: int = 100) -> str:
    """--no-clobber: `path` if free, else `path.1`, `path.2`, ... as curl does."""
    if not os.path.lexists(path):
        return path
    for number in range(1, limit + 1):
        candidate = f"{path}.{number}"
        if not os.path.lexists(candidate):
            return candidate
    raise OutputError(f"{path} and {path}.1 to {path}.{limit} all exist (--no-clobber)")


def write_stream(stream: BinaryIO, data: bytes | memoryview, flush: bool = True) -> None:
    """Write to a stream such as stdout, turning a full disk or closed pipe into exit 23."""
    try:
        stream.write(data)
        if flush:
            stream.flush()
    except OSError as exc:
        raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None


def _exists_not_regular(path: str) -> bool:
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False
