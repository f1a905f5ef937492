"""The progress bar: body bytes, rate and ETA on one terminal line of stderr.

Drawn from the transfer's events like every other view. It clears its line before any other
event, so that `-v` lines printed after it never share a line with the bar.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rawhttp import events
from rawhttp.show.units import duration, rate, size

REDRAW_EVERY = 0.1  # seconds: ten redraws a second are smooth and cost nothing
BAR_WIDTH = 24


class Progress:
    def __init__(self, out: TextIO | None = None, clock=time.monotonic):
        self.out = out or sys.stderr
        self.clock = clock
        self.total: int | None = None
        self.received = 0
        self.started = 0.0
        self._drawn_at: float | None = None
        self._line_open = False

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.FramingDecided):
            self.total = event.framing.length if event.framing.kind == "length" else None
            self.received, self.started, self._drawn_at = 0, self.clock(), None
        elif isinstance(event, events.BodyProgress):
            self.received = event.received
            now = self.clock()
            if self._drawn_at is None or now - self._drawn_at >= REDRAW_EVERY:
                self._draw(now)
        elif isinstance(event, events.BodyDone):
            self.received = event.received
            self._draw(self.clock())
            self.out.write("\n")
            self._line_open = False
        elif self._line_open:
            self.out.write("\r\x1b[K")
            self._line_open = False

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        speed = rate(self.received, elapsed)
        if not self.total:
            return f"{size(self.received):>10}  {speed:>12}"
        fraction = min(self.received / self.total, 1.0)
        filled = int(fraction * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        left = (self.total - self.received) / (self.received / elapsed) if self.received else 0
        eta = duration(left) if fraction < 1 else duration(elapsed)
        label = "ETA" if fraction < 1 else "in "
        return (
            f"{fraction:6.1%} [{bar}] {size(self.received):>10} / {size(self.total)}"
            f"  {speed:>12}  {label} {eta}"
        )

    def _draw(self, now: float) -> None:
        self.out.write("\r\x1b[K" + self.line(now))
        self.out.flush()
        self._drawn_at = now
        self._line_open = True
