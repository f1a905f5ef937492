"""The command line: click commands, thin over the API. The only module that imports click.

It maps flags to `client.Options`, wires the views in `show` and the sinks to a transfer, and
turns every `RawHTTPError` into one line on stderr and its exit code (curl's numbers).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from typing import BinaryIO

import click

from rawhttp import __version__, events
from rawhttp.client import BUFSIZE, Options, Session, send_raw
from rawhttp.errors import HTTPStatusError, InvalidRequest, OutputError, RawHTTPError
from rawhttp.show.code import ShowCode
from rawhttp.show.explain import Explain
from rawhttp.show.progress import Progress
from rawhttp.show.timing import Timing
from rawhttp.show.trace import Trace
from rawhttp.show.verbose import Verbose
from rawhttp.sinks import (
    Decoder,
    Discard,
    FileSink,
    StdoutSink,
    remote_name,
    resume_plan,
    unclobbered,
    write_stream,
)
from rawhttp.url import URL, parse_url
from rawhttp.wire import MAX_REDIRECTS, check_header

EXIT_INTERRUPTED = 130


def report(error: RawHTTPError) -> None:
    """The one line a failure gets: `rawhttp: error: <layer>: <what happened>`."""
    click.echo(f"rawhttp: error: {error.layer}: {error}", err=True)
    if isinstance(error, OutputError):
        # stdout may be a closed pipe: point it at /dev/null so the exit-time flush is quiet.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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


class HeadPrinter:
    """Writes each response head to stdout exactly as received, 1xx and redirect hops too."""

    def __init__(self, out: BinaryIO):
        self.out = out

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.HeadReceived):
            write_stream(self.out, event.head.raw)


def _fanout(listeners: list) -> events.Event:
    def emit(event: events.Event) -> None:
        for listener in listeners:
            listener(event)

    return emit


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rawhttp")
def main() -> None:
    """rawhttp: HTTP/1.1 over a plain TCP socket, every byte visible."""


@main.command("get")
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
@click.option("--output-dir", type=click.Path(file_okay=False), help="Folder for -o/-O files.")
@click.option("--no-clobber", is_flag=True, help="Keep existing files: save as FILE.1, FILE.2...")
@click.option("-C", "--continue", "resume", is_flag=True, help="Resume FILE.part with Range.")
@click.option("-b", "--body-only", is_flag=True, help="Print only the body, for pipes.")
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
    help="Add or replace a header; 'NAME:' removes a default one.",
)
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
def get_command(urls: tuple[str, ...], **flags) -> None:
    """Fetch each URL with a hand-built HTTP/1.1 request and show what came back.

    The response head goes to stdout exactly as received, then the body (or to -o FILE).
    URLs on the same host and port share one kept-alive connection.
    Exit codes follow curl's: 3 bad URL, 6 DNS, 7 connect, 8 bad response, 18 partial body,
    22 --fail, 23 write error, 28 timeout, 33 cannot resume, 35 TLS, 47 redirects,
    52 empty reply, 56 reset, 60 untrusted certificate, 61 bad compressed body.
    """
    try:
        parsed = [parse_url(url) for url in urls]
        targets = _targets(parsed, flags)
    except RawHTTPError as error:
        report(error)
        sys.exit(error.exit_code)
    if flags["resume"] and None in targets:
        raise click.UsageError("-C needs a file to continue: give -o FILE or -O")
    code = 0
    with Session(_options(flags)) as session:
        for index, (url, target) in enumerate(zip(parsed, targets, strict=True)):
            following = parsed[index + 1] if index + 1 < len(parsed) else None
            keep_alive = following is not None and following.origin == url.origin
            code = _fetch(session, url, target, keep_alive, flags) or code
    sys.exit(code)


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
    """The views of one transfer the flags ask for, all fed by the same events."""

    def __init__(self, target: str | None, flags: dict):
        self.timing = Timing() if flags["timing"] else None
        self.explain = (
            Explain(user_headers=[n for n, _ in flags["headers"]]) if flags["explain"] else None
        )
        self.code = ShowCode() if flags["show_code"] else None
        listeners: list = []
        if target is not None and flags["progress"] and sys.stderr.isatty():
            listeners.append(Progress())
        if not (flags["body_only"] or self.code):
            listeners.append(HeadPrinter(sys.stdout.buffer))
        if flags["verbose"]:
            listeners.append(Verbose())
        if flags["trace"]:
            listeners.append(Trace(style=flags["trace"]))
        listeners += [view for view in (self.timing, self.explain, self.code) if view]
        self.emit = _fanout(listeners)

    def after(self, flags: dict) -> None:
        if self.timing is not None:
            self.timing.render(flags["timing"])
        if self.code is not None:
            write_stream(sys.stdout.buffer, self.code.program().encode())


def _fetch(session: Session, url: URL, target: str | None, keep_alive: bool, flags) -> int:
    """One URL, start to end; returns its exit code after reporting any failure."""
    views = Views(target, flags)
    session.emit = views.emit
    try:
        if target is not None and flags["output_dir"]:
            os.makedirs(flags["output_dir"], exist_ok=True)
        if target is not None:
            sink = FileSink(target, resume=flags["resume"])
        else:
            sink = Discard() if views.code else StdoutSink(sys.stdout.buffer)
        status, reason = _transfer(session, url, sink, keep_alive, flags)
        views.after(flags)
        if flags["fail"] and status >= 400:
            raise HTTPStatusError(f"the server answered {status} {reason}")
    except RawHTTPError as error:
        if views.explain is not None:
            views.explain.error(error)
        report(error)
        return error.exit_code
    except OSError as error:
        report(OutputError(f"cannot create {flags['output_dir']}: {error.strerror}"))
        return OutputError.exit_code
    except KeyboardInterrupt:
        click.echo("rawhttp: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    return 0


def _request_headers(sink, flags) -> list[tuple[str, str | None]]:
    headers = list(flags["headers"])
    if flags["compressed"]:
        headers.insert(0, ("Accept-Encoding", "gzip, deflate"))
    if getattr(sink, "offset", 0):
        headers.append(("Range", f"bytes={sink.offset}-"))
    return headers


def _transfer(session: Session, url: URL, sink, keep_alive: bool, flags) -> tuple[int, str]:
    """One fetch into `sink`; on any failure the sink is aborted, so no partial FILE remains."""
    method = "HEAD" if flags["head_only"] else "GET"
    try:
        with session.stream(
            url,
            method,
            _request_headers(sink, flags),
            follow_redirects=flags["follow"],
            max_redirects=flags["max_redirs"],
            keep_alive=keep_alive,
        ) as response:
            target = _body_target(response, sink, flags)
            for piece in response.iter_body():
                target.write(piece)
        target.finish()
    except BaseException:
        sink.abort()
        raise
    return response.status, response.reason


def _body_target(response, sink, flags):
    """Where this response's body goes: the sink, through a decoder if asked, or nowhere."""
    if getattr(sink, "offset", 0):
        plan = resume_plan(sink.offset, response.status, response.headers.get("Content-Range"))
        if plan == "complete":
            return Discard(sink)
        if plan == "restart":
            sink.restart()
    coding = (response.headers.get("Content-Encoding") or "").strip().lower()
    if flags["compressed"] and coding in ("gzip", "x-gzip", "deflate"):
        return Decoder(sink, coding)
    return sink


@main.command("send")
@click.argument("address", metavar="HOST:PORT")
@click.argument("source", type=click.File("rb"), default="-", metavar="[FILE|-]")
@click.option("--raw", is_flag=True, help="Send the bytes exactly as they are (no LF -> CRLF).")
@click.option("--trace", "style", flag_value="text", default="text", help="Show bytes as text.")
@click.option("--hex", "style", flag_value="hex", help="Show bytes as a hex dump.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each read.",
)
@click.option("--bufsize", type=click.IntRange(min=1), default=BUFSIZE, help="Bytes per recv.")
def send_command(address: str, source, raw: bool, style: str, timeout: float, bufsize: int):
    """Send a hand-written request to HOST:PORT and show every byte of the reply.

    Reads FILE (or stdin). Bare LF line ends become CRLF and a missing final empty line is
    added, unless --raw: then the bytes go as written, to see what servers make of them.
    The reply is read until the server closes or every request in FILE was answered.
    """
    data = source.read()
    if not raw:
        data = to_crlf(data)
    try:
        url = parse_url(address)
        options = Options(read_timeout=timeout, connect_timeout=timeout, bufsize=bufsize)
        responses = send_raw(url, data, options, Trace(out=sys.stdout, style=style))
    except RawHTTPError as error:
        report(error)
        sys.exit(error.exit_code)
    statuses = ", ".join(f"{r.status} {r.reason}" for r in responses)
    sys.stdout.flush()
    click.echo(f"* {len(responses)} response(s): {statuses}", err=True)


def to_crlf(data: bytes) -> bytes:
    """Hand-written requests have LF line ends; HTTP wants CRLF and a final empty line."""
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if data.endswith(b"\r\n") and not data.endswith(b"\r\n\r\n"):
        data += b"\r\n"
    return data


# --- lesson: the classic socket exercises ---
# The TCP and UDP programs of every socket course, done properly (rawhttp/lessons). This section
# is self-contained, so its import is here rather than at the top of the file.
from rawhttp.lessons import EXERCISES, input_lines, tcp, udp  # noqa: E402


def _lesson_run(function, *args, **kwargs):
    """Call a lesson function; a RawHTTPError becomes the one error line and its exit code."""
    try:
        return function(*args, **kwargs)
    except RawHTTPError as error:
        report(error)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("rawhttp: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _one_line(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and "\n" in value:
        raise click.BadParameter("a TCP message is one line: it cannot contain a newline")
    return value


_lesson_host = click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; 0.0.0.0 lets other machines in too.",
)
_lesson_timeout = click.FloatRange(min=0, min_open=True)


@main.group("lesson")
def lesson_group() -> None:
    """The classic socket exercises: TCP and UDP servers and clients, done properly.

    Start a server in one terminal and its client in another. `rawhttp lesson list` says what
    each exercise teaches.
    """


@lesson_group.command("list")
def lesson_list_command() -> None:
    """Name each exercise and what it teaches."""
    width = max(len(name) for name, _ in EXERCISES)
    for name, teaches in EXERCISES:
        click.echo(f"{name:<{width}}  {teaches}")


@lesson_group.command("tcp-server")
@_lesson_host
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=tcp.DEFAULT_PORT,
    show_default=True,
    help="Port to listen on; 0 lets the kernel pick one (shown at start-up).",
)
@click.option(
    "--mode",
    type=click.Choice(tcp.MODES),
    default="echo",
    show_default=True,
    help="Answer each line as it came, upper-cased, or as 'Hello, <line>'.",
)
@click.option(
    "--max-clients",
    type=click.IntRange(min=1),
    default=tcp.MAX_CLIENTS,
    show_default=True,
    help="Clients served at once; one more is told to try again later.",
)
@click.option(
    "--idle-timeout",
    type=_lesson_timeout,
    default=tcp.IDLE_TIMEOUT,
    show_default=True,
    help="Seconds a client may stay silent before it is disconnected.",
)
def lesson_tcp_server(host: str, port: int, mode: str, max_clients: int, idle_timeout: float):
    """A threaded TCP server: a welcome line, then one answer per line, a thread per client.

    Each connect, message and disconnect is logged on stderr with the client's address and
    port. A client ends its session with 'exit' or by closing. Ctrl-C stops the server (exit 0).
    """
    _lesson_run(tcp.serve, host, port, mode, max_clients=max_clients, idle_timeout=idle_timeout)


@lesson_group.command("tcp-client")
@click.argument("host", default="127.0.0.1")
@click.option("--port", type=click.IntRange(1, 65535), default=tcp.DEFAULT_PORT, show_default=True)
@click.option(
    "--send",
    "message",
    metavar="TEXT",
    callback=_one_line,
    help="Send this one message, print the reply, exit.",
)
@click.option(
    "--timeout",
    type=_lesson_timeout,
    default=tcp.CLIENT_TIMEOUT,
    show_default=True,
    help="Seconds allowed for the connect and for each reply.",
)
def lesson_tcp_client(host: str, port: int, message: str | None, timeout: float) -> None:
    """Talk to a tcp-server, one line at a time.

    Prints the server's welcome, then sends each line of stdin and prints each reply; 'exit'
    or the end of input ends it. Exit 7 if nothing listens there, 28 if no reply comes.
    """
    if message is not None:
        click.echo(_lesson_run(tcp.send_once, host, port, message, timeout))
    else:
        _lesson_run(tcp.run_client, host, port, input_lines(sys.stdin), timeout=timeout)


@lesson_group.command("udp-server")
@_lesson_host
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=udp.DEFAULT_PORT,
    show_default=True,
    help="Port to bind; 0 lets the kernel pick one (shown at start-up).",
)
@click.option(
    "--mode",
    type=click.Choice(udp.MODES),
    default="upper",
    show_default=True,
    help="Answer each datagram upper-cased, or as it came.",
)
def lesson_udp_server(host: str, port: int, mode: str) -> None:
    """A UDP server: recvfrom() a datagram, sendto() the answer back to its sender.

    Every datagram is logged on stderr with the address and port it came from. Ctrl-C stops
    the server (exit 0).
    """
    _lesson_run(udp.serve, host, port, mode)


@lesson_group.command("udp-client")
@click.argument("host", default="127.0.0.1")
@click.option("--port", type=click.IntRange(1, 65535), default=udp.DEFAULT_PORT, show_default=True)
@click.option("--send", "message", metavar="TEXT", help="Send this one datagram, print the answer.")
@click.option(
    "--timeout",
    type=_lesson_timeout,
    default=udp.TIMEOUT,
    show_default=True,
    help="Seconds to wait for each answer.",
)
@click.option(
    "--connect",
    is_flag=True,
    help="connect() the UDP socket first, so the kernel reports 'nothing listens' (ICMP).",
)
def lesson_udp_client(
    host: str, port: int, message: str | None, timeout: float, connect: bool
) -> None:
    """Talk to a udp-server, one datagram per line.

    Sends each line of stdin as one datagram and prints each answer with the address it came
    from; 'exit' or the end of input ends it. No answer within --timeout: exit 28.
    """
    if message is not None:
        reply, peer = _lesson_run(udp.send_once, host, port, message, timeout, connect=connect)
        click.echo(udp.show(reply, peer))
    else:
        lines = input_lines(sys.stdin)
        _lesson_run(udp.run_client, host, port, lines, timeout=timeout, connect=connect)


# --- serve and demo (server side) ---
# The server (rawhttp/server) and the demo that runs it against `rawhttp get`. This section is
# self-contained, so its imports are here rather than at the top of the file.
import time  # noqa: E402

from rawhttp.server import SCENARIOS, Server, sample_site  # noqa: E402
from rawhttp.server.listener import IDLE_TIMEOUT, MAX_CONNECTIONS  # noqa: E402

DEMO_PAGE = "page.html"


@main.command("serve")
@click.argument("directory", default=".", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on; 0 lets the kernel pick one (shown at start-up).",
)
@click.option(
    "--scenario",
    type=click.Choice([*SCENARIOS, "list"]),
    metavar="NAME",
    help="Misbehave on purpose, for lessons; 'list' names them all.",
)
@click.option(
    "--replay",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Answer every request with FILE's bytes, verbatim, then close.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=IDLE_TIMEOUT,
    show_default=True,
    help="Seconds a silent connection is kept open.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=MAX_CONNECTIONS,
    show_default=True,
    help="Connections served at once; past it, 503.",
)
def serve_command(directory: str, scenario: str | None, replay: str | None, **options) -> None:
    """Serve DIRECTORY (default: the current one) over HTTP/1.1 on a plain socket.

    GET and HEAD of files, index.html or a listing for a folder, Range, If-Modified-Since,
    keep-alive and pipelining; one log line per request on stderr. Exit 7 if the address
    cannot be listened on; Ctrl-C stops it (exit 0).
    """
    if scenario == "list":
        width = max(len(name) for name in SCENARIOS)
        for name, item in SCENARIOS.items():
            click.echo(f"{name:<{width}}  {item.summary}")
        return
    if scenario and replay:
        raise click.UsageError("--scenario and --replay cannot be used together")
    try:
        server = Server(directory, scenario=scenario, replay=replay, **options)
    except RawHTTPError as error:
        report(error)
        sys.exit(error.exit_code)
    click.echo(f"{server.describe()} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("rawhttp: stopped", err=True)
    finally:
        server.close()


@main.command("demo")
def demo_command() -> None:
    """Serve samples/site on a free port, fetch it with `rawhttp get -v`, save page.html.

    Both ends of one HTTP exchange on one screen: the request sent and the connection notes
    (stderr), the response head (stdout) and the server's log line (stderr).
    """
    try:
        site = sample_site()
    except FileNotFoundError as exc:
        click.echo(f"rawhttp: error: file: {exc}", err=True)
        sys.exit(1)
    with Server(site) as server:
        url = f"{server.url}/index.html"
        click.echo(f"demo: started rawhttp's server on {server.url}/ for {site}")
        started = time.perf_counter()
        code = _run_get([url, "-v", "-o", DEMO_PAGE])
        elapsed = time.perf_counter() - started
    if code:
        sys.exit(code)
    size = os.path.getsize(DEMO_PAGE)
    click.echo(f"demo: fetched {size} bytes in {elapsed * 1000:.1f} ms (rawhttp get -v {url})")
    click.echo(f"demo: saved the body as {DEMO_PAGE} and stopped the server")


def _run_get(args: list[str]) -> int:
    """Run `rawhttp get ARGS` in this process, exactly as if typed; its exit code."""
    try:
        get_command.main(args, prog_name="rawhttp get", standalone_mode=False)
    except SystemExit as finished:
        return finished.code or 0
    return 0
