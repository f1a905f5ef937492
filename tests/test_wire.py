"""rawhttp.wire: tables of bytes -> result or error, each fed whole and one byte at a time."""

from __future__ import annotations

import re
import tracemalloc

import pytest
from fuzz.wire_target import body_of, run

from rawhttp import wire
from rawhttp.errors import (
    EmptyReply,
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
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(wire.MAX_RESPONSE_FIELDS))
    head = wire.parse_response_head(b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n")
    assert len(head.headers) == wire.MAX_RESPONSE_FIELDS
    with pytest.raises(LimitExceeded, match="MAX_RESPONSE_FIELDS"):
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


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"G(T / HTTP/1.1\r\n\r\n", "malformed request line"),
        (b"GET /a\x7fb HTTP/1.1\r\n\r\n", "control character in request target"),
        (b"GET /a\x01 HTTP/1.1\r\n\r\n", "control character in request target"),
        (b"GET / HTTP/1.1\r\nHost\r\n\r\n", "without a colon"),
        (b"GET / HTTP/1.1\r\nHo st: a\r\n\r\n", "invalid header name"),
        (b"GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n", "NUL byte in the value of Host"),
        (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", "bare CR"),
    ],
)
def test_parse_request_head_says_what_is_wrong(raw, says):
    """Each part is judged even once its name or shape has been seen good before (the parser
    remembers good field names, and takes a well-formed request line in one match)."""
    wire.parse_request_head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(ProtocolError, match=re.escape(says)):
        wire.parse_request_head(raw)


def test_field_names_remembered_are_bounded_in_count_and_length():
    """Good names are remembered to skip checking them again: never past the bounds, whatever
    a peer sends (a flood of long unique names must not grow the server)."""
    names = [b"X-%d" % number for number in range(wire._TOKEN_NAMES_KEPT + 10)]
    for name in [*names, b"X-" + b"n" * wire._TOKEN_NAME_KEPT_SIZE]:
        head = wire.parse_request_head(b"GET / HTTP/1.1\r\n" + name + b": v\r\n\r\n")
        assert head.headers[name.decode()] == "v"
    assert len(wire._TOKEN_NAMES) <= wire._TOKEN_NAMES_KEPT
    assert all(len(name) <= wire._TOKEN_NAME_KEPT_SIZE for name in wire._TOKEN_NAMES)


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


# --- the composed readers: RequestReader and ResponseReader ------------------------------------


def cuts(data: bytes) -> list[list[bytes]]:
    """`data` whole, one byte at a time, and in pieces of 7 bytes."""
    return [
        [data],
        [data[i : i + 1] for i in range(len(data))],
        [data[i : i + 7] for i in range(0, len(data), 7)],
    ]


def outline(events: list[tuple]) -> list[tuple]:
    """`run`'s events with each head shown by its start line."""
    return [
        ("head", event[1].raw.split(b"\n", 1)[0].rstrip(b"\r"), event[2])
        if event[0] == "head"
        else event
        for event in events
    ]


def read_all(make_reader, data: bytes, eof: bool = True) -> tuple[list[tuple], bytes]:
    """(outlined events, rest) of `data` fed to a new reader; the same however it is cut."""
    results = []
    for pieces in cuts(data):
        reader = make_reader()
        results.append((outline(run(reader, pieces, eof)), reader.rest))
    assert results[1:] == results[:1] * (len(results) - 1), "the cut changed the events"
    return results[0]


def error_of(make_reader, data: bytes, eof: bool = True) -> ProtocolError:
    """The error `data` raises: the same class and status however it is cut."""
    errors = []
    for pieces in cuts(data):
        with pytest.raises(ProtocolError) as info:
            run(make_reader(), pieces, eof)
        errors.append(info.value)
    assert len({(type(error), error.status) for error in errors}) == 1, errors
    return errors[0]


GET = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
POST = b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED_POST = (
    b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n"
)
REQUESTS = [
    # (name, bytes, events, rest)
    ("no body", GET, [("head", b"GET /a HTTP/1.1", 28), ("end", [])], b""),
    (
        "empty lines before",
        b"\r\n\n" + GET,
        [("head", b"GET /a HTTP/1.1", 31), ("end", [])],
        b"",
    ),
    ("length", POST, [("head", b"POST /f HTTP/1.1", 48), ("body", b"hello"), ("end", [])], b""),
    (
        "chunked, trailers",
        CHUNKED_POST,
        [("head", b"POST /c HTTP/1.1", 57), ("body", b"hello world"), ("end", [("X-Sum", "11")])],
        b"",
    ),
    ("pipelined", GET + POST, [("head", b"GET /a HTTP/1.1", 28), ("end", [])], POST),
    (
        "after a length body",
        POST + GET,
        [("head", b"POST /f HTTP/1.1", 48), ("body", b"hello"), ("end", [])],
        GET,
    ),
    (
        "after a chunked body",
        CHUNKED_POST + b"\r\n" + GET,
        [("head", b"POST /c HTTP/1.1", 57), ("body", b"hello world"), ("end", [("X-Sum", "11")])],
        b"\r\n" + GET,
    ),
    (
        "HTTP/1.0 without Host",
        b"GET / HTTP/1.0\r\n\r\n",
        [("head", b"GET / HTTP/1.0", 18), ("end", [])],
        b"",
    ),
]


@pytest.mark.parametrize(("name", "data", "events", "rest"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_request_reader(name, data, events, rest):
    assert read_all(wire.RequestReader, data) == (events, rest)


OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
RESPONSES = [
    # (name, request method, bytes, events, rest)
    (
        "length",
        "GET",
        OK_HEAD + b"hello",
        [("head", b"HTTP/1.1 200 OK", 38), ("body", b"hello"), ("end", [])],
        b"",
    ),
    (
        "length, then the next",
        "GET",
        OK_HEAD + b"hello" + OK_HEAD,
        [("head", b"HTTP/1.1 200 OK", 38), ("body", b"hello"), ("end", [])],
        OK_HEAD,
    ),
    (
        "chunked, extension and trailer",
        "GET",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nT: 1\r\n\r\nX",
        [("head", b"HTTP/1.1 200 OK", 47), ("body", b"abc"), ("end", [("T", "1")])],
        b"X",
    ),
    (
        "interim heads",
        "GET",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        + OK_HEAD
        + b"hello",
        [
            ("head", b"HTTP/1.1 100 Continue", 25),
            ("head", b"HTTP/1.1 103 Early Hints", 65),
            ("head", b"HTTP/1.1 200 OK", 103),
            ("body", b"hello"),
            ("end", []),
        ],
        b"",
    ),
    (
        "close-delimited",
        "GET",
        b"HTTP/1.0 200 OK\r\n\r\nuntil the close",
        [("head", b"HTTP/1.0 200 OK", 19), ("body", b"until the close"), ("end", [])],
        b"",
    ),
    ("HEAD", "HEAD", OK_HEAD + b"stray", [("head", b"HTTP/1.1 200 OK", 38), ("end", [])], b"stray"),
    (
        "204",
        "GET",
        b"HTTP/1.1 204 No Content\r\n\r\nstray",
        [("head", b"HTTP/1.1 204 No Content", 27), ("end", [])],
        b"stray",
    ),
    (
        "304",
        "GET",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
        [("head", b"HTTP/1.1 304 Not Modified", 48), ("end", [])],
        b"",
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "data", "events", "rest"), RESPONSES, ids=[r[0] for r in RESPONSES]
)
def test_response_reader(name, method, data, events, rest):
    assert read_all(lambda: wire.ResponseReader(method), data) == (events, rest)


def test_response_reader_keeps_the_heads_and_framing():
    reader = wire.ResponseReader()
    reader.feed(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert [head.status for head in reader.interim] == [100]
    assert reader.head.status == 200 and reader.framing == Framing("chunked")
    assert not reader.done and reader.rest == b""


def test_pipelined_requests_each_read_from_the_rest_of_the_last():
    data = GET + POST + CHUNKED_POST + b"GET /last HTTP/1.1\r\nHost: a\r\n\r\n"
    for pieces in cuts(data):
        reader = wire.RequestReader()
        bodies = [body_of(run(reader, pieces, eof=False))]
        seen = [reader.head.target]
        while reader.rest:
            pending, reader = reader.rest, wire.RequestReader()
            bodies.append(body_of(run(reader, [pending], eof=False)))
            seen.append(reader.head.target)
        assert seen == ["/a", "/f", "/c", "/last"]
        assert bodies == [b"", b"hello", b"hello world", b""]
    assert wire.request_methods(data) == ["GET", "POST", "POST", "GET"]


def test_response_reader_skip_counts_spliced_bytes():
    reader = wire.ResponseReader()
    assert outline(run(reader, [OK_HEAD + b"he"], eof=False))[-1] == ("body", b"he")
    assert reader.wanted == 3
    assert reader.skip(3) == [wire.EndOfMessage(Headers())]
    assert reader.done and reader.received == 5


# --- what a server answers: the status each ProtocolError carries -----------------------------


def test_long_request_line_is_414_before_the_head_fills_431():
    reader = wire.RequestReader()
    reader.feed(b"GET /")
    fed = 5
    with pytest.raises(LimitExceeded) as info:
        while fed < 2 * wire.MAX_HEAD_SIZE:
            reader.feed(b"a" * 1024)
            fed += 1024
    assert info.value.status == 414
    assert fed < wire.MAX_REQUEST_LINE + 1024  # at the line limit, not the head limit


@pytest.mark.parametrize("length", [wire.MAX_REQUEST_LINE, wire.MAX_REQUEST_LINE + 1])
def test_request_line_limit_boundary(length):
    line = b"GET /" + b"a" * (length - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
    assert len(line) == length
    data = line + b"\r\nHost: a\r\n\r\n"
    if length <= wire.MAX_REQUEST_LINE:
        assert read_all(wire.RequestReader, data)[0][0] == ("head", line, len(data))
    else:
        assert error_of(wire.RequestReader, data).status == 414


def test_http09_request_line_is_400_at_once():
    """`GET /x` has no version: HTTP/0.9, which has no head to wait for; refused at its LF."""
    reader = wire.RequestReader()
    with pytest.raises(ProtocolError, match="without an HTTP version") as info:
        reader.feed(b"GET /x\r\n")
    assert info.value.status == 400
    reader = wire.RequestReader()
    for byte in b"GET /x\r":
        assert reader.feed(bytes([byte])) == []
    with pytest.raises(ProtocolError) as info:
        reader.feed(b"\n")
    assert info.value.status == 400


def test_request_reader_leaves_the_host_check_to_the_server():
    """A missing or repeated Host is the server's 400 to answer (on a connection it keeps),
    not a framing error: the reader reads such a request whole."""
    for fields in (b"", b"Host: a\r\nHost: b\r\n"):
        data = b"GET / HTTP/1.1\r\n" + fields + b"\r\n"
        assert read_all(wire.RequestReader, data) == (
            [("head", b"GET / HTTP/1.1", len(data)), ("end", [])],
            b"",
        )


def test_max_body_413_for_a_length_at_the_head():
    reader = wire.RequestReader(max_body=4)
    with pytest.raises(LimitExceeded) as info:
        reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
    assert info.value.status == 413
    assert read_all(lambda: wire.RequestReader(max_body=5), POST)[0][1] == ("body", b"hello")


def test_max_body_413_for_chunked_once_passed():
    error = error_of(lambda: wire.RequestReader(max_body=10), CHUNKED_POST)
    assert isinstance(error, LimitExceeded) and error.status == 413
    reader = wire.RequestReader(max_body=10)
    reader.feed(CHUNKED_POST[: CHUNKED_POST.index(b"6\r\n")])  # the first 5 bytes: fine
    assert reader.received == 5


SERVER_ERRORS = [
    # (name, bytes, error class, status)
    ("malformed line", b"GET  / HTTP/1.1\r\n\r\n", ProtocolError, 400),
    ("HTTP/0.9", b"GET /x\r\n", ProtocolError, 400),
    ("control in target", b"GET /a\x01 HTTP/1.1\r\n\r\n", ProtocolError, 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nX: 1\r\n folded\r\n\r\n", ProtocolError, 400),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", ProtocolError, 400),
    (
        "te and cl",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ProtocolError,
        400,
    ),
    ("te not chunked", b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", ProtocolError, 400),
    ("bad length", b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello", ProtocolError, 400),
    (
        "bad chunk",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ProtocolError,
        400,
    ),
    ("over max_body", b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", LimitExceeded, 413),
    (
        "line too long",
        b"GET /" + b"a" * wire.MAX_REQUEST_LINE + b" HTTP/1.1\r\n\r\n",
        LimitExceeded,
        414,
    ),
    (
        "head too large",
        b"GET / HTTP/1.1\r\nX: " + b"a" * wire.MAX_HEAD_SIZE + b"\r\n\r\n",
        LimitExceeded,
        431,
    ),
    (
        "too many fields",
        b"GET / HTTP/1.1\r\n" + b"X: 1\r\n" * (wire.MAX_HEADERS + 1) + b"\r\n",
        LimitExceeded,
        431,
    ),
    (
        "gzip, chunked",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        ProtocolError,
        501,
    ),
    (
        "chunked, chunked",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        ProtocolError,
        501,
    ),
    (
        "chunked twice",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        ProtocolError,
        501,
    ),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", ProtocolError, 505),
    ("HTTP/3.0", b"GET / HTTP/3.0\r\n\r\n", ProtocolError, 505),
]


@pytest.mark.parametrize(
    ("name", "data", "error", "status"), SERVER_ERRORS, ids=[e[0] for e in SERVER_ERRORS]
)
def test_server_side_errors_carry_their_status(name, data, error, status):
    raised = error_of(lambda: wire.RequestReader(max_body=1024 * 1024), data, eof=False)
    assert type(raised) is error
    assert raised.status == status


def test_expects_continue():
    head = b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n"
    reader = wire.RequestReader()
    assert not reader.expects_continue
    reader.feed(head)
    assert reader.expects_continue  # the client waits: the server may say 100 Continue
    reader.feed(b"o")
    assert not reader.expects_continue  # the body has begun
    reader = wire.RequestReader()
    reader.feed(head.replace(b"HTTP/1.1", b"HTTP/1.0"))
    assert not reader.expects_continue  # 1.0 clients do not know 100 Continue
    reader = wire.RequestReader()
    reader.feed(head.replace(b"Expect: 100-Continue\r\n", b""))
    assert not reader.expects_continue


# --- EOF ----------------------------------------------------------------------------------------


def test_response_eof_before_any_byte_is_an_empty_reply():
    with pytest.raises(EmptyReply):
        wire.ResponseReader().eof()


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Le", ProtocolError, "middle of the response head"),
        (b"HTTP/1.1 100 Continue\r\n\r\n", ProtocolError, "middle of the response head"),
        (OK_HEAD + b"hel", IncompleteBody, "3 of 5"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
            IncompleteBody,
            "no last chunk",
        ),
    ],
)
def test_response_eof_cut_short(data, error, words):
    raised = error_of(wire.ResponseReader, data)
    assert type(raised) is error and re.search(words, str(raised))


def test_response_eof_ends_a_close_delimited_body():
    reader = wire.ResponseReader()
    assert outline(run(reader, [b"HTTP/1.1 200 OK\r\n\r\nbody"], eof=False))[-1] == (
        "body",
        b"body",
    )
    assert not reader.done
    assert reader.eof() == [wire.EndOfMessage(Headers())]
    assert reader.done and reader.received == 4


@pytest.mark.parametrize("data", [b"", b"\r\n", b"\r\n\r\n\n"])
def test_request_eof_before_a_request_is_no_error(data):
    reader = wire.RequestReader()
    reader.feed(data)
    assert not reader.started
    assert reader.eof() == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n", ProtocolError),
        (POST[:-2], IncompleteBody),
        (CHUNKED_POST[:-2], IncompleteBody),
    ],
)
def test_request_eof_cut_short(data, error):
    raised = error_of(wire.RequestReader, data)
    assert type(raised) is error and raised.status == 400


def test_request_eof_after_a_whole_request_is_clean():
    reader = wire.RequestReader()
    reader.feed(POST)
    assert reader.done and reader.eof() == []


# --- chunked defects: unbounded trailers and extensions, control bytes, look-alike codings -----


def test_trailer_line_without_lf_is_refused_at_the_limit():
    """A trailer line that never ends must not grow until memory runs out."""
    decoder = wire.ChunkedDecoder()
    decoder.feed(b"1\r\nx\r\n0\r\n")
    piece, fed = b"T" * 65536, 0
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded, match="trailer"):
            while fed < 1024 * 1024:
                decoder.feed(piece)
                fed += len(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fed == 0  # refused within the first 64 KiB piece, not after a mebibyte
    assert peak < 2 * wire.MAX_TRAILER_SIZE


def test_trailer_section_limit_counts_all_lines():
    decoder = wire.ChunkedDecoder()
    decoder.feed(b"0\r\n")
    line = b"T: " + b"a" * 1000 + b"\r\n"
    with pytest.raises(LimitExceeded, match="trailer"):
        for _ in range(wire.MAX_TRAILER_SIZE // len(line) + 1):
            decoder.feed(line)


def test_chunk_extension_flood_is_refused_past_the_limit():
    chunk = b"1;" + b"e" * 999 + b"\r\nx\r\n"  # 1000 bytes of extension for 1 byte of data
    decoder = wire.ChunkedDecoder()
    accepted = 0
    with pytest.raises(LimitExceeded, match="chunk extensions") as info:
        for _ in range(1000):
            decoder.feed(chunk)
            accepted += 1
    assert accepted == wire.MAX_CHUNK_EXTENSIONS // 1000
    assert info.value.status == 400


@pytest.mark.parametrize("byte", [b"\r", b"\x00", b"\x01", b"\x7f"])
def test_control_bytes_in_a_chunk_extension_are_refused(byte):
    data = (
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a" + byte + b"b\r\nx\r\n0\r\n\r\n"
    )
    with pytest.raises(ProtocolError, match="chunk-size"):
        wire.ChunkedDecoder().feed(data[data.index(b"\r\n\r\n") + 4 :])
    assert error_of(wire.RequestReader, data).status == 400
    decoder = wire.ChunkedDecoder()  # HTAB is the one control byte an extension may hold
    assert b"".join(decoder.feed(b'1;a="x\ty";b\r\nx\r\n0\r\n\r\n')) == b"x"
    assert decoder.extensions == [';a="x\ty";b']


LOOKALIKE_SPACES = [b"\x0b", b"\x0c", b"\x1f", b"\x85", b"\xa0"]


@pytest.mark.parametrize("space", LOOKALIKE_SPACES, ids=lambda space: repr(space))
@pytest.mark.parametrize("where", ["before", "after"])
def test_chunked_padded_with_a_non_http_space_is_not_chunked(space, where):
    """Only SP and HTAB are whitespace in HTTP; Python's str.strip() also takes these, so a
    proxy and rawhttp could disagree on the framing (request smuggling)."""
    coding = space + b"chunked" if where == "before" else b"chunked" + space
    field = b"Transfer-Encoding: " + coding + b"\r\n"
    request = b"POST / HTTP/1.1\r\nHost: a\r\n" + field + b"\r\n0\r\n\r\n"
    headers = Headers([("Transfer-Encoding", coding.decode("latin-1"))])
    assert wire.response_framing("GET", 200, headers) == Framing("close")
    with pytest.raises(ProtocolError):
        wire.request_framing(headers)
    assert error_of(wire.RequestReader, request, eof=False).status == 400
    reader = wire.ResponseReader()
    reader.feed(b"HTTP/1.1 200 OK\r\n" + field + b"\r\n0\r\n\r\n")
    assert reader.framing == Framing("close")


def test_endless_interim_responses_are_refused_past_the_limit():
    reader = wire.ResponseReader()
    for _ in range(wire.MAX_INTERIM_RESPONSES):
        assert isinstance(reader.feed(b"HTTP/1.1 100 Continue\r\n\r\n")[0], wire.HeadEvent)
    with pytest.raises(LimitExceeded, match="MAX_INTERIM_RESPONSES"):
        reader.feed(b"HTTP/1.1 102 Processing\r\n\r\n")
    flood = b"HTTP/1.1 103 Early Hints\r\n\r\n" * (wire.MAX_INTERIM_RESPONSES + 1) + OK_HEAD
    assert isinstance(error_of(wire.ResponseReader, flood + b"hello"), LimitExceeded)


def test_exactly_the_interim_limit_is_fine():
    data = b"HTTP/1.1 100 Continue\r\n\r\n" * wire.MAX_INTERIM_RESPONSES + OK_HEAD + b"hello"
    events, _ = read_all(wire.ResponseReader, data)
    assert len(events) == wire.MAX_INTERIM_RESPONSES + 3
