"""`rawhttp lesson`: the classic TCP and UDP exercises of socket courses (rawhttp/lessons)."""

from __future__ import annotations

import contextlib
import sys

import click

from rawhttp.cli.common import run_reporting
from rawhttp.lessons import EXERCISES, input_lines, pageload, tcp, udp


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
_packets_option = click.option(
    "--packets",
    is_flag=True,
    help="Show each connection's TCP segments: handshake, data, close (root or CAP_NET_RAW).",
)


def _packet_watch(host: str):
    """--packets: checks now that a capture can be opened (exit 2 before anything runs), and
    returns what makes the watch of a (host, port): show.packets.PortWatch."""
    from rawhttp.show.packets import PortWatch, check_capture

    sock = run_reporting(check_capture)
    return lambda address: PortWatch(host, address[1], sock=sock)


@click.group("lesson")
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
@click.option(
    "--reuseaddr/--no-reuseaddr",
    default=True,
    show_default=True,
    help="Set SO_REUSEADDR before bind(); without it a restart fails while old connections "
    "wait in TIME_WAIT.",
)
@_packets_option
def lesson_tcp_server(
    host: str,
    port: int,
    mode: str,
    max_clients: int,
    idle_timeout: float,
    reuseaddr: bool,
    packets: bool,
):
    """A threaded TCP server: a welcome line, then one answer per line, a thread per client.

    Each connect, message and disconnect is logged on stderr with the client's address and
    port. A client ends its session with 'exit' or by closing. Ctrl-C stops the server (exit 0).
    """
    limits = {"max_clients": max_clients, "idle_timeout": idle_timeout}
    watch = _packet_watch(host) if packets else None
    run_reporting(tcp.serve, host, port, mode, reuse_address=reuseaddr, watch=watch, **limits)


@lesson_group.command("tcp-client")
@click.argument("host", default="127.0.0.1")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=tcp.DEFAULT_PORT,
    show_default=True,
    help="Port to connect to: the one the tcp-server listens on (its --port).",
)
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
@_packets_option
def lesson_tcp_client(
    host: str, port: int, message: str | None, timeout: float, packets: bool
) -> None:
    """Talk to a tcp-server, one line at a time.

    Prints the server's welcome, then sends each line of stdin and prints each reply; 'exit'
    or the end of input ends it. Exit 7 if nothing listens there, 28 if no reply comes.
    """
    with contextlib.ExitStack() as stack:
        if packets:
            run_reporting(stack.enter_context, _packet_watch(host)((host, port)))
        if message is not None:
            click.echo(run_reporting(tcp.send_once, host, port, message, timeout))
        else:
            run_reporting(tcp.run_client, host, port, input_lines(sys.stdin), timeout=timeout)


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
    run_reporting(udp.serve, host, port, mode)


@lesson_group.command("udp-client")
@click.argument("host", default="127.0.0.1")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=udp.DEFAULT_PORT,
    show_default=True,
    help="Port each datagram is sent to: the one the udp-server is bound to (its --port).",
)
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
        reply, peer = run_reporting(udp.send_once, host, port, message, timeout, connect=connect)
        click.echo(udp.show(reply, peer))
    else:
        lines = input_lines(sys.stdin)
        run_reporting(udp.run_client, host, port, lines, timeout=timeout, connect=connect)


@lesson_group.command("page-load")
@click.argument("url", required=False)
@click.option(
    "--rtt",
    type=click.FloatRange(min=1, max=2000),
    default=pageload.DEFAULT_RTT_MS,
    show_default=True,
    metavar="MS",
    help="The round-trip time to emulate, in milliseconds (the sample page only).",
)
@click.option(
    "--server-latency",
    is_flag=True,
    help="Emulate the RTT with serve --latency even as root (no namespaces).",
)
def lesson_page_load(url: str | None, rtt: float, server_latency: bool) -> None:
    """Fetch a page and its objects with each connection strategy; time them in RTTs.

    Without URL: the sample page (samples/site/pageload: ten images, two stylesheets)
    across an emulated round-trip time: as root, the client and the server in network
    namespaces joined by a delay line (every packet delayed, the kernel's TCP on both ends);
    otherwise `serve --latency`, an approximation (the lesson says which it used). Prints, per
    strategy, the objects, the connections opened, the round trips Kurose and Ross predict,
    those measured (total time / RTT), and why they differ.
    """
    from rawhttp.server import sample_site
    from rawhttp.url import parse_url

    if url is not None:
        run_reporting(pageload.run_url, run_reporting(parse_url, url), click.echo)
        return
    root = str(sample_site())
    run_reporting(pageload.run_sample, root, rtt / 1000, click.echo, namespaces=not server_latency)
