"""`-D/--dump-header FILE`: every head received (1xx, redirect hops and a proxy's answer to
CONNECT too), exactly as it came, written to FILE (`-` for stdout), as curl's option does; and
a chunked body's trailer fields after it, as curl writes them (their lines, no empty line)."""

from __future__ import annotations

import sys

from rawhttp import events
from rawhttp.errors import OutputError


class DumpHeader:
    """A listener appending each head's bytes to the file; opened on the first head."""

    def __init__(self, path: str) -> None:
        from rawhttp.show.color import Palette, is_terminal

        self.path = path
        self.file = None
        # -D - on a terminal: control bytes written out (show.color); a file gets every byte
        self.shown = Palette(visible=path == "-" and is_terminal(sys.stdout)).head

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, (events.HeadReceived, events.TunnelAnswered)):
            self._write(event.head.raw)
        elif isinstance(event, events.BodyDone) and event.trailers:
            self._write(event.trailers)

    def _write(self, data: bytes) -> None:
        try:
            if self.file is None:
                self.file = sys.stdout.buffer if self.path == "-" else open(self.path, "ab")  # noqa: SIM115
            self.file.write(self.shown(data))
            self.file.flush()
        except OSError as error:
            raise OutputError(f"cannot write the head to {self.path}: {error.strerror}") from None

    def finish(self) -> None:
        if self.file is not None and self.file is not sys.stdout.buffer:
            self.file.close()
        self.file = None
