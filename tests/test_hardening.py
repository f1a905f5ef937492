"""The client, hardened (issue 11): tried as a new user and as a hostile server would.

One test (or table) per defect, each failing on the code before its fix: resume never loses or
fakes data, TLS truncation is a receive failure, part files are made safely, chunked and 1xx
floods are bounded, a polluted kept connection is dropped; no traceback for odd outputs, CA
files or views; and honest answers from the views (--timing, --explain, --show-code), the
parser (status lines, chunk extensions, replies that are not HTTP) and the connection
(plain HTTP on an https port, localhost on ::1).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import pty
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest
import trustme
from click.testing import CliRunner
from conftest import HANG, RESET

import rawhttp
from rawhttp import events, wire
from rawhttp.cli import main
from rawhttp.client import Session
from rawhttp.dial import Options
from rawhttp.errors import LimitExceeded, ProtocolError
from rawhttp.sinks import StdoutSink

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
OK = OK_HEAD + b"hello"


def cli(*args: str, timeout: str = "3"):
    return CliRunner().invoke(main, ["get", *args, "--timeout", timeout, "--color", "never"])


def rawhttp_process(*args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "rawhttp", *args]
    return subprocess.run(command, capture_output=True, timeout=30, **kwargs)


def one_error(result, code: int, words: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("rawhttp: error:")]
    assert len(errors) == 1 and words in errors[0], result.stderr


class Threaded:
    """A scripted server handling each connection in its own thread (conftest's raw_server
    takes one at a time): connection N reads one request head, then plays `scripts[N]` (the
    last repeats): bytes, a float to sleep, HANG to wait for the end of the test."""

    def __init__(self, *scripts: list):
        self.scripts = scripts
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self.requests: list[bytes] = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            script = self.scripts[min(self.accepted, len(self.scripts) - 1)]
            self.accepted += 1
            threading.Thread(target=self._play, args=(conn, script), daemon=True).start()

    def _play(self, conn: socket.socket, script: list) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            self.requests.append(data)
            for step in script:
                if step is HANG:
                    self.stop.wait(10)
                elif isinstance(step, float):
                    time.sleep(step)
                else:
                    conn.sendall(step)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def threaded():
    servers: list[Threaded] = []

    def start(*scripts: list) -> Threaded:
        servers.append(Threaded(*scripts))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# --- -C resume: nothing lost, nothing faked ------------------------------------------------------


@pytest.mark.parametrize("status", [b"404 Not Found", b"503 Service Unavailable"])
def test_a_resume_answered_with_an_error_page_keeps_the_part(raw_server, tmp_path, status):
    page = b"<h1>no</h1>"
    server = raw_server(
        [b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(page), page)]
    )
    (tmp_path / "f.part").write_bytes(b"first half")
    result = cli(server.url, "-C", "-o", str(tmp_path / "f"))
    one_error(result, 22, "to the resume request")
    assert "f.part is left as it was" in result.stderr
    assert os.listdir(tmp_path) == ["f.part"]
    assert (tmp_path / "f.part").read_bytes() == b"first half"


def test_a_resume_of_a_complete_file_answered_404_keeps_the_file(raw_server, tmp_path):
    server = raw_server([b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"])
    (tmp_path / "f").write_bytes(b"all of it")
    one_error(cli(server.url, "-C", "-o", str(tmp_path / "f")), 22, "left as it was")
    assert os.listdir(tmp_path) == ["f"] and (tmp_path / "f").read_bytes() == b"all of it"


def test_a_range_that_ends_early_is_not_saved_as_complete(raw_server, tmp_path):
    """bytes 5-9/20 after 5 bytes: the 5 are appended, but the file has 10 of 20 bytes."""
    server = raw_server(
        [
            b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/20\r\n"
            b"Content-Length: 5\r\n\r\n56789"
        ]
    )
    (tmp_path / "f.part").write_bytes(b"01234")
    result = cli(server.url, "-C", "-o", str(tmp_path / "f"))
    one_error(result, 18, "has 10 of 20 bytes")
    assert os.listdir(tmp_path) == ["f.part"]
    assert (tmp_path / "f.part").read_bytes() == b"0123456789"


def test_a_range_whose_length_disagrees_with_content_length_is_refused(raw_server, tmp_path):
    server = raw_server(
        [
            b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-19/20\r\n"
            b"Content-Length: 5\r\n\r\n56789"
        ]
    )
    (tmp_path / "f.part").write_bytes(b"01234")
    one_error(cli(server.url, "-C", "-o", str(tmp_path / "f")), 33, "Content-Length says 5")
    assert (tmp_path / "f.part").read_bytes() == b"01234"


def test_resuming_a_complete_file_while_the_server_is_down_changes_nothing(refused_port, tmp_path):
    (tmp_path / "f").write_bytes(b"complete")
    for _ in range(2):  # a later failing run must not delete anything either
        one_error(cli(f"127.0.0.1:{refused_port}", "-C", "-o", str(tmp_path / "f")), 7, "connect")
        assert os.listdir(tmp_path) == ["f"] and (tmp_path / "f").read_bytes() == b"complete"


def test_resuming_a_complete_looking_file_appends_once_the_server_answers(raw_server, tmp_path):
    server = raw_server(
        [
            b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 4-7/8\r\n"
            b"Content-Length: 4\r\n\r\n4567"
        ]
    )
    (tmp_path / "f").write_bytes(b"0123")
    result = cli(server.url, "-C", "-o", str(tmp_path / "f"))
    assert result.exit_code == 0, result.output
    assert b"Range: bytes=4-\r\n" in server.requests[0]
    assert os.listdir(tmp_path) == ["f"] and (tmp_path / "f").read_bytes() == b"01234567"


def test_the_library_download_resumes_with_the_same_rules(raw_server, tmp_path):
    from rawhttp.download import download

    server = raw_server([b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"])
    (tmp_path / "f.part").write_bytes(b"half")
    with pytest.raises(rawhttp.RawHTTPError) as info:
        download(server.url, str(tmp_path / "f"), resume=True, timeout=3)
    assert info.value.exit_code == 22
    assert (tmp_path / "f.part").read_bytes() == b"half" and os.listdir(tmp_path) == ["f.part"]
    server = raw_server([OK])
    response = download(server.url, str(tmp_path / "g"), timeout=3)
    assert response.status == 200 and (tmp_path / "g").read_bytes() == b"hello"


# --- TLS truncation --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """(server context, CA file) for 127.0.0.1, from trustme."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    cafile = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    return context, str(cafile)


def tls_server(context: ssl.SSLContext, reply: bytes, close_notify: bool, connections: int = 1):
    """A TLS server on 127.0.0.1 that answers `reply`, then closes with close_notify or just
    with a TCP FIN (what an attacker cutting the connection would send)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        for _ in range(connections):
            raw, _ = listener.accept()
            with contextlib.suppress(OSError):
                conn = context.wrap_socket(raw, server_side=True)
                conn.settimeout(5)
                conn.recv(65536)
                conn.sendall(reply)
                if close_notify:
                    conn.unwrap()
                raw.close()
                conn.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_a_close_delimited_tls_body_without_close_notify_is_56(tls):
    context, cafile = tls
    port = tls_server(context, b"HTTP/1.1 200 OK\r\n\r\nthe first part", close_notify=False)
    result = cli(f"https://127.0.0.1:{port}/", "--cacert", cafile)
    one_error(result, 56, "without close_notify")


def test_a_close_delimited_tls_body_with_close_notify_is_whole(tls):
    context, cafile = tls
    port = tls_server(context, b"HTTP/1.1 200 OK\r\n\r\nall of it", close_notify=True)
    result = cli(f"https://127.0.0.1:{port}/", "--cacert", cafile, "--body-only")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == b"all of it"


def test_a_tls_body_framed_complete_is_whole_without_close_notify(tls):
    context, cafile = tls
    port = tls_server(context, OK, close_notify=False)
    result = cli(f"https://127.0.0.1:{port}/", "--cacert", cafile, "--body-only")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == b"hello"


# --- part files made safely ----------------------------------------------------------------------


@pytest.mark.parametrize("resume", [False, True])
def test_a_planted_part_symlink_is_refused_not_written_through(raw_server, tmp_path, resume):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "f.part").symlink_to(victim)
    server = raw_server([OK])
    result = cli(server.url, "-o", str(tmp_path / "f"), *(["-C"] if resume else []))
    one_error(result, 23, "symbolic link")
    assert victim.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["f.part", "victim"]


def test_a_stale_part_is_replaced_by_a_new_file(raw_server, tmp_path):
    (tmp_path / "f.part").write_bytes(b"old leftovers that are longer")
    server = raw_server([OK])
    assert cli(server.url, "-o", str(tmp_path / "f")).exit_code == 0
    assert os.listdir(tmp_path) == ["f"] and (tmp_path / "f").read_bytes() == b"hello"


# --- bounded memory: chunked trailers and extensions, max_body, endless 1xx -------------------------

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
# 8 MiB that would be kept: a trailer line with no LF, and 1-byte chunks with extensions.
TRAILER_FLOOD = CHUNKED + b"0\r\nX-Trailer: " + b"a" * (8 << 20)
EXTENSION_FLOOD = CHUNKED + (b"1;e=" + b"v" * 900 + b"\r\nx\r\n") * 9000


@pytest.mark.parametrize(
    ("reply", "words"),
    [(TRAILER_FLOOD, "trailer section larger"), (EXTENSION_FLOOD, "chunk extensions")],
    ids=["trailer without LF", "extension flood"],
)
def test_chunked_floods_are_cut_off_at_the_cli(raw_server, reply, words):
    server = raw_server([reply])
    one_error(cli(server.url, "-o", os.devnull), 8, words)


@pytest.mark.parametrize("reply", [TRAILER_FLOOD, EXTENSION_FLOOD])
def test_chunked_floods_stay_small_in_get(raw_server, reply):
    server = raw_server([reply])
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded):
            rawhttp.get(server.url, timeout=5, options=Options(bufsize=64 * 1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_max_body_bounds_the_whole_response_held(raw_server):
    """Heads count against max_body too: 300 bytes of head and 300 of body pass 500."""
    head = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * 250 + b"\r\nContent-Length: 300\r\n\r\n"
    server = raw_server([head + b"b" * 300])
    with pytest.raises(LimitExceeded, match="max_body=500"):
        rawhttp.get(server.url, timeout=3, max_body=500)


def test_endless_1xx_stop_at_the_interim_cap(raw_server):
    server = raw_server([b"HTTP/1.1 102 Processing\r\n\r\n"] * 40)
    started = time.monotonic()
    one_error(cli(server.url, timeout="10"), 8, "MAX_INTERIM_RESPONSES")
    assert time.monotonic() - started < 5


def test_the_read_timeout_covers_the_whole_head(raw_server):
    """A head trickled a byte every 20 ms never lets a single read wait 0.5 s, but the head
    as a whole does not arrive within --timeout 0.5: exit 28 then, not after 20 s."""
    trickle = [bytes([byte]) for byte in OK_HEAD[:-4] + b"X-Slow: " + b"s" * 1000]
    server = raw_server(trickle)
    started = time.monotonic()
    one_error(cli(server.url, timeout="0.5"), 28, "covers the whole head")
    assert time.monotonic() - started < 3


# --- a kept connection with stray bytes on it -----------------------------------------------------

HEAD_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"


def test_a_late_body_after_head_makes_the_kept_connection_unusable(threaded):
    """The HEAD answer's body arrives after its head: the next request must not take those
    bytes for its answer, but go on a new connection."""
    server = threaded([HEAD_ANSWER, 0.05, b"0123456789", HANG], [OK])
    notes: list[events.Event] = []
    with Session(Options(read_timeout=3), notes.append) as session:
        with session.stream(server.url + "/", "HEAD", keep_alive=True) as response:
            response.read()
        time.sleep(0.3)  # the stray body is in the socket by now
        with session.stream(server.url + "/", keep_alive=True) as response:
            assert (response.status, response.read()) == (200, b"hello")
    assert server.accepted == 2
    said = [e.message for e in notes if isinstance(e, events.Noted)]
    assert any("cannot be reused" in message and "10 bytes" in message for message in said)


def test_stray_bytes_with_the_head_are_said_in_verbose(threaded):
    server = threaded([HEAD_ANSWER + b"0123456789", HANG], [OK])
    result = cli(server.url + "/a", server.url + "/b", "-I", "-v")
    assert result.exit_code == 0, result.output
    assert server.accepted == 2
    assert "* 10 bytes came after the end of the response" in result.stderr


def test_a_kept_tls_connection_is_still_reused(tls):
    """The idle check reads TLS (it cannot peek, and ssl's "nothing yet" is SSLWantReadError,
    not BlockingIOError): a kept TLS connection with nothing waiting is still reused."""
    context, cafile = tls
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def answer(raw: socket.socket) -> None:
        with contextlib.suppress(OSError), context.wrap_socket(raw, server_side=True) as conn:
            received = b""
            while data := conn.recv(65536):
                received += data
                while b"\r\n\r\n" in received:
                    received = received.partition(b"\r\n\r\n")[2]
                    time.sleep(0.05)  # after a pause, so the tickets went first
                    conn.sendall(OK)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                raw, _ = listener.accept()
                accepted.append(raw)
                threading.Thread(target=answer, args=(raw,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
    try:
        result = cli(url, url, url, "--cacert", cafile, "--body-only")
    finally:
        listener.close()
    assert (result.exit_code, result.stdout_bytes) == (0, b"hello" * 3), result.output
    assert len(accepted) == 1


# --- outputs that are not plain files; names that fail -------------------------------------------


def test_output_to_a_fifo_is_written_directly(raw_server, tmp_path):
    fifo = tmp_path / "ff"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    server = raw_server([OK])
    result = cli(server.url, "-o", str(fifo))
    reader.join(5)
    assert result.exit_code == 0, result.output
    assert got == [b"hello"] and os.listdir(tmp_path) == ["ff"]


def test_output_to_dev_stdout_and_a_process_substitution(raw_server, tmp_path):
    server = raw_server([OK])
    done = rawhttp_process("get", server.url, "-o", "/dev/stdout", "--body-only")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"hello", b"")
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash for a process substitution")
    saved = tmp_path / "saved"
    command = f'"{sys.executable}" -m rawhttp get {server.url} -o >(cat > "{saved}") --body-only'
    done = subprocess.run([bash, "-c", command + "; wait"], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    for _ in range(50):
        if saved.exists() and saved.read_bytes():
            break
        time.sleep(0.05)
    assert saved.read_bytes() == b"hello"


def test_output_through_a_file_is_23(raw_server, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    server = raw_server([OK])
    one_error(cli(server.url, "-o", str(tmp_path / "notes.txt" / "x")), 23, "Not a directory")


@pytest.mark.parametrize("length", [250, 251, 252, 253, 254, 255])
def test_a_legal_long_name_is_saved(raw_server, tmp_path, length):
    server = raw_server([OK])
    name = "n" * length
    result = cli(server.url, "-o", str(tmp_path / name))
    assert result.exit_code == 0, result.output
    assert os.listdir(tmp_path) == [name] and (tmp_path / name).read_bytes() == b"hello"


def test_a_long_name_gets_a_shorter_part_beside_it_that_resume_finds(raw_server, tmp_path):
    from rawhttp.sinks import part_path

    target = str(tmp_path / ("n" * 254))
    part = part_path(target)
    assert len(os.path.basename(part)) <= 255 and part.endswith(".part")
    assert part == part_path(target)  # the same every run
    with open(part, "wb") as file:
        file.write(b"012")
    server = raw_server(
        [
            b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 3-4/5\r\nContent-Length: 2\r\n\r\n34"
        ]
    )
    assert cli(server.url, "-C", "-o", target).exit_code == 0
    assert os.listdir(tmp_path) == ["n" * 254]


def test_a_name_too_long_for_any_file_system_is_23(raw_server, tmp_path):
    server = raw_server([OK])
    result = cli(server.url, "-o", str(tmp_path / ("n" * 256)))
    one_error(result, 23, "File name too long")
    # The body arrived whole but FILE cannot be named: it stays in the shorter part (issue 20).
    (part,) = os.listdir(tmp_path)
    assert part.endswith(".part") and part in result.stderr


@pytest.fixture
def read_only(tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)],
        capture_output=True,
        timeout=10,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=10)


def test_output_into_a_read_only_mount_is_23(raw_server, read_only):
    server = raw_server([OK])
    one_error(cli(server.url, "-o", str(read_only / "f")), 23, "Read-only file system")


# --- CA files, views, send ----------------------------------------------------------------------


def test_a_ca_file_that_is_not_pem_is_77_before_connecting(refused_port, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("this is not a certificate\n")
    result = cli(f"https://127.0.0.1:{refused_port}/", "--cacert", str(junk))
    one_error(result, 77, "cannot read CA file")


def test_show_code_for_two_urls_on_one_connection(site_server):
    result = cli(site_server.url + "/", site_server.url + "/hello.txt", "--show-code")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("#!/usr/bin/env python3") == 2
    assert "GET /hello.txt HTTP/1.1" in result.stdout


def test_a_broken_pipe_under_send_is_23(raw_server):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    body = b"line\n" * 20000
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body])
    command = (
        f"printf 'GET / HTTP/1.1\\nHost: a\\n\\n' | \"{sys.executable}\" -m rawhttp send "
        f"127.0.0.1:{server.port} | head -2 >/dev/null; echo ${{PIPESTATUS[1]}}"
    )
    done = subprocess.run([bash, "-c", command], capture_output=True, timeout=30)
    assert done.stdout.strip() == b"23", done
    assert b"rawhttp: error: file: cannot write to standard output" in done.stderr
    assert b"Traceback" not in done.stderr


def test_explain_of_a_long_url_and_many_headers_keeps_the_transfer(raw_server):
    server = raw_server([OK])
    many = [arg for index in range(120) for arg in ("-H", f"X-{index}: y")]
    result = cli(server.url + "/" + "a" * 9000, *many, "--explain")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == OK


def test_a_view_that_fails_does_not_fail_the_transfer(raw_server, monkeypatch):
    from rawhttp.show.explain import Explain

    def broken(self, event):
        raise KeyError("a bug in a view")

    monkeypatch.setattr(Explain, "_HeadReceived", broken)
    server = raw_server([OK])
    result = cli(server.url, "--explain")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == OK
    assert "rawhttp: warning: the Explain view failed" in result.stderr


# --- honest views -----------------------------------------------------------------------------


def test_binary_body_arriving_as_memoryviews_is_held_back_on_a_terminal(capsys):
    out = io.BytesIO()
    sink = StdoutSink(out, is_terminal=True)
    sink.write(memoryview(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))  # what the client hands over
    sink.write(memoryview(b"more"))
    sink.finish()
    assert out.getvalue() == b""
    assert "binary body of 20 bytes not shown" in capsys.readouterr().err


def test_binary_body_is_not_dumped_on_a_real_terminal(raw_server):
    body = bytes(range(256)) * 64
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body])
    main_end, child_end = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rawhttp", "get", server.url, "--body-only"],
            stdout=child_end,
            stderr=subprocess.PIPE,
            timeout=30,
        )
        os.close(child_end)
        shown = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(main_end, 65536):
                shown += chunk
    finally:
        os.close(main_end)
    assert done.returncode == 0
    assert len(shown) < 100 and b"\x00" not in shown
    assert b"binary body of 16384 bytes not shown" in done.stderr


def _gzip_answer(body: bytes, coding: bytes = b"gzip", head: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        head,
        coding,
        len(body),
        body,
    )


@pytest.mark.parametrize(
    ("reply", "flags"),
    [
        (_gzip_answer(b""), []),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 40\r\n\r\n", ["-I"]),
        (b"HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n", []),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Encoding: gzip\r\n\r\n", []),
    ],
    ids=["empty 200", "HEAD", "204", "304"],
)
def test_no_body_means_nothing_to_decode(raw_server, reply, flags):
    server = raw_server([reply])
    result = cli(server.url, "--compressed", *flags)
    assert result.exit_code == 0, result.output


def test_concatenated_gzip_members_are_all_decoded(raw_server, tmp_path):
    server = raw_server([_gzip_answer(gzip.compress(b"first, ") + gzip.compress(b"second"))])
    result = cli(server.url, "--compressed", "-o", str(tmp_path / "f"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "f").read_bytes() == b"first, second"


def test_every_listed_coding_is_decoded_and_said_in_verbose(raw_server, tmp_path):
    twice = gzip.compress(gzip.compress(b"inner text"))
    server = raw_server([_gzip_answer(twice, b"gzip, gzip")])
    result = cli(server.url, "--compressed", "-o", str(tmp_path / "f"), "-v")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "f").read_bytes() == b"inner text"
    assert "* decoding Content-Encoding: gzip, then gzip" in result.stderr


def test_a_coding_that_cannot_be_undone_is_exit_61_not_saved(raw_server, tmp_path):
    """Once exit 0 with the coded bytes saved; now curl's exit 61, naming the coding."""
    server = raw_server([_gzip_answer(b"compressed bytes", b"compress")])
    result = cli(server.url, "--compressed", "-o", str(tmp_path / "f"), "-v")
    assert result.exit_code == 61, result.output
    assert os.listdir(tmp_path) == []
    assert "cannot decode Content-Encoding compress" in result.stderr


def test_timing_of_a_request_on_a_reused_connection(site_server):
    result = cli(site_server.url + "/", site_server.url + "/hello.txt", "--timing")
    assert result.exit_code == 0, result.output
    first, second = result.stderr.split("  DNS lookup")[1:]
    assert "skipped" not in first
    second = "  DNS lookup" + second
    assert second.count("skipped: the connection was reused") == 3  # DNS, connect, TLS
    for label in ("request sent", "first byte", "body done", "total"):
        line = next(line for line in second.splitlines() if line.strip().startswith(label))
        assert line.strip().endswith("ms"), line
    assert site_server.accepted == 1


def test_timing_json_says_reused(site_server):
    import json

    result = cli(site_server.url + "/", site_server.url + "/hello.txt", "--timing=json")
    first, second = (json.loads(line) for line in result.stderr.splitlines())
    assert (first["reused"], second["reused"]) == (False, True)
    assert second["first_byte"] is not None and second["dns_lookup"] is None


def test_explain_never_claims_a_whole_response_that_did_not_arrive(raw_server, tls):
    server = raw_server([b"HTTP/1.1 400 Bad Request\r\n\r\n", HANG])
    result = cli(f"https://127.0.0.1:{server.port}/", "-k", "--explain")
    assert result.exit_code == 35
    assert "it has the whole response" not in result.stderr
    assert "without a whole response: the TLS handshake failed" in result.stderr
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\npart", RESET])
    result = cli(server.url, "--explain")
    assert result.exit_code == 56
    assert "it has the whole response" not in result.stderr
    assert "the server reset the connection" in result.stderr


# --- --show-code runs every framing -----------------------------------------------------------------

FRAMED = {
    "length": [OK],
    "chunked": [CHUNKED + b"5;x=y\r\nhello\r\n7\r\n, world\r\n0\r\nT: v\r\n\r\n"],
    "close": [b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"the close"],
    "interim": [b"HTTP/1.1 100 Continue\r\n\r\n" + OK],
}


def run_program(program: str, folder, *args: str) -> subprocess.CompletedProcess:
    (folder / "shown.py").write_text(program)
    return subprocess.run(
        [sys.executable, "shown.py", *args], capture_output=True, timeout=30, cwd=folder
    )


@pytest.mark.parametrize("framing", list(FRAMED))
def test_show_code_saves_the_same_body_as_rawhttp_for_each_framing(raw_server, tmp_path, framing):
    server = raw_server(FRAMED[framing])
    assert cli(server.url, "-o", str(tmp_path / "by-rawhttp")).exit_code == 0
    result = cli(server.url, "--show-code")
    assert result.exit_code == 0, result.output
    done = run_program(result.stdout, tmp_path, "by-program")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "by-program").read_bytes() == (tmp_path / "by-rawhttp").read_bytes()


def test_show_code_uses_the_tls_options_given(tls, tmp_path):
    from pytest_httpserver import HTTPServer

    context, cafile = tls
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/").respond_with_data("over tls")
    server.start()
    try:
        url = f"https://127.0.0.1:{server.port}/"
        result = cli(url, "--cacert", cafile, "--show-code")
        assert f"cafile={cafile!r}" in result.stdout
        done = run_program(result.stdout, tmp_path, "body")
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "body").read_bytes() == b"over tls"
        insecure = cli(url, "-k", "--show-code").stdout
        assert "context.verify_mode = ssl.CERT_NONE" in insecure
        assert run_program(insecure, tmp_path, "body2").returncode == 0
    finally:
        server.stop()


# --- the parser: status lines, chunk extensions, replies that are not HTTP -----------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"HTTP/1.1 200 O\x00K", "control byte in the reason phrase"),
        (b"HTTP/1.1 200 OK\x01", "control byte in the reason phrase"),
        (b"HTTP/1.1 200 \x1b[31mred", "control byte in the reason phrase"),
        (b"HTTP/1.1 000 Zero", "outside 100-599"),
        (b"HTTP/1.1 999 Nine", "outside 100-599"),
        (b"HTTP/1.1 099 Low", "outside 100-599"),
    ],
)
def test_bad_status_lines_are_protocol_errors(raw_server, line, words):
    server = raw_server([line + b"\r\nContent-Length: 0\r\n\r\n"])
    one_error(cli(server.url), 8, words)


def test_a_reason_with_tabs_and_obs_text_is_fine():
    reader = wire.ResponseReader()
    reader.feed(b"HTTP/1.1 200 Tout\tva \xe9t\xe9 bien\r\nContent-Length: 0\r\n\r\n")
    assert reader.head.reason == "Tout\tva \xe9t\xe9 bien" and reader.done


@pytest.mark.parametrize(
    "line",
    [
        b"5;",
        b"5; ",
        b"5;;a",
        b"5;a=",
        b'5;a="unbalanced',
        b'5;a="x"y',
        b"5;a b",
        b'5;a="\\',
        b"5;=",
    ],
)
def test_bad_chunk_extensions_are_refused(line):
    with pytest.raises(ProtocolError, match="invalid chunk-size line"):
        wire.ChunkedDecoder().feed(line + b"\r\nhello\r\n")


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (b"5;a", ";a"),
        (b"5 ; a = b", "; a = b"),
        (b'5;a="q \\" \\\\ t";b=c', ';a="q \\" \\\\ t";b=c'),
        (b"5;a=b ", ";a=b "),
    ],
)
def test_good_chunk_extensions_are_kept(line, kept):
    decoder = wire.ChunkedDecoder()
    assert bytes(b"".join(decoder.feed(line + b"\r\nhello\r\n0\r\n\r\n"))) == b"hello"
    assert decoder.done and [ext.rstrip(" ") for ext in decoder.extensions] == [kept.rstrip(" ")]


def test_bad_chunk_extensions_at_the_cli(raw_server):
    server = raw_server([CHUNKED + b'5;a="oops\r\nhello\r\n0\r\n\r\n'])
    one_error(cli(server.url), 8, "invalid chunk-size line")


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        (b"hello there", "hello there"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "SSH-2.0-OpenSSH_9.6"),
        (b"\x15\x03\x03\x00\x02\x02\x50", "\\x15\\x03\\x03\\x00\\x02\\x02P"),
    ],
)
def test_a_reply_that_is_not_http_says_so_with_its_first_bytes(raw_server, reply, shown):
    server = raw_server([reply])
    result = cli(server.url)
    one_error(result, 8, "does not start with an HTTP status line")
    assert shown in result.stderr and "middle of the response head" not in result.stderr


def test_a_reply_that_is_not_http_is_said_at_once_not_after_the_timeout(raw_server):
    server = raw_server([b"220 mail.example.com ESMTP ready\r\n", HANG])
    started = time.monotonic()
    one_error(cli(server.url, timeout="10"), 8, "220 mail.example.com")
    assert time.monotonic() - started < 3


# --- the connection: plain HTTP on an https port, localhost on ::1 -------------------------------------


def test_https_to_a_plain_http_port_says_so_at_once(raw_server):
    server = raw_server([b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", HANG])
    started = time.monotonic()
    result = cli(f"https://127.0.0.1:{server.port}/", "--connect-timeout", "10")
    one_error(result, 35, "answered in plain HTTP, not TLS")
    assert "use http://" in result.stderr
    assert time.monotonic() - started < 3


def test_https_to_a_plain_port_that_speaks_first_says_so_too():
    """The answer is already there when OpenSSL first reads, so it takes the 5 bytes of a
    record header (`HTTP/`) before anyone could look: the rest still says what it was."""
    listener = socket.create_server(("127.0.0.1", 0))

    def greet() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            time.sleep(2)

    threading.Thread(target=greet, daemon=True).start()
    time.sleep(0.05)
    try:
        result = cli(f"https://127.0.0.1:{listener.getsockname()[1]}/")
    finally:
        listener.close()
    one_error(result, 35, "answered in plain HTTP, not TLS ('HTTP/1.1 400 Bad Request')")


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_localhost_tries_ipv6_loopback_too(raw_server):
    server = raw_server([OK], host="::1")
    result = cli(f"http://localhost:{server.port}/", "-v", "--body-only")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == b"hello"
    assert (
        "* localhost is the loopback (RFC 6761): ::1 added to getaddrinfo's answer" in result.stderr
    )
    assert "Connected to [::1]" in result.stderr


def test_localhost_is_still_ipv4_first_when_it_listens_there(raw_server):
    server = raw_server([OK])
    result = cli(f"http://localhost:{server.port}/", "--body-only")
    assert (result.exit_code, result.stdout_bytes) == (0, b"hello")


def test_download_class_asks_for_the_range_it_can_continue(tmp_path):
    from rawhttp.download import Download, accept_encoding

    (tmp_path / "f.part").write_bytes(b"1234")
    assert Download(str(tmp_path / "f"), resume=True).request_headers() == [("Range", "bytes=4-")]
    assert Download(str(tmp_path / "g"), decode=True).request_headers() == [
        ("Accept-Encoding", accept_encoding())  # gzip, deflate (br, zstd if installed)
    ]
