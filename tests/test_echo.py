"""Request bodies on the server: the echo page (`serve --echo`), uploads (`serve --upload`),
and `Expect: 100-continue` answered before the body is read, or refused at once. Checked with
raw sockets, curl and Python's http.client, against both drivers."""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import ask_server, read_answer

from rawhttp import wire
from rawhttp.server import Server
from rawhttp.server.echo import MAX_ECHO_BODY, plain_echo, visible_lines
from rawhttp.server.upload import MAX_UPLOAD

TIMEOUT = 5.0
pytestmark = pytest.mark.usefixtures("server_model")


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "form.html").write_bytes(b"<form method=post action=/echo></form>\n")
    return root


@pytest.fixture
def echo(site):
    with Server(site, echo=True, log=lambda line: None) as server:
        yield server


def test_the_echo_shows_every_byte_with_offsets_and_visible_line_ends(echo):
    request = (
        b"POST /echo?x=1 HTTP/1.1\r\nHost: t\r\nAccept: text/plain\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\na=1&b=two"
    )
    head, body = ask_server(echo, request)
    assert head.status == 200 and head.headers["Content-Type"].startswith("text/plain")
    assert body == plain_echo(request)
    assert b"  0  POST /echo?x=1 HTTP/1.1\\r\\n\n" in body
    assert body.rstrip().endswith(b"a=1&b=two")
    assert f"the {len(request)} bytes".encode() in body


def test_a_chunked_body_is_echoed_with_its_framing(echo):
    request = (
        b"PUT /x HTTP/1.1\r\nHost: t\r\nUser-Agent: curl/8\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )
    assert ask_server(echo, request)[1] == plain_echo(request)


def test_a_browser_gets_html_with_headers_and_form_fields(echo):
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="up"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nfile data\r\n--XyZ--\r\n"
    )
    request = (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nAccept: text/html\r\n"
        b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    head, page = ask_server(echo, request)
    assert head.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"<th>Content-Type</th><td>multipart/form-data; boundary=XyZ</td>" in page
    assert b"<th>note</th><td>hello</td>" in page
    assert b"<th>up</th><td>a.txt (9 bytes, text/plain)</td>" in page
    assert b'<span class="eol">\\r\\n</span>' in page


def test_a_file_is_still_served_and_a_get_elsewhere_is_echoed(echo):
    assert ask_server(echo, b"GET /form.html HTTP/1.1\r\nHost: t\r\n\r\n")[1].startswith(b"<form")
    head, body = ask_server(
        echo, b"GET /echo?q=a+b HTTP/1.1\r\nHost: t\r\nAccept: text/plain\r\n\r\n"
    )
    assert head.status == 200 and b"GET /echo?q=a+b HTTP/1.1" in body


def test_expect_100_continue_then_the_body_then_the_echo(echo):
    with socket.create_connection((echo.host, echo.port), timeout=TIMEOUT) as sock:
        sock.sendall(
            b"POST /e HTTP/1.1\r\nHost: t\r\nAccept: text/plain\r\nContent-Length: 3\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        head, body = read_answer(sock)
        assert head.status == 200 and body.rstrip().endswith(b"abc")


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        (b"Content-Length: %d\r\nExpect: 100-continue\r\n" % (MAX_ECHO_BODY + 1), 413),
        (b"Content-Length: 3\r\nExpect: something-else\r\n", 417),
    ],
)
def test_an_expectation_that_would_be_refused_is_answered_at_once(echo, fields, status):
    head, _ = ask_server(echo, b"POST /e HTTP/1.1\r\nHost: t\r\n" + fields + b"\r\n")
    assert head.status == status and head.headers["Connection"] == "close"


def test_http_client_posts_to_the_echo(echo):
    conn = http.client.HTTPConnection(echo.host, echo.port, timeout=TIMEOUT)
    try:
        conn.request("POST", "/form", body=b"k=v", headers={"Accept": "text/plain"})
        answer = conn.getresponse()
        assert answer.status == 200 and answer.read().rstrip().endswith(b"k=v")
    finally:
        conn.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_form_and_upload_reach_the_echo(echo):
    result = subprocess.run(
        ["curl", "-sS", "-F", "name=value", f"{echo.url}/submit"],
        capture_output=True,
        timeout=TIMEOUT * 2,
    )
    assert result.returncode == 0
    assert b"Content-Type: multipart/form-data; boundary=" in result.stdout
    assert b'form-data; name=\\"name\\"' in result.stdout or b'name="name"' in result.stdout


def test_visible_lines_count_every_byte():
    raw = b"a\r\nb\n\x00\xff\\"
    assert visible_lines(raw) == [(0, "a\\r\\n"), (3, "b\\n"), (5, "\\x00\\xff\\x5c")]


# --- uploads ---------------------------------------------------------------------------------


@pytest.fixture
def uploads(site, tmp_path):
    folder = tmp_path / "uploads"
    (folder / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (folder / "out").symlink_to(tmp_path / "outside")
    with Server(site, upload=folder, log=[].append) as server:
        yield server, folder, tmp_path / "outside"


def put(server: Server, target: str, body: bytes, *fields: bytes) -> wire.ResponseHead:
    head = b"PUT %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n" % (target.encode(), len(body))
    return ask_server(server, head + b"".join(fields) + b"\r\n" + body)[0]


def test_put_saves_a_file_then_replaces_it(uploads):
    server, folder, _ = uploads
    assert put(server, "/sub/a.txt", b"first").status == 201
    assert (folder / "sub" / "a.txt").read_bytes() == b"first"
    assert put(server, "/sub/a.txt", b"second").status == 204
    assert (folder / "sub" / "a.txt").read_bytes() == b"second"
    assert sorted(p.name for p in (folder / "sub").iterdir()) == ["a.txt"]  # no part left


@pytest.mark.parametrize(
    ("target", "status"),
    [("/out/x.txt", 404), ("/..%2fx.txt", 400), ("/nope/x.txt", 404), ("/sub", 409), ("/", 400)],
)
def test_put_never_writes_outside_the_upload_folder(uploads, target, status):
    server, _, outside = uploads
    assert put(server, target, b"data").status == status
    assert list(outside.iterdir()) == []


def test_a_put_over_the_cap_is_refused_before_its_body(uploads):
    server, folder, _ = uploads
    fields = b"PUT /big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n" % (MAX_UPLOAD + 1)
    assert ask_server(server, fields + b"\r\n")[0].status == 413
    assert ask_server(server, fields + b"Expect: 100-continue\r\n\r\n")[0].status == 413
    assert not (folder / "big.bin").exists()


def test_a_put_cut_short_leaves_no_file_and_no_part(uploads):
    server, folder, _ = uploads
    parts = Path(server.handler.upload.parts)
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"PUT /cut.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly this")
    lines = server.log.__self__  # the list the fixture's log appends to
    # The server logs the cut-short request once it has dropped it (and its part file).
    assert _wait_for(lambda: any("closed by the client inside a request" in x for x in lines), 10)
    assert sorted(p.name for p in folder.iterdir() if p.name != parts.name) == ["out", "sub"]
    assert list(parts.iterdir()) == []  # the private folder of part files is empty again


def test_without_upload_a_put_is_405(site):
    with Server(site, log=lambda line: None) as server:
        assert put(server, "/a.txt", b"x").status == 405


def _wait_for(condition, seconds: float = 3.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()
