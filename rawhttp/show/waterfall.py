"""`--timing` after several requests: a waterfall, as browsers' network panels and httpstat
draw one. One row per request (each redirect hop too) with the connection it rode, its
status and size, and bars on one time axis for its phases: DNS, connect, TLS, waiting (the
request is sent, no answer yet) and receiving.

    rawhttp: waterfall: 4 requests on 1 connection in 10.649 ms (a column is 0.248 ms)
      conn status     bytes  url                          0 ms                    10.649 ms
         1    200     1,585  /files.html                  |ddddcwwwwwwwwwwwwwww==           |
         1    200     1,075  /style.css                   |                     ww==        |
         1    200       332  /logo.svg                    |                         ww==    |
         1    200       101  /pixel.png                   |                             ww=|
      d DNS  c connect  t TLS  w waiting  = receiving

Each phase is drawn with its own letter, so the picture reads without colour (in a file, a
pipe, a log); on a terminal the letters are also coloured (`show.color`). A phase shorter
than a column still gets one, so a phase that happened is never invisible. The figures come
from `show.exchanges`, the same records `--har` writes.
"""

from __future__ import annotations

import math
import shutil
import sys
from typing import TextIO

from rawhttp.show.color import Palette
from rawhttp.show.exchanges import Exchange, Exchanges

# Each phase's letter, colour kind (show.color.STYLES) and legend; "blocked" (checking that a
# kept connection still stands) and "send" are drawn as waiting, as browsers fold them.
PHASES = {
    "dns": ("d", "dns", "DNS"),
    "connect": ("c", "connect", "connect"),
    "tls": ("t", "tls", "TLS"),
    "blocked": ("w", "wait", "waiting"),
    "send": ("w", "wait", "waiting"),
    "wait": ("w", "wait", "waiting"),
    "receive": ("=", "receive", "receiving"),
}
# The time axis's width in columns: what the terminal leaves after the labels, within these.
MIN_AXIS, MAX_AXIS = 20, 80
# The URL column's width; a longer URL keeps its end (the file name), marked with "...".
URL_WIDTH = 28
LABELS = "  conn status     bytes  "
# Columns are whole: a time that lands within this of a column's edge is on the edge (floats).
EPSILON = 1e-6


class Waterfall:
    """A listener for the whole command; `close()` draws the rows once it is over (when
    there were at least two requests: one request has --timing's table alone)."""

    def __init__(self, palette: Palette | None = None, out: TextIO | None = None):
        self.exchanges = Exchanges()
        self.palette = palette or Palette(False)
        self.out = out

    def __call__(self, event) -> None:
        self.exchanges(event)

    def error(self, error: Exception) -> None:
        self.exchanges.error(error)

    def close(self) -> None:
        rows = self.exchanges.list
        if len(rows) >= 2:
            out = self.out or sys.stderr
            for line in draw(rows, self.exchanges.connections, self.palette, _axis_width()):
                print(line, file=out)


def _axis_width() -> int:
    columns = shutil.get_terminal_size((100, 24)).columns
    return max(MIN_AXIS, min(MAX_AXIS, columns - len(LABELS) - URL_WIDTH - 4))


def draw(rows: list[Exchange], connections: int, palette: Palette, width: int) -> list[str]:
    """The waterfall's lines: a title, the axis, one row per exchange, the legend."""
    start = min(row.start for row in rows)
    span = max(row.end for row in rows) - start or 1e-9
    scale = span / width
    plural = "s" if connections != 1 else ""
    lines = [
        f"rawhttp: waterfall: {len(rows)} requests on {connections} connection{plural} "
        f"in {_ms(span)} (a column is {_ms(scale)})"
    ]
    left, right = "0 ms", _ms(span)
    axis = left + " " * max(1, width + 2 - len(left) - len(right)) + right
    lines.append(f"{LABELS}{'url':<{URL_WIDTH}} {axis}")
    hosts = {row.url.split("://", 1)[-1].split("/", 1)[0] for row in rows}
    for row in rows:
        lines.append(_row(row, start, scale, width, palette, len(hosts) > 1))
    legend = dict.fromkeys((letter, kind, name) for letter, kind, name in PHASES.values())
    lines.append(
        "  " + "  ".join(f"{palette.paint(kind, letter)} {name}" for letter, kind, name in legend)
    )
    return lines


def _row(
    row: Exchange, start: float, scale: float, width: int, palette: Palette, hosts: bool
) -> str:
    cells: list[tuple[str, str] | None] = [None] * width
    cursor = 0  # the first column the next phase may take: each phase gets one at least
    for letter, kind, begin, end in _spans(row):
        first = max(cursor, math.floor((begin - start) / scale + EPSILON))
        last = max(first + 1, math.ceil((end - start) / scale - EPSILON))
        first, last = min(first, width - 1), min(last, width)
        for column in range(first, last):
            cells[column] = (letter, kind)
        cursor = last
    bar = "".join(palette.paint(cell[1], cell[0]) if cell else " " for cell in cells)
    connection = str(row.connection) if row.connection is not None else "-"
    status = str(row.head.status) if row.head is not None else "error"
    if row.head is not None:
        status = palette.status(row.head.status, status.rjust(6))
    else:
        status = status.rjust(6)
    size = f"{row.body_size:,}" if row.body_size is not None else "-"
    return f"  {connection:>4} {status} {size:>9}  {_short(row.url, hosts):<{URL_WIDTH}} |{bar}|"


def _spans(row: Exchange) -> list[tuple[str, str, float, float]]:
    """(letter, kind, start, end) of each bar: the row's phases, those drawn alike joined."""
    spans: list[tuple[str, str, float, float]] = []
    for name, begin, end in row.phases():
        letter, kind, _ = PHASES[name]
        if spans and spans[-1][0] == letter:
            begin = spans.pop()[2]
        spans.append((letter, kind, begin, end))
    return spans


def _short(url: str, host: bool) -> str:
    """A URL as a row shows it: the path and query (with the host first when the rows are on
    several hosts), without the scheme; the end kept if it is too long."""
    rest = url.split("://", 1)[-1]
    shown = rest if host else "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return shown if len(shown) <= URL_WIDTH else "..." + shown[-(URL_WIDTH - 3) :]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"
