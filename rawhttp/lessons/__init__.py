"""The classic socket-course exercises, done properly: TCP and UDP servers and clients.

Every socket course starts with the same four programs: a TCP server that says welcome and
answers each message (echo it, upper-case it, or say "Hello, <msg>"), its client, and the UDP
pair that upper-cases a sentence. `tcp.py` and `udp.py` are those programs, written with plain
`socket` and `threading` so they can be read in class, with the mistakes the usual versions make
fixed and explained where they happen:

- TCP is a byte stream, not a sequence of messages: one `recv()` is not one message. The TCP
  programs frame messages as lines and buffer until the newline (`tcp.LineReader`).
- UDP is datagrams with no connection: nothing tells you a datagram was lost or that nobody is
  listening. The UDP client waits with a timeout and says so plainly.
- A server must be bounded: a cap on clients, on line length, and on idle time.

The CLI (`rawhttp lesson ...`) is in `rawhttp/cli/lesson.py`; these modules never import click.
Tests and lessons can run the servers in a thread with `tcp.running_server()` and
`udp.running_server()`.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Protocol, TextIO

# `rawhttp lesson list` prints these: each exercise and what it teaches.
EXERCISES: list[tuple[str, str]] = [
    ("tcp-server", "bind, listen, accept; a thread per client; lines cut from a byte stream"),
    ("tcp-client", "connect, sendall, recv to the newline: TCP keeps bytes, not messages"),
    ("udp-server", "bind, recvfrom, sendto: no listen, no accept; each datagram names its sender"),
    ("udp-client", "a datagram per line, and a timeout: UDP never says a datagram was lost"),
    ("page-load", "a page and its objects over an emulated RTT: the four strategies, measured"),
]


def address_text(address: tuple) -> str:
    """('127.0.0.1', 54321) -> '127.0.0.1:54321'; IPv6 in brackets, as in a URL: '[::1]:54321'."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def input_lines(stream: TextIO, prompt: str = "> ") -> Iterator[str]:
    """The lines typed or piped on `stream`, without their line ends, until end of input.

    On a terminal a prompt is shown (on stderr, so stdout keeps only the server's replies);
    from a pipe there is none. Ctrl-D on a terminal, or the end of a pipe, ends the lines.
    """
    interactive = stream.isatty()
    while True:
        if interactive:
            print(prompt, end="", file=sys.stderr, flush=True)
        line = stream.readline()
        if not line:
            return
        yield line.rstrip("\r\n")


@contextlib.contextmanager
def stop_on_sigint(stopping: threading.Event) -> Iterator[None]:
    """While inside, Ctrl-C (SIGINT) sets `stopping` instead of raising KeyboardInterrupt.

    A KeyboardInterrupt can strike at any line of the main thread, even halfway through
    bookkeeping. A handler that only sets a flag lets the server loop finish its turn, see the
    flag, and close everything in order. Signal handlers belong to the main thread, so in any
    other thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class LessonServer(Protocol):
    """What `tcp.TCPServer` and `udp.UDPServer` both offer, so they start and stop alike."""

    address: tuple
    stopping: threading.Event

    def serve_forever(self) -> None: ...

    def close(self) -> None: ...


def serve_in_foreground(server: LessonServer, announce: str, log: Callable[[str], None]) -> None:
    """Run `server` in this (main) thread until Ctrl-C, then stop cleanly: the CLI's servers.

    Ctrl-C only sets the stop flag (see `stop_on_sigint`): the loop sees it within its poll
    interval, and close() ends everything in order.
    """
    with stop_on_sigint(server.stopping):
        try:
            log(announce)
            server.serve_forever()
        finally:
            server.close()
    log("Stopped.")


@contextlib.contextmanager
def in_background(server: LessonServer, name: str) -> Iterator[tuple[str, int]]:
    """Run `server` in a background thread, for tests and lessons: yields its (host, port).

    On exit the loop is told to stop and joined (bounded), then the server is closed.
    """
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server.address
    finally:
        server.stopping.set()
        thread.join(5)
        server.close()
