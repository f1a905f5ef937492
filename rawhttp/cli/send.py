"""`rawhttp send`: a hand-written request, sent as written, and every byte of the reply."""

from __future__ import annotations

import sys

import click

from rawhttp.cli.common import run_reporting
from rawhttp.client import send_raw
from rawhttp.connection import BUFSIZE, Options
from rawhttp.show.trace import Trace
from rawhttp.url import parse_url


@click.command("send")
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
    url = run_reporting(parse_url, address)
    options = Options(read_timeout=timeout, connect_timeout=timeout, bufsize=bufsize)
    responses = run_reporting(send_raw, url, data, options, Trace(out=sys.stdout, style=style))
    statuses = ", ".join(f"{r.status} {r.reason}" for r in responses)
    sys.stdout.flush()
    click.echo(f"* {len(responses)} response(s): {statuses}", err=True)


def to_crlf(data: bytes) -> bytes:
    """Hand-written requests have LF line ends; HTTP wants CRLF and a final empty line."""
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if data.endswith(b"\r\n") and not data.endswith(b"\r\n\r\n"):
        data += b"\r\n"
    return data
