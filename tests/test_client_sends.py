"""What the client sends must be exactly what it says (issue 20): bodies of unknown length
chunked, a file cut at its Content-Length, bounded reads of -d files, argument bytes sent as
given, `-H 'Expect:'`, and the server's answer watched for while a body goes out (RFC 9112
9.5). The peers are real: a recording server parsing with the server's own RequestReader (it
counts the requests a connection carried, so a smuggled one shows), our echo server, curl
beside rawhttp, and gunicorn's sync worker."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from rawhttp.cli.bodies import MAX_DATA
from rawhttp.client import Session
from rawhttp.dial import Options
from rawhttp.errors import InputError
from rawhttp.request import FileBody, StreamBody, file_body
from rawhttp.wire import RequestReader

LINGER = 0.5  # seconds between a recorder's early answer and its close
TIMEOUT = 10
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Recorder:
    """A server reading whole requests (head and body) with rawhttp's RequestReader, one after
    another on a connection, answering each `answer`. With `answer_after`, it answers as soon
    as that many body bytes came, then closes without reading more (gunicorn's habit)."""

    def __init__(self, answer: bytes = OK, answer_after: int | None = None):
        self.answer, self.answer_after = answer, answer_after
        self.requests: list[tuple[bytes, bytes]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(TIMEOUT)
                self._connection(conn)

    def _connection(self, conn: socket.socket) -> None:
        reader, body = RequestReader(), bytearray()
        while data := conn.recv(65536):
            pending = data
            while pending:
                for event in reader.feed(pending):
                    if isinstance(event, memoryview):
                        body += event
                pending = b""
                if self.answer_after is not None and len(body) >= self.answer_after:
                    self.requests.append((reader.head.raw, bytes(body)))
                    conn.sendall(self.answer)
                    _linger(conn)
                    return
                if reader.done:
                    self.requests.append((reader.head.raw, bytes(body)))
                    conn.sendall(self.answer)
                    pending, reader, body = reader.rest, RequestReader(), bytearray()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def _linger(conn: socket.socket) -> None:
    """After answering early: our FIN at once, then the close a moment later, still without
    reading the rest. A close with unread bytes is a reset, and a reset makes the client's
    kernel drop what it has not read yet: the answer, were the close immediate (then curl
    too says only "reset"). The moment lets the client read the answer first."""
    conn.shutdown(socket.SHUT_WR)
    time.sleep(LINGER)


@pytest.fixture
def recorder():
    made: list[Recorder] = []

    def start(**kwargs) -> Recorder:
        made.append(Recorder(**kwargs))
        return made[-1]

    yield start
    for server in made:
        server.close()


def rawhttp(*args, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rawhttp", "get", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
    )


def curl(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=60)


def fifo_with(folder, name: str, data: bytes):
    """A FIFO and a thread writing `data` into it for its first reader."""
    path = os.path.join(folder, name)
    os.mkfifo(path)

    def feed() -> None:
        with open(path, "wb") as pipe:
            pipe.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    return path, writer


# --- -T of what is not a regular file -------------------------------------------------------


def test_upload_of_a_fifo_is_chunked_and_smuggles_nothing(recorder, tmp_path):
    """A FIFO holding a request, uploaded on a kept-alive connection: once sent as
    `Content-Length: 0` plus its bytes, which the server answered as a second request. Now
    chunked, as curl sends it (run beside: the same framing and body)."""
    server = recorder()
    for name, run in (("curl", curl), ("ours", lambda *args: rawhttp(args[-1], *args[:-1]))):
        path, writer = fifo_with(tmp_path, name, SMUGGLED)
        result = run("-T", path, "-H", "Connection: keep-alive", f"{server.url}/up")
        writer.join(5)
        assert result.returncode == 0, result.stderr
    assert len(server.requests) == 2, [head for head, _ in server.requests]  # no /smuggled
    for head, body in server.requests:
        assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
        assert body == SMUGGLED


def test_files_without_a_size_are_streamed(tmp_path):
    """/dev/zero, /proc files (size 0, bytes made as read) and FIFOs: no length known."""
    regular = tmp_path / "f"
    regular.write_bytes(b"x" * 10)
    assert isinstance(file_body(str(regular)), FileBody)
    assert isinstance(file_body("/proc/self/status"), StreamBody)
    zero = file_body("/dev/zero")
    assert isinstance(zero, StreamBody) and zero.length is None
    assert len(next(iter(zero.pieces()))) > 0
    zero.stream.close()


# --- a regular file that changes while it is sent --------------------------------------------


def test_a_growing_file_is_cut_at_its_content_length(recorder, tmp_path):
    """Bytes past the announced length would be the next request on a kept connection."""
    path = tmp_path / "grows"
    path.write_bytes(b"a" * 1000)
    server = recorder()
    with Session(Options(read_timeout=TIMEOUT)) as session:
        request_body = FileBody(path)
        with open(path, "ab") as file:
            file.write(SMUGGLED)  # after the Content-Length was taken
        with session.stream(f"{server.url}/up", "PUT", body=request_body, keep_alive=True) as r:
            assert r.status == 200
            r.read()
        with session.stream(f"{server.url}/next") as r:
            r.read()
    assert [body for _, body in server.requests] == [b"a" * 1000, b""]
    assert b"/smuggled" not in b"".join(head for head, _ in server.requests)


def test_a_shrinking_file_is_exit_26_naming_it(tmp_path, recorder):
    path = tmp_path / "shrinks"
    path.write_bytes(b"a" * 1000)
    body = FileBody(path)
    path.write_bytes(b"a" * 10)
    with pytest.raises(InputError, match="shrank while being sent") as info:
        b"".join(body.pieces())
    assert info.value.exit_code == 26


# --- what -d and friends read into memory ----------------------------------------------------


@pytest.mark.parametrize("option", ["-d", "--data-binary", "--data-urlencode", "--json", "-F"])
def test_data_files_past_the_limit_are_one_line_exit_26(option, tmp_path, refused_port):
    """A file over MAX_DATA (a sparse one: no disk used) is refused before connecting."""
    big = tmp_path / "big"
    with open(big, "wb") as file:
        file.truncate(MAX_DATA + 1)
    spec = f"f=@{big}" if option == "-F" else f"@{big}"
    result = rawhttp(f"http://127.0.0.1:{refused_port}/", option, spec)
    assert result.returncode == 26, result.stderr
    assert result.stderr.decode().count("\n") == 1 and b"Traceback" not in result.stderr
    assert b"MAX_DATA" in result.stderr


def test_data_from_dev_zero_ends_at_the_limit(refused_port):
    started = time.monotonic()
    result = rawhttp(f"http://127.0.0.1:{refused_port}/", "-d", "@/dev/zero")
    assert result.returncode == 26, result.stderr
    assert b"MAX_DATA" in result.stderr and time.monotonic() - started < 20


def test_data_from_stdin_past_the_limit(refused_port):
    stdin = b"x" * (MAX_DATA + 1)
    result = rawhttp(f"http://127.0.0.1:{refused_port}/", "--data-binary", "@-", stdin=stdin)
    assert result.returncode == 26 and b"MAX_DATA" in result.stderr


# --- bytes that are not UTF-8 in arguments ----------------------------------------------------

RAW = b"\xff\xfe\xe9"  # not UTF-8: click hands these over as surrogate escapes
ARG = RAW.decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    "args",
    [
        ["-u", f"us{ARG}:pw"],
        ["-d", f"a={ARG}"],
        ["--data-binary", f"a={ARG}"],
        ["--data-urlencode", f"a={ARG}"],
        ["--json", f'{{"a": "{ARG}"}}'],
        ["-F", f"a={ARG}"],
        ["-F", f"n{ARG}=v"],
        ["-b", f"a={ARG}"],
    ],
)
def test_argument_bytes_are_sent_as_given_as_curl_does(args, recorder):
    """curl sends an argument's bytes as they are; rawhttp once raised UnicodeEncodeError.
    Both run against the same recorder: the same bytes arrive (a multipart boundary aside)."""
    server = recorder()
    theirs = curl(*args, f"{server.url}/x")
    ours = rawhttp(f"{server.url}/x", *args)
    assert ours.returncode == 0 and theirs.returncode == 0, ours.stderr
    (curl_head, curl_body), (our_head, our_body) = server.requests
    if args[0] == "-F":  # random boundaries: compare the part, not the whole body
        curl_body, our_body = (
            body.split(b"\r\n", 1)[1].rsplit(b"\r\n--", 1)[0] for body in (curl_body, our_body)
        )
    assert our_body == curl_body
    for name in (b"Authorization", b"Cookie"):
        line = [line for line in curl_head.split(b"\r\n") if line.startswith(name)]
        assert line == [line for line in our_head.split(b"\r\n") if line.startswith(name)]


def test_url_bytes_that_are_not_utf8_are_percent_encoded(recorder):
    """A URL argument with bytes that are not UTF-8 once ended in a traceback. The bytes are
    sent as the bytes they were, percent-encoded. curl does the same in the path (in lower
    case: `%ff`) but sends the query's bytes raw, which RFC 9112's request-target does not
    allow: rawhttp encodes them too, on purpose."""
    server = recorder()
    theirs = curl(f"{server.url}/p{ARG}?q={ARG}")
    ours = rawhttp(f"{server.url}/p{ARG}?q={ARG}")
    assert ours.returncode == 0 and theirs.returncode == 0, ours.stderr
    (curl_head, _), (our_head, _) = server.requests
    assert curl_head.split(b" ")[1].split(b"?")[0] == b"/p%ff%fe%e9"
    assert our_head.split(b" ")[1] == b"/p%FF%FE%E9?q=%FF%FE%E9"


def test_a_cookie_file_with_odd_bytes_is_sent_as_given(recorder, tmp_path):
    jar = tmp_path / "jar"
    jar.write_bytes(b"127.0.0.1\tFALSE\t/\tFALSE\t0\tname\tv" + RAW + b"\n")
    server = recorder()
    theirs = curl("-b", str(jar), f"{server.url}/x")
    ours = rawhttp(f"{server.url}/x", "-b", str(jar))
    assert ours.returncode == 0 and theirs.returncode == 0, ours.stderr
    cookies = [head.split(b"Cookie: ")[1].split(b"\r\n")[0] for head, _ in server.requests]
    assert cookies == [b"name=v" + RAW] * 2


# --- Expect ------------------------------------------------------------------------------------


def test_empty_expect_header_removes_the_one_rawhttp_adds(recorder, tmp_path):
    """curl's `-H 'Name:'` removes a header it would send: Expect too (run beside)."""
    big = tmp_path / "big"
    big.write_bytes(b"x" * (2 * 1024 * 1024))
    server = recorder()
    theirs = curl("-T", str(big), "-H", "Expect:", f"{server.url}/up")
    ours = rawhttp(f"{server.url}/up", "-T", str(big), "-H", "Expect:", "-v")
    assert ours.returncode == 0 and theirs.returncode == 0, ours.stderr
    for head, body in server.requests:
        assert b"Expect" not in head and len(body) == 2 * 1024 * 1024
    assert b"100 Continue" not in ours.stderr  # no wait for one either
    # Without the option both announce it.
    assert b"Expect: 100-continue" in rawhttp(f"{server.url}/up", "-T", str(big), "-v").stderr


# --- the server's answer while the body goes out (RFC 9112 9.5) -------------------------------

BIG_PUT = 3 * 1024 * 1024
EARLY = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly"


def test_an_answer_mid_upload_stops_the_sending_and_is_shown(recorder, tmp_path):
    """A server answering after 4 KiB of a 3 MiB PUT, then closing: rawhttp once said exit 56
    "Broken pipe", curl shows the 200. Now rawhttp shows it too (curl run beside)."""
    big = tmp_path / "big"
    big.write_bytes(b"x" * BIG_PUT)
    server = recorder(answer=EARLY, answer_after=4096)
    theirs = curl("-T", str(big), "-H", "Expect:", f"{server.url}/up")
    ours = rawhttp(f"{server.url}/up", "-T", str(big), "-H", "Expect:", "-v")
    assert theirs.returncode == 0 and theirs.stdout == b"early"
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.startswith(b"HTTP/1.1 200 OK") and ours.stdout.endswith(b"early")
    assert b"the rest was not sent" in ours.stderr


def test_a_1xx_mid_upload_does_not_stop_the_sending(recorder, tmp_path):
    """A late 100 Continue (after the 1 s wait) is no answer: the body goes on."""
    server = recorder(answer=b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    big = tmp_path / "big"
    big.write_bytes(b"x" * BIG_PUT)
    ours = rawhttp(f"{server.url}/up", "-T", str(big), "-H", "Expect:")
    assert ours.returncode == 0 and ours.stdout.endswith(b"ok")
    assert len(server.requests[0][1]) == BIG_PUT


GUNICORN_APP = """
def app(environ, start_response):
    environ["wsgi.input"].read(4096)  # a look at the start of the body, then the answer
    start_response("200 OK", [("Content-Length", "7")])
    return [b"thanks\\n"]
"""


@pytest.mark.slow
def test_gunicorn_sync_worker_answering_mid_upload(tmp_path):
    """The case the issue found: gunicorn's sync worker answers a 3 MiB PUT and closes."""
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable))
    if gunicorn is None:
        pytest.fail("gunicorn is a test dependency: pip install gunicorn")
    (tmp_path / "app.py").write_text(GUNICORN_APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [gunicorn, "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}", "app:app"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe, contextlib.suppress(OSError):
                probe.connect(("127.0.0.1", port))
                break
            time.sleep(0.1)
        big = tmp_path / "big"
        big.write_bytes(b"x" * BIG_PUT)
        url = f"http://127.0.0.1:{port}/up"
        theirs = curl("-T", str(big), url)
        ours = rawhttp(url, "-T", str(big))
        # gunicorn closes with the body unread: a reset, which now and then reaches curl
        # while it still sends, and takes the answer with it (curl's exit 55). rawhttp reads
        # the answer as soon as it comes, so it must have it.
        assert theirs.returncode == 55 or theirs.stdout == b"thanks\n", theirs.stderr
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout.endswith(b"thanks\n")
    finally:
        server.terminate()
        server.wait(10)


def test_an_https_upload_is_not_stalled_by_a_session_ticket(tmp_path):
    """Over TLS 1.3 the server's session tickets arrive after the handshake: the socket is
    readable, yet no answer is there. Watching for the answer must not wait on them."""
    import ssl

    import trustme
    from pytest_httpserver import HTTPServer
    from werkzeug import Response

    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    big = tmp_path / "big"
    big.write_bytes(b"x" * BIG_PUT)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/up").respond_with_handler(
        lambda request: Response(str(len(request.get_data())))
    )
    server.start()
    try:
        url = f"https://localhost:{server.port}/up"
        started = time.monotonic()
        for expect in ([], ["-H", "Expect:"]):
            ours = rawhttp(
                url,
                "-T",
                str(big),
                "--cacert",
                str(cafile),
                "--tlsv1.3",
                "--body-only",
                "--timeout",
                "20",
                *expect,
            )
            assert ours.returncode == 0, ours.stderr
            assert ours.stdout == str(BIG_PUT).encode()
        assert time.monotonic() - started < 15
    finally:
        server.stop()


def test_an_https_upload_to_a_server_that_never_says_100_goes_after_the_wait(tmp_path):
    """Expect: 100-continue over TLS 1.3, to a server that ignores it: the body must go after
    the 1 s wait (curl's rule). The session tickets made the socket readable, and the wait
    then blocked in a read until --timeout (exit 28)."""
    import ssl

    import trustme

    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    big = tmp_path / "big"
    big.write_bytes(b"x" * (2 * 1024 * 1024))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(TIMEOUT)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += tls.recv(65536)
                body = len(data.split(b"\r\n\r\n", 1)[1])
                while body < big.stat().st_size and (piece := tls.recv(65536)):
                    body += len(piece)
                tls.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (len(str(body)), body)
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        url = f"https://localhost:{listener.getsockname()[1]}/"
        started = time.monotonic()
        ours = rawhttp(
            url,
            "-T",
            str(big),
            "--cacert",
            str(cafile),
            "--tlsv1.3",
            "--body-only",
            "--timeout",
            "8",
        )
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == str(2 * 1024 * 1024).encode()
        assert time.monotonic() - started < 6
    finally:
        thread.join(10)
        listener.close()
