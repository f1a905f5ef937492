"""Where a response body goes: a file (through a temporary FILE.part) or standard output,
optionally through decoders (gzip and deflate with zlib; br and zstd with the packages of the
`rawhttp[compression]` extra, brotli and zstandard).

Owns writing: opening files safely (a new part file with O_EXCL and O_NOFOLLOW, never through
a planted symlink; a FIFO or device written directly, never renamed over), and the guarantee
that a failed transfer never leaves a file that looks complete: FILE appears only whole, and
what did arrive stays in FILE.part, to be continued with -C. Sinks are handed body pieces and
told, at the end, whether they were all (`abort()` says where the bytes kept are). Whether to
resume, what a range answer means and which codings to undo are `download.py`'s decisions;
the sinks carry them out.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
from typing import BinaryIO

from rawhttp.errors import DecodingError, IncompleteBody, OutputError

# Output produced per decompress call: bounds memory whatever the compression ratio.
DECODE_STEP = 1024 * 1024
# Input given to each call of brotli's and zstandard's decoders, whose Python APIs take no
# output bound: a zstd block expands 4 bytes to at most 128 KiB, so 256 bytes make 8 MiB at
# most; brotli's commands are similar (a few bytes copy up to 16 MiB, rarely chained).
DECODE_INPUT_STEP = 256
# Codings undone with an optional package (the `compression` extra): coding -> module.
PACKAGE_CODINGS = {"br": "brotli", "zstd": "zstandard"}
# How a part file is named: FILE + PART_SUFFIX, or a shorter name beside FILE when that would
# pass the file system's name limit (NAME_MAX, 255 bytes on Linux).
PART_SUFFIX = ".part"
NAME_MAX = 255
# Folders whose entries are streams, not files: /dev/stdout, /dev/fd/63 (a process
# substitution), /proc/self/fd/1. Written directly, even when they lead to a regular file.
STREAM_FOLDERS = ("/dev", "/proc")
_STREAM_PREFIXES = tuple(top + "/" for top in STREAM_FOLDERS)
# Bytes of a body looked at for a NUL before it is shown on a terminal (curl looks too).
BINARY_SNIFF = 8192
# Flags of every file rawhttp writes: no symlink followed at the last name, no descriptor
# leaked into a child process.
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC


def part_path(path: str) -> str:
    """FILE.part; or, when FILE's name is too long for the suffix, a name cut short with a
    hash of the whole one (the same every run, so -C finds it again)."""
    folder, name = os.path.split(path)
    try:
        limit = os.pathconf(folder or ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = NAME_MAX
    if len(os.fsencode(name + PART_SUFFIX)) <= limit:
        return path + PART_SUFFIX
    import zlib  # only for a long name

    tag = f"~{zlib.crc32(os.fsencode(name)):08x}{PART_SUFFIX}"
    keep = os.fsencode(name)[: limit - len(tag)].decode(errors="ignore")
    return os.path.join(folder, keep + tag)


def is_stream_target(path: str) -> bool:
    """A target written as it is, never through a part file: one that exists and is not a
    regular file (/dev/null, a FIFO, a terminal), or a name under /dev or /proc."""
    folder = os.path.dirname(os.path.abspath(path)) + "/"
    if folder.startswith(_STREAM_PREFIXES):
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


class FileSink:
    """Writes to `FILE.part` and renames it to `FILE` only when the body is complete.

    A stream target (`is_stream_target`: /dev/null, a FIFO, /dev/stdout) is written directly:
    renaming over it would replace the device with a file, and a pipe cannot seek. With
    `resume`, an existing part is continued at its end (`offset`). A failed transfer keeps
    the part (`abort`). `expected` (set by `download.Download`) is the size the finished file
    must have.
    """

    def __init__(self, path: str, resume: bool = False):
        if "\x00" in path:  # the OS would refuse it with a ValueError, not an OSError
            raise OutputError(f"cannot save to {path!r}: a file name cannot hold a NUL byte")
        self.path = path
        self.direct = is_stream_target(path)
        self.part = path if self.direct else part_path(path)
        self.keep_part = not self.direct  # False when the bytes written are decoded ones
        self.offset = self._part_size() if resume and not self.direct else 0
        self.expected: int | None = None
        self.written = 0
        self._file: BinaryIO | None = None
        self._created = False

    def _part_size(self) -> int:
        try:
            info = os.lstat(self.part)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise _output_error(f"cannot resume {self.path}", exc) from None
        _check_regular(self.part, info)
        return info.st_size

    def adopt(self, source: str) -> None:
        """-C from a complete-looking FILE, now that the server sent the rest: FILE becomes the
        part to continue (moved only then, so a server that is down changes nothing)."""
        try:
            os.replace(source, self.part)
        except OSError as exc:
            raise _output_error(f"cannot resume {source}", exc) from None

    def restart(self) -> None:
        """The server sent the whole body after all: write it from byte zero."""
        self.offset = 0

    def _open(self) -> BinaryIO:
        if self._file is None:
            if self.direct:
                self._file = self._open_stream()
            elif self.offset:
                self._file = self._open_part()
            else:
                self._file = self._create_part()
        return self._file

    def _open_stream(self) -> BinaryIO:
        try:
            return open(self.path, "wb")  # closed by finish() or abort()
        except OSError as exc:
            raise _output_error(f"cannot open {self.path}", exc) from None

    def _open_part(self) -> BinaryIO:
        """Continue the part at its end; not with O_APPEND, which splice(2) refuses."""
        try:
            fd = os.open(self.part, os.O_RDWR | _OPEN_FLAGS)
        except OSError as exc:
            raise _output_error(f"cannot open {self.part}", exc, link=exc.errno == 40) from None
        file = os.fdopen(fd, "r+b")
        _check_regular(self.part, os.fstat(fd), file)
        file.seek(0, os.SEEK_END)
        return file

    def _create_part(self) -> BinaryIO:
        """A new part file, made by this process (O_EXCL): a leftover one is replaced, and a
        symlink planted in its place is refused, never written through."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS
        try:
            try:
                fd = os.open(self.part, flags, 0o666)
            except FileExistsError:
                _check_regular(self.part, os.lstat(self.part))
                os.unlink(self.part)
                fd = os.open(self.part, flags, 0o666)
        except OSError as exc:
            raise _output_error(f"cannot open {self.part}", exc) from None
        self._created = True
        return os.fdopen(fd, "wb")

    def write(self, data: bytes | memoryview) -> None:
        file = self._open()
        try:
            file.write(data)
        except OSError as exc:
            raise _output_error(f"cannot write {self.part}", exc) from None
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
            raise _output_error(f"cannot write {self.part}", exc) from None

    def finish(self) -> None:
        """The body is complete: close and move the file into place, if it has every byte."""
        file = self._open()
        try:
            file.flush()
            size = os.fstat(file.fileno()).st_size
            file.close()
        except OSError as exc:
            self.abort()
            raise _output_error(f"cannot save {self.path}", exc) from None
        if self.expected is not None and not self.direct and size != self.expected:
            raise IncompleteBody(
                f"{self.part} has {size} of {self.expected} bytes: the server sent less than "
                f"the rest (kept to continue with -C)",
                size,
                self.expected,
            )
        try:
            if not self.direct:
                os.replace(self.part, self.path)
        except OSError as exc:
            self.abort()
            raise _output_error(f"cannot save {self.path}", exc) from None

    def abort(self) -> str | None:
        """The transfer failed: no FILE appears. FILE.part is kept when it holds bytes and
        `keep_part` allows (not for a decoded body, which -C could not continue), to be
        continued with -C as curl and wget keep theirs; an empty one this process made is
        removed. Returns the part's name if it is kept."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        if self.direct:
            return None
        try:
            size = os.lstat(self.part).st_size if (self._created or self.offset) else 0
        except OSError:
            return None
        if size and (self.keep_part or not self._created):
            return self.part
        if self._created:
            with contextlib.suppress(OSError):
                os.unlink(self.part)
        return None


def _check_regular(path: str, info: os.stat_result, file: BinaryIO | None = None) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    if file is not None:
        file.close()
    what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
    raise OutputError(f"refusing to write {path}: it is {what}")


def _output_error(action: str, exc: OSError, link: bool = False) -> OutputError:
    """An OSError in rawhttp's words: ELOOP from O_NOFOLLOW is a symlink refused."""
    if link:
        return OutputError(f"{action}: it is a symbolic link (refused)")
    return OutputError(f"{action}: {exc.strerror or type(exc).__name__}")


class StdoutSink:
    """Writes the body to standard output, but not binary bytes onto a terminal: from the
    first piece with a NUL byte on, the rest is held back, and a note says so (curl refuses
    such output too). A pipe, or `-o -`, gets every byte."""

    def __init__(self, stream: BinaryIO | None = None, is_terminal: bool | None = None):
        self.stream = stream or sys.stdout.buffer
        self.is_terminal = self.stream.isatty() if is_terminal is None else is_terminal
        self.written = 0
        self.shown = 0
        self.suppressed = False

    def write(self, data: bytes | memoryview) -> None:
        # `in` on a memoryview compares whole items, never finding b"\x00": look at bytes.
        if self.is_terminal and not self.suppressed and b"\x00" in bytes(data):
            self.suppressed = True
        self.written += len(data)
        if not self.suppressed:
            self.shown += len(data)
            write_stream(self.stream, data, flush=False)

    def finish(self) -> None:
        write_stream(self.stream, b"")
        if self.suppressed:
            held = self.written - self.shown
            shown = f" ({held} held back after the first {self.shown})" if self.shown else ""
            print(
                f"rawhttp: note: binary body of {self.written} bytes not shown on the terminal"
                f"{shown}; save it with -o FILE, or pipe it",
                file=sys.stderr,
            )

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.flush()
        return None


class Decoder:
    """Undoes one Content-Encoding, gzip or deflate, while streaming, then writes to `inner`
    (another Decoder when several codings were applied: `download.decoded` chains them).

    zlib's decompressobj keeps only its window, and output is taken DECODE_STEP at a time, so
    memory stays flat even for a body that expands a thousandfold. A gzip body may hold several
    members one after another (RFC 1952 section 2.2): each is decoded in turn. An empty body
    has nothing to decode.
    """

    def __init__(self, inner: Sink, coding: str):
        import zlib  # only when a body is compressed

        self.zlib = zlib
        self.inner = inner
        self.coding = coding
        self.gzip = coding in ("gzip", "x-gzip")
        self.fed = 0
        self._z = self._new()
        self._first = not self.gzip  # deflate: servers send zlib-wrapped or raw; try both

    def _new(self):
        return self.zlib.decompressobj(
            16 + self.zlib.MAX_WBITS if self.gzip else self.zlib.MAX_WBITS
        )

    @property
    def written(self) -> int:
        return self.inner.written

    def write(self, data: bytes | memoryview) -> None:
        self.fed += len(data)
        while len(data):
            if self._z.eof:
                if not self.gzip:
                    raise DecodingError(f"data after the end of the {self.coding} stream")
                self._z = self._new()  # the next gzip member
            data = self._decode(data)

    def _decode(self, data: bytes | memoryview) -> bytes:
        """Decode what `data` holds of the current stream; what is left after its end."""
        try:
            out = self._z.decompress(data, DECODE_STEP)
        except self.zlib.error:
            if not self._first:
                raise DecodingError(f"corrupt {self.coding} body") from None
            self._z = self.zlib.decompressobj(-self.zlib.MAX_WBITS)  # raw deflate (RFC 1951)
            self._first = False
            return data
        self._first = False
        self.inner.write(out)
        while self._z.unconsumed_tail:
            self.inner.write(self._z.decompress(self._z.unconsumed_tail, DECODE_STEP))
        return self._z.unused_data if self._z.eof else b""

    def finish(self) -> None:
        if self.fed and not self._z.eof:
            raise DecodingError(f"{self.coding} body ended before its end marker")
        self.inner.finish()

    def abort(self) -> str | None:
        return self.inner.abort()


class PackageDecoder:
    """Undoes br (RFC 7932) or zstd (RFC 8878) with the package the `compression` extra
    installs, fed DECODE_INPUT_STEP bytes at a time so output stays bounded. `module` is the
    imported package (`download.decoded` finds it, or says which extra is missing)."""

    def __init__(self, inner: Sink, coding: str, module) -> None:
        self.inner = inner
        self.coding = coding
        self.fed = 0
        self.errors = (module.error,) if coding == "br" else (module.ZstdError,)
        self._brotli = module.Decompressor() if coding == "br" else None
        self._zstd = module.ZstdDecompressor().decompressobj() if coding == "zstd" else None

    @property
    def written(self) -> int:
        return self.inner.written

    def _ended(self) -> bool:
        if self._brotli is not None:
            return self._brotli.is_finished()
        return self._zstd.eof

    def write(self, data: bytes | memoryview) -> None:
        self.fed += len(data)
        view = memoryview(data)
        for start in range(0, len(view), DECODE_INPUT_STEP):
            if self._ended():
                raise DecodingError(f"data after the end of the {self.coding} stream")
            piece = bytes(view[start : start + DECODE_INPUT_STEP])
            try:
                if self._brotli is not None:
                    out = self._brotli.process(piece)
                else:
                    out = self._zstd.decompress(piece)
            except self.errors:
                raise DecodingError(f"corrupt {self.coding} body") from None
            if out:
                self.inner.write(out)

    def finish(self) -> None:
        if self.fed and not self._ended():
            raise DecodingError(f"{self.coding} body ended before its end marker")
        self.inner.finish()

    def abort(self) -> str | None:
        return self.inner.abort()


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

    def abort(self) -> str | None:
        return self.inner.abort() if self.inner is not None else None


# Anything a body may be written to; decoders wrap one another and end in one of the others.
Sink = FileSink | StdoutSink | Decoder | PackageDecoder | Discard


def remote_name(target: str) -> str:
    """-O: the file name from the URL path, `index.html` for a folder; never a path.

    Percent-escapes are decoded (`caf%C3%A9.txt` is `café.txt`) except those of control
    characters (C0, DEL, C1): `%1b`, `%0a`, `%0d` stay as written, as curl keeps them, so no
    escape sequence or line break lands in a file name that `ls` would print.
    """
    segment = target.split("?", 1)[0].rsplit("/", 1)[-1]
    name = "".join(_decoded(part) for part in _ESCAPE_RUN_RE.split(segment)) or "index.html"
    if "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise OutputError(f"refusing remote file name {name!r}: it is not a plain file name")
    return name


# A run of percent-escapes (decoded together: one UTF-8 character may take several); the
# escapes of C0 controls and DEL, kept as written; and the C1 controls (two bytes in UTF-8).
_ESCAPE_RUN_RE = re.compile(r"((?:%[0-9A-Fa-f]{2})+)")
_CONTROL_ESCAPE_RE = re.compile(r"(%(?:[01][0-9A-Fa-f]|7[Ff]))")
_C1_RE = re.compile(r"[\x80-\x9f]")


def _decoded(part: str) -> str:
    """A run of escapes decoded but for those of control characters, kept as written."""
    from urllib.parse import unquote

    if not part.startswith("%"):
        return part
    pieces = _CONTROL_ESCAPE_RE.split(part)  # odd indexes: the escapes of C0 controls, DEL
    return "".join(
        piece if index % 2 or _C1_RE.search(unquote(piece)) else unquote(piece)
        for index, piece in enumerate(pieces)
    )


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
