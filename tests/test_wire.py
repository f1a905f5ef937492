"""rawhttp.wire: tables of bytes -> result or error, each fed whole and one byte at a time."""

from __future__ import annotations

import pytest
from fuzz.wire_target import body_of, run

from rawhttp import wire
from rawhttp.errors import (
    IncompleteBody,
    InvalidRequest,
    LimitExceeded,
    ProtocolError,
)
from rawhttp.wire import Framing, Headers


def parse_response(data: bytes, method: str = "GET", step: int | None = None):
    """Feed `data` to a ResponseReader whole, or in pieces of `step` bytes, then EOF.

    Returns (final head, body, body reader)."""
    pieces = [data] if step is None else [data[i : i + step] for i in range(0, len(data), step)]
    reader = wire.ResponseReader(method)
    body = body_of(run(reader, pieces))
    return reader.head, body, reader.body


def both_ways(data: bytes, **kwargs):
    """Parse whole and byte by byte; both must agree. Returns the whole-feed result."""
    whole = parse_response(data, **kwargs)
    single = parse_response(data, step=1, **kwargs)
    assert (whole[0].status, whole[0].headers, whole[1]) == (
        single[0].status,
        single[0].headers,
        single[1],
    )
    return whole


GOOD = [
    # (name, bytes, method, status, body)
    ("length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", 200, b"hello"),
    ("length zero", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", 200, b""),
    (
        "repeated equal lengths",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
        "GET",
        200,
        b"ok",
    ),
    ("length list", b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", "GET", 200, b"ok"),
    (
        "chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        "GET",
        200,
        b"hello world",
    ),
    (
        "chunked hex upper",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
        "GET",
        200,
        b"0123456789",
    ),
    (
        "chunked ext",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;name=val\r\nabc\r\n0;last\r\n\r\n",
        "GET",
        200,
        b"abc",
    ),
    (
        "chunked trailers",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 42\r\n\r\n",
        "GET",
        200,
        b"abc",
    ),
    (
        "gzip, chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
        "GET",
        200,
        b"z",
    ),
    ("close delimited", b"HTTP/1.1 200 OK\r\n\r\nuntil close", "GET", 200, b"until close"),
    (
        "te not chunked is close",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw",
        "GET",
        200,
        b"raw",
    ),
    ("bare LF", b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", "GET", 200, b"ok"),
    ("http/1.0", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET", 200, b"ok"),
    ("no reason", b"HTTP/1.1 204\r\n\r\n", "GET", 204, b""),
    ("204 stray", b"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nxyz", "GET", 204, b""),
    ("304 stray", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\nxyz", "GET", 304, b""),
    ("HEAD stray", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyz", "HEAD", 200, b""),
    (
        "interim",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "GET",
        200,
        b"ok",
    ),
    (
        "obs-fold unfolded",
        b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 0\r\n\r\n",
        "GET",
        200,
        b"",
    ),
    ("empty value", b"HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n", "GET", 200, b""),
]


@pytest.mark.parametrize(
    ("name", "data", "method", "status", "body"), GOOD, ids=[g[0] for g in GOOD]
)
def test_good_responses(name, data, method, status, body):
    head, got, _ = both_ways(data, method=method)
    assert head.status == status
    assert got == body


def test_raw_head_kept_exactly():
    data = b"HTTP/1.1 200 OK\r\nX-B: 2\r\nx-a:  1 \r\nContent-Length: 0\r\n\r\n"
    head, _, _ = parse_response(data)
    assert head.raw == data
    assert head.headers.items() == [("X-B", "2"), ("x-a", "1"), ("Content-Length", "0")]
    assert head.headers["X-A"] == "1"


def test_chunked_details_recorded():
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n1\r\nd\r\n0\r\nX-Sum: 42\r\nX-Two: 2\r\n\r\n"
    for step in (None, 1):
        _, body, reader = parse_response(data, step=step)
        assert body == b"abcd"
        assert reader.chunks == 2
        assert reader.extensions == [";a=b"]
        assert reader.trailers.items() == [("X-Sum", "42"), ("X-Two", "2")]


def test_obs_fold_value():
    head, _, _ = parse_response(
        b"HTTP/1.1 200 OK\r\nX-Long: a\r\n \t b\r\nContent-Length: 0\r\n\r\n"
    )
    assert head.headers["X-Long"] == "a b"


def test_bytes_after_length_body_are_rest():
    _, body, reader = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
    assert body == b"ok"
    assert reader.rest == b"EXTRA"


def test_stray_bytes_after_no_body_are_rest():
    _, body, reader = parse_response(b"HTTP/1.1 204 No Content\r\n\r\nxyz")
    assert (body, reader.rest) == (b"", b"xyz")


BAD = [
    # (name, bytes, error class, words in the message)
    ("not http", b"SSH-2.0-OpenSSH_9.2\r\n\r\n", ProtocolError, "status line"),
    ("http/2", b"HTTP/2.0 200 OK\r\n\r\n", ProtocolError, "HTTP/2.0"),
    ("bad status", b"HTTP/1.1 20 OK\r\n\r\n", ProtocolError, "status line"),
    ("no colon", b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", ProtocolError, "without a colon"),
    (
        "space before colon",
        b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
        ProtocolError,
        "invalid header name",
    ),
    ("fold first line", b"HTTP/1.1 200 OK\r\n X: 1\r\n\r\n", ProtocolError, "folding"),
    ("bare CR", b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", ProtocolError, "bare CR"),
    ("NUL value", b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", ProtocolError, "NUL"),
    (
        "plus length",
        b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
        ProtocolError,
        "invalid Content-Length",
    ),
    (
        "negative length",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        ProtocolError,
        "invalid Content-Length",
    ),
    (
        "underscore length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\n",
        ProtocolError,
        "invalid Content-Length",
    ),
    (
        "hex length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n",
        ProtocolError,
        "invalid Content-Length",
    ),
    (
        "empty length",
        b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
        ProtocolError,
        "invalid Content-Length",
    ),
    (
        "differing lengths",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        ProtocolError,
        "conflicting",
    ),
    (
        "te and cl",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        ProtocolError,
        "smuggling",
    ),
    (
        "bad chunk size",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ProtocolError,
        "chunk-size",
    ),
    (
        "0x chunk size",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        ProtocolError,
        "chunk-size",
    ),
    (
        "signed chunk size",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n",
        ProtocolError,
        "chunk-size",
    ),
    (
        "chunk too long",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        ProtocolError,
        "longer than its size",
    ),
    (
        "short length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        IncompleteBody,
        "5 of 10",
    ),
    (
        "no last chunk",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        IncompleteBody,
        "no last chunk",
    ),
    (
        "cut in chunk",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc",
        IncompleteBody,
        "3 bytes",
    ),
]


@pytest.mark.parametrize(("name", "data", "error", "words"), BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("step", [None, 1])
def test_bad_responses(name, data, error, words, step):
    with pytest.raises(error, match=words):
        parse_response(data, step=step)


def test_head_size_limit():
    reader = wire.HeadReader()
    reader.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(LimitExceeded, match="MAX_HEAD_SIZE"):
        for _ in range(wire.MAX_HEAD_SIZE // 1000 + 1):
            reader.feed(b"X-Pad: " + b"a" * 991 + b"\r\n")


def test_head_exactly_at_limit_is_fine():
    start = b"HTTP/1.1 200 OK\r\nX: "
    end = b"\r\n\r\n"
    data = start + b"a" * (wire.MAX_HEAD_SIZE - len(start) - len(end)) + end
    assert len(data) == wire.MAX_HEAD_SIZE
    assert wire.HeadReader().feed(data) == data
    with pytest.raises(LimitExceeded):
        wire.HeadReader().feed(start + b"a" + data[len(start) :])


def test_header_count_limit():
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(wire.MAX_HEADERS))
    head = wire.parse_response_head(b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n")
    assert len(head.headers) == wire.MAX_HEADERS
    with pytest.raises(LimitExceeded, match="MAX_HEADERS"):
        wire.parse_response_head(b"HTTP/1.1 200 OK\r\n" + fields + b"X-Last: 1\r\n\r\n")


def test_chunk_line_limit():
    with pytest.raises(LimitExceeded, match="chunk-size line"):
        wire.ChunkedDecoder().feed(b"1;" + b"e" * wire.MAX_CHUNK_LINE + b"\r\n")


def test_chunk_line_limit_at_boundary_accepted():
    decoder = wire.ChunkedDecoder()
    line = b"1;" + b"e" * (wire.MAX_CHUNK_LINE - 4) + b"\r\n"
    assert len(line) == wire.MAX_CHUNK_LINE
    pieces = decoder.feed(line + b"a\r\n0\r\n\r\n")
    assert b"".join(pieces) == b"a"
    assert decoder.done


def test_empty_head_on_eof_is_detected_by_count():
    reader = wire.HeadReader()
    assert reader.feed(b"") is None
    assert reader.received == 0


FRAMING = [
    ("GET", 200, [("Content-Length", "7")], Framing("length", 7)),
    ("GET", 200, [("Transfer-Encoding", "chunked")], Framing("chunked")),
    (
        "GET",
        200,
        [("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "Chunked")],
        Framing("chunked"),
    ),
    ("GET", 200, [("Transfer-Encoding", "chunked, gzip")], Framing("close")),
    ("GET", 200, [], Framing("close")),
    ("HEAD", 200, [("Content-Length", "7")], Framing("none")),
    ("GET", 101, [], Framing("none")),
    ("GET", 204, [("Content-Length", "7")], Framing("none")),
    ("GET", 304, [("Transfer-Encoding", "chunked")], Framing("none")),
]


@pytest.mark.parametrize(("method", "status", "fields", "expected"), FRAMING)
def test_response_framing(method, status, fields, expected):
    assert wire.response_framing(method, status, Headers(fields)) == expected


def test_request_framing():
    assert wire.request_framing(Headers()) == Framing("none")
    assert wire.request_framing(Headers([("Content-Length", "3")])) == Framing("length", 3)
    assert wire.request_framing(Headers([("Transfer-Encoding", "chunked")])) == Framing("chunked")
    with pytest.raises(ProtocolError):
        wire.request_framing(Headers([("Transfer-Encoding", "gzip")]))


def test_build_request_bytes():
    headers = Headers([("Host", "example.com"), ("Accept", "*/*")])
    assert wire.build_request("GET", "/a?b=1", headers) == (
        b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Bad Name", "x"),
        ("X", "a\r\nInjected: 1"),
        ("X", "a\nb"),
        ("X", "a\x00"),
        ("", "x"),
        ("X:Y", "v"),
    ],
)
def test_build_request_refuses_injection(name, value):
    with pytest.raises(InvalidRequest):
        wire.build_request("GET", "/", Headers([(name, value)]))


def test_build_request_refuses_bad_target_and_method():
    with pytest.raises(InvalidRequest):
        wire.build_request("GET", "/a b", Headers())
    with pytest.raises(InvalidRequest):
        wire.build_request("G T", "/", Headers())


def test_build_response_head_and_chunks():
    head = wire.build_response_head(404, Headers([("Content-Length", "0")]))
    assert head == b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    body = wire.encode_chunk(b"hello") + wire.encode_chunk(b"x" * 26) + wire.LAST_CHUNK
    decoder = wire.ChunkedDecoder()
    assert b"".join(decoder.feed(body)) == b"hello" + b"x" * 26
    assert decoder.done and decoder.chunks == 2


def test_parse_request_head():
    raw = b"GET /p?q=1 HTTP/1.1\r\nHost: a\r\nX-Y: z\r\n\r\n"
    request = wire.parse_request_head(raw)
    assert (request.method, request.target, request.http_version) == ("GET", "/p?q=1", "HTTP/1.1")
    assert request.headers["host"] == "a"


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: 1\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    ],
)
def test_parse_request_head_rejects(raw):
    with pytest.raises(ProtocolError):
        wire.parse_request_head(raw)


def test_request_reader_skips_leading_blank_lines():
    reader = wire.HeadReader(skip_leading_newlines=True)
    assert reader.feed(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n") == b"GET / HTTP/1.1\r\n\r\n"


def test_headers_behaviour():
    headers = Headers([("A", "1"), ("b", "2"), ("a", "3")])
    assert headers.get("a") == "1"
    assert headers.get_all("A") == ["1", "3"]
    headers.set("A", "9")
    assert headers.items() == [("A", "9"), ("b", "2")]
    headers.remove("B")
    assert headers.items() == [("A", "9")]
    assert "a" in headers and "b" not in headers
    with pytest.raises(KeyError):
        headers["missing"]


def test_chunk_extension_and_trailers_round_trip():
    body = (
        wire.encode_chunk(b"abc", ';note="first"')
        + wire.encode_chunk(b"de")
        + wire.last_chunk(Headers([("X-Sum", "5")]))
    )
    assert body == b'3;note="first"\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n'
    decoder = wire.ChunkedDecoder()
    assert b"".join(decoder.feed(body)) == b"abcde"
    assert decoder.extensions == [';note="first"']
    assert decoder.trailers.items() == [("X-Sum", "5")]
    with pytest.raises(InvalidRequest):
        wire.last_chunk(Headers([("X-Bad", "a\r\nb")]))


def test_module_docstring_example_is_true():
    import doctest

    assert doctest.testmod(wire).failed == 0
