"""TCP: the threaded welcome server (echo, upper, hello) and its line client.

This module owns the TCP exercises: `TCPServer` (one accept loop, one thread per client),
`LineReader` (cutting the byte stream into lines), and the client (`connect`, `LineClient`,
`run_client`). The CLI in `rawhttp/cli.py` only parses flags and calls `serve` or `run_client`.

The protocol, in one sentence: every message is one line of UTF-8 text ending in "\\n" ("\\r\\n" is
accepted too, so `nc -C` and telnet work); the server sends a welcome line when a client
connects, answers each line with one line, and answers the line `exit` with a goodbye and closes.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from rawhttp.errors import (
    ConnectError,
    LimitExceeded,
    ListenError,
    NetworkError,
    RawHTTPError,
    ResolveError,
    Timeout,
)
from rawhttp.lessons import address_text, in_background, serve_in_foreground

DEFAULT_PORT = 9999  # the seeds' port: above 1023, so binding it needs no administrator rights
MODES = ("echo", "upper", "hello")
WELCOME = "Welcome! Send lines; 'exit' to quit."
GOODBYE = "Bye!"
BUSY = "Sorry, the server is full; try again later."

# Limits. A server that trusts its clients can be made to buffer, or wait, forever.
MAX_LINE = 64 * 1024  # bytes in one line, newline excluded; the same 64 KiB as wire's head limit
MAX_CLIENTS = 32  # clients served at once, one thread each; the next one is told to come back
MAX_REFUSALS = 32  # "come back later" said at once, a short thread each (2 s at most)
IDLE_TIMEOUT = 300.0  # seconds a client may stay silent before the server hangs up
CLIENT_TIMEOUT = 10.0  # the client's wait for the connection and for each reply
BACKLOG = 16  # connections the kernel completes and queues before accept() takes them
RECV_SIZE = 4096  # the most one recv() asks for; any size works, the framing does not depend on it
POLL = 0.1  # the accept loop wakes this often to see whether it was asked to stop

Log = Callable[[str], None]


def answer(mode: str, message: str) -> str:
    """The server's reply to one message: the message itself, upper-cased, or greeted."""
    if mode == "upper":
        return message.upper()
    if mode == "hello":
        return f"Hello, {message}"
    return message


def log_to_stderr(line: str) -> None:
    """The servers' default log: one line on stderr, flushed at once so a pipe sees it too.

    One write() call per line: sessions log from several threads, and print() writes the text
    and its newline separately, so two threads' lines could get mixed.
    """
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _with_layer(error: RawHTTPError, layer: str) -> RawHTTPError:
    """Name the layer the CLI shows in `rawhttp: error: <layer>: ...` for this one error."""
    error.layer = layer
    return error


# --- lines over a byte stream ----------------------------------------------------------------


class LineReader:
    """Cuts the bytes arriving on a TCP socket into lines.

    TCP delivers a stream of bytes, not messages. One `send(b"hello\\n")` may come out of the
    other side's `recv()` as b"hel" and then b"lo\\n"; two quick sends may come out as one
    b"a\\nb\\n". The seeds call `recv(1024)` once and treat whatever comes back as one message: on
    loopback that usually works, across a real network it breaks. So the protocol marks where a
    message ends (a newline), and the reader keeps what it received in a buffer until a newline
    is in it. Whatever follows the newline stays in the buffer for the next line.
    """

    def __init__(self, sock: socket.socket, limit: int = MAX_LINE):
        self.sock = sock
        self.limit = limit
        self.buffer = bytearray()
        self.eof = False

    def readline(self) -> str | None:
        """The next line without its line end, or None once the peer has closed its side.

        Raises LimitExceeded when a line grows past `limit` bytes: without a limit, a peer that
        never sends a newline would make us buffer until memory runs out. Socket errors
        (TimeoutError, ConnectionResetError) are left to the caller, who knows what they mean.
        """
        while True:
            end = self.buffer.find(b"\n")
            if end > self.limit or (end < 0 and len(self.buffer) > self.limit):
                raise _with_layer(LimitExceeded(f"line longer than {self.limit} bytes"), "tcp")
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                return _decode(line)
            if self.eof:
                # End of stream ends the last line too, if it had no newline (`printf hi | nc`).
                line = bytes(self.buffer)
                self.buffer.clear()
                return _decode(line) if line else None
            # recv(): whatever bytes have arrived, up to RECV_SIZE: maybe less than a line, maybe
            # several lines. It blocks until at least one byte is there (or the socket timeout).
            # b"" is the end of the stream: the peer sent FIN, it will send nothing more.
            data = self.sock.recv(RECV_SIZE)
            if not data:
                self.eof = True
            self.buffer += data


def _decode(line: bytes) -> str:
    """Bytes of one line -> text. A CR before the LF is dropped; bytes that are not UTF-8 become
    U+FFFD rather than an exception, so one bad byte cannot kill a session."""
    if line.endswith(b"\r"):
        line = line[:-1]
    return line.decode("utf-8", errors="replace")


def send_line(sock: socket.socket, text: str) -> None:
    """Send `text` and a newline.

    sendall(), not send(): send() may hand only part of the bytes to the kernel and return how
    many it took; sendall() loops until all of them are taken (or raises).
    """
    if "\n" in text:
        raise ValueError("a message is one line: it cannot contain a newline")
    sock.sendall(text.encode("utf-8") + b"\n")


# --- the server ------------------------------------------------------------------------------


class TCPServer:
    """The threaded server: one accept loop, and one thread per connected client.

    The listening socket only accepts; each accepted client gets its own socket and its own
    thread, so a slow client does not hold up the others (the seed 000's design). It is bounded:
    at most `max_clients` threads, lines of at most `max_line` bytes, and a client silent for
    `idle_timeout` seconds is disconnected.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        mode: str = "echo",
        *,
        max_clients: int = MAX_CLIENTS,
        max_line: int = MAX_LINE,
        idle_timeout: float = IDLE_TIMEOUT,
        log: Log = log_to_stderr,
        reuse_address: bool = True,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.mode = mode
        self.max_clients = max_clients
        self.max_line = max_line
        self.idle_timeout = idle_timeout
        self.log = log
        self.stopping = threading.Event()
        self.lock = threading.Lock()  # guards self.clients: the accept loop and sessions share it
        self.clients: dict[threading.Thread, socket.socket] = {}
        self.refusals = threading.BoundedSemaphore(MAX_REFUSALS)  # goodbyes being said at once
        # socket(): a TCP endpoint (SOCK_STREAM), not yet tied to any address.
        self.sock = socket.socket(_family(host), socket.SOCK_STREAM)
        try:
            # SO_REUSEADDR: bind() again at once after a restart, although the old connections
            # to this port still wait a minute or two in TIME_WAIT (seed 002's "port reuse").
            # `reuse_address=False` (--no-reuseaddr) leaves it out, to see bind() fail.
            if reuse_address:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # bind(): claim the address and port. Port 0 asks the kernel for any free port.
            self.sock.bind((host, port))
            # listen(): from now on the kernel answers clients' SYNs by itself (the three-way
            # handshake) and queues up to BACKLOG finished connections for accept() to take.
            self.sock.listen(BACKLOG)
        except OSError as exc:  # the port is taken, below 1024, or the address is not ours
            self.sock.close()
            reason = exc.strerror or str(exc)
            raise ListenError(f"cannot listen on {host} port {port}: {reason}") from None
        self.address: tuple[str, int] = self.sock.getsockname()[:2]

    def serve_forever(self) -> None:
        """Accept clients until `stopping` is set, then return (the caller then calls close())."""
        # A timeout on the listening socket lets accept() wake up every POLL seconds to check the
        # stop flag; without it, nothing could interrupt a thread waiting in accept().
        self.sock.settimeout(POLL)
        while not self.stopping.is_set():
            try:
                # accept(): take one connection the kernel has completed, as a NEW socket for
                # that client alone. The listening socket stays open for the next client. The
                # four values (server address and port, client address and port) name it.
                conn, peer = self.sock.accept()
            except TimeoutError:
                continue  # nobody came: check the stop flag and wait again
            except OSError:
                if self.stopping.is_set():
                    break  # close() closed the listening socket under us
                raise
            self._start_session(conn, peer)

    def _start_session(self, conn: socket.socket, peer: tuple) -> None:
        """Give the client its own thread, or turn it away if `max_clients` are being served."""
        thread = threading.Thread(
            target=self._session, args=(conn, peer), name=f"client {address_text(peer)}"
        )
        thread.daemon = True  # a stuck client never keeps the process alive after Ctrl-C
        with self.lock:
            count = len(self.clients)
            if count < self.max_clients:
                self.clients[thread] = conn
        if count >= self.max_clients:
            full = f"{self.max_clients} of {self.max_clients} clients"
            self.log(f"refused {address_text(peer)}: the server is full ({full})")
            self._turn_away(conn)
            return
        self.log(f"connect from {address_text(peer)} ({count + 1} of {self.max_clients} clients)")
        thread.start()

    def _turn_away(self, conn: socket.socket) -> None:
        """Say the server is full and close politely (`_refuse`: the client reads the line, not
        a reset, even if it has already sent its first one) on a short-lived thread, since the
        accept loop must not wait. At most MAX_REFUSALS at once; past that, a blunt close (a
        flood of connections gets no more threads)."""
        if not self.refusals.acquire(blocking=False):
            with conn, contextlib.suppress(OSError):
                conn.settimeout(1)
                send_line(conn, BUSY)
            return

        def refuse() -> None:
            try:
                with conn:
                    _refuse(conn, BUSY)
            finally:
                self.refusals.release()

        threading.Thread(target=refuse, name="refusal", daemon=True).start()

    def _session(self, conn: socket.socket, peer: tuple) -> None:
        """One client's whole session, on its own thread; always ends by closing its socket."""
        who = address_text(peer)
        why = "?"
        try:
            why = self._talk(conn, who)
        finally:
            with self.lock:
                self.clients.pop(threading.current_thread(), None)
            self.log(f"disconnect {who} ({why})")
            # close(): the kernel sends FIN; the client's recv() then returns b"".
            conn.close()

    def _talk(self, conn: socket.socket, who: str) -> str:
        """Welcome, then one reply per line until exit, EOF or idle; returns why it ended."""
        # A timeout on the client's socket: recv() raises TimeoutError after idle_timeout
        # seconds of silence, so a client that goes quiet cannot hold a thread forever.
        conn.settimeout(self.idle_timeout)
        reader = LineReader(conn, self.max_line)
        try:
            send_line(conn, WELCOME)  # the server speaks first, as in the seeds
            while True:
                message = reader.readline()
                if message is None:
                    return "server stopping" if self.stopping.is_set() else "EOF"
                self.log(f"from {who}: {message!r}")
                if message == "exit":
                    send_line(conn, GOODBYE)
                    return "sent exit"
                send_line(conn, answer(self.mode, message))
        except LimitExceeded as exc:
            _refuse(conn, f"error: {exc}; closing")
            return str(exc)
        except TimeoutError:
            _refuse(conn, f"Bye: idle for {self.idle_timeout:g} s.")
            return f"idle for {self.idle_timeout:g} s"
        except OSError as exc:  # reset by the peer, broken pipe
            return f"connection error: {exc.strerror or exc}"

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, end every session, and wait for their threads, `timeout` s at most."""
        self.stopping.set()
        self.sock.close()
        with self.lock:
            sessions = list(self.clients.items())
            for _, conn in sessions:
                # shutdown(): FIN to the client, and the session's blocked recv() returns b"".
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread, _ in sessions:
            thread.join(max(0.0, deadline - time.monotonic()))


def _refuse(conn: socket.socket, line: str) -> None:
    """Send a last line and close politely, so the client reads it instead of a reset.

    Closing a socket that still has unread bytes makes the kernel send RST instead of FIN, and a
    RST can destroy data the client has not read yet: our last line. So: send it, shutdown() our
    sending side (FIN), and read and drop what the client still sends, for a bounded time.
    """
    with contextlib.suppress(OSError):
        conn.settimeout(1)
        send_line(conn, line)
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 2  # bounded: a client that keeps sending is cut off
        while time.monotonic() < deadline and conn.recv(RECV_SIZE):
            pass  # drop it; b"" (the client closed too) or the deadline ends the loop


def _family(host: str) -> socket.AddressFamily:
    """IPv6 for an address with colons (::1, ::), IPv4 for the rest."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    mode: str = "echo",
    *,
    log: Log = log_to_stderr,
    watch: Callable[[tuple[str, int]], contextlib.AbstractContextManager] | None = None,
    **limits,
) -> None:
    """The CLI's server: runs until Ctrl-C, then stops cleanly. `watch(address)`, if given, is
    entered once the server listens and left when it stops (--packets: a capture of its port)."""
    server = TCPServer(host, port, mode, log=log, **limits)
    where = address_text(server.address)
    announce = f"Listening on {where} (TCP, mode {mode}). Ctrl-C stops the server."
    with contextlib.ExitStack() as stack:
        stack.callback(server.close)  # closed even if the watch cannot start (twice is fine)
        if watch is not None:
            stack.enter_context(watch(server.address))
        serve_in_foreground(server, announce, log)


def running_server(
    mode: str = "echo", host: str = "127.0.0.1", port: int = 0, **options
) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """A TCPServer in a background thread, for tests and lessons: yields its (host, port).

    `options` go to TCPServer (max_clients, max_line, idle_timeout, log). On exit the accept
    loop is stopped and joined, then every session is ended and joined, each within a timeout.
    """
    return in_background(TCPServer(host, port, mode, **options), "tcp accept loop")


# --- the client ------------------------------------------------------------------------------


def connect(host: str, port: int, timeout: float = CLIENT_TIMEOUT) -> socket.socket:
    """A TCP socket connected to host:port, trying each address the name resolves to.

    Raises ResolveError (exit 6), ConnectError (exit 7: refused, unreachable) or Timeout (28).
    """
    try:
        # getaddrinfo(): the addresses of `host`; "localhost" may give both ::1 and 127.0.0.1.
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or "invalid name"
        raise ResolveError(f"could not resolve host {host}: {reason}") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)  # IPv4 first, like our servers
    error: RawHTTPError = ConnectError(f"could not connect to {host} port {port}")
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            # connect(): the three-way handshake. Our kernel sends SYN; the server's kernel
            # answers SYN-ACK if a socket listens on that port (then we send ACK and are
            # connected, before the server even calls accept()), or RST if none does: that RST
            # is ConnectionRefusedError.
            sock.connect(sockaddr)
            return sock
        except TimeoutError:
            sock.close()
            error = Timeout(f"connect to {sockaddr[0]} port {port} timed out after {timeout:g} s")
        except OSError as exc:
            sock.close()
            reason = exc.strerror or type(exc).__name__
            error = ConnectError(f"could not connect to {sockaddr[0]} port {port}: {reason}")
    raise error


class LineClient:
    """A client session: connect, read the welcome line, then one reply per line sent.

    Use it as a context manager, or call close(). `welcome` holds the server's first line.
    """

    def __init__(self, host: str, port: int, timeout: float = CLIENT_TIMEOUT):
        self.timeout = timeout
        self.sock = connect(host, port, timeout)
        self.server = address_text(self.sock.getpeername())
        self.local = address_text(self.sock.getsockname())  # our port: the kernel picked it
        self.reader = LineReader(self.sock)
        self.last: str | None = None  # the last line received: it may say why the server hung up
        try:
            self.welcome = self.receive()
        except BaseException:
            self.close()
            raise

    def ask(self, message: str) -> str:
        """Send one line, return the server's one-line reply."""
        try:
            send_line(self.sock, message)
        except OSError as exc:  # the server reset the connection or is gone
            raise self._hung_up(f"send to {self.server} failed: {exc.strerror or exc}") from None
        return self.receive()

    def receive(self) -> str:
        """The server's next line; raises if none comes within the timeout or it hung up."""
        try:
            line = self.reader.readline()
        except TimeoutError:
            raise Timeout(f"no reply from {self.server} within {self.timeout:g} s") from None
        except OSError as exc:  # a reset: the server closed while our bytes were on their way
            raise self._hung_up(f"receive failed: {exc.strerror or exc}") from None
        if line is None:
            raise self._hung_up(f"{self.server} closed the connection")
        self.last = line
        return line

    def _hung_up(self, what: str) -> NetworkError:
        """The error for a server that went away; its last line often says why ("full")."""
        said = f"; its last line was {self.last!r}" if self.last is not None else ""
        return NetworkError(what + said)

    def wait_for_close(self, timeout: float = 1.0) -> None:
        """After 'exit': read to the end of the stream (`timeout` seconds at most), so that the
        server, which closes after its goodbye, sends the first FIN and keeps the TIME_WAIT."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(OSError, RawHTTPError):
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if self.reader.readline() is None:
                    return  # b"": the server's FIN

    def close(self) -> None:
        # close(): our kernel sends FIN; the server's recv() returns b"" (it logs "EOF").
        self.sock.close()

    def __enter__(self) -> LineClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def run_client(
    host: str,
    port: int,
    lines: Iterable[str],
    out: TextIO | None = None,
    err: TextIO | None = None,
    timeout: float = CLIENT_TIMEOUT,
) -> None:
    """The CLI's client: print the welcome, then send each line and print each reply.

    The line `exit` is sent too (the server says goodbye and closes); when `lines` runs out
    (end of stdin), the client just closes, and the server sees EOF. Replies go to `out`
    (default stdout), the connection note to `err` (default stderr).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    with LineClient(host, port, timeout) as client:
        print(f"Connected {client.local} -> {client.server}.", file=err, flush=True)
        print(client.welcome, file=out, flush=True)
        for line in lines:
            print(client.ask(line), file=out, flush=True)
            if line == "exit":
                client.wait_for_close()
                break


def send_once(host: str, port: int, message: str, timeout: float = CLIENT_TIMEOUT) -> str:
    """Connect, skip the welcome, send one message, return the reply, close: `--send TEXT`."""
    with LineClient(host, port, timeout) as client:
        reply = client.ask(message)
        if message == "exit":
            client.wait_for_close()
        return reply
