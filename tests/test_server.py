"""The server (rawhttp.server), over real sockets on 127.0.0.1, checked three ways.

Raw sockets send exactly the bytes a test needs (bad requests, pipelining, traversal attempts)
and read the answers with `rawhttp.wire`; curl, Python's http.client and rawhttp's own client
check that real clients get what they should. Every socket has a timeout; every server
binds port 0 and is closed by its fixture.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from email.utils import formatdate

import pytest
from click.testing import CliRunner

import rawhttp
from rawhttp import events
from rawhttp.cli import main
from rawhttp.client import stream
from rawhttp.errors import IncompleteBody, NetworkError, TooManyRedirects
from rawhttp.server import SCENARIOS, Server, running, scenarios
from rawhttp.server.handler import MAX_REQUEST_BODY, Handler
from rawhttp.wire import (
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    ResponseHead,
    ResponseReader,
)

# Every test here runs against both drivers (--model events and --model threads).
pytestmark = pytest.mark.usefixtures("server_model")

TIMEOUT = 5.0
HELLO = b"hello, world\n"
DATA = bytes(range(256)) * 4  # 1024 bytes, not all of them text
INDEX = b"<!DOCTYPE html>\n<title>home</title>\n<p>Home page.</p>\n"
SECRET = b"TOP SECRET: outside the served folder"


# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture
def site(tmp_path):
    """A served folder `root` with a secret file next to it and symlinks pointing out."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "hello.txt").write_bytes(HELLO)
    (root / "data.bin").write_bytes(DATA)
    (root / "sub" / "page.html").write_bytes(b"<p>sub page</p>\n")
    (root / "sub" / "<b>&amp;.txt").write_bytes(b"odd name\n")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (root / "link-out").symlink_to(tmp_path / "secret.txt")
    (root / "dir-out").symlink_to(tmp_path)
    return root


@pytest.fixture
def logs():
    return []


@pytest.fixture
def server(site, logs):
    with Server(site, idle_timeout=TIMEOUT, log=logs.append) as server:
        yield server


def connect(server: Server) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=TIMEOUT)


def read_response(
    sock: socket.socket, pending: bytes = b"", method: str = "GET"
) -> tuple[ResponseHead, bytes, bytes]:
    """One response parsed with rawhttp.wire: (final head, body, bytes received after it)."""
    reader = ResponseReader(method)
    got, body = reader.feed(pending), b""
    while True:
        body += b"".join(bytes(event) for event in got if isinstance(event, memoryview))
        if reader.done:
            return reader.head, body, reader.rest
        data = sock.recv(65536)
        assert data or reader.head is not None, "connection closed before a complete head"
        got = reader.feed(data) if data else reader.eof()


def ask(server: Server, request: bytes) -> tuple[ResponseHead, bytes]:
    """Send raw request bytes on a new connection; the parsed response."""
    with connect(server) as sock:
        sock.sendall(request)
        head, body, _ = read_response(sock, method=request.split(b" ", 1)[0].decode())
        return head, body


def get_request(target: str, *fields: str, method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: test", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything received until the server closes its side (a timeout fails the test)."""
    received = b""
    while data := sock.recv(65536):
        received += data
    return received


def ask_raw(server: Server, request: bytes) -> bytes:
    """Send raw request bytes on a new connection; every byte the server sends until it closes."""
    with connect(server) as sock:
        sock.sendall(request)
        return read_until_closed(sock)


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "5", *args], capture_output=True, timeout=10
    )


# --- static files ---------------------------------------------------------------------------


def test_get_file_with_type_length_and_date(server):
    head, body = ask(server, get_request("/hello.txt"))
    assert (head.status, body) == (200, HELLO)
    assert head.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert head.headers["Content-Length"] == str(len(HELLO))
    assert head.headers["Accept-Ranges"] == "bytes"
    mtime = os.stat(server.root + "/hello.txt").st_mtime
    assert head.headers["Last-Modified"] == formatdate(int(mtime), usegmt=True)


def test_a_file_with_a_trailing_slash_is_not_found(server):
    assert ask(server, get_request("/hello.txt/"))[0].status == 404


def test_folder_serves_index_html(server):
    assert ask(server, get_request("/"))[1] == INDEX


def test_folder_without_slash_redirects_keeping_the_query(server):
    head, _ = ask(server, get_request("/sub?x=1"))
    assert (head.status, head.headers["Location"]) == (301, "/sub/?x=1")


def test_folder_without_index_is_listed_with_names_escaped(server):
    head, body = ask(server, get_request("/sub/"))
    assert head.status == 200 and head.headers["Content-Type"].startswith("text/html")
    assert b'<a href="page.html">page.html</a>' in body
    assert b"&lt;b&gt;&amp;amp;.txt" in body and b"<b>" not in body
    assert b'href="%3Cb%3E%26amp%3B.txt"' in body


def test_absolute_form_target(server):
    head, body = ask(server, get_request("http://elsewhere.example/hello.txt"))
    assert (head.status, body) == (200, HELLO)


def test_head_has_the_same_length_and_no_body(server):
    with connect(server) as sock:
        sock.sendall(get_request("/data.bin", method="HEAD") + get_request("/hello.txt"))
        head, body, rest = read_response(sock, method="HEAD")
        assert (head.status, body, head.headers["Content-Length"]) == (200, b"", "1024")
        assert read_response(sock, rest)[1] == HELLO  # the next answer starts right after


@pytest.mark.parametrize(
    ("value", "status", "content_range", "body"),
    [
        ("bytes=0-9", 206, "bytes 0-9/1024", DATA[:10]),
        ("bytes=-5", 206, "bytes 1019-1023/1024", DATA[-5:]),
        ("bytes=1000-", 206, "bytes 1000-1023/1024", DATA[1000:]),
        ("bytes=1000-5000", 206, "bytes 1000-1023/1024", DATA[1000:]),
        ("bytes=-5000", 206, "bytes 0-1023/1024", DATA),
        ("bytes=1024-", 416, "bytes */1024", None),
        ("bytes=-0", 416, "bytes */1024", None),
        ("bytes=0-1,5-6", 200, None, DATA),  # several ranges: the whole file is allowed
        ("bytes=9-2", 200, None, DATA),  # invalid: ignored
        ("items=0-9", 200, None, DATA),  # unknown unit: ignored
    ],
)
def test_range(server, value, status, content_range, body):
    head, received = ask(server, get_request("/data.bin", f"Range: {value}"))
    assert head.status == status
    assert head.headers.get("Content-Range") == content_range
    if body is not None:
        assert received == body
        assert head.headers["Content-Length"] == str(len(body))


def test_range_is_ignored_for_head_and_for_a_stale_if_range(server):
    assert ask(server, get_request("/data.bin", "Range: bytes=0-9", method="HEAD"))[0].status == 200
    stale = "If-Range: Thu, 01 Jan 1998 00:00:00 GMT"
    head, body = ask(server, get_request("/data.bin", "Range: bytes=0-9", stale))
    assert (head.status, body) == (200, DATA)


def test_if_modified_since(server):
    last_modified = ask(server, get_request("/hello.txt"))[0].headers["Last-Modified"]
    head, body = ask(server, get_request("/hello.txt", f"If-Modified-Since: {last_modified}"))
    assert (head.status, body) == (304, b"")
    assert head.headers["Last-Modified"] == last_modified
    for since in ("Thu, 01 Jan 1998 00:00:00 GMT", "not a date"):
        head, body = ask(server, get_request("/hello.txt", f"If-Modified-Since: {since}"))
        assert (head.status, body) == (200, HELLO)


# --- never outside the root -----------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..\\secret.txt",
        "/..%5csecret.txt",
        "/%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 for '.', an old IIS hole
        "/link-out",  # symlink to the secret
        "/dir-out/secret.txt",  # symlink to the folder above the root
        "/hello.txt%00.html",
        "http://test/../secret.txt",
        "secret.txt",
        "//secret.txt",
        "/%252e%252e/secret.txt",  # decoded once only: a file literally named %2e%2e
    ],
)
def test_traversal_attempts_never_leave_the_root(server, target):
    head, body = ask(server, get_request(target))
    assert head.status in (400, 403, 404)
    assert SECRET not in body


def test_a_symlink_inside_the_root_is_served(site, logs):
    (site / "alias.txt").symlink_to(site / "hello.txt")
    with Server(site, log=logs.append) as server:
        assert ask(server, get_request("/alias.txt"))[1] == HELLO


# --- bad requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /\r\n\r\n", 400),  # no version
        (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # two spaces
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400),  # obs-fold
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),  # space before the colon
        (b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # TLS to a plain port
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_REQUEST_BODY + 1), 413),
        (b"GET /" + b"a" * MAX_REQUEST_LINE + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /" + b"a" * 20_000, 414),  # answered as it arrives, before any end of line
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * MAX_HEADERS + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505),
    ],
)
def test_bad_request_gets_its_status_and_the_connection_closes(server, request_bytes, status):
    with connect(server) as sock:
        sock.sendall(request_bytes)
        head, body, _ = read_response(sock)
        assert head.status == status
        assert head.headers["Connection"] == "close"
        assert body.startswith(b"<!DOCTYPE html>") and str(status).encode() in body
        assert read_until_closed(sock) == b""


def test_chunked_request_body_over_the_limit_is_413(server):
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
        for _ in range(MAX_REQUEST_BODY // len(chunk) + 2):
            sock.sendall(chunk)
        assert read_response(sock)[0].status == 413


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (get_request("/missing.html"), 404),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 405),
        (b"DELETE /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (
            b"PUT /new HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            405,
        ),
        (b"BREW /pot HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntea", 501),
    ],
)
def test_error_with_sound_framing_keeps_the_connection(server, request_bytes, status):
    """The body, if any, is read and dropped, so the next request on the connection works."""
    with connect(server) as sock:
        sock.sendall(request_bytes + get_request("/hello.txt"))
        head, _, rest = read_response(sock)
        assert head.status == status
        if status == 405:
            assert head.headers["Allow"] == "GET, HEAD"
        assert read_response(sock, rest)[1] == HELLO


def test_expect_100_continue_to_a_refused_method_gets_the_final_answer_at_once(server):
    """No 100 Continue for a body that would be dropped: 405 now, and the connection closes
    (the client may or may not send the body after all). The echo page's 100: test_echo.py."""
    with connect(server) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        head, _, _ = read_response(sock)
        assert (head.status, head.headers["Connection"]) == (405, "close")
        assert read_until_closed(sock) == b""


def test_error_page_escapes_the_message(server):
    _, body = ask(server, get_request("/<script>x</script>"))
    assert b"<script>" not in body and b"&lt;script&gt;" in body


def test_a_bad_request_does_not_take_the_server_down(server):
    with connect(server) as sock:
        sock.sendall(b"\x00\xff garbage\r\n\r\n")
        assert read_response(sock)[0].status == 400
    assert rawhttp.get(server.url + "/hello.txt", timeout=TIMEOUT).body == HELLO


def test_a_handler_crash_is_500_and_the_server_carries_on(server, logs):
    class Broken(Handler):
        def __call__(self, exchange):
            raise RuntimeError("bug in a handler")

    server.handler = Broken()
    assert ask(server, get_request("/"))[0].status == 500
    assert any("RuntimeError: bug in a handler" in line for line in logs)
    assert ask(server, get_request("/"))[0].status == 500  # a new connection: still served


# --- connections ----------------------------------------------------------------------------


def test_pipelined_requests_are_answered_in_order(server):
    with connect(server) as sock:
        sock.sendall(get_request("/hello.txt") + get_request("/data.bin") + get_request("/"))
        bodies, rest = [], b""
        for _ in range(3):
            _, body, rest = read_response(sock, rest)
            bodies.append(body)
    assert bodies == [HELLO, DATA, INDEX]
    assert server.accepted == 1


def test_leading_empty_lines_before_a_request_are_skipped(server):
    assert ask(server, b"\r\n\r\n" + get_request("/hello.txt"))[1] == HELLO


def test_connection_close_is_honoured(server):
    with connect(server) as sock:
        sock.sendall(get_request("/hello.txt", "Connection: close"))
        head, body, _ = read_response(sock)
        assert (head.headers["Connection"], body) == ("close", HELLO)
        assert read_until_closed(sock) == b""


def test_http10_closes_unless_keep_alive_is_asked(server):
    with connect(server) as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        head, body, _ = read_response(sock)
        assert (head.headers["Connection"], body) == ("close", HELLO)
        assert read_until_closed(sock) == b""
    with connect(server) as sock:
        keep = b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        sock.sendall(keep)
        head, _, _ = read_response(sock)
        assert head.headers["Connection"] == "keep-alive"
        sock.sendall(keep)
        assert read_response(sock)[1] == HELLO


def test_idle_connection_is_closed_after_the_idle_timeout(site, logs):
    with Server(site, idle_timeout=0.3, log=logs.append) as server, connect(server) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert 0.25 < time.monotonic() - started < 3


def test_over_the_connection_cap_a_client_gets_503(site, logs):
    with Server(site, max_connections=1, log=logs.append) as server:
        with connect(server) as first:
            first.sendall(get_request("/hello.txt"))
            read_response(first)  # served, and kept open: the one slot is taken
            with connect(server) as second:
                head, _, _ = read_response(second)
                assert (head.status, head.headers["Retry-After"]) == (503, "1")
                assert read_until_closed(second) == b""
        deadline = time.monotonic() + TIMEOUT
        while server.active and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ask(server, get_request("/hello.txt"))[1] == HELLO


def test_log_line_per_request(server, logs):
    ask(server, get_request("/hello.txt"))
    ask(server, get_request("/nothing"))
    server.close()  # joins the connection threads, which log after answering
    # Each connection's thread logs after answering, so the two lines may come in either order.
    pattern = r'127\.0\.0\.1 - - \[.+\] "GET {} HTTP/1\.1" {} \d+'
    assert len(logs) == 2
    assert any(re.fullmatch(pattern.format("/hello.txt", 200), line) for line in logs)
    assert any(re.fullmatch(pattern.format("/nothing", 404), line) for line in logs)


def test_close_stops_listening_and_ends_open_connections(site, logs):
    server = Server(site, log=logs.append).start()
    sock = connect(server)
    sock.sendall(get_request("/hello.txt"))
    read_response(sock)  # served, and kept open: its thread waits for the next request
    started = time.monotonic()
    server.close()
    assert time.monotonic() - started < 2
    assert sock.recv(1) == b""
    sock.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=TIMEOUT)


def test_running_yields_the_base_url(site, logs):
    with running(site, log=logs.append) as url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert rawhttp.get(url + "/hello.txt", timeout=TIMEOUT).body == HELLO


# --- other clients: curl, http.client, rawhttp -------------------------------------------------


def test_curl_gets_files_on_one_connection(server):
    result = curl("-w", "%{num_connects}", server.url + "/hello.txt", server.url + "/data.bin")
    assert result.returncode == 0, result.stderr
    assert result.stdout == HELLO + b"1" + DATA + b"0"  # one new connection, then reused
    assert server.accepted == 1


def test_curl_range_head_and_folder_redirect(server):
    assert curl("-r", "0-4", server.url + "/hello.txt").stdout == b"hello"
    head = curl("-I", server.url + "/data.bin").stdout
    assert b"HTTP/1.1 200 OK" in head and b"Content-Length: 1024" in head
    assert b"<title>Index of /sub/</title>" in curl("-L", server.url + "/sub").stdout


def test_http_client_keeps_one_connection(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT)
    try:
        bodies = []
        for target in ("/hello.txt", "/data.bin", "/"):
            conn.request("GET", target)
            if target == "/hello.txt":
                first_socket = conn.sock
            response = conn.getresponse()
            bodies.append(response.read())
            assert response.status == 200
        assert conn.sock is first_socket
        conn.request("HEAD", "/data.bin")
        response = conn.getresponse()
        assert (response.getheader("Content-Length"), response.read()) == ("1024", b"")
    finally:
        conn.close()
    assert bodies == [HELLO, DATA, INDEX]
    assert server.accepted == 1


def test_rawhttp_client_get_and_stream(server):
    assert rawhttp.get(server.url + "/data.bin", timeout=TIMEOUT).body == DATA
    with stream(server.url + "/data.bin", timeout=TIMEOUT) as response:
        assert b"".join(bytes(piece) for piece in response.iter_body()) == DATA


# --- scenarios ------------------------------------------------------------------------------


@pytest.fixture
def scenario_server(site, logs, monkeypatch):
    """Start a server playing a scenario: `scenario_server("chunked")`."""
    monkeypatch.setattr(scenarios, "DRIP_DELAY", 0.001)
    servers = []

    def start(name):
        servers.append(Server(site, scenario=name, log=logs.append).start())
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# Scenarios whose body both clients must receive intact: the file they fetch.
INTACT = {
    "chunked": ("/data.bin", DATA),
    "close-delimited": ("/data.bin", DATA),
    "drip": ("/hello.txt", HELLO),
    "interim": ("/hello.txt", HELLO),
    "ignore-range": ("/data.bin", DATA),
    "slow-head": ("/hello.txt", HELLO),
}


@pytest.mark.parametrize("name", sorted(INTACT))
def test_scenario_body_arrives_intact(scenario_server, name):
    server = scenario_server(name)
    target, expected = INTACT[name]
    seen = []
    response = rawhttp.get(server.url + target, timeout=TIMEOUT, on_event=seen.append)
    assert (response.status, response.body) == (200, expected)
    result = curl(server.url + target)
    assert (result.returncode, result.stdout) == (0, expected), result.stderr
    received = [event for event in seen if isinstance(event, events.Received)]
    if name in ("drip", "slow-head"):
        assert len(received) > 5  # many small reads, not one


def test_scenario_chunked_framing(scenario_server):
    server = scenario_server("chunked")
    with connect(server) as sock:
        sock.sendall(get_request("/data.bin"))
        head, body, _ = read_response(sock)
    assert head.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in head.headers
    assert body == DATA
    raw = ask_raw(server, get_request("/data.bin", "Connection: close"))
    assert raw.count(b"\r\n100\r\n") == 3  # four chunks of 256 bytes...
    assert b'\r\n100;note="first chunk"\r\n' in raw  # ...the first with an extension
    assert re.search(rb"\r\n0\r\nX-Body-SHA256: [0-9a-f]{64}\r\n\r\n$", raw)


def test_scenario_close_delimited_has_no_length(scenario_server):
    server = scenario_server("close-delimited")
    raw = ask_raw(server, get_request("/hello.txt"))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"Content-Length" not in head and b"Transfer-Encoding" not in head
    assert raw.endswith(b"\r\n\r\n" + HELLO)


def test_scenario_interim_sends_100_and_103_first(scenario_server):
    server = scenario_server("interim")
    seen = []
    rawhttp.get(server.url + "/hello.txt", timeout=TIMEOUT, on_event=seen.append)
    statuses = [event.head.status for event in seen if isinstance(event, events.HeadReceived)]
    assert statuses == [100, 103, 200]
    result = curl("-w", "%{http_code}", server.url + "/hello.txt")
    assert result.stdout == HELLO + b"200"


def test_scenario_ignore_range_answers_200(scenario_server):
    server = scenario_server("ignore-range")
    response = rawhttp.get(server.url + "/data.bin", {"Range": "bytes=0-9"}, timeout=TIMEOUT)
    assert (response.status, response.body) == (200, DATA)
    assert "Accept-Ranges" not in response.headers
    result = curl("-r", "0-9", "-w", "%{http_code}", server.url + "/data.bin")
    assert result.stdout == DATA + b"200"


def test_scenario_wrong_length_is_an_incomplete_body(scenario_server):
    server = scenario_server("wrong-length")
    with pytest.raises(IncompleteBody) as caught:
        rawhttp.get(server.url + "/hello.txt", timeout=TIMEOUT)
    assert (caught.value.received, caught.value.expected) == (len(HELLO), len(HELLO) + 100)
    assert curl(server.url + "/hello.txt").returncode == 18


def test_scenario_reset_is_a_network_error(scenario_server):
    server = scenario_server("reset")
    with pytest.raises(NetworkError):
        rawhttp.get(server.url + "/data.bin", timeout=TIMEOUT)
    assert curl(server.url + "/data.bin").returncode == 56


def test_scenario_gzip(scenario_server):
    server = scenario_server("gzip")
    response = rawhttp.get(server.url + "/", timeout=TIMEOUT)
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.body) == INDEX
    result = curl("--compressed", server.url + "/")
    assert (result.returncode, result.stdout) == (0, INDEX)


def test_scenario_redirect_loop(scenario_server):
    server = scenario_server("redirect-loop")
    response = rawhttp.get(server.url + "/loop", timeout=TIMEOUT)
    assert (response.status, response.headers["Location"]) == (302, "/loop?again")
    with pytest.raises(TooManyRedirects):
        rawhttp.get(server.url + "/loop", timeout=TIMEOUT, follow_redirects=True)
    assert curl("-L", "--max-redirs", "5", server.url + "/loop").returncode == 47


def test_scenario_without_a_file_sends_its_own_page(scenario_server):
    server = scenario_server("chunked")
    assert b"rawhttp scenario chunked" in rawhttp.get(server.url + "/sub/", timeout=TIMEOUT).body
    assert rawhttp.get(server.url + "/nothing", timeout=TIMEOUT).status == 404


def test_scenario_head_gets_no_body(scenario_server):
    server = scenario_server("chunked")
    with connect(server) as sock:
        sock.sendall(get_request("/hello.txt", method="HEAD") + get_request("/hello.txt"))
        head, body, rest = read_response(sock, method="HEAD")
        assert (head.status, body) == (200, b"")
        assert read_response(sock, rest)[1] == HELLO


def test_every_scenario_has_a_test_and_a_summary():
    tested = set(INTACT) | {"wrong-length", "reset", "gzip", "redirect-loop"}
    assert set(SCENARIOS) == tested
    assert all(scenario.summary for scenario in SCENARIOS.values())


# --- the command line -------------------------------------------------------------------------


def wait_for_line(stream, timeout: float = 10.0) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "no output from the server"
    return stream.readline()


def test_cli_serve_starts_answers_and_stops_on_ctrl_c(site):
    command = [sys.executable, "-m", "rawhttp", "serve", str(site), "--port", "0"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            line = wait_for_line(process.stdout)
            match = re.fullmatch(
                r"Serving (.+) on (http://127\.0\.0\.1:\d+)/ \(events model; Ctrl-C to stop\)\n",
                line,
            )
            assert match and match.group(1) == str(site)
            assert rawhttp.get(match.group(2) + "/hello.txt", timeout=TIMEOUT).body == HELLO
            assert '"GET /hello.txt HTTP/1.1" 200' in wait_for_line(process.stderr)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()


def test_cli_serve_address_in_use_exits_7(site, logs):
    with Server(site, log=logs.append) as occupant:
        command = [
            sys.executable,
            "-m",
            "rawhttp",
            "serve",
            str(site),
            "--port",
            str(occupant.port),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    assert result.returncode == 7
    assert result.stderr == (
        f"rawhttp: error: tcp: cannot listen on 127.0.0.1 port {occupant.port}: "
        "Address already in use\n"
    )


def test_cli_scenario_list_and_usage_errors(site):
    runner = CliRunner()
    result = runner.invoke(main, ["serve", "--scenario", "list"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == list(SCENARIOS)
    both = runner.invoke(
        main, ["serve", "--scenario", "chunked", "--replay", str(site / "hello.txt")]
    )
    assert both.exit_code == 2
    assert runner.invoke(main, ["serve", "--scenario", "nonsense"]).exit_code == 2
