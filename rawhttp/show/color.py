"""Colour for the views: one palette of ANSI SGR codes, and the rule for when to use it.

HTTPie's lesson: a head is read faster when the status is green or red at a glance and header
names stand apart from their values. But colour is only for a person at a terminal: escape codes
in a pipe or a file would change the bytes a script or a diff sees, so `auto` (the default)
colours a stream only when it is a terminal, `never` never, `always` always (for `less -R`).
The NO_COLOR convention (https://no-color.org: set and not empty) turns `auto` off; an explicit
`--color=always` still wins, as the convention allows.

A terminal also obeys control bytes: a header value or reason phrase holding `ESC ]0;` (set the
title), `ESC [2J` (clear the screen) or OSC 52 (write the clipboard) would act on the user's
terminal. So text for a terminal (whatever `--color` says) shows every control byte but TAB as
`\\xNN`, painted as --trace paints `\\r` and `\\n` (the "eol" kind); the CR LF that ends a line
is kept. A pipe or a file still gets the exact bytes.

This module owns the codes and the tokenising of a head; the views decide what each piece of
their text is (`Palette.paint(kind, text)`), so every view colours the same things alike. It
imports nothing beyond the standard library's `os` and `re`, so a view can load it at no cost.
"""

from __future__ import annotations

import os
import re
from typing import TextIO

MODES = ("auto", "always", "never")

# The kinds of text the views paint, and their SGR codes (ECMA-48: 1 bold, 2 dim, 3x colours).
STYLES = {
    "1xx": "1;34",  # informational: bold blue
    "2xx": "1;32",  # success: bold green
    "3xx": "1;35",  # redirection: bold magenta
    "4xx": "1;31",  # client error: bold red
    "5xx": "1;97;41",  # server error: bold white on red
    "version": "34",  # HTTP/1.1
    "method": "1;33",  # GET, POST
    "target": "1",  # /index.html
    "name": "36",  # a header field name
    "value": "33",  # its value
    "note": "2",  # -v's `* ` lines, -v's `} [N bytes data]`
    "marker": "2",  # -v's `> `
    "call": "1",  # --trace's send() / recv()
    "time": "2",  # --trace's [  1.234 ms]
    "offset": "33",  # --trace's stream offsets, the hex dump's offset column
    "eol": "36",  # --trace's \r and \n, written out
    "escape": "35",  # --trace's \xNN and \\ for other bytes
    "split": "1;35",  # --trace's `---- end of head at offset N ----`
    # The waterfall's phases, in the colours browsers' network panels use for them.
    "dns": "36",  # DNS: teal
    "connect": "33",  # TCP connect: orange
    "tls": "35",  # TLS handshake: purple
    "wait": "32",  # waiting for the first byte: green
    "receive": "34",  # receiving: blue
    "plain": "",  # text shown as it is: never painted
}
RESET = "\x1b[0m"

# C0 controls but TAB, DEL, and the C1 controls (text is decoded as Latin-1, one char a byte):
# what a terminal may act on. A run of them or a run of other text, for painting in turn.
_CONTROLS = "\x00-\x08\x0a-\x1f\x7f-\x9f"
_CONTROL_RE = re.compile(f"[{_CONTROLS}]")
_RUN_RE = re.compile(f"[{_CONTROLS}]+|[^{_CONTROLS}]+")


def is_terminal(stream: object) -> bool:
    """Whether `stream` is a terminal (a closed or odd stream is not)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


def escaped(controls: str) -> str:
    """'\\x1b[' -> '\\\\x1b[': each control character written out as \\xNN."""
    return "".join(f"\\x{ord(char):02x}" for char in controls)


def wanted(mode: str, stream: TextIO) -> bool:
    """Whether text for `stream` is coloured under `--color=mode` (auto, always, never)."""
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


class Palette:
    """Paints text by kind; a palette that is off returns the text unchanged, so a view writes
    one code path for both. A `visible` palette (text bound for a terminal) also writes out
    control bytes, so none reaches the terminal as a control sequence."""

    def __init__(self, on: bool = False, visible: bool = False):
        self.on = on
        self.visible = visible

    @classmethod
    def for_stream(cls, mode: str, stream: TextIO) -> Palette:
        return cls(wanted(mode, stream), visible=is_terminal(stream))

    def paint(self, kind: str, text: str) -> str:
        if self.visible and _CONTROL_RE.search(text):
            return "".join(self._run(kind, run) for run in _RUN_RE.findall(text))
        if not (self.on and text) or kind == "plain":
            return text
        return f"\x1b[{STYLES[kind]}m{text}{RESET}"

    def _run(self, kind: str, run: str) -> str:
        colours = Palette(self.on)
        if _CONTROL_RE.match(run):
            return colours.paint("eol", escaped(run))
        return colours.paint(kind, run)

    def shown(self, text: str) -> str:
        """Text left unpainted, control bytes written out when the palette is visible."""
        return self.paint("plain", text)

    def status(self, code: int, text: str) -> str:
        """Text painted by its status code's class: 2xx green, 4xx red..."""
        kind = f"{code // 100}xx"
        return self.paint(kind, text) if kind in STYLES else text

    def head(self, raw: bytes) -> bytes:
        """A response head, painted; only escape codes are added, every received byte kept
        (for a terminal, control bytes are written out)."""
        if not (self.on or self.visible):
            return raw
        lines = raw.decode("latin-1").splitlines(keepends=True)
        painted = [self.status_line(lines[0])] if lines else []
        painted += [self.header_line(line) for line in lines[1:]]
        return "".join(painted).encode("latin-1")

    def status_line(self, line: str) -> str:
        """`HTTP/1.1 404 Not Found\\r\\n`: the version blue, code and reason by class."""
        text, ending = _split_ending(line)
        version, sep, rest = text.partition(" ")
        code = rest[:3]
        if not (sep and code.isdigit()):
            return self.shown(text) + ending
        return self.paint("version", version) + sep + self.status(int(code), rest) + ending

    def request_line(self, line: str) -> str:
        """`GET /path HTTP/1.1`: method, target and version apart."""
        text, ending = _split_ending(line)
        parts = text.split(" ")
        if len(parts) != 3:
            return self.shown(text) + ending
        method, target, version = parts
        painted = [self.paint("method", method), self.paint("target", target)]
        return " ".join([*painted, self.paint("version", version)]) + ending

    def header_line(self, line: str) -> str:
        """`Name: value\\r\\n`: name and value painted, the colon, spaces and line end kept."""
        text, ending = _split_ending(line)
        name, colon, value = text.partition(":")
        if not colon or not name or name[0] in " \t":
            # the empty line, an obs-fold continuation, or no colon at all
            return self.shown(text) + ending
        stripped = value.lstrip(" \t")
        space = value[: len(value) - len(stripped)]
        return self.paint("name", name) + colon + space + self.paint("value", stripped) + ending


def _split_ending(line: str) -> tuple[str, str]:
    """'text\\r\\n' -> ('text', '\\r\\n'): the ending is the last LF and one CR before it (any
    other CR is a control byte of the text)."""
    text = line.removesuffix("\n")
    text = text.removesuffix("\r") if len(text) < len(line) else text
    return text, line[len(text) :]


OFF = Palette(False)
