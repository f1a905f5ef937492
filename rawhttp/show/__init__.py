"""Views of a transfer's events (see `rawhttp.events`): each turns events into text for a user.

`VIEWS` is the one table of them: the `ViewOptions` field that turns a view on, the function
that makes it (importing its module only then, so a plain GET loads none), and whether it
reads the body's bytes, which rules out the splice fast path (the kernel moving the body
straight to the file). Adding a view is one row here and one module. A view is a listener
(called with each event); it may also have `finish()` (after a transfer) and `error(error)`.
`Views` fans each event out to the views one transfer has, and guards the transfer from them:
a view that fails is dropped with a warning, the transfer goes on. A listener may name the
event classes it reads in `kinds` (and still ignores the others): when every listener does, as
the head printer and the warnings do, the other events are dropped at once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import BinaryIO, NamedTuple

from rawhttp import events
from rawhttp.errors import RawHTTPError


class ViewOptions(NamedTuple):
    """What a user asked to see of each transfer (`rawhttp get`'s view flags, typed once)."""

    progress: bool = True  # a progress bar, on a terminal, for a body saved to a file
    verbose: bool = False
    trace: str | None = None  # "text" or "hex"
    timing: str | None = None  # "text" or "json"
    explain: bool = False
    show_code: bool = False
    write_out: str | None = None
    dump_header: str | None = None
    color: str = "auto"
    silent: bool = False
    body_only: bool = False
    include: bool = False  # -i: the head on stdout even when -w and -o would leave it out
    user_headers: tuple[str, ...] = ()  # the -H names, which --explain marks as the user's
    insecure: bool = False  # for --show-code's program
    cafile: str | None = None
    cert_chain: str | None = None  # --cert-chain FILE
    keylog: str | None = None  # --keylog FILE, which -v names
    tcp_view: object = None  # --packets, --pcap, --tcp-info: one view for the whole command
    har: object = None  # --har FILE: a show.har.Har, one for the whole command
    waterfall: object = None  # --timing after several requests: a show.waterfall.Waterfall
    head_printer: object = None  # a HeadPrinter for every transfer of the command (else one each)


class View(NamedTuple):
    flag: str  # the ViewOptions field that turns it on
    make: Callable[[ViewOptions, str | None], object | None]  # (options, file) -> listener
    needs_body: bool


def _progress(options: ViewOptions, target: str | None):
    if target is None or options.silent or not sys.stderr.isatty():
        return None
    from rawhttp.show.progress import Progress

    return Progress()


def _palette(options: ViewOptions):
    """The colours for a view on stderr, as `--color` and the terminal decide (show.color)."""
    from rawhttp.show.color import Palette

    return Palette.for_stream(options.color, sys.stderr)


def _verbose(options: ViewOptions, target: str | None):
    from rawhttp.show.verbose import Verbose

    return Verbose(palette=_palette(options), keylog=options.keylog)


def _trace(options: ViewOptions, target: str | None):
    from rawhttp.show.trace import Trace

    return Trace(style=options.trace, palette=_palette(options))


def _timing(options: ViewOptions, target: str | None):
    from rawhttp.show.timing import Timing

    return Timing(style=options.timing)


def _explain(options: ViewOptions, target: str | None):
    from rawhttp.show.explain import Explain

    return Explain(user_headers=list(options.user_headers))


def _write_out(options: ViewOptions, target: str | None):
    from rawhttp.show.writeout import WriteOut

    return WriteOut(options.write_out, target)


def _dump_header(options: ViewOptions, target: str | None):
    from rawhttp.show.dumpheader import DumpHeader

    return DumpHeader(options.dump_header)


def _code(options: ViewOptions, target: str | None):
    from rawhttp.show.code import ShowCode

    return ShowCode(insecure=options.insecure, cafile=options.cafile)


def _cert_chain(options: ViewOptions, target: str | None):
    from rawhttp.show.certchain import CertChain

    return CertChain(options.cert_chain)


def _tcp_view(options: ViewOptions, target: str | None):
    # --packets, --pcap, --tcp-info: one show.packets.TcpView for the whole command, made by
    # `rawhttp get` before the first transfer (its capture must open first, or nothing is sent).
    return options.tcp_view


def _har(options: ViewOptions, target: str | None):
    # --har FILE and the --timing waterfall see every request of the command: made once by
    # `rawhttp get`, which writes or draws them when the command is over (`close()`).
    return options.har


def _waterfall(options: ViewOptions, target: str | None):
    return options.waterfall


VIEWS = (
    View("progress", _progress, needs_body=False),
    View("verbose", _verbose, needs_body=False),
    View("trace", _trace, needs_body=True),
    View("timing", _timing, needs_body=False),
    View("explain", _explain, needs_body=True),
    View("show_code", _code, needs_body=False),
    View("write_out", _write_out, needs_body=False),
    View("dump_header", _dump_header, needs_body=False),
    View("cert_chain", _cert_chain, needs_body=False),
    View("tcp_view", _tcp_view, needs_body=False),
    View("har", _har, needs_body=True),  # the bodies go into the HAR
    View("waterfall", _waterfall, needs_body=False),
)


def views_for(options: ViewOptions, target: str | None) -> tuple[list, bool]:
    """The views the options ask for, and whether any of them needs the body's bytes."""
    made, needs_body = [], False
    for view in VIEWS:
        if getattr(options, view.flag):
            listener = view.make(options, target)
            if listener is not None:
                made.append(listener)
                needs_body = needs_body or view.needs_body
    return made, needs_body


def head_to_stdout(options: ViewOptions, target: str | None) -> bool:
    """The rule for stdout: the response head goes there (the first promise: you see what came
    back), unless --body-only or --show-code asks for something else, or -w's figures and a
    body saved to a file (-o FILE, -O) make stdout a script's: `-s -o /dev/null -w
    '%{http_code}'` prints only the code, as with curl. -i brings the head back."""
    if options.body_only or options.show_code:
        return False
    return options.include or not (options.write_out and target is not None)


def print_warning(event: events.Event) -> None:
    """Warnings are printed whatever the views: `rawhttp: warning: ...` on stderr."""
    if isinstance(event, events.Warned):
        print(f"rawhttp: warning: {event.message}", file=sys.stderr, flush=True)


print_warning.kinds = (events.Warned,)  # type: ignore[attr-defined]


class HeadPrinter:
    """Writes each response head to stdout exactly as received, 1xx and redirect hops too.
    On a terminal it is painted (`--color`: escape codes added) and its control bytes are
    written out as `\\xNN` (show.color), so a server cannot drive the terminal; a pipe or a
    file gets every byte. One serves every transfer of a command (`ViewOptions.head_printer`):
    the terminal is asked once."""

    kinds = (events.HeadReceived,)

    def __init__(self, out: BinaryIO, color: str = "never"):
        from rawhttp.show.color import Palette
        from rawhttp.sinks import write_stream

        self.out = out
        self.palette = Palette.for_stream(color, out)
        self._write = write_stream

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.HeadReceived):
            self._write(self.out, self.palette.head(event.head.raw))


def guarded(view: Callable[[events.Event], None]) -> Callable[[events.Event], None]:
    """A view never fails a transfer: its first exception is one warning, then it is dropped.
    (rawhttp's own errors still pass: a view writing to a closed stdout is exit 23.)"""
    broken: list[Exception] = []

    def listen(event: events.Event) -> None:
        if broken:
            return
        try:
            view(event)
        except RawHTTPError:
            raise
        except Exception as exc:  # any bug in a view must not end the transfer
            broken.append(exc)
            name = type(view).__name__
            print(
                f"rawhttp: warning: the {name} view failed and stopped: {exc!r}",
                file=sys.stderr,
                flush=True,
            )

    return listen


class Views:
    """The views of one transfer the options ask for, all fed by the same events, besides
    the warnings and the head on stdout that every transfer has."""

    def __init__(self, target: str | None, options: ViewOptions):
        self.views, self.needs_body = views_for(options, target)
        listeners: list = [] if options.silent else [print_warning]
        if head_to_stdout(options, target):
            printer = options.head_printer or HeadPrinter(sys.stdout.buffer, options.color)
            listeners.append(printer)
        self._listeners = listeners + [guarded(view) for view in self.views]
        self.to_stdout = not options.show_code
        # The event classes some listener reads (None: all of them, as a view does): the
        # others are not handed round at all.
        wanted = [getattr(listener, "kinds", None) for listener in self._listeners]
        self.kinds = None if None in wanted else tuple(kind for kinds in wanted for kind in kinds)

    def emit(self, event: events.Event) -> None:
        if self.kinds is not None and not isinstance(event, self.kinds):
            return
        for listener in self._listeners:
            listener(event)

    def after(self) -> None:
        for view in self.views:
            getattr(view, "finish", lambda: None)()

    def error(self, error: RawHTTPError) -> None:
        for view in self.views:
            getattr(view, "error", lambda _: None)(error)
