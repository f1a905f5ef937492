"""Views of a transfer's events (see `rawhttp.events`): each turns events into text for a user.

`VIEWS` is the one table of them: the `rawhttp get` flag that turns a view on, the function
that makes it (importing its module only then, so a plain GET loads none), and whether it
reads the body's bytes, which rules out the splice fast path (the kernel moving the body
straight to the file). Adding a view is one row here and one module. A view is a listener
(called with each event); it may also have `finish()` (after a transfer) and `error(error)`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NamedTuple


class View(NamedTuple):
    flag: str  # the click name of the `rawhttp get` option
    make: Callable[[dict, str | None], object | None]  # (flags, output file) -> a listener
    needs_body: bool


def _progress(flags: dict, target: str | None):
    if target is None or flags.get("silent") or not sys.stderr.isatty():
        return None
    from rawhttp.show.progress import Progress

    return Progress()


def _palette(flags: dict):
    """The colours for a view on stderr, as `--color` and the terminal decide (show.color)."""
    from rawhttp.show.color import Palette

    return Palette.for_stream(flags.get("color") or "auto", sys.stderr)


def _verbose(flags: dict, target: str | None):
    from rawhttp.show.verbose import Verbose

    return Verbose(palette=_palette(flags))


def _trace(flags: dict, target: str | None):
    from rawhttp.show.trace import Trace

    return Trace(style=flags["trace"], palette=_palette(flags))


def _timing(flags: dict, target: str | None):
    from rawhttp.show.timing import Timing

    return Timing(style=flags["timing"])


def _explain(flags: dict, target: str | None):
    from rawhttp.show.explain import Explain

    return Explain(user_headers=[name for name, _ in flags["headers"]])


def _write_out(flags: dict, target: str | None):
    from rawhttp.show.writeout import WriteOut

    return WriteOut(flags["write_out"])


def _dump_header(flags: dict, target: str | None):
    from rawhttp.show.dumpheader import DumpHeader

    return DumpHeader(flags["dump_header"])


def _code(flags: dict, target: str | None):
    from rawhttp.show.code import ShowCode

    return ShowCode(insecure=flags.get("insecure", False), cafile=flags.get("cacert"))


def _tcp_view(flags: dict, target: str | None):
    # --packets, --pcap, --tcp-info: one show.packets.TcpView for the whole command, made by
    # `rawhttp get` before the first transfer (its capture must open first, or nothing is sent).
    return flags["tcp_view"]


VIEWS = (
    View("progress", _progress, needs_body=False),
    View("verbose", _verbose, needs_body=False),
    View("trace", _trace, needs_body=True),
    View("timing", _timing, needs_body=False),
    View("explain", _explain, needs_body=True),
    View("show_code", _code, needs_body=False),
    View("write_out", _write_out, needs_body=False),
    View("dump_header", _dump_header, needs_body=False),
    View("tcp_view", _tcp_view, needs_body=False),
)


def views_for(flags: dict, target: str | None) -> tuple[list, bool]:
    """The views the flags ask for, and whether any of them needs the body's bytes."""
    made, needs_body = [], False
    for view in VIEWS:
        if flags.get(view.flag):
            listener = view.make(flags, target)
            if listener is not None:
                made.append(listener)
                needs_body = needs_body or view.needs_body
    return made, needs_body
