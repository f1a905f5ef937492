"""Hostile input, both ways: what a user or a server hands the client, what a client sends
the server. Nothing injected reaches the wire, credentials stay with their host, and the
server neither leaves its root nor lets one request hide inside another (smuggling).

Already covered elsewhere, so not repeated here: redirects to file: refused and https -> http
followed with a warning (test_fetcher.py), Authorization/Cookie dropped cross-host through the
API (test_client.py), CR/LF/NUL refused by parse_url (test_url.py), 17 traversal vectors and
the basic smuggling cases (test_server.py).
"""

from __future__ import annotations

import os
import string

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_server import (
    HELLO,
    SECRET,
    ask,
    connect,
    get_request,
    read_response,
    read_until_closed,
)

import rawhttp
from rawhttp.cli import main
from rawhttp.client import Options, request_headers
from rawhttp.errors import InvalidRequest, InvalidURL
from rawhttp.server import Server
from rawhttp.server.exchange import StatusPage
from rawhttp.server.static import StaticFiles, path_segments
from rawhttp.url import parse_url
from rawhttp.wire import build_request

# Every test here runs against both drivers (--model events and --model threads).
pytestmark = pytest.mark.usefixtures("server_model")

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
TIMEOUT = 5.0


def fast() -> Options:
    return Options(connect_timeout=2.0, read_timeout=2.0)


def cli(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--timeout", "2", "--connect-timeout", "2"])


# --- the client: nothing injected reaches the wire ---------------------------------------------


@pytest.mark.parametrize(
    "suffix",
    [
        "/a\r\nX-Injected: 1",
        "/a\nX-Injected: 1",
        "/a\rX-Injected: 1",
        "/a\x00b",
        "/a?q=\r\n\r\nGET /evil HTTP/1.1",
        "/a b HTTP/1.1\r\nX: 1",
        "/a\tb",
        "/a\x7f",
        "\r\nX-Injected: 1/",  # in the port / host part
    ],
)
def test_control_characters_in_a_url_never_reach_the_wire(raw_server, suffix):
    server = raw_server([OK])
    result = cli(server.url + suffix)
    assert result.exit_code == 3, result.output
    assert "url:" in result.stderr
    assert server.accepted == 0  # not even a connection: refused before any socket


def test_encoded_crlf_in_a_url_stays_encoded(raw_server):
    server = raw_server([OK])
    assert cli(server.url + "/a%0d%0aX-Injected:%201?b=%00").exit_code == 0
    request = server.requests[0]
    assert request.startswith(b"GET /a%0d%0aX-Injected:%201?b=%00 HTTP/1.1\r\n")
    assert b"\r\nX-Injected" not in request and b"\x00" not in request


@pytest.mark.parametrize(
    "spec",
    [
        "X-A\r\nX-Injected: 1",  # CR LF in the name
        "X\x00: 1",
        "X: a\rb",  # bare CR in the value
        "X: a\nb",  # bare LF
        "X: a\r\n\r\nGET /evil HTTP/1.1",
        "Host: a\r\nHost: b",
        ": no name",
        "X(y): 1",
    ],
)
def test_control_characters_in_headers_never_reach_the_wire(raw_server, spec):
    server = raw_server([OK])
    result = cli(server.url, "-H", spec)
    assert result.exit_code == 2, result.output
    assert server.accepted == 0


FIELD_TEXT = st.text(alphabet=st.characters(max_codepoint=0x1FF), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(FIELD_TEXT, FIELD_TEXT), max_size=5),
    st.text(alphabet=st.characters(max_codepoint=0x1FF), max_size=20),
)
def test_no_header_or_url_text_can_add_a_line_to_the_request(fields, path):
    """Whatever the caller passes, the request is refused before sending, or has exactly one
    line per field: a CR, LF or NUL never gets into the bytes."""
    try:
        url = parse_url("http://a.test/" + path)
        headers = request_headers(url, fields)
        data = build_request("GET", url.target, headers)
    except (InvalidURL, InvalidRequest):
        return
    head = data[:-4]
    assert b"\x00" not in data and b"\r" not in head.replace(b"\r\n", b"")
    lines = head.split(b"\r\n")
    assert b"\n" not in b"".join(lines)
    assert len(lines) == 1 + len(headers)


@pytest.mark.parametrize(
    "location",
    [
        b"ftp://127.0.0.1/file",
        b"gopher://127.0.0.1:70/",
        b"javascript:alert(1)",
        b"data:text/html,<script>",
        b"mailto:a@example.test",
        b"localhost:{port}/x",  # scheme "localhost" by RFC 3986; was followed as http://
        b"http://[::1",  # once a ValueError, not an error line
    ],
)
def test_redirects_to_other_schemes_or_bad_urls_are_refused(raw_server, location):
    server = raw_server([b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\n\r\n"])
    server.scripts[0][0] = server.scripts[0][0].replace(b"{port}", b"%d" % server.port)
    result = cli(server.url, "-L")
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("rawhttp: error: url: ")
    assert server.accepted == 1


def test_a_control_character_in_location_is_refused(raw_server):
    server = raw_server([b"HTTP/1.1 302 Found\r\nLocation: /a\x01b\r\n\r\n"])
    assert cli(server.url, "-L").exit_code == 3
    assert server.accepted == 1


def test_credentials_given_with_h_stay_with_their_host(raw_server):
    """-H Authorization/Cookie (any case) go to the first host, and after a redirect to the
    same host, but not to another host, nor back to the first one after that."""
    final = raw_server([OK])
    other = raw_server([b"HTTP/1.1 302 Found\r\nLocation: %s/back\r\n\r\n" % final.url.encode()])
    hop = b"HTTP/1.1 302 Found\r\nLocation: http://localhost:%d/x\r\n\r\n" % other.port
    first = raw_server([b"HTTP/1.1 302 Found\r\nLocation: /same-host\r\n\r\n"], [hop])
    result = cli(
        first.url,
        "-L",
        "-H",
        "authorization: Bearer s3cret",
        "-H",
        "COOKIE: session=s3cret",
        "-H",
        "Proxy-Authorization: Basic s3cret",
        "-H",
        "X-Keep: 1",
    )
    assert result.exit_code == 0, result.output
    first_two = first.requests
    assert len(first_two) == 2 and all(b"s3cret" in request for request in first_two)
    assert b"GET /same-host " in first_two[1]
    for request in (other.requests[0], final.requests[0]):
        assert b"s3cret" not in request
        assert b"X-Keep: 1" in request


# --- the server: never outside the root -------------------------------------------------------


@pytest.fixture
def jail(tmp_path):
    """A served `root`, a secret beside it, and symlinks of every kind pointing out."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "idx").mkdir()
    (root / "hello.txt").write_bytes(HELLO)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    (root / "link-out").symlink_to(secret)
    (root / "chain").symlink_to(root / "link-out")  # a link to a link that points out
    (root / "sub" / "rel-out").symlink_to("../../secret.txt")  # relative
    (root / "abs-root").symlink_to("/")
    (root / "dir-out").symlink_to(tmp_path)
    (root / "idx" / "index.html").symlink_to(secret)  # a folder whose index leads out
    return root


@pytest.fixture
def jailed(jail):
    with Server(jail, idle_timeout=TIMEOUT, log=lambda line: None) as server:
        yield server


TRAVERSALS = [
    "/./../secret.txt",
    "/sub/./../../secret.txt",
    "/sub/%2e/%2e%2e/%2e%2e/secret.txt",
    "/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/.%2E/secret.txt",
    "/%252e%252e%252fsecret.txt",  # double-encoded: decoded once, a plain (missing) name
    "/%25%32%65%25%32%65/secret.txt",
    "/..;/secret.txt",  # Tomcat's path parameter trick
    "/.../secret.txt",
    "/sub\\..\\..\\secret.txt",
    "/%5c..%5csecret.txt",
    "/sub/..%5c..%5csecret.txt",
    "/%e0%80%ae%e0%80%ae/secret.txt",  # overlong 3-byte UTF-8 dots
    "/%ef%bc%8e%ef%bc%8e/secret.txt",  # fullwidth dots
    "/etc/passwd",
    "//etc/passwd",
    "/%2fetc%2fpasswd",
    "file:///etc/passwd",
    "http://test//etc/passwd",
    "HTTP://test/%2e%2e/secret.txt",
    "/secret.txt%00",
    "/hello.txt%00/../../secret.txt",
    "/" + "./" * 3000 + "../secret.txt",  # long, under the request-line cap
    "/sub/" + "%2e%2e/" * 900 + "secret.txt",
    "/" + "a" * 300 + "/../../secret.txt",  # a segment longer than NAME_MAX
    "/" + "../" * 3000 + "secret.txt",  # over the request-line cap: 414
    "/chain",
    "/sub/rel-out",
    "/abs-root/etc/passwd",
    "/abs-root/",
    "/dir-out/",
    "/dir-out/secret.txt",
    "/idx/index.html",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_never_leaves_the_root(jailed, target):
    head, body = ask(jailed, get_request(target))
    assert head.status in (400, 403, 404, 414)
    assert SECRET not in body and b"root:" not in body


def test_a_folder_whose_index_leads_out_is_listed_not_followed(jailed):
    head, body = ask(jailed, get_request("/idx/"))
    assert head.status == 200 and SECRET not in body


@pytest.mark.parametrize(
    "path",
    ["/..", "/a/../..", "/%2e%2e", "/.%2e/x", "/%2E.", "/a%2fb", "/a%5cb", "/a\\b", "/a%00"],
)
def test_path_segments_refuses_steps_out_on_its_own(path):
    """The first layer: refused before the file system is asked (the realpath check is the
    second; the symlink vectors above reach it)."""
    with pytest.raises(StatusPage) as info:
        path_segments(path)
    assert info.value.status == 400


TARGET_CHARS = "./\\%2eE5cCfF0a:?#~"


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=TARGET_CHARS, max_size=40))
def test_find_answers_inside_the_root_or_refuses(jail, target):
    """The folder is only read, so sharing it between examples is safe."""
    files = StaticFiles(jail)
    try:
        found = files.find("/" + target)
    except StatusPage as page:
        assert page.status in (301, 400, 403, 404)
        return
    assert os.path.commonpath([found, files.root]) == files.root
    assert os.path.realpath(found) == found


# --- the server: one request never hides another (smuggling) --------------------------------

CHUNKED = "Transfer-Encoding: chunked"
SMUGGLING = {
    "CL then TE": f"Content-Length: 4\r\n{CHUNKED}\r\n\r\n0\r\n\r\n",
    "TE then CL 0": f"{CHUNKED}\r\nContent-Length: 0\r\n\r\n0\r\n\r\n",
    "TE not last chunked": f"{CHUNKED}\r\nTransfer-Encoding: identity\r\n\r\n",
    "TE xchunked": "Transfer-Encoding: xchunked\r\n\r\n",
    "TE space before colon": "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "TE obs-folded": "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "CL tab before colon": "Content-Length\t: 5\r\n\r\nhello",
    "two CLs": "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "CL list differing": "Content-Length: 5, 6\r\n\r\nhello!",
    "CL negative": "Content-Length: -1\r\n\r\n",
    "CL hex": "Content-Length: 0x5\r\n\r\nhello",
    "CL two numbers": "Content-Length: 5 5\r\n\r\nhello",
    "CL empty": "Content-Length: \r\n\r\n",
    "CL exponent": "Content-Length: 1e1\r\n\r\n0123456789",
    "chunk size negative": f"{CHUNKED}\r\n\r\n-1\r\n\r\n",
    "chunk size hex prefix": f"{CHUNKED}\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "chunk size leading space": f"{CHUNKED}\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
    "chunk size two numbers": f"{CHUNKED}\r\n\r\n5 5\r\nhello\r\n0\r\n\r\n",
    "chunk size line too long": f"{CHUNKED}\r\n\r\n5;{'x' * 2000}\r\nhello\r\n0\r\n\r\n",
    "chunk data over its size": f"{CHUNKED}\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
    "chunk without CRLF after": f"{CHUNKED}\r\n\r\n5\r\nhello0\r\n\r\n",
    "obs-fold with tab": "X-A: 1\r\n\tfolded\r\n\r\n",
    "space before colon": "X-A : 1\r\n\r\n",
    "bare CR in a field": "X-A: 1\rContent-Length: 5\r\n\r\nhello",
    "NUL in a field": "X-A: 1\x00\r\n\r\n",
    "NUL in a name": "Content-Length\x00: 5\r\n\r\nhello",
}


@pytest.mark.parametrize("fields", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_smuggling_attempts_are_400_and_nothing_after_them_is_answered(jailed, fields):
    """A hidden second request follows each attempt: the server must answer 400, close, and
    never answer the hidden one."""
    smuggled = f"POST /hello.txt HTTP/1.1\r\nHost: x\r\n{fields}".encode("latin-1")
    with connect(jailed) as sock:
        sock.sendall(smuggled + get_request("/hello.txt"))
        head, _, rest = read_response(sock)
        assert head.status == 400
        assert head.headers["Connection"] == "close"
        assert rest + read_until_closed(sock) == b""


def test_after_a_smuggling_attempt_the_server_still_answers(jailed):
    ask(jailed, f"POST / HTTP/1.1\r\nHost: x\r\n{SMUGGLING['CL then TE']}".encode())
    assert ask(jailed, get_request("/hello.txt"))[1] == HELLO


def test_rawhttp_send_counts_a_bad_chunked_request_as_one_answer(jailed):
    """`rawhttp send` waits for one answer (the 400) to a request whose chunked body is bad,
    instead of failing before reading it (request_methods raised on the body)."""
    data = f"POST / HTTP/1.1\r\nHost: x\r\n{SMUGGLING['chunk size negative']}".encode()
    responses = rawhttp.client.send_raw(parse_url(jailed.url), data, options=fast())
    assert [response.status for response in responses] == [400]


def test_printable_ascii_is_all_the_server_puts_in_its_log_line(jailed):
    """A request line is logged as received; control bytes never reach it (they are refused
    before the log line is built)."""
    lines: list[str] = []
    with Server(jailed.root, log=lines.append) as server:
        ask(server, b"GET /a\x1b[31m HTTP/1.1\r\nHost: x\r\n\r\n")
    assert lines and all(set(line) <= set(string.printable) - set("\x0b\x0c") for line in lines)


# --- the server: safe defaults ------------------------------------------------------------------


def test_serve_help_names_every_cap():
    text = " ".join(CliRunner().invoke(main, ["serve", "--help"]).output.split())
    for words in [
        "--max-connections at once per process (default 10,000 for events, 256 for threads)",
        "for 1 s or more",
        "below 500 bytes/s",
        "within 60 s",
        "--idle-timeout (default 15 s)",
        "64 KiB (431)",
        "8 KiB (414)",
        "100 header fields (431)",
        "1 MiB (413;",
        "Listens on 127.0.0.1 only",
    ]:
        assert words in text


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.7", False),
        ("fe80::1%eth0", False),
        ("not an address", False),
    ],
)
def test_is_loopback(address, loopback):
    from rawhttp.cli.serve import is_loopback

    assert is_loopback(address) is loopback


@pytest.mark.parametrize(("host", "warned"), [(None, False), ("0.0.0.0", True)])
def test_serve_warns_when_other_machines_can_reach_it(monkeypatch, tmp_path, host, warned):
    """Bound for an instant only: serve_forever is replaced by a Ctrl-C, nothing is accepted."""

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Server, "serve_forever", interrupted)
    args = ["serve", str(tmp_path), "--port", "0", *(["--host", host] if host else [])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    warning = f"rawhttp: warning: listening on {host}: other machines can reach this server\n"
    assert (warning in result.stderr) is warned
    assert result.stdout.startswith(f"Serving {tmp_path} on http://{host or '127.0.0.1'}:")
