"""UDP: the upper-case (or echo) server and its client, one datagram per message.

This module owns the UDP exercises: `UDPServer` (one socket, one loop, no threads needed) and
`UDPClient` (`sendto`, then `recvfrom` with a timeout). The CLI in `rawhttp/cli.py` only parses
flags and calls `serve`, `run_client` or `send_once`.

What changes from TCP: there is no connection. No listen(), no accept(), no handshake, no
welcome line and no `exit`: the server never knows a client is "there", it only sees datagrams,
each with the address it came from, and answers each to that address. A datagram arrives whole
or not at all (UDP keeps message boundaries, so no newline framing is needed), and nothing tells
either side when one is lost: that is why the client needs a timeout.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Iterable
from typing import TextIO

from rawhttp.errors import (
    ConnectError,
    ListenError,
    NetworkError,
    RawHTTPError,
    ResolveError,
    Timeout,
)
from rawhttp.lessons import address_text, in_background, serve_in_foreground
from rawhttp.lessons.tcp import Log, log_to_stderr

DEFAULT_PORT = 12000  # the seed's port
MODES = ("upper", "echo")
TIMEOUT = 2.0  # seconds the client waits for an answer before saying none came
# The recvfrom() buffer. The largest UDP payload (65,507 bytes over IPv4) fits; a datagram
# longer than the buffer would be cut to fit, the rest silently thrown away.
MAX_DATAGRAM = 65535
POLL = 0.1  # the server loop wakes this often to see whether it was asked to stop

NO_ANSWER = (
    "UDP has no connection and no retransmission: the datagram or its answer was lost, "
    "or nothing listens there"
)
REFUSED = (
    "the kernel got an ICMP 'port unreachable' back for our datagram and reports it as "
    "'connection refused' on the next receive"
)


def _udp_error(error: RawHTTPError) -> RawHTTPError:
    """Show the error as `rawhttp: error: udp: ...` (its class would say tcp or http)."""
    error.layer = "udp"
    return error


def _family(host: str) -> socket.AddressFamily:
    """IPv6 for an address with colons (::1, ::), IPv4 for the rest."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reply_to(mode: str, data: bytes) -> bytes:
    """The answer datagram: the same bytes back (echo), or the text upper-cased."""
    if mode == "upper":
        return data.decode("utf-8", errors="replace").upper().encode("utf-8")
    return data


# --- the server ------------------------------------------------------------------------------


class UDPServer:
    """One socket answers everybody: each datagram carries its sender's address.

    No thread per client: there are no connections to keep apart. The loop takes one datagram
    (recvfrom), logs who sent it, and sends the answer back to that address (sendto).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        mode: str = "upper",
        *,
        log: Log = log_to_stderr,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.mode = mode
        self.log = log
        self.stopping = threading.Event()
        # socket(): a UDP endpoint (SOCK_DGRAM, datagrams), not yet tied to any address.
        self.sock = socket.socket(_family(host), socket.SOCK_DGRAM)
        try:
            # bind(): claim the address and port; port 0 asks the kernel for any free one.
            # That is all a UDP server does before receiving: no listen(), no accept().
            self.sock.bind((host, port))
        except OSError as exc:  # the port is taken, below 1024, or the address is not ours
            self.sock.close()
            reason = exc.strerror or str(exc)
            error = ListenError(f"cannot bind {host} port {port}: {reason}")
            raise _udp_error(error) from None
        self.address: tuple[str, int] = self.sock.getsockname()[:2]

    def serve_forever(self) -> None:
        """Answer datagrams until `stopping` is set, then return (the caller then calls close())."""
        # A timeout lets recvfrom() wake up every POLL seconds to check the stop flag.
        self.sock.settimeout(POLL)
        while not self.stopping.is_set():
            try:
                # recvfrom(): one whole datagram and the (address, port) it came from. Never
                # half a datagram, never two stuck together: unlike TCP's recv().
                data, peer = self.sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue  # nothing came: check the stop flag and wait again
            except ConnectionError:
                # Some systems (Windows) report here an ICMP "port unreachable" caused by an
                # earlier answer we sent to a client that had already gone. Not our problem.
                continue
            except OSError:
                if self.stopping.is_set():
                    break  # close() closed the socket under us
                raise
            self.answer(data, peer)

    def answer(self, data: bytes, peer: tuple) -> None:
        """Log one datagram with its sender, and send the answer back to that sender."""
        who = address_text(peer)
        self.log(f"from {who}: {data.decode('utf-8', errors='replace')!r}")
        try:
            # sendto(): a new datagram, addressed to the sender. The address must be given every
            # time: no connection remembers it for us.
            self.sock.sendto(reply_to(self.mode, data), peer)
        except OSError as exc:
            self.log(f"could not answer {who}: {exc.strerror or exc}")

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    mode: str = "upper",
    *,
    log: Log = log_to_stderr,
) -> None:
    """The CLI's server: runs until Ctrl-C, then stops cleanly."""
    server = UDPServer(host, port, mode, log=log)
    # Not "listening": a UDP socket is only bound. Datagrams for its port queue up in the
    # kernel until recvfrom() takes them.
    where = address_text(server.address)
    announce = f"Waiting for datagrams on {where} (UDP, mode {mode}). Ctrl-C stops the server."
    serve_in_foreground(server, announce, log)


def running_server(
    mode: str = "upper", host: str = "127.0.0.1", port: int = 0, **options
) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """A UDPServer in a background thread, for tests and lessons: yields its (host, port)."""
    return in_background(UDPServer(host, port, mode, **options), "udp loop")


# --- the client ------------------------------------------------------------------------------


class UDPClient:
    """Sends one datagram per message to a server and waits, bounded, for one answer.

    With `connect=True` the socket is connect()ed first. On a UDP socket that sends nothing:
    the kernel only remembers the peer. But it changes two things: datagrams from anyone else
    are dropped, and the kernel passes on an ICMP "port unreachable" for our datagrams, so
    "nothing listens there" shows up at once as ConnectionRefusedError instead of a timeout.
    (Linux reports ICMP errors only to connected UDP sockets; Windows to unconnected ones too.)
    """

    def __init__(self, host: str, port: int, timeout: float = TIMEOUT, *, connect: bool = False):
        self.timeout = timeout
        family, self.server_address = _resolve(host, port)
        self.server = address_text(self.server_address)
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        # The timeout is the whole of UDP's error handling: if no datagram comes back within
        # it, we will never learn why.
        self.sock.settimeout(timeout)
        if connect:
            try:
                self.sock.connect(self.server_address)
            except OSError as exc:
                self.sock.close()
                error = NetworkError(f"connect to {self.server} failed: {exc.strerror or exc}")
                raise _udp_error(error) from None

    def ask(self, message: str) -> tuple[str, tuple[str, int]]:
        """Send `message` as one datagram; return the answer's text and the address it came from.

        Raises Timeout (exit 28) when nothing comes back, ConnectError (exit 7) when the kernel
        reports ICMP "port unreachable", NetworkError when the datagram cannot be sent.
        UDP does not pair answers with questions: an answer that arrives after its timeout is
        taken for the answer to the next datagram. Real protocols number their datagrams
        (DNS puts an ID in each query) for this reason.
        """
        try:
            # sendto(): hand one datagram to the kernel, addressed to the server. It returns as
            # soon as the datagram is queued: nobody confirms that it arrived. Our first
            # sendto() also binds the socket to a free port, the one the server will answer to.
            self.sock.sendto(message.encode("utf-8"), self.server_address)
            # recvfrom(): wait for one datagram, from anyone (unless connected), up to timeout.
            data, peer = self.sock.recvfrom(MAX_DATAGRAM)
        except TimeoutError:
            text = f"no answer from {self.server} within {self.timeout:g} s: {NO_ANSWER}"
            raise _udp_error(Timeout(text)) from None
        except (ConnectionRefusedError, ConnectionResetError):
            # ConnectionResetError is how Windows spells the same ICMP report.
            text = f"nothing listens on {self.server}: {REFUSED}"
            raise _udp_error(ConnectError(text)) from None
        except OSError as exc:  # for example "Message too long": over 65,507 bytes
            raise _udp_error(NetworkError(f"sendto failed: {exc.strerror or exc}")) from None
        return data.decode("utf-8", errors="replace"), peer[:2]

    def close(self) -> None:
        self.sock.close()  # no FIN, no goodbye: the server never knew we were here

    def __enter__(self) -> UDPClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple]:
    """The first address of `host` for UDP, IPv4 first (our servers bind 127.0.0.1)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or "invalid name"
        raise ResolveError(f"could not resolve host {host}: {reason}") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def show(reply: str, peer: tuple) -> str:
    """How the client prints an answer: who sent it, and its exact text."""
    return f"from {address_text(peer)}: {reply!r}"


def run_client(
    host: str,
    port: int,
    lines: Iterable[str],
    out: TextIO | None = None,
    err: TextIO | None = None,
    timeout: float = TIMEOUT,
    *,
    connect: bool = False,
) -> None:
    """The CLI's client: one datagram per line, each answer printed with its sender's address.

    A line that gets no answer is noted on `err` and the client goes on with the next one (each
    datagram is on its own); at the end, if any went unanswered, Timeout is raised (exit 28).
    ConnectError (nothing listens, exit 7) ends it at once. The line `exit` ends it without
    sending anything: there is no session to close. Answers go to `out` (default stdout),
    notes to `err` (default stderr).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    sent = unanswered = 0
    with UDPClient(host, port, timeout, connect=connect) as client:
        for line in lines:
            if line == "exit":
                break
            sent += 1
            try:
                reply, peer = client.ask(line)
            except Timeout as exc:
                unanswered += 1
                print(exc, file=err, flush=True)
                continue
            print(show(reply, peer), file=out, flush=True)
    if unanswered:
        message = f"{unanswered} of {sent} datagrams got no answer within {timeout:g} s"
        raise _udp_error(Timeout(message))


def send_once(
    host: str, port: int, message: str, timeout: float = TIMEOUT, *, connect: bool = False
) -> tuple[str, tuple[str, int]]:
    """One datagram out, one answer back: `--send TEXT`. Raises Timeout (28) if none comes."""
    with UDPClient(host, port, timeout, connect=connect) as client:
        return client.ask(message)
