"""Where a response body goes: a file (atomically, via FILE.part) or standard output.

Owns writing and the guarantee that a failed transfer never leaves a file that looks complete.
It knows nothing of HTTP: it is handed body pieces and told, at the end, whether they were all.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from typing import BinaryIO

from rawhttp.errors import OutputError


class FileSink:
    """Writes to `FILE.part` and renames it to `FILE` only when the body is complete.

    A target that exists and is not a regular file (`/dev/null`, a FIFO, a terminal) is written
    directly: renaming over it would replace the device with a file.
    """

    def __init__(self, path: str):
        self.path = path
        self.direct = _exists_not_regular(path)
        self.part = path if self.direct else path + ".part"
        self.written = 0
        self._file: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        if self._file is None:
            try:
                self._file = open(self.part, "wb")  # noqa: SIM115 (closed in finish/abort)
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
        """The transfer failed: remove the partial file so no FILE appears."""
        if self._file is not None:
            self._file.close()
        if not self.direct:
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
