"""`rawhttp get`: fetch URLs with the raw-socket client; flags map to `client.Options`, the
views in `show` and the sinks.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import sys
from typing import BinaryIO

import click

from rawhttp import events
from rawhttp.cli.common import EXIT_INTERRUPTED, report, run_reporting
from rawhttp.cli.curl import GetCommand, curl_headers, with_retries
from rawhttp.client import Session
from rawhttp.dial import BUFSIZE, Options
from rawhttp.download import Destination, Download
from rawhttp.errors import HTTPStatusError, InvalidRequest, OutputError, RawHTTPError
from rawhttp.show.color import MODES as COLOR_MODES
from rawhttp.show.color import Palette
from rawhttp.sinks import Discard, StdoutSink, remote_name, unclobbered, write_stream
from rawhttp.url import URL, parse_url
from rawhttp.wire import MAX_REDIRECTS, check_header


def _header_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """-H 'Name: value' sets, -H 'Name:' removes a default header, -H 'Name;' sends it empty."""
    pairs: list[tuple[str, str | None]] = []
    for spec in values:
        name, sep, value = spec.partition(":")
        if not sep and spec.endswith(";"):
            name, value = spec[:-1], ""
        elif not sep:
            raise click.BadParameter(f"{spec!r} is not 'Name: value'", ctx, param)
        value = value.strip(" \t")
        try:
            check_header(name, value)
        except InvalidRequest as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
        pairs.append((name, value if (value or spec.endswith(";")) else None))
    return pairs


def _resolve_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """--resolve HOST:PORT:ADDR, as curl: ADDR may be an IPv6 literal, with or without []."""
    pinned: dict[tuple[str, int], str] = {}
    for spec in values:
        host, _, rest = spec.partition(":")
        port, _, address = rest.partition(":")
        if not (host and port.isdigit() and address):
            raise click.BadParameter(f"{spec!r} is not HOST:PORT:ADDR", ctx, param)
        pinned[(host.lower(), int(port))] = address.strip("[]")
    return pinned


def print_warning(event: events.Event) -> None:
    """Warnings are printed whatever the flags: `rawhttp: warning: ...` on stderr."""
    if isinstance(event, events.Warned):
        click.echo(f"rawhttp: warning: {event.message}", err=True)


class HeadPrinter:
    """Writes each response head to stdout exactly as received, 1xx and redirect hops too;
    on a terminal (`--color`) painted, which adds escape codes and changes no byte."""

    def __init__(self, out: BinaryIO, color: str = "never"):
        self.out = out
        self.palette = Palette.for_stream(color, out)

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.HeadReceived):
            write_stream(self.out, self.palette.head(event.head.raw))


def _fanout(listeners: list) -> events.Event:
    def emit(event: events.Event) -> None:
        for listener in listeners:
            listener(event)

    return emit


def _guarded(view):
    """A view never fails a transfer: its first exception is one warning, then it is dropped.
    (rawhttp's own errors still pass: a view writing to a closed stdout is exit 23.)"""
    broken = []

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
            click.echo(f"rawhttp: warning: the {name} view failed and stopped: {exc!r}", err=True)

    return listen


@click.command("get", cls=GetCommand)
@click.argument("urls", nargs=-1, required=True, metavar="URL [URL ...]")
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    metavar="FILE",
    help="Save the body to FILE (atomic); - is stdout. Repeat for several URLs.",
)
@click.option("-O", "--remote-name", is_flag=True, help="Name the file after the URL path.")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Folder for -o/-O files, created (with its parents) when missing.",
)
@click.option("--no-clobber", is_flag=True, help="Keep existing files: save as FILE.1, FILE.2...")
@click.option(
    "-C",
    "--continue",
    "resume",
    is_flag=True,
    help="Resume FILE.part (or FILE) with Range; curl's -C - means the same.",
)
@click.option("--body-only", is_flag=True, help="Print only the body, for pipes.")
@click.option(
    "-i", "--include", is_flag=True, help="Accepted for curl's sake: the head is always shown."
)
@click.option("-s", "--silent", is_flag=True, help="No progress bar, warnings or error lines.")
@click.option("-S", "--show-error", is_flag=True, help="With -s: still print the error line.")
@click.option(
    "-I", "--head", "head_only", is_flag=True, help="Send HEAD: only the head comes back."
)
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    callback=_header_option,
    help="Add or replace a header; 'NAME:' removes a default one, 'NAME;' sends it empty.",
)
@click.option("-X", "--request", metavar="METHOD", help="Send METHOD instead of GET/POST/PUT.")
@click.option(
    "-d",
    "--data",
    multiple=True,
    metavar="DATA",
    help="POST DATA form-urlencoded (@FILE, @- for stdin; several are joined with &).",
)
@click.option(
    "--data-binary", multiple=True, metavar="DATA", help="As -d, but @FILE is sent byte for byte."
)
@click.option(
    "--data-urlencode",
    multiple=True,
    metavar="DATA",
    help="As -d, percent-encoding the content (TEXT, NAME=TEXT, @FILE, NAME@FILE).",
)
@click.option("--json", multiple=True, metavar="DATA", help="POST DATA as application/json.")
@click.option(
    "-F",
    "--form",
    multiple=True,
    metavar="NAME=VALUE",
    help="POST a multipart form field; NAME=@FILE uploads a file (;type=, ;filename=).",
)
@click.option(
    "-T",
    "--upload-file",
    metavar="FILE",
    help="PUT FILE as the body, streamed (- reads stdin, sent chunked).",
)
@click.option("-G", "--get", is_flag=True, help="Put the -d data in the URL's query and GET.")
@click.option("--compressed", is_flag=True, help="Ask for gzip/deflate and decode the body.")
@click.option("-v", "--verbose", is_flag=True, help="Show the request sent and connection notes.")
@click.option("--progress/--no-progress", default=True, help="Progress bar (terminal, -o only).")
@click.option(
    "--timing",
    type=click.Choice(["text", "json"]),
    is_flag=False,
    flag_value="text",
    help="After each transfer, where the time went (--timing=json for JSON).",
)
@click.option(
    "--trace",
    type=click.Choice(["text", "hex"]),
    is_flag=False,
    flag_value="text",
    help="Every send/recv call with its bytes on stderr (--trace=hex for a hex dump).",
)
@click.option("--explain", is_flag=True, help="Walk through the transfer in socket-API words.")
@click.option(
    "--color",
    type=click.Choice(COLOR_MODES),
    default="auto",
    show_default=True,
    help="Colour the head, -v and --trace: auto on a terminal only (and not with NO_COLOR set).",
)
@click.option(
    "--packets", is_flag=True, help="The TCP segments beside the socket calls (root/CAP_NET_RAW)."
)
@click.option("--pcap", metavar="FILE", help="Save the captured segments as a pcap file.")
@click.option(
    "--tcp-info", is_flag=True, help="The kernel's TCP_INFO (RTT, cwnd, retransmits) at each call."
)
@click.option(
    "--show-code", is_flag=True, help="Print a Python program (socket only) making this request."
)
@click.option("-L", "--location", "follow", is_flag=True, help="Follow redirects.")
@click.option(
    "--max-redirs",
    type=click.IntRange(min=0),
    default=MAX_REDIRECTS,
    show_default=True,
    help="Redirects followed before giving up (exit 47).",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds allowed for the TCP connect.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds allowed between two reads.",
)
@click.option(
    "-m",
    "--max-time",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds allowed for each whole transfer.",
)
@click.option(
    "--bufsize",
    type=click.IntRange(min=1),
    default=BUFSIZE,
    show_default=True,
    help="Bytes asked of each recv (1 shows TCP as a byte stream).",
)
@click.option("-4", "--ipv4", "family", flag_value="4", help="Use IPv4 addresses only.")
@click.option("-6", "--ipv6", "family", flag_value="6", help="Use IPv6 addresses only.")
@click.option(
    "--resolve",
    multiple=True,
    metavar="HOST:PORT:ADDR",
    callback=_resolve_option,
    help="Connect to ADDR for HOST:PORT instead of asking DNS.",
)
@click.option("--http1.0", "http10", is_flag=True, help="Send an HTTP/1.0 request.")
@click.option("-k", "--insecure", is_flag=True, help="HTTPS: do not verify the certificate.")
@click.option(
    "--cacert",
    type=click.Path(exists=True, dir_okay=False),
    help="HTTPS: trust the CA certificates in this PEM file.",
)
@click.option("--fail", is_flag=True, help="Exit 22 on a status >= 400 (the body is still saved).")
@click.option("-A", "--user-agent", metavar="NAME", help="Send User-Agent: NAME.")
@click.option("-e", "--referer", metavar="URL", help="Send Referer: URL.")
@click.option(
    "-u", "--user", metavar="USER:PASSWORD", help="Send Basic credentials (Authorization)."
)
@click.option(
    "-b", "--cookie", metavar="NAME=VALUE|FILE", help="Send Cookie: NAME=VALUE, or a cookie file's."
)
@click.option("-r", "--range", "byte_range", metavar="RANGE", help="Send Range: bytes=RANGE.")
@click.option(
    "-D", "--dump-header", metavar="FILE", help="Write every head received to FILE (- stdout)."
)
@click.option(
    "-w",
    "--write-out",
    metavar="FORMAT",
    help="After each transfer print FORMAT: %{http_code}, %{size_download}, %{time_total}...",
)
@click.option(
    "--retry",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Try again up to N times on a timeout, a refused connection or 408/429/5xx "
    "(GET, HEAD and other idempotent requests only).",
)
def get_command(urls: tuple[str, ...], **flags) -> None:
    """Fetch each URL with a hand-built HTTP/1.1 request and show what came back.

    The response head goes to stdout exactly as received, then the body (or to -o FILE).
    URLs on the same host and port share one kept-alive connection.
    Exit codes follow curl's: 0 a whole response (any status), 2 usage error, 3 bad URL,
    6 DNS, 7 connect, 8 bad response, 18 partial body, 22 --fail, 23 write error, 26 cannot
    read the body to send, 28 timeout, 33 cannot resume, 35 TLS, 47 redirects, 52 empty reply,
    56 reset, 60 untrusted certificate, 61 bad compressed body, 65 body cannot be sent again
    (a redirect or retry of a piped body), 77 cannot read --cacert, 130 Ctrl-C.
    """
    from rawhttp.cli.bodies import plan, with_query

    try:
        flags["plan"] = plan(flags)
        parsed = [parse_url(url) for url in urls]
        parsed = [with_query(url, flags["plan"].query, flags["upload_file"]) for url in parsed]
        targets = _targets(parsed, flags)
    except RawHTTPError as error:
        report(error)
        sys.exit(error.exit_code)
    if flags["resume"] and None in targets:
        raise click.UsageError("-C needs a file to continue: give -o FILE or -O")
    if flags["resume"] and flags["byte_range"]:
        raise click.UsageError("-C and -r both ask for a range: give one")
    if flags["dump_header"] and flags["dump_header"] != "-":
        run_reporting(_truncate, flags["dump_header"])
    code = 0
    with _tcp_view(flags), Session(_options(flags)) as session:
        for index, (url, target) in enumerate(zip(parsed, targets, strict=True)):
            following = parsed[index + 1] if index + 1 < len(parsed) else None
            keep_alive = following is not None and following.origin == url.origin
            flags["curl_headers"] = run_reporting(curl_headers, flags, url.host, url.target)
            fetch = functools.partial(_fetch, session, url, target, keep_alive, flags)
            code = with_retries(fetch, flags, flags["plan"].idempotent) or code
    sys.exit(code)


def _tcp_view(flags: dict):
    """--packets, --pcap, --tcp-info: one view for the whole command (a kept-alive connection
    outlives its URL), made before the first transfer: a capture that cannot be opened stops
    the command (exit 2) with nothing sent. Views() hands it to each transfer."""
    if not (flags["packets"] or flags["pcap"] or flags["tcp_info"]):
        return contextlib.nullcontext()
    from rawhttp.show.packets import TcpView

    flags["tcp_view"] = run_reporting(TcpView, flags["packets"], flags["pcap"], flags["tcp_info"])
    return flags["tcp_view"]


def _truncate(path: str) -> None:
    """-D FILE: emptied once, then each URL's heads are added to it (as curl does)."""
    try:
        open(path, "wb").close()
    except OSError as error:
        raise OutputError(f"cannot write the head to {path}: {error.strerror}") from None


def _options(flags: dict) -> Options:
    families = {"4": socket.AF_INET, "6": socket.AF_INET6, None: socket.AF_UNSPEC}
    return Options(
        connect_timeout=flags["connect_timeout"],
        read_timeout=flags["timeout"],
        max_time=flags["max_time"],
        bufsize=flags["bufsize"],
        insecure=flags["insecure"],
        cafile=flags["cacert"],
        http_version="HTTP/1.0" if flags["http10"] else "HTTP/1.1",
        family=families[flags["family"]],
        resolve=flags["resolve"],
    )


def _targets(urls: list[URL], flags: dict) -> list[str | None]:
    """The file each URL's body goes to (None: stdout): -o in order, else -O, else stdout."""
    outputs = list(flags["outputs"])
    if len(outputs) > len(urls):
        click.echo(
            f"rawhttp: warning: {len(outputs)} -o for {len(urls)} URL(s): "
            f"{', '.join(outputs[len(urls) :])} not used",
            err=True,
        )
    targets: list[str | None] = []
    for index, url in enumerate(urls):
        if index < len(outputs):
            name = None if outputs[index] == "-" else outputs[index]
        else:
            name = remote_name(url.target) if flags["remote_name"] else None
        if name is not None and flags["output_dir"]:
            name = os.path.join(flags["output_dir"], name)
        if name is not None and flags["no_clobber"]:
            name = unclobbered(name)
        targets.append(name)
    return targets


class Views:
    """The views of one transfer the flags ask for (`show.VIEWS`), all fed by the same events,
    besides the warnings and the head on stdout that every transfer has."""

    def __init__(self, target: str | None, flags: dict):
        from rawhttp.show import views_for

        self.views, self.needs_body = views_for(flags, target)
        listeners: list = [] if flags["silent"] else [print_warning]
        if not (flags["body_only"] or flags["show_code"]):
            listeners.append(HeadPrinter(sys.stdout.buffer, flags["color"]))
        self.emit = _fanout(listeners + [_guarded(view) for view in self.views])
        self.to_stdout = not flags["show_code"]

    def after(self) -> None:
        for view in self.views:
            getattr(view, "finish", lambda: None)()

    def error(self, error: RawHTTPError) -> None:
        for view in self.views:
            getattr(view, "error", lambda _: None)(error)


def make_folder(path: str) -> None:
    """--output-dir: created if missing, as curl's --create-dirs does."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {path}: {error.strerror}") from None


def _fetch(session: Session, url: URL, target: str | None, keep_alive: bool, flags) -> int:
    """One URL, start to end; returns its exit code after reporting any failure."""
    views = Views(target, flags)
    session.emit = views.emit
    try:
        if target is not None and flags["output_dir"]:
            make_folder(flags["output_dir"])
        decode = flags["compressed"]
        if target is not None:
            sink = Download(target, resume=flags["resume"], decode=decode, emit=views.emit)
        else:
            out = StdoutSink(sys.stdout.buffer) if views.to_stdout else Discard()
            sink = Destination(out, decode=decode, emit=views.emit)
        status, reason = _transfer(session, url, sink, keep_alive, views.needs_body, flags)
        flags["status"] = status
        views.after()
        if flags["fail"] and status >= 400:
            raise HTTPStatusError(f"the server answered {status} {reason}")
    except RawHTTPError as error:
        views.error(error)
        if not flags["silent"] or flags["show_error"]:
            report(error)
        return error.exit_code
    except KeyboardInterrupt:
        click.echo("rawhttp: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    return 0


def _request_headers(sink: Destination, flags) -> list[tuple[str, str | None]]:
    needed = sink.request_headers()  # Accept-Encoding first, Range last, as before
    codings = [item for item in needed if item[0] == "Accept-Encoding"]
    rest = [item for item in needed if item[0] != "Accept-Encoding"]
    return [*codings, *flags["plan"].headers, *flags["curl_headers"], *flags["headers"], *rest]


def _transfer(
    session: Session, url: URL, sink: Destination, keep_alive: bool, needs_body: bool, flags
) -> tuple[int, str]:
    """One fetch into `sink` (a `download.Destination`, which decides from the head where the
    body goes); on any failure it is aborted, so no partial FILE remains."""
    try:
        with session.stream(
            url,
            flags["plan"].method,
            _request_headers(sink, flags),
            body=flags["plan"].body,
            follow_redirects=flags["follow"],
            max_redirects=flags["max_redirs"],
            keep_alive=keep_alive,
        ) as response:
            # A view that shows the body's bytes needs them to pass through Python; otherwise
            # a body saved to a file may be moved by the kernel (splice).
            response.copy_body_to(sink.start(response), splice=not needs_body)
        sink.finish()
    except BaseException:
        sink.abort()
        raise
    return response.status, response.reason
