"""`--trace`: every `send` and `recv` call in order, with its bytes made visible.

Each call is one line (the call, byte count, offset in its direction's stream, time since the
request started), then its bytes: as text with `\\r` and `\\n` shown (`--trace`), or as a hex
dump (`--trace=hex`). Where a head ends inside a read, a marker line is drawn at that exact
offset: TCP delivers a byte stream, and reads do not line up with messages. On a terminal
(`--color`) the offsets, the written-out CR and LF, other escaped bytes and that marker stand out.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rawhttp import events
from rawhttp.show.color import OFF, Palette

HEX_WIDTH = 16


class Trace:
    """A listener. A read is printed when the next event arrives, so a head ending inside it
    (reported just after the read) can be marked at its offset."""

    def __init__(self, out: TextIO | None = None, style: str = "text", palette: Palette = OFF):
        self.out = out or sys.stderr
        self.style = style
        self.palette = palette
        self.start: float | None = None
        self.reads = 0
        self._pending: tuple[float, bytes, int] | None = None

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.HeadReceived) and self._pending is not None:
            self._flush(split=event.end)
            return
        self._flush()
        if isinstance(event, events.RequestStarted):
            self.start = event.at if self.start is None else self.start
        elif isinstance(event, events.Sent):
            self._call("send", event.at, len(event.data), event.offset)
            self._dump(bytes(event.data), event.offset)
        elif isinstance(event, events.Received):
            self.reads += 1
            self._pending = (event.at, bytes(event.data), event.offset)
        elif isinstance(event, events.Closed) and event.by == "server":
            self.reads += 1
            self._call("recv", event.at, 0, None)
            note = "(0 bytes: the server closed its side of the connection)"
            self._write("    " + self.palette.paint("note", note))

    def _flush(self, split: int | None = None) -> None:
        if self._pending is None:
            return
        at, data, offset = self._pending
        self._pending = None
        self._call("recv", at, len(data), offset)
        if split is None or not offset <= split <= offset + len(data):
            self._dump(data, offset)
            return
        cut = split - offset
        self._dump(data[:cut], offset)
        marker = f"---- end of head at offset {split}; what follows is the body ----"
        self._write("    " + self.palette.paint("split", marker))
        if data[cut:]:
            self._dump(data[cut:], split)

    def _call(self, name: str, at: float, count: int, offset: int | None) -> None:
        elapsed = (at - self.start) * 1000 if self.start is not None else 0.0
        paint = self.palette.paint
        where = f" at offset {paint('offset', str(offset))}" if offset is not None else ""
        when = paint("time", f"[{elapsed:9.3f} ms]")
        self._write(f"{when} {paint('call', name + '()')} -> {count} bytes{where}")

    def _dump(self, data: bytes, offset: int) -> None:
        if self.style == "hex":
            lines = hex_lines(data, offset, self.palette)
        else:
            lines = text_lines(data, self.palette)
        for line in lines:
            self._write("    " + line)

    def _write(self, line: str) -> None:
        print(line, file=self.out)


def text_lines(data: bytes, palette: Palette = OFF) -> list[str]:
    """Bytes as text, one line per LF: CR and LF written out, other non-text bytes as \\xNN."""
    lines, current = [], []
    eol = {0x0A: palette.paint("eol", "\\n"), 0x0D: palette.paint("eol", "\\r")}
    for byte in data:
        if byte in eol:
            current.append(eol[byte])
            if byte == 0x0A:
                lines.append("".join(current))
                current = []
        elif 0x20 <= byte < 0x7F and byte != 0x5C:
            current.append(chr(byte))
        else:
            current.append(palette.paint("escape", _escaped(byte)))
    if current:
        lines.append("".join(current))
    if palette.on:  # one colour run for each CR LF, not two
        crlf = palette.paint("eol", "\\r\\n")
        lines = [line.replace(eol[0x0D] + eol[0x0A], crlf) for line in lines]
    return lines


def _escaped(byte: int) -> str:
    return "\\\\" if byte == 0x5C else f"\\x{byte:02x}"


def hex_lines(data: bytes, offset: int = 0, palette: Palette = OFF) -> list[str]:
    """A classic hex dump: stream offset, 16 bytes in hex, the same bytes as ASCII."""
    lines = []
    for start in range(0, len(data), HEX_WIDTH):
        row = data[start : start + HEX_WIDTH]
        hexes = [f"{byte:02x}" for byte in row]
        pad = " " * (HEX_WIDTH * 3 - len(" ".join(hexes)))
        hexes = [palette.paint("eol", h) if h in ("0d", "0a") else h for h in hexes]
        text = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in row)
        where = palette.paint("offset", f"{offset + start:06x}")
        lines.append(f"{where}  {' '.join(hexes)}{pad} {text}")
    return lines
