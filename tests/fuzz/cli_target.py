"""The CLI-level check, without atheris: `rawhttp get` with some flags against a server that
sends given bytes, which must end in an exit code and at most one error line, never a Python
traceback (any exception but SystemExit escaping the command fails). Used by fuzz_wire.py (each
input is also played to the CLI), test_fuzz_regressions.py (every saved input) and
test_properties.py (generated replies, URLs, output names and flags).

No network: `dial.connect` is replaced by a socketpair whose other end a thread feeds with
the reply, then shuts (the server's FIN), so everything above the socket (the readers, the
client, the sinks, the views, the CLI) runs as it does for real. Several URLs, or a redirect,
each get a new pair with the same reply.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
from unittest import mock

from click.testing import CliRunner

from rawhttp import dial, events
from rawhttp.cli import main

# The flag sets the fuzz target tries on each input, picked by its second byte.
FLAG_SETS = [
    [],
    ["-v"],
    ["--trace=hex"],
    ["--explain"],
    ["--timing=json"],
    ["--show-code"],
    ["-I"],
    ["-L", "--max-redirs", "3"],
    ["--compressed"],
    ["--fail", "--body-only"],
    ["-o", "out.bin"],
    ["-o", "out.bin", "-C"],
    ["--compressed", "-o", "out.bin", "-v"],
    # The cookie engine: a jar written, a cookie file of odd bytes read (see FIXTURES).
    ["-c", "jar.txt", "-v"],
    ["-b", "cookies.txt", "-c", "jar.txt", "-L", "--max-redirs", "2"],
    # A body from a FIFO (sent chunked) and one from a file, with argument bytes not UTF-8.
    ["-T", "fifo", "-v"],
    ["-d", "a=\udcff\udcfe", "-u", "\udce9:x", "--data-urlencode", "b=\udcff"],
    ["-w", "%{json}%{header_json}%header{content-type}%{time_total}%{nonsense}"],
    ["-s", "-o", "out.bin", "-w", "%{http_code} %{redirect_url} %{errormsg}\\n"],
]
# A cookie file with what a hostile or broken one may hold: bytes that are not UTF-8, a NUL,
# a control byte, a line of 6 fields, an expiry that is not a number, a public suffix.
COOKIE_FILE = (
    b"# Netscape HTTP Cookie File\n"
    b"fuzz.test\tFALSE\t/\tFALSE\t0\tok\t\xff\xfe\n"
    b"fuzz.test\tFALSE\t/\tFALSE\t0\tnul\ta\x00b\n"
    b"#HttpOnly_.fuzz.test\tTRUE\t/x\tTRUE\t99999999999\tctl\t\x01\n"
    b"fuzz.test\tFALSE\t/\tFALSE\t0\tshort\n"
    b"fuzz.test\tFALSE\t/\tFALSE\tsoon\tbad\t1\n"
    b".test\tTRUE\t/\tFALSE\t0\ttld\t1\n"
)
# What a FIFO uploaded with -T holds, written by a thread once the CLI opens it.
FIFO_BODY = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
# Seconds the FIFO's writer waits for the CLI to open it (it may fail before it does).
FIFO_WAIT = 3.0


def _serve(sock: socket.socket, reply: bytes) -> None:
    with sock, contextlib.suppress(OSError):
        sock.sendall(reply)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5)
        while sock.recv(65536):  # the request, until the client closes
            pass


def _connect(reply: bytes):
    def connect_scripted(url, options, emit, deadline):
        ours, theirs = socket.socketpair()
        remote = ("192.0.2.1", url.port)
        emit(events.Connected(local=("192.0.2.2", 50000), remote=remote))
        threading.Thread(target=_serve, args=(theirs, reply), daemon=True).start()
        return ours, remote

    return connect_scripted


def run_cli(reply: bytes, args: list[str], urls: list[str] | None = None):
    """`rawhttp get URLS ARGS` against `reply`, in a scratch folder; the click Result."""
    urls = urls if urls is not None else ["http://fuzz.test/x"]
    with (
        mock.patch.object(dial, "connect", _connect(reply)),
        tempfile.TemporaryDirectory() as folder,
        _cwd(folder),
    ):
        writer = _fixtures(args)
        try:
            return CliRunner().invoke(
                main,
                ["get", *urls, *args, "--timeout", "2", "--color", "never"],
                catch_exceptions=True,
            )
        finally:
            if writer is not None:
                writer.join(FIFO_WAIT + 1)


def _fixtures(args: list[str]) -> threading.Thread | None:
    """The files the flags name, in the scratch folder: the cookie file, and the FIFO with a
    thread that writes into it (returned, to be joined)."""
    with open("cookies.txt", "wb") as file:
        file.write(COOKIE_FILE)
    if "fifo" not in args:
        return None
    os.mkfifo("fifo")
    writer = threading.Thread(target=_feed_fifo, args=(os.path.abspath("fifo"),), daemon=True)
    writer.start()
    return writer


def _feed_fifo(path: str) -> None:
    """Write FIFO_BODY once a reader has the FIFO open; give up after FIFO_WAIT seconds."""
    import time

    deadline = time.monotonic() + FIFO_WAIT
    while time.monotonic() < deadline:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            time.sleep(0.01)
            continue
        with contextlib.suppress(OSError), os.fdopen(fd, "wb") as pipe:
            os.set_blocking(fd, True)
            pipe.write(FIFO_BODY)
        return


@contextlib.contextmanager
def _cwd(folder: str):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def assert_no_traceback(result) -> None:
    """The command ended by sys.exit (any code), said at most one error line, no traceback."""
    exception = result.exception
    if exception is not None and not isinstance(exception, SystemExit):
        raise AssertionError(f"the CLI raised {exception!r}") from exception
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("rawhttp: error:")]
    assert len(errors) <= 1, errors


def check(data: bytes) -> None:
    """The fuzz input's first two bytes pick the flags; the rest is what the server sends."""
    if len(data) < 2:
        return
    flags = FLAG_SETS[data[1] % len(FLAG_SETS)]
    assert_no_traceback(run_cli(data[2:], flags))
