"""Property tests (hypothesis) on rawhttp.wire, the sans-IO parser both ends share.

Three promises, each checked on generated input rather than a table:

- how bytes are cut into `recv` pieces never changes what a valid message parses to, nor the
  events `wire`'s readers return (each head with its offset, the body, the end, the rest);
- chunked encoding then decoding gives back exactly the chunks, extensions and trailers;
- arbitrary or mutated bytes only ever raise rawhttp's `ProtocolError` family: never
  `IndexError`, `ValueError`, `UnicodeDecodeError`, a recursion error, nor a hang (each example
  runs under an alarm).

`RAWHTTP_EXAMPLES` sets how many examples each property tries (200 by default, for `make test`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import string

import pytest
from fuzz.cli_target import FLAG_SETS, assert_no_traceback, run_cli

# The drivers live beside the fuzz harness, which checks the same promises on its inputs.
from fuzz.wire_target import body_of, outcome, parse_request, parse_response, run
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rawhttp import wire
from rawhttp.errors import ProtocolError
from rawhttp.wire import Headers

EXAMPLES = int(os.environ.get("RAWHTTP_EXAMPLES", "200"))
# Seconds one example may take before it counts as a hang (a loop that never ends).
HANG_SECONDS = 5

PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,  # timing is the alarm's job: a slow CI machine must not make this flaky
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Hang(Exception):
    """An example ran for HANG_SECONDS: the parser is looping instead of answering."""


@contextlib.contextmanager
def no_hang(seconds: float = HANG_SECONDS):
    def ring(signum, frame):
        raise Hang(f"still parsing after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- driving the parser the way client.py and server/protocol.py do ------------------------


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given offsets (any order, repeats and out-of-range ones ignored)."""
    points = sorted({cut for cut in cuts if 0 < cut < len(data)})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


# --- strategies for valid messages -------------------------------------------------------------

TCHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
FRAMING_FIELDS = {"content-length", "transfer-encoding"}
tokens = st.text(alphabet=TCHARS, min_size=1, max_size=12)
field_names = tokens.filter(lambda name: name.lower() not in FRAMING_FIELDS)
# field-content: visible ASCII, obs-text (0x80-0xff), and SP/HTAB inside; the parser strips
# the whitespace around a value, so generated values have none there.
value_chars = st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f")
field_values = st.text(alphabet=value_chars | st.just("\t"), max_size=24).map(
    lambda value: value.strip(" \t")
)
fields = st.lists(st.tuples(field_names, field_values), max_size=6)
reasons = st.text(alphabet=value_chars, max_size=20)
bodies = st.binary(max_size=400)
chunk_extensions = st.sampled_from(["", ";a", ";a=1", ';name="quoted value"', ";x=y;z"])


@st.composite
def chunked_bodies(draw) -> tuple[bytes, bytes, list[tuple[str, str]], list[str]]:
    """(encoded bytes, body, trailers, extensions seen) for a random cut of a random body."""
    body = draw(bodies)
    pieces = [piece for piece in split(body, draw(st.lists(st.integers(1, 400)))) if piece]
    extensions = [draw(chunk_extensions) for _ in pieces]
    trailers = draw(fields)
    encoded = b"".join(map(wire.encode_chunk, pieces, extensions))
    encoded += wire.last_chunk(Headers(trailers))
    return encoded, body, trailers, [ext for ext in extensions if ext]


@st.composite
def responses(draw) -> tuple[bytes, str, tuple]:
    """(bytes on the wire, request method, the summary `parse_response` must return)."""
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
    interim = draw(st.lists(st.sampled_from([100, 102, 103]), max_size=2))
    kind = draw(st.sampled_from(["length", "chunked", "close", "none"]))
    method = "GET"
    extra = draw(fields)
    body, trailers, extensions, framing_fields = b"", [], [], []
    wire_body = b""
    if kind == "none":
        status = draw(st.sampled_from([204, 304, 200]))
        if status == 200:
            method = "HEAD"
            framing_fields = [("Content-Length", str(draw(st.integers(0, 10**6))))]
    else:
        status = draw(st.integers(200, 599).filter(lambda code: code not in (204, 304)))
        if kind == "length":
            body = wire_body = draw(bodies)
            framing_fields = [("Content-Length", str(len(body)))]
        elif kind == "chunked":
            wire_body, body, trailers, extensions = draw(chunked_bodies())
            framing_fields = [("Transfer-Encoding", "chunked")]
        else:
            body = wire_body = draw(bodies)
    reason = draw(reasons)
    at = draw(st.integers(0, len(extra)))
    headers = [*extra[:at], *framing_fields, *extra[at:]]
    data = b"".join(wire.build_response_head(code, Headers(), version=version) for code in interim)
    data += wire.build_response_head(status, Headers(headers), reason, version=version)
    # What follows a self-delimited body (a pipelined answer, stray bytes) is never body.
    after = b"" if kind == "close" else draw(st.sampled_from([b"", b"HTTP/1.1 200 OK\r\n"]))
    data += wire_body + after
    framing = {"length": f"length {len(body)}", "chunked": "chunked", "close": "close"}
    expected = (
        version,
        status,
        reason,
        headers,
        interim,
        framing.get(kind, "none"),
        body,
        trailers,
        extensions,
        after if kind != "none" else wire_body + after,
    )
    return data, method, expected


# --- every way of splitting gives the same result ---------------------------------------------


@PROPERTY
@given(responses(), st.lists(st.integers(1, 2000), max_size=30))
def test_any_split_of_a_valid_response_parses_the_same(message, cuts):
    data, method, expected = message
    with no_hang():
        assert parse_response([data], method) == expected
        assert parse_response(split(data, cuts), method) == expected


@PROPERTY
@given(responses())
def test_a_valid_response_fed_one_byte_at_a_time(message):
    data, method, expected = message
    with no_hang():
        assert parse_response(split(data, list(range(len(data)))), method) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        b"HTTP/1.0 200 OK\nX: folded\n  twice\n\nclose-delimited body",
    ],
)
def test_every_two_and_three_piece_split_parses_the_same(data):
    """Not a sample: every cut point, and every pair of them, of a few messages with all the
    parts (1xx, chunk-ext, trailers, bare LF, obs-fold)."""
    whole = parse_response([data])
    for first in range(1, len(data)):
        assert parse_response(split(data, [first])) == whole
        for second in range(first + 1, len(data), 7):
            assert parse_response(split(data, [first, second])) == whole


@st.composite
def requests(draw) -> tuple[bytes, tuple]:
    method = draw(tokens)
    target = "/" + draw(st.text(alphabet=string.ascii_letters + "/?=&%.-_~", max_size=30))
    extra = [("Host", "a.test"), *draw(fields)]
    body = draw(bodies)
    kind = draw(st.sampled_from(["none", "length", "chunked"]))
    if kind == "none":
        body, wire_body = b"", b""
    elif kind == "length":
        extra.append(("Content-Length", str(len(body))))
        wire_body = body
    else:
        extra.append(("Transfer-Encoding", "chunked"))
        wire_body, body, _, _ = draw(chunked_bodies())
    data = draw(st.sampled_from([b"", b"\r\n", b"\n\r\n"]))  # empty lines a server skips
    data += wire.build_request(method, target, Headers(extra)) + wire_body
    return data, (method, target, "HTTP/1.1", extra, body)


@PROPERTY
@given(requests(), st.lists(st.integers(1, 2000), max_size=30))
def test_any_split_of_a_valid_request_parses_the_same(message, cuts):
    data, expected = message
    with no_hang():
        assert parse_request([data]) == expected
        assert parse_request(split(data, cuts)) == expected


# --- the readers' events: the same content however the bytes are cut --------------------------


def read_events(make_reader, pieces: list[bytes]) -> tuple[list[tuple], bytes]:
    reader = make_reader()
    return run(reader, pieces), reader.rest


@PROPERTY
@given(responses(), st.lists(st.integers(1, 2000), max_size=30))
def test_any_split_of_a_valid_response_gives_the_same_events(message, cuts):
    data, method, expected = message
    _, status, _, _, interim, _, body, trailers, _, rest = expected
    make_reader = functools.partial(wire.ResponseReader, method)
    with no_hang():
        whole = read_events(make_reader, [data])
        assert read_events(make_reader, split(data, cuts)) == whole
        assert read_events(make_reader, split(data, list(range(len(data))))) == whole
    events, left = whole
    heads = [event for event in events if event[0] == "head"]
    assert [head.status for _, head, _ in heads] == [*interim, status]
    ends = [end for _, _, end in heads]
    assert ends == [sum(len(head.raw) for _, head, _ in heads[: i + 1]) for i in range(len(heads))]
    assert (body_of(events), events[-1], left) == (body, ("end", trailers), rest)


NEXT_REQUEST = b"GET /next HTTP/1.1\r\nHost: a.test\r\n\r\n"


@PROPERTY
@given(requests(), st.lists(st.integers(1, 2000), max_size=30))
def test_any_split_of_a_valid_request_gives_the_same_events(message, cuts):
    data, (method, target, _, fields, body) = message
    data += NEXT_REQUEST  # pipelined: what follows the request is left in `rest`
    with no_hang():
        whole = read_events(wire.RequestReader, [data])
        assert read_events(wire.RequestReader, split(data, cuts)) == whole
        assert read_events(wire.RequestReader, split(data, list(range(len(data))))) == whole
    events, left = whole
    (_, head, end), *_ = events
    assert (head.method, head.target, head.headers.items()) == (method, target, fields)
    assert end == data.index(b"\r\n\r\n") + 4
    assert (body_of(events), events[-1][0], left) == (body, "end", NEXT_REQUEST)


# --- chunked encode -> decode is the identity --------------------------------------------------


@PROPERTY
@given(
    st.lists(st.tuples(st.binary(min_size=1, max_size=300), chunk_extensions), max_size=10),
    fields,
    st.binary(max_size=20),
    st.lists(st.integers(1, 4000), max_size=20),
)
def test_chunked_encode_then_decode_is_the_identity(chunks, trailers, after, cuts):
    encoded = b"".join(wire.encode_chunk(data, ext) for data, ext in chunks)
    encoded += wire.last_chunk(Headers(trailers)) + after
    decoder = wire.ChunkedDecoder()
    decoded = bytearray()
    with no_hang():
        for piece in split(encoded, cuts):
            for part in decoder.feed(piece):
                decoded += part
    assert decoder.done
    assert bytes(decoded) == b"".join(data for data, _ in chunks)
    assert decoder.chunks == len(chunks)
    assert decoder.extensions == [ext for _, ext in chunks if ext]
    assert decoder.trailers.items() == trailers
    assert decoder.rest == after
    assert decoder.received == len(decoded)


# --- arbitrary bytes: only ProtocolError ---------------------------------------------------------

# Bytes that matter to the grammar, so mutations hit the interesting branches often.
SYNTAX = b"\r\n:; \t,\x00\x7f\x80\xff0123456789abcdefxHTP/.-"


@st.composite
def mutated(draw, base) -> bytes:
    """A valid message with a few bytes inserted, deleted, replaced or repeated."""
    data = bytearray(draw(base)[0])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "repeat"]))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4) | st.sampled_from(SYNTAX_BYTES))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 4))]
        elif op == "replace" and at < len(data):
            data[at] = draw(st.sampled_from(SYNTAX))
        elif op == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 40))] * draw(st.integers(1, 50))
    return bytes(data)


SYNTAX_BYTES = [bytes([byte]) for byte in SYNTAX] + [b"\r\n\r\n", b"Content-Length: ", b"0\r\n"]
# Inputs that once escaped as something other than ProtocolError, or that push on a limit.
HOSTILE = [
    b"HTTP/1.1 200 OK\r\nContent-Length: " + b"1" * 5000 + b"\r\n\r\n",  # int() digit limit
    b"HTTP/1.1 200 OK\r\nContent-Length: 0" + b"0" * 5000 + b"7\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 1000 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nX: \xff\xfe\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 101 + b"\r\n",
    b"HTTP/1.1 200 OK\r\n" + b" folded\r\n" * 1000 + b"\r\n",
    b"\n" * 70_000,
]


def check_only_protocol_errors(data: bytes, cuts: list[int]) -> None:
    with no_hang():
        for method in ("GET", "HEAD"):
            whole = outcome(parse_response, [data], method)
            assert outcome(parse_response, split(data, cuts), method) == whole
        whole = outcome(parse_request, [data])
        assert outcome(parse_request, split(data, cuts)) == whole
        wire.request_methods(data)
        decoder = wire.ChunkedDecoder()
        with contextlib.suppress(ProtocolError):
            for piece in split(data, cuts):
                decoder.feed(piece)
            decoder.eof()


@PROPERTY
@given(st.binary(max_size=3000), st.lists(st.integers(1, 3000), max_size=10))
def test_arbitrary_bytes_raise_only_protocol_errors(data, cuts):
    check_only_protocol_errors(data, cuts)


@PROPERTY
@given(mutated(responses()), st.lists(st.integers(1, 3000), max_size=10))
@example(HOSTILE[0], [20])
def test_mutated_responses_raise_only_protocol_errors(data, cuts):
    check_only_protocol_errors(data, cuts)


@PROPERTY
@given(mutated(requests()), st.lists(st.integers(1, 3000), max_size=10))
def test_mutated_requests_raise_only_protocol_errors(data, cuts):
    check_only_protocol_errors(data, cuts)


@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_inputs_raise_only_protocol_errors(data):
    check_only_protocol_errors(data, [1, 17, 64 * 1024])


# --- the CLI never prints a traceback ------------------------------------------------------------
#
# The same promise one level up: whatever a server sends, whatever URL or output name is typed,
# `rawhttp get` ends with an exit code and at most one error line (fuzz/cli_target.py plays
# the reply over a socketpair, so the client, sinks and views all run as they do for real).

# Replies that are HTTP, or nearly: valid ones, mutated ones, and ones with a body encoded.
GZIP_HEAD = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
replies = st.one_of(
    responses().map(lambda made: made[0]),
    mutated(responses()),
    st.binary(max_size=300),
    st.sampled_from(HOSTILE),
    st.builds(lambda data: GZIP_HEAD % len(data) + data, st.binary(max_size=40)),
)
flag_sets = st.sampled_from(FLAG_SETS)
# URL text as typed: schemes, hosts, ports and paths from pieces that matter, and any text.
url_texts = st.one_of(
    st.text(max_size=40),
    st.builds(
        "".join,
        st.lists(
            st.sampled_from(
                [
                    "http://",
                    "https://",
                    "ftp://",
                    "[",
                    "]",
                    "::1",
                    "a.test",
                    ":",
                    "80",
                    "99999",
                    "/",
                    "?",
                    "#",
                    "%",
                    "%zz",
                    "@",
                    " ",
                    "\x00",
                    "\u00e9",
                    "..",
                    "x",
                    "fa\u00df",  # IDNA 2008 keeps ß (xn--fa-hia)
                    "xn--",
                    "\u200d",  # a joiner: CONTEXTJ, refused out of context
                    "\u3002",  # an ideographic full stop: UTS 46 maps it to "."
                    "fe80::1",
                    "%25",
                    "eth0",
                    "%25lo",
                ]
            ),
            max_size=8,
        ),
    ),
)
# Output names: nested, absolute, too long, with NUL, through a file, special ones.
output_names = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=30),
    st.sampled_from(
        [
            "x" * 255,
            "x" * 256,
            "a/b/c",
            "missing/x",
            "/dev/null",
            "/",
            ".",
            "..",
            "-",
            "out.bin/x",
            "/proc/self/nothing",
            "n\x00ul",
        ]
    ),
)


@PROPERTY
@given(replies, flag_sets)
def test_no_reply_makes_the_cli_print_a_traceback(reply, flags):
    with no_hang(20):
        assert_no_traceback(run_cli(reply, flags))


@PROPERTY
@given(url_texts, flag_sets)
def test_no_url_makes_the_cli_print_a_traceback(url, flags):
    reply = b"HTTP/1.1 302 Found\r\nLocation: " + url.encode("utf-8", "replace") + b"\r\n\r\n"
    with no_hang(20):
        assert_no_traceback(run_cli(reply, flags, urls=[url or "x"]))
        assert_no_traceback(run_cli(reply, ["-L"]))  # the same text as a Location


# -w formats: curl's variables, headers, stream switches, escapes, and broken pieces.
write_out_formats = st.builds(
    "".join,
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "%{json}",
                    "%{header_json}",
                    "%{http_code}",
                    "%{time_namelookup}",
                    "%{speed_download}",
                    "%{redirect_url}",
                    "%{errormsg}",
                    "%{nonsense}",
                    "%header{content-type}",
                    "%header{}",
                    "%{stderr}",
                    "%{stdout}",
                    "%output{w.txt}",
                    "%output{>>w.txt}",
                    "%{",
                    "%",
                    "%%",
                    "\\n",
                    "\\",
                    "}",
                ]
            ),
            st.text(max_size=5),
        ),
        max_size=8,
    ),
)


@PROPERTY
@given(write_out_formats, replies)
def test_no_write_out_format_makes_the_cli_print_a_traceback(form, reply):
    with no_hang(20):
        assert_no_traceback(run_cli(reply, ["-w", form]))
        assert_no_traceback(run_cli(reply, ["-s", "-o", "out.bin", "-w", form]))


@PROPERTY
@given(output_names, st.booleans(), replies)
def test_no_output_name_makes_the_cli_print_a_traceback(name, resume, reply):
    flags = ["-o", name, *(["-C"] if resume else [])]
    with no_hang(20):
        assert_no_traceback(run_cli(reply, flags))
