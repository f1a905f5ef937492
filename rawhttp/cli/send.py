"""`rawhttp send`: a hand-written request, sent as written, and every byte of the reply."""

from __future__ import annotations

import sys
from typing import TextIO

import click

from rawhttp.cli.common import run_reporting
from rawhttp.client import send_raw, tunnel_opened
from rawhttp.dial import BUFSIZE, Options
from rawhttp.errors import OutputError
from rawhttp.show.color import MODES, Palette
from rawhttp.show.trace import Trace
from rawhttp.url import parse_url


class SendCommand(click.Command):
    """`send --trace HOST:PORT`: a bare --trace (the default view) must not take HOST:PORT as
    its value; only `text` or `hex` after it is one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, bare_trace(args))


def bare_trace(args: list[str]) -> list[str]:
    """`--trace WORD` -> `--trace=text WORD` unless WORD is one of the trace's styles."""
    out = list(args)
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--trace" and args[index + 1 : index + 2] not in (["text"], ["hex"]):
            out[index] = "--trace=text"
    return out


@click.command("send", cls=SendCommand)
@click.argument("address", metavar="HOST:PORT")
@click.argument("source", type=click.File("rb"), default="-", metavar="[FILE|-]")
@click.option("--raw", is_flag=True, help="Send the bytes exactly as they are (no LF -> CRLF).")
@click.option(
    "--trace",
    "style",
    type=click.Choice(["text", "hex"]),
    is_flag=False,
    flag_value="text",
    default="text",
    show_default=True,
    help="How the bytes are shown, as in `get --trace`: text (\\r\\n written out) or "
    "--trace=hex, a hex dump. send always shows them.",
)
@click.option("--hex", "hex_dump", is_flag=True, hidden=True, help="The old name of --trace=hex.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each read.",
)
@click.option(
    "--bufsize",
    type=click.IntRange(min=1),
    default=BUFSIZE,
    show_default=True,
    help="Bytes asked of each recv (1 shows TCP as a byte stream).",
)
@click.option(
    "--color",
    type=click.Choice(MODES),
    default="auto",
    show_default=True,
    help="Colour the offsets, CR LF and the end of each head: auto on a terminal only.",
)
def send_command(address: str, source, raw: bool, style: str, hex_dump: bool, **options):
    """Send a hand-written request to HOST:PORT and show every byte of the reply.

    Reads FILE (or stdin). Bare LF line ends become CRLF and a missing final empty line is
    added, unless --raw: then the bytes go as written, to see what servers make of them.
    The reply is read until the server closes or every request in FILE was answered, or
    a proxy answers a CONNECT with 2xx: the tunnel is open, and nothing more is read.
    Every send() and recv() is shown on stdout as `get --trace` shows it; the count of
    responses on stderr. Exit codes as for `get` (7 connect, 28 timeout...).
    """
    data = source.read()
    if not raw:
        data = to_crlf(data)
    url = run_reporting(parse_url, address)
    timeout = options["timeout"]
    connection = Options(read_timeout=timeout, connect_timeout=timeout, bufsize=options["bufsize"])
    out = Stdout(sys.stdout)
    palette = Palette.for_stream(options["color"], sys.stdout)
    trace = Trace(out=out, style="hex" if hex_dump else style, palette=palette)
    responses = run_reporting(send_raw, url, data, connection, trace)
    statuses = ", ".join(f"{r.status} {r.reason}" for r in responses)
    run_reporting(out.flush)
    click.echo(f"* {len(responses)} response(s): {statuses}", err=True)
    if responses and tunnel_opened(responses[-1]):
        click.echo(
            "* The tunnel is open: what would follow is the origin's (a TLS handshake for "
            "https), not an answer of the proxy; not read further",
            err=True,
        )


class Stdout:
    """Standard output for the trace: a closed pipe (`rawhttp send ... | head -2`) or a full
    disk becomes rawhttp's error, `cannot write to standard output` and exit 23, as for get."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        return self._call(self.stream.write, text)

    def flush(self) -> None:
        self._call(self.stream.flush)

    def isatty(self) -> bool:
        return self.stream.isatty()

    @staticmethod
    def _call(method, *args):
        try:
            return method(*args)
        except OSError as exc:
            message = f"cannot write to standard output: {exc.strerror or exc}"
            raise OutputError(message) from None


def to_crlf(data: bytes) -> bytes:
    """Hand-written requests have LF line ends; HTTP wants CRLF and a final empty line."""
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if data.endswith(b"\r\n") and not data.endswith(b"\r\n\r\n"):
        data += b"\r\n"
    return data
