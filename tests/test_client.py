"""rawhttp.client over real loopback sockets: scripted raw servers and pytest-httpserver."""

from __future__ import annotations

import time

import pytest
from conftest import HANG, RESET

import rawhttp
from rawhttp import events
from rawhttp.client import Options
from rawhttp.errors import (
    ConnectError,
    EmptyReply,
    IncompleteBody,
    InvalidURL,
    LimitExceeded,
    NetworkError,
    ProtocolError,
    ResolveError,
    Timeout,
    TooManyRedirects,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNKED = CHUNKED_HEAD + b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the server closes"


def fast(**overrides) -> Options:
    """Short timeouts, so a client that waits when it should not fails fast instead of hanging."""
    settings = {"connect_timeout": 2.0, "read_timeout": 2.0} | overrides
    return Options(**settings)


FRAMINGS = [
    ("length, body with head", [OK], b"hello"),
    ("length, body apart", [OK[:-5], b"he", b"llo"], b"hello"),
    ("chunked with ext and trailer", [CHUNKED], b"hello world"),
    ("chunked split mid-size", [CHUNKED[:60], CHUNKED[60:75], CHUNKED[75:]], b"hello world"),
    ("close-delimited", [CLOSE], b"until the server closes"),
    ("close-delimited split", [CLOSE[:30], CLOSE[30:]], b"until the server closes"),
]


@pytest.mark.parametrize(("name", "script", "body"), FRAMINGS, ids=[f[0] for f in FRAMINGS])
@pytest.mark.parametrize("bufsize", [1, 7, 65536])
def test_framings(raw_server, name, script, body, bufsize):
    server = raw_server(script)
    response = rawhttp.get(server.url + "/", options=fast(bufsize=bufsize))
    assert response.status == 200
    assert response.body == body


@pytest.mark.parametrize(
    ("method", "script"),
    [
        ("GET", [b"HTTP/1.1 204 No Content\r\n\r\nstray bytes", HANG]),
        ("GET", [b"HTTP/1.1 304 Not Modified\r\nContent-Length: 40\r\n\r\nstray", HANG]),
        ("HEAD", [b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\nstray", HANG]),
        ("HEAD", [b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", HANG]),
    ],
)
def test_no_body_does_not_wait_for_more(raw_server, method, script):
    server = raw_server(script)
    seen: list[events.Event] = []
    started = time.monotonic()
    with rawhttp.stream(server.url, method, options=fast(), on_event=seen.append) as response:
        assert b"".join(response.iter_body()) == b""
    assert time.monotonic() - started < 1.5
    done = next(e for e in seen if isinstance(e, events.BodyDone))
    assert done.received == 0


def test_interim_responses_are_skipped(raw_server):
    server = raw_server(
        [
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200",
            b" OK\r\nContent-Length: 2\r\n\r\nok",
        ]
    )
    seen: list[events.Event] = []
    response = rawhttp.get(server.url, options=fast(), on_event=seen.append)
    assert (response.status, response.body) == (200, b"ok")
    heads = [e.head.status for e in seen if isinstance(e, events.HeadReceived)]
    assert heads == [100, 103, 200]


def test_request_bytes_exact(raw_server):
    server = raw_server([OK])
    rawhttp.get(server.url + "/p/a?q=1#frag", options=fast())
    assert (
        server.requests[0]
        == (
            b"GET /p/a?q=1 HTTP/1.1\r\n"
            b"Host: 127.0.0.1:%d\r\n"
            b"User-Agent: rawhttp/" + rawhttp.__version__.encode() + b"\r\n"
            b"Accept: */*\r\n"
            b"Connection: close\r\n\r\n"
        )
        % server.port
    )


def test_request_headers_added_replaced_removed(raw_server):
    server = raw_server([OK])
    headers = [("Accept", "text/html"), ("User-Agent", None), ("X-Extra", "1 2")]
    rawhttp.get(server.url + "/", headers=headers, options=fast())
    request = server.requests[0].decode()
    assert request.startswith("GET / HTTP/1.1\r\nHost: 127.0.0.1:")
    assert "Accept: text/html\r\n" in request
    assert "User-Agent" not in request
    assert request.endswith("Connection: close\r\nX-Extra: 1 2\r\n\r\n")


def test_default_port_not_in_host():
    url = rawhttp.client.parse_url("http://example.test:80/")
    assert rawhttp.client.request_headers(url).get("Host") == "example.test"


ERRORS = [
    ("empty reply", [b""], EmptyReply, 52, "empty reply"),
    (
        "short length",
        [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"],
        IncompleteBody,
        18,
        "3 of 10",
    ),
    ("no last chunk", [CHUNKED_HEAD + b"3\r\nabc\r\n"], IncompleteBody, 18, "no last chunk"),
    (
        "closed in head",
        [b"HTTP/1.1 200 OK\r\nContent-Le"],
        ProtocolError,
        8,
        "middle of the response head",
    ),
    ("garbage", [b"hello there\r\n\r\n"], ProtocolError, 8, "status line"),
    (
        "te and cl",
        [b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"],
        ProtocolError,
        8,
        "smuggling",
    ),
    (
        "bad length",
        [b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\n"],
        ProtocolError,
        8,
        "Content-Length",
    ),
    (
        "reset mid-body",
        [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", RESET],
        NetworkError,
        56,
        "reset",
    ),
    ("reset mid-head", [b"HTTP/1.1 200 OK\r\n", RESET], NetworkError, 56, "reset"),
    ("101 unasked", [b"HTTP/1.1 101 Switching Protocols\r\n\r\n"], ProtocolError, 8, "101"),
]


@pytest.mark.parametrize(
    ("name", "script", "error", "code", "words"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_errors(raw_server, name, script, error, code, words):
    server = raw_server(script)
    with pytest.raises(error, match=words) as info:
        rawhttp.get(server.url, options=fast())
    assert info.value.exit_code == code


def test_head_limit_over_socket(raw_server):
    pad = b"X-Pad: " + b"a" * 1000 + b"\r\n"
    server = raw_server([b"HTTP/1.1 200 OK\r\n" + pad * 310, HANG])  # over 300 KiB
    with pytest.raises(LimitExceeded) as info:
        rawhttp.get(server.url, options=fast())
    assert info.value.exit_code == 8


def test_header_count_limit_over_socket(raw_server):
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(5001))
    server = raw_server([b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n"])
    with pytest.raises(LimitExceeded, match="MAX_RESPONSE_FIELDS"):
        rawhttp.get(server.url, options=fast())


def test_chunk_line_limit_over_socket(raw_server):
    server = raw_server([CHUNKED_HEAD + b"1;" + b"x" * 2000 + b"\r\n", HANG])
    with pytest.raises(LimitExceeded, match="chunk-size line"):
        rawhttp.get(server.url, options=fast())


def test_max_body_limit(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100])
    with pytest.raises(LimitExceeded, match="max_body"):
        rawhttp.get(server.url, max_body=99, options=fast())


def test_read_timeout(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", HANG])
    with pytest.raises(Timeout, match="read timeout") as info:
        rawhttp.get(server.url, options=fast(read_timeout=0.3))
    assert info.value.exit_code == 28


def test_max_time(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\n", b"X: 1\r\n", b"X: 2\r\n", HANG])
    started = time.monotonic()
    with pytest.raises(Timeout, match="max-time"):
        rawhttp.get(server.url, options=fast(read_timeout=5, max_time=0.4))
    assert time.monotonic() - started < 2


def test_connect_refused(refused_port):
    with pytest.raises(ConnectError, match="refused") as info:
        rawhttp.get(f"127.0.0.1:{refused_port}/", options=fast())
    assert info.value.exit_code == 7


def test_unresolvable_name_fails_locally():
    # A 64-character label is invalid in DNS, so this fails without asking any resolver.
    with pytest.raises(ResolveError) as info:
        rawhttp.get("http://" + "a" * 64 + ".test/", options=fast())
    assert info.value.exit_code == 6


def test_invalid_url():
    with pytest.raises(InvalidURL) as info:
        rawhttp.get("gopher://x/")
    assert info.value.exit_code == 3


def test_events_in_order(raw_server):
    server = raw_server([OK])
    seen: list[events.Event] = []
    rawhttp.get(server.url, options=fast(), on_event=seen.append)
    kinds = [type(e).__name__ for e in seen]
    assert kinds[:5] == ["RequestStarted", "Resolved", "Connecting", "Connected", "RequestHeadSent"]
    assert kinds[-4:] == ["BodyProgress", "BodyDone", "Closing", "Closed"]
    assert "HeadReceived" in kinds
    assert sum(len(e.data) for e in seen if isinstance(e, events.Received)) == len(OK)


# --- well-formed responses from pytest-httpserver ------------------------------------------------


def test_against_httpserver(httpserver):
    httpserver.expect_request("/hello", query_string="a=1").respond_with_data(
        "héllo", content_type="text/plain; charset=utf-8", headers={"X-Test": "yes"}
    )
    response = rawhttp.get(httpserver.url_for("/hello?a=1"), options=fast())
    assert response.status == 200
    assert response.headers["x-test"] == "yes"
    assert response.text == "héllo"
    assert response.head.raw.startswith(b"HTTP/1.0 200 OK\r\n")  # werkzeug answers 1.0


def test_large_body_streams_in_pieces(httpserver):
    payload = bytes(range(256)) * 8192  # 2 MiB
    httpserver.expect_request("/big").respond_with_data(payload)
    total, pieces = bytearray(), 0
    with rawhttp.stream(httpserver.url_for("/big"), options=fast(bufsize=65536)) as response:
        for piece in response.iter_body():
            assert isinstance(piece, memoryview) and len(piece) <= 65536
            total += piece
            pieces += 1
    assert bytes(total) == payload
    assert pieces >= len(payload) // 65536


def redirect_to(location: str, status: int = 302):
    from werkzeug import Response

    return Response("", status=status, headers={"Location": location})


def test_redirect_relative_and_absolute(httpserver):
    httpserver.expect_request("/a").respond_with_response(redirect_to("b"))
    httpserver.expect_request("/b").respond_with_response(
        redirect_to(httpserver.url_for("/c"), 301)
    )
    httpserver.expect_request("/c").respond_with_data("final")
    response = rawhttp.get(httpserver.url_for("/a"), follow_redirects=True, options=fast())
    assert (response.status, response.body) == (200, b"final")
    assert [head.status for head in response.history] == [302, 301]


def test_redirect_not_followed_by_default(httpserver):
    httpserver.expect_request("/a").respond_with_response(redirect_to("/b"))
    response = rawhttp.get(httpserver.url_for("/a"), options=fast())
    assert response.status == 302
    assert response.headers["Location"] == "/b"


def test_303_becomes_get_and_head_stays_head(httpserver):
    httpserver.expect_request("/a").respond_with_response(redirect_to("/b", 303))
    httpserver.expect_request("/b", method="GET").respond_with_data("got")
    httpserver.expect_request("/b", method="HEAD").respond_with_data("")
    response = rawhttp.get(httpserver.url_for("/a"), follow_redirects=True, options=fast())
    assert response.body == b"got"
    with rawhttp.stream(httpserver.url_for("/a"), "HEAD", follow_redirects=True) as response:
        assert response.status == 200
    assert httpserver.log[-1][0].method == "HEAD"


def test_redirect_loop(httpserver):
    httpserver.expect_request("/loop").respond_with_response(redirect_to("/loop"))
    with pytest.raises(TooManyRedirects) as info:
        rawhttp.get(httpserver.url_for("/loop"), follow_redirects=True, options=fast())
    assert info.value.exit_code == 47
    assert len(httpserver.log) == rawhttp.wire.MAX_REDIRECTS + 1


def test_redirect_max_zero(httpserver):
    httpserver.expect_request("/a").respond_with_response(redirect_to("/b"))
    with pytest.raises(TooManyRedirects, match="more than 0"):
        rawhttp.get(httpserver.url_for("/a"), follow_redirects=True, max_redirects=0)


def test_credentials_not_sent_to_another_host(raw_server):
    other = raw_server([OK])
    first = raw_server(
        [b"HTTP/1.1 302 Found\r\nLocation: http://localhost:%d/x\r\n\r\n" % other.port]
    )
    headers = {"Authorization": "Bearer secret", "Cookie": "a=1", "X-Keep": "1"}
    rawhttp.get(first.url, headers=headers, follow_redirects=True, options=fast())
    assert b"Authorization" in first.requests[0]
    sent = other.requests[0]
    assert b"Authorization" not in sent and b"Cookie" not in sent
    assert b"X-Keep: 1" in sent
    assert b"Host: localhost:%d" % other.port in sent
