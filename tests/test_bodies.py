"""Requests with bodies: `rawhttp get -X/-d/--data-binary/--data-urlencode/--json/-F/-T/-G`,
checked against our server's echo (which shows the exact bytes received), pytest-httpserver
(redirects with bodies), a scripted connection (the retry rule) and 100-continue both ways."""

from __future__ import annotations

import contextlib
import io
import os
import re
import typing

import pytest
from click.testing import CliRunner

from rawhttp import events
from rawhttp.cli import main
from rawhttp.client import EXPECT_OVER, Session
from rawhttp.dial import Options
from rawhttp.request import BytesBody, CannotReplayBody, Request, StreamBody, redirected
from rawhttp.server import Server
from rawhttp.url import parse_url
from rawhttp.wire import Headers, RequestReader

TIMEOUT = 5.0


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("echo"), echo=True, log=lambda line: None) as server:
        yield server


@pytest.fixture
def uploads(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "uploads").mkdir()
    with Server(tmp_path / "site", upload=tmp_path / "uploads", log=lambda line: None) as server:
        server.uploads = tmp_path / "uploads"
        yield server


def get(*args: str, stdin: bytes | None = None):
    runner = CliRunner()
    return runner.invoke(main, ["get", *args, "--timeout", "3"], input=stdin)


def received(result) -> RequestReader:
    """The request the echo received, parsed back from its text answer (offset + line)."""
    raw = bytearray()
    for line in result.stdout.split("\n")[2:]:
        match = re.fullmatch(r" *\d+  (.*)", line)
        if match:
            raw += match.group(1).encode("latin-1").decode("unicode_escape").encode("latin-1")
    reader = RequestReader()
    reader.feed(bytes(raw))
    assert reader.done, raw
    reader.body_bytes = bytes(raw[len(reader.head.raw) :])
    return reader


def echoed(echo, *args: str, stdin: bytes | None = None) -> RequestReader:
    result = get(f"{echo.url}/echo", "--body-only", "-H", "Accept: text/plain", *args, stdin=stdin)
    assert result.exit_code == 0, result.output
    return received(result)


def test_data_is_a_urlencoded_post_joined_with_ampersands(echo):
    request = echoed(echo, "-d", "a=1", "-d", "b=two words")
    assert request.head.method == "POST"
    assert request.head.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.head.headers["Content-Length"] == "15"
    assert request.body_bytes == b"a=1&b=two words"


def test_data_at_file_drops_newlines_and_data_binary_keeps_them(echo, tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes(b"x=1\r\ny=2\n")
    assert echoed(echo, "-d", f"@{path}").body_bytes == b"x=1y=2"
    assert echoed(echo, "--data-binary", f"@{path}").body_bytes == b"x=1\r\ny=2\n"
    assert echoed(echo, "-d", "@-", stdin=b"from=stdin\n").body_bytes == b"from=stdin"


def test_data_urlencode_forms(echo):
    body = echoed(echo, "--data-urlencode", "q=a b&c", "--data-urlencode", "=x/y").body_bytes
    assert body == b"q=a+b%26c&x%2Fy"


def test_json_sets_content_type_and_accept(echo):
    request = echoed(echo, "--json", '{"a": 1}')
    assert request.head.headers["Content-Type"] == "application/json"
    assert request.body_bytes == b'{"a": 1}'
    result = get(f"{echo.url}/echo", "--body-only", "--json", "{}", "-v")
    assert "> Accept: application/json" in result.stderr


def test_form_builds_multipart_with_a_file_part(echo, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"file body\n")
    request = echoed(echo, "-F", "name=value", "-F", f"up=@{path}")
    kind = request.head.headers["Content-Type"]
    assert kind.startswith("multipart/form-data; boundary=")
    boundary = kind.split("boundary=")[1].encode()
    assert request.body_bytes == (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="name"\r\n\r\nvalue\r\n'
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="up"; filename="notes.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nfile body\n\r\n"
        b"--" + boundary + b"--\r\n"
    )


def test_upload_file_is_a_put_with_length_and_stdin_goes_chunked(echo, tmp_path):
    path = tmp_path / "up.bin"
    path.write_bytes(os.urandom(3000))
    request = echoed(echo, "-T", str(path))
    assert (request.head.method, request.head.headers["Content-Length"]) == ("PUT", "3000")
    assert request.body_bytes == path.read_bytes()
    request = echoed(echo, "-T", "-", stdin=b"piped")
    assert request.head.headers["Transfer-Encoding"] == "chunked"
    assert request.body_bytes == b"5\r\npiped\r\n0\r\n\r\n"


def test_upload_file_to_a_folder_url_names_the_file_and_saves_it(uploads, tmp_path):
    path = tmp_path / "report.txt"
    path.write_bytes(b"saved by PUT\n")
    result = get(f"{uploads.url}/", "-T", str(path))
    assert result.exit_code == 0 and "201 Created" in result.stdout
    assert (uploads.uploads / "report.txt").read_bytes() == b"saved by PUT\n"


def test_get_puts_the_data_in_the_query_and_x_names_the_method(echo):
    request = echoed(echo, "-G", "-d", "q=1", "-d", "r=2")
    assert (request.head.method, request.head.target) == ("GET", "/echo?q=1&r=2")
    assert "Content-Length" not in request.head.headers
    assert echoed(echo, "-G", "-d", "n=1 + 1").head.target == "/echo?n=1%20+%201"
    assert echoed(echo, "-X", "PATCH", "-d", "x").head.method == "PATCH"
    assert echoed(echo, "-X", "DELETE").head.method == "DELETE"


@pytest.mark.parametrize(
    "args",
    [
        ("-I", "-d", "x"),
        ("-d", "x", "-F", "a=b"),
        ("-T", "f", "-d", "x"),
        ("--json", "{}", "-d", "x"),
    ],
)
def test_conflicting_body_options_are_usage_errors(args):
    result = get("http://127.0.0.1:9/", *args)
    assert result.exit_code == 2


def test_a_missing_data_file_is_exit_26(tmp_path):
    result = get("http://127.0.0.1:9/", "-d", f"@{tmp_path / 'missing'}")
    assert result.exit_code == 26 and "rawhttp: error: file: cannot read" in result.stderr


def test_verbose_summarises_a_long_body_and_trace_shows_its_bytes(echo, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"\x00" * 5000)
    result = get(f"{echo.url}/x", "-T", str(path), "-v", "--body-only")
    assert "} [5000 bytes data]" in result.stderr
    assert "* Request body sent: 5000 bytes" in result.stderr
    result = get(f"{echo.url}/x", "-d", "hello=1", "--trace", "--body-only")
    assert "hello=1" in result.stderr


def test_explain_explains_the_body_framing(echo):
    result = get(f"{echo.url}/x", "-d", "a=1", "--explain", "--body-only")
    assert "exactly 3 bytes (Content-Length)" in result.stderr
    result = get(f"{echo.url}/x", "-T", "-", "--explain", "--body-only", stdin=b"abc")
    assert "in chunks (Transfer-Encoding: chunked)" in result.stderr


# --- 100-continue ---------------------------------------------------------------------------


def test_a_large_upload_waits_for_100_continue(uploads, tmp_path):
    path = tmp_path / "large.bin"
    path.write_bytes(os.urandom(EXPECT_OVER + 10))
    result = get(f"{uploads.url}/large.bin", "-T", str(path), "-v")
    assert result.exit_code == 0, result.output
    assert "> Expect: 100-continue" in result.stderr
    assert "* The server said 100 Continue: sending the body" in result.stderr
    assert (uploads.uploads / "large.bin").read_bytes() == path.read_bytes()


def test_a_final_answer_instead_of_100_means_the_body_is_not_sent(echo, tmp_path):
    path = tmp_path / "too-big-for-echo.bin"
    path.write_bytes(b"x" * (EXPECT_OVER + 10))  # the echo keeps at most 1 MiB: 413 at once
    result = get(f"{echo.url}/echo", "-X", "POST", "-T", str(path), "-v")
    assert "413 Content Too Large" in result.stdout
    assert "* Request body not sent: the server answered 413" in result.stderr
    assert "} [" not in result.stderr


def test_without_an_answer_the_body_goes_after_the_wait(httpserver, tmp_path):
    """pytest-httpserver (werkzeug) never sends 100 Continue: the body follows after 1 s."""
    httpserver.expect_request("/up", method="PUT").respond_with_data("stored")
    path = tmp_path / "large.bin"
    path.write_bytes(b"y" * (EXPECT_OVER + 1))
    result = get(httpserver.url_for("/up"), "-T", str(path), "--body-only", "-v")
    assert result.exit_code == 0 and result.stdout == "stored"
    assert "* Waiting up to 1 s for 100 Continue" in result.stderr
    ((request, _),) = httpserver.log
    assert request.get_data() == path.read_bytes()


# --- redirects with bodies ---------------------------------------------------------------------


def request_to(path: str, method: str = "POST", body=None) -> Request:
    url = parse_url(f"http://a.test{path}")
    headers = Headers([("Host", url.authority), ("Content-Type", "text/plain")])
    return Request(method, url, headers, body if body is not None else BytesBody(b"data"))


@pytest.mark.parametrize(
    ("status", "method", "keeps_body"),
    [
        (301, "GET", False),
        (302, "GET", False),
        (303, "GET", False),
        (307, "POST", True),
        (308, "POST", True),
    ],
)
def test_redirected_changes_the_method_as_browsers_do(status, method, keeps_body):
    following = redirected(request_to("/a"), status, "/b")
    assert (following.method, following.url.target) == (method, "/b")
    assert (following.body is not None) == keeps_body
    assert ("Content-Type" in following.headers) == keeps_body


def test_redirected_keeps_put_on_302_and_head_on_303():
    assert redirected(request_to("/a", "PUT"), 302, "/b").method == "PUT"
    assert redirected(request_to("/a", "HEAD", body=None), 303, "/b").method == "HEAD"
    assert redirected(request_to("/a"), 200, "/b") is None


def test_a_stdin_body_cannot_follow_a_307():
    with pytest.raises(CannotReplayBody):
        redirected(request_to("/a", body=StreamBody(io.BytesIO(b"x"))), 307, "/b")


@pytest.mark.parametrize(("status", "method", "body"), [(303, "GET", b""), (307, "POST", b"a=1")])
def test_a_post_follows_redirects_end_to_end(httpserver, status, method, body):
    httpserver.expect_request("/a", method="POST").respond_with_data(
        "", status=status, headers={"Location": "/b"}
    )
    httpserver.expect_request("/b", method=method).respond_with_data("landed")
    result = get(httpserver.url_for("/a"), "-d", "a=1", "-L", "--body-only")
    assert result.exit_code == 0 and result.stdout == "landed"
    assert httpserver.log[1][0].get_data() == body


def test_a_piped_body_and_a_307_end_with_a_clear_error(httpserver):
    httpserver.expect_request("/a").respond_with_data("", status=307, headers={"Location": "/b"})
    result = get(httpserver.url_for("/a"), "-T", "-", "-L", stdin=b"once")
    assert result.exit_code == 65
    assert "cannot be read twice" in result.stderr


# --- the retry rule, on a scripted connection -----------------------------------------------------


class ScriptedConnection:
    """Stands in for a dialled streams.Stream: each answer is given whole to the first recv."""

    made: typing.ClassVar[list] = []

    def __init__(self, url, options, emit, answers):
        self.url, self.options, self.emit = url, options, emit
        self.answers = list(answers)
        self.sent, self.received, self.keep_alive, self.tls, self.sock = [], 0, False, False, self
        self.remote = ("192.0.2.1", 80)
        self._start = 0
        self.buffer = memoryview(bytearray(65536))
        ScriptedConnection.made.append(self)

    def start_transfer(self, url) -> None:
        self.url, self._start = url, self.received

    @property
    def received_this_transfer(self) -> int:
        return self.received - self._start

    def send(self, data, kind=events.Sent, **fields) -> None:
        self.sent.append(bytes(data))

    def readable(self, timeout) -> bool:
        return True

    def reading_head(self):
        return contextlib.nullcontext()

    def stale(self) -> str | None:
        return None

    def recv_into(self, buffer) -> int:
        data = self.answers.pop(0) if self.answers else b""
        buffer[: len(data)] = data
        self.received += len(data)
        return len(data)

    def close(self, by: str = "client") -> None:
        self.sock = None


def scripted(*answers: bytes):
    ScriptedConnection.made = []
    return lambda url, options, emit: ScriptedConnection(url, options, emit, answers)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_get_rides_the_kept_connection_and_a_post_gets_a_fresh_one():
    notes: list[events.Event] = []
    with Session(Options(), notes.append, connect=scripted(OK, OK, OK)) as session:
        for method, body in [("GET", None), ("GET", None), ("POST", b"x")]:
            with session.stream("http://a.test/", method, body=body, keep_alive=True) as response:
                response.read()
    assert len(ScriptedConnection.made) == 2  # two GETs on the first, the POST on its own
    assert any(isinstance(e, events.Noted) and "RFC 9110 9.2.2" in e.message for e in notes)


def test_session_copies_its_options():
    options = Options(read_timeout=7)
    session = Session(options)
    session.options.read_timeout = 1
    assert options.read_timeout == 7
