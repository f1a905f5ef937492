"""The server never goes down, never loses an upload, never runs a page it builds (issue 19).

Every failure here was reproduced from outside on the code before it: an OSError while a PUT
body is taken (a full disk, a read-only one, out of descriptors, a rename racing) or any other
exception from a handler or a connection ended the event-loop server; a killed worker was
neither logged nor replaced; a file name went unescaped onto the 201 page; part files could be
listed, served and written over; a PUT with Content-Range replaced the whole file; the echo page
grew to 60 MiB for a 1 MiB request; a chunk size of 2^64 waited for the idle timeout.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time

import loadgen
import pytest
from conftest import ask_server, read_answer
from test_server_model import children_of, start_serve

from rawhttp import wire
from rawhttp.errors import ProtocolError
from rawhttp.server import Server, upload
from rawhttp.server.handler import Handler
from rawhttp.server.site import Site

TIMEOUT = 5.0
pytestmark = pytest.mark.usefixtures("server_model")


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello\n")
    return root


@pytest.fixture
def uploads(site, tmp_path):
    """A server with --upload; yields (server, upload folder, the log's lines)."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    lines: list[str] = []
    with Server(site, upload=folder, log=lines.append) as server:
        yield server, folder, lines


def put(server, target: str, body: bytes, *fields: bytes) -> tuple[wire.ResponseHead, bytes]:
    head = b"PUT %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n" % (target.encode(), len(body))
    return ask_server(server, head + b"".join(fields) + b"\r\n" + body)


def still_serving(server) -> bool:
    return ask_server(server, b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")[1] == b"hello\n"


def files_under(folder) -> list[str]:
    """Every regular file below `folder` (hidden ones too), relative to it."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


# --- an OSError while a PUT body is taken ------------------------------------------------------


def failing(error_number: int):
    def fail(*args, **kwargs):
        raise OSError(error_number, os.strerror(error_number))

    return fail


@pytest.mark.parametrize(
    ("where", "error_number", "status"),
    [
        ("write", errno.ENOSPC, 507),  # the disk fills while the body arrives
        ("write", errno.EIO, 500),
        ("open", errno.EROFS, 500),  # the upload folder went read-only
        ("open", errno.EMFILE, 500),  # out of descriptors at the part file
        ("keep", errno.ENOENT, 500),  # the folder renamed away before the rename
        ("keep", errno.ENOSPC, 507),
    ],
)
def test_an_os_error_while_a_put_is_taken_costs_one_answer(
    uploads, monkeypatch, where, error_number, status
):
    server, folder, lines = uploads
    target = {"write": "write", "open": "__init__", "keep": "keep_as"}[where]
    monkeypatch.setattr(upload.PartFile, target, failing(error_number))
    head, _ = put(server, "/a.bin", b"x" * 100_000)
    assert head.status == status
    monkeypatch.undo()
    assert still_serving(server)
    assert files_under(folder) == []  # no part file left behind
    assert sum(os.strerror(error_number) in line for line in lines) == 1  # one log line


def test_a_real_full_disk_is_507_and_leaves_nothing(site, tmp_path):
    disk = tmp_path / "tiny"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        with Server(site, upload=disk, log=[].append) as server:
            assert put(server, "/big.bin", b"x" * 1_000_000)[0].status == 507
            assert still_serving(server)
            assert put(server, "/small.txt", b"fits")[0].status == 201
            assert files_under(disk) == ["small.txt"]
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_name_too_long_to_rename_to_leaves_no_part_file(uploads):
    server, folder, _ = uploads
    assert put(server, "/" + "n" * 256, b"x" * 1000)[0].status == 400
    assert files_under(folder) == []
    assert still_serving(server)


# --- no exception from a handler or a connection leaves a driver -------------------------------


def test_an_exception_before_the_handler_is_a_500_not_the_end(uploads, monkeypatch):
    server, _, lines = uploads

    def broken(self, exchange):
        raise RuntimeError("a bug in check")

    monkeypatch.setattr(Site, "check", broken)
    head, _ = put(server, "/a.txt", b"data")
    assert head.status == 500
    monkeypatch.undo()
    assert still_serving(server)
    assert sum("a bug in check" in line for line in lines) == 1


def test_an_exception_mid_answer_closes_that_connection_only(site, monkeypatch):
    lines: list[str] = []
    with Server(site, log=lines.append) as server:

        def pieces():
            yield b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"
            raise ValueError("a bug in a stream")

        class Streaming(Handler):
            def __call__(self, exchange):
                exchange.status = 200
                exchange.stream(pieces())

        normal, server.handler = server.handler, Streaming()
        with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            received = b""
            while data := sock.recv(65536):
                received += data
        assert received.endswith(b"first\r\n")  # closed: the head had gone, no 500 after it
        server.handler = normal
        assert still_serving(server)
        assert sum("a bug in a stream" in line for line in lines) == 1


# --- workers: a dead one is logged and replaced ------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux's /proc")
def test_a_killed_worker_is_logged_and_replaced(site, server_model):
    if server_model == "threads":
        pytest.skip("--workers is for the events model")
    process, port, _ = start_serve(site, "--workers", "2")
    try:
        workers = children_of(process.pid, 2)
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + TIMEOUT
        while workers[0] in children_of(process.pid, 2) and time.monotonic() < deadline:
            time.sleep(0.02)
        for _ in range(40):  # whichever worker's socket a connection lands on
            assert loadgen.fetch(("127.0.0.1", int(port)), "/hello.txt")[0] == 200
        assert len(children_of(process.pid, 2)) == 2
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.communicate()
    assert f"worker {workers[0]} killed by signal 9 (SIGKILL); starting another" in errors


# --- pages escape what they print ---------------------------------------------------------------


def test_the_201_page_escapes_the_file_name(uploads):
    server, folder, _ = uploads
    head, page = put(server, "/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E.txt", b"x")
    assert head.status == 201
    assert b"<img" not in page and b"&lt;img src=x onerror=alert(1)&gt;.txt" in page
    assert (folder / "<img src=x onerror=alert(1)>.txt").read_bytes() == b"x"


# --- part files live where no request can name them -------------------------------------------


def test_a_part_file_is_neither_listed_nor_served_nor_writable(tmp_path):
    (tmp_path / "index-less").mkdir()
    folder = tmp_path / "index-less"
    with Server(folder, upload=folder, log=[].append) as server:
        with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
            sock.sendall(b"PUT /a.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nstart")
            time.sleep(0.2)  # the part file exists now
            listing = ask_server(server, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[1]
            assert b".part" not in listing and b".rawhttp-" not in listing
            part_names = [p for p in folder.rglob("*") if p.is_file()]
            assert len(part_names) == 1  # the part file, somewhere below
            relative = "/" + str(part_names[0].relative_to(folder))
            assert ask_server(server, b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % relative.encode())[
                0
            ].status in (403, 404)
            assert put(server, relative, b"swapped")[0].status in (403, 404)
            sock.sendall(b"x" * 95)
            assert read_answer(sock)[0].status == 201
        assert (folder / "a.bin").read_bytes() == b"start" + b"x" * 95


# --- PUT with Content-Range ----------------------------------------------------------------------


def test_a_put_with_content_range_is_400_and_changes_nothing(uploads):
    server, folder, _ = uploads
    assert put(server, "/a.txt", b"whole file")[0].status == 201
    head, _ = put(server, "/a.txt", b"piece", b"Content-Range: bytes 0-4/10\r\n")
    assert head.status == 400
    assert (folder / "a.txt").read_bytes() == b"whole file"


# --- framing limits: chunk size, Content-Length ---------------------------------------------------


@pytest.mark.parametrize("size", [b"10000000000000000", b"0" * 40 + b"1" + b"0" * 16, b"f" * 30])
def test_a_chunk_size_of_2_64_or_more_is_400_at_once(site, size):
    with Server(site, log=[].append) as server:
        request = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n%s\r\n" % size
        started = time.monotonic()
        assert ask_server(server, request, timeout=2.0)[0].status == 400
        assert time.monotonic() - started < 1.0


def test_the_chunked_decoder_refuses_a_chunk_size_of_2_64_on_both_sides():
    decoder = wire.ChunkedDecoder()
    assert decoder.feed(b"0" * 20 + b"ffffffffffffffff\r\n") == []  # 2^64 - 1: taken
    with pytest.raises(ProtocolError):
        wire.ChunkedDecoder().feed(b"10000000000000000\r\n")


def test_a_content_length_of_19_digits_is_413(site):
    with Server(site, log=[].append) as server:
        request = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000000000000\r\n\r\n"
        assert ask_server(server, request)[0].status == 413


def test_the_client_refuses_a_chunk_size_of_2_64(raw_server):
    from click.testing import CliRunner
    from conftest import HANG

    from rawhttp.cli import main

    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n"
    server = raw_server([chunked, HANG])
    started = time.monotonic()
    result = CliRunner().invoke(main, ["get", server.url + "/", "--timeout", "3"])
    assert result.exit_code == 8 and time.monotonic() - started < 2.0


# --- --echo: a bounded page, built in a few milliseconds -----------------------------------------


@pytest.fixture
def echo(site):
    with Server(site, echo=True, log=[].append) as server:
        yield server


@pytest.mark.parametrize("accept", [b"text/html", b"text/plain"])
def test_the_echo_of_a_1_mib_request_is_a_bounded_page(echo, accept):
    from rawhttp.server.echo import ECHO_SHOWN

    body = b"\n" * (1024 * 1024)  # the worst case: a line (and a row of markup) per byte
    request = b"POST /e HTTP/1.1\r\nHost: t\r\nAccept: %s\r\nContent-Length: %d\r\n\r\n" % (
        accept,
        len(body),
    )
    started = time.monotonic()
    head, page = ask_server(echo, request + body)
    assert head.status == 200
    assert time.monotonic() - started < 1.0
    assert len(page) < 64 * ECHO_SHOWN  # about 1 MiB at worst; was 65 MB
    assert b"the first %d bytes are shown" % ECHO_SHOWN in page


def test_a_multipart_body_nested_5000_deep_is_echoed_not_a_500(echo):
    body = b""
    for depth in range(5000, 0, -1):
        inner = f"--b{depth}\r\nContent-Type: multipart/mixed; boundary=b{depth + 1}\r\n\r\n"
        body = inner.encode() + body + f"\r\n--b{depth}--\r\n".encode()
    fields = b"Content-Type: multipart/form-data; boundary=b1\r\nAccept: text/html\r\n"
    request = b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n" % (len(body), fields)
    assert ask_server(echo, request + body)[0].status == 200


def test_echo_with_upload_keeps_no_put_body_in_memory(site, tmp_path):
    from rawhttp.server.echo import ECHO_SHOWN, Echo
    from rawhttp.server.protocol import ServerConnection
    from rawhttp.server.static import StaticFiles
    from rawhttp.server.upload import Upload

    (tmp_path / "up").mkdir()
    handler = Site(StaticFiles(site), Echo(), Upload(tmp_path / "up"))
    conn = ServerConnection(("127.0.0.1", 1), lambda: handler, [].append, 15.0)
    size = 4 * 1024 * 1024
    conn.receive(b"PUT /big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
    for _ in range(size // 65536):
        conn.receive(b"x" * 65536)
        assert len(conn._raw or b"") <= ECHO_SHOWN
    assert conn.state == "answer" and (tmp_path / "up" / "big.bin").stat().st_size == size


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /%3Cscript%3Ex%3C/script%3E HTTP/1.1\r\nHost: t\r\nAccept: text/html\r\n\r\n",
        b"POST /<script>x</script>?<b>=<i> HTTP/1.1\r\nHost: t\r\nX-A: <script>\r\n"
        b"Accept: text/html\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 17\r\n\r\n%3Cscript%3E=%3Cb",
        b"POST / HTTP/1.1\r\nHost: t\r\nAccept: text/html\r\nContent-Length: 61\r\n"
        b"Content-Type: multipart/form-data; boundary=x\r\n\r\n"
        b'--x\r\nContent-Disposition: form-data; name="<script>"\r\n\r\n<b>\r\n--x--',
    ],
)
def test_no_page_prints_markup_it_was_sent(echo, request_bytes):
    head, page = ask_server(echo, request_bytes)
    assert head.status in (200, 404)
    assert b"<script" not in page and b"<b>" not in page and b"<i>" not in page


def _started(pid: int) -> float:
    """When a process started, in seconds since boot (/proc's field 22, in clock ticks)."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(") ", 1)[1].split()
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux's /proc")
def test_a_worker_dying_again_at_once_is_replaced_no_faster_than_the_interval(site, server_model):
    from rawhttp.server.workers import RESPAWN_INTERVAL

    if server_model == "threads":
        pytest.skip("--workers is for the events model")
    process, _, _ = start_serve(site, "--workers", "2")
    try:
        known = set(children_of(process.pid, 2))
        starts, victim = [], min(known)
        for _ in range(3):  # one slot's worker, then its replacement, twice
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                now = set(children_of(process.pid, 2))
                fresh = now - known
                if fresh and len(now) == 2:
                    break
                time.sleep(0.01)
            (victim,) = fresh
            starts.append(_started(victim))
            known = now
        tick = 2 / os.sysconf("SC_CLK_TCK")  # start times count whole ticks: one either end
        assert starts[1] - starts[0] >= RESPAWN_INTERVAL - tick
        assert starts[2] - starts[1] >= RESPAWN_INTERVAL - tick
    finally:
        process.kill()
        process.communicate()


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="needs Linux's /proc")
def test_out_of_descriptors_at_the_part_file_is_a_500_and_the_server_goes_on(site, server_model):
    """A real EMFILE: the running server's open-file limit lowered (prlimit) so that the client's
    socket is the last descriptor it may open, then raised again."""
    import resource

    uploads = site.parent / "up"
    uploads.mkdir()
    process, port, _ = start_serve(site, "--upload", str(uploads), "--model", server_model)
    address = type("Address", (), {"host": "127.0.0.1", "port": int(port)})
    try:
        assert still_serving(address)  # the driver runs: every descriptor it keeps is open
        opened = len(os.listdir(f"/proc/{process.pid}/fd"))
        _, hard = resource.prlimit(process.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (opened + 1, hard))
        assert put(address, "/a.bin", b"x" * 1000)[0].status == 500
        resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (hard, hard))
        assert still_serving(address)
        assert put(address, "/a.bin", b"x" * 1000)[0].status == 201
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.communicate()
    assert files_under(uploads) == ["a.bin"]
    assert "Too many open files" in errors and "Traceback" not in errors
