"""The command line: click commands, thin over the API. The only module that imports click.

It maps flags to `client.Options`, wires the views in `show` and the sinks to a transfer, and
turns every `RawHTTPError` into one line on stderr and its exit code (curl's numbers).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import BinaryIO

import click

from rawhttp import __version__, events
from rawhttp.client import Options, stream
from rawhttp.errors import HTTPStatusError, InvalidRequest, OutputError, RawHTTPError
from rawhttp.show.verbose import Verbose
from rawhttp.sinks import FileSink, StdoutSink, write_stream
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
@click.argument("url")
@click.option("-o", "--output", metavar="FILE", help="Save the body to FILE (atomic); - is stdout.")
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
@click.option("-v", "--verbose", is_flag=True, help="Show the request sent and connection notes.")
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
    help="Seconds allowed for the whole transfer.",
)
@click.option("-k", "--insecure", is_flag=True, help="HTTPS: do not verify the certificate.")
@click.option(
    "--cacert",
    type=click.Path(exists=True, dir_okay=False),
    help="HTTPS: trust the CA certificates in this PEM file.",
)
@click.option("--fail", is_flag=True, help="Exit 22 on a status >= 400 (the body is still saved).")
def get_command(url: str, output: str | None, body_only: bool, head_only: bool, **flags) -> None:
    """Fetch URL with a hand-built HTTP/1.1 request and show what came back.

    The response head goes to stdout exactly as received, then the body (or to -o FILE).
    Exit codes follow curl's: 3 bad URL, 6 DNS, 7 connect, 8 bad response, 18 partial body,
    22 --fail, 23 write error, 28 timeout, 35 TLS, 47 redirects, 52 empty reply, 56 reset,
    60 untrusted certificate.
    """
    stdout = sys.stdout.buffer
    listeners = [] if body_only else [HeadPrinter(stdout)]
    if flags["verbose"]:
        listeners.append(Verbose())
    sink = FileSink(output) if output not in (None, "-") else StdoutSink(stdout)
    options = Options(
        connect_timeout=flags["connect_timeout"],
        read_timeout=flags["timeout"],
        max_time=flags["max_time"],
        insecure=flags["insecure"],
        cafile=flags["cacert"],
    )
    try:
        status, reason = _transfer(
            url, "HEAD" if head_only else "GET", sink, options, listeners, flags
        )
        if flags["fail"] and status >= 400:
            raise HTTPStatusError(f"the server answered {status} {reason}")
    except RawHTTPError as error:
        report(error)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("rawhttp: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _transfer(url, method, sink, options, listeners, flags) -> tuple[int, str]:
    """One fetch into `sink`; on any failure the sink is aborted, so no partial FILE remains."""
    try:
        with stream(
            url,
            method,
            flags["headers"],
            follow_redirects=flags["follow"],
            max_redirects=flags["max_redirs"],
            options=options,
            on_event=_fanout(listeners),
        ) as response:
            for piece in response.iter_body():
                sink.write(piece)
        sink.finish()
    except BaseException:
        sink.abort()
        raise
    return response.status, response.reason
