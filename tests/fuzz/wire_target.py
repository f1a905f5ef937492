"""What the fuzzer checks, on one input, without atheris: shared by fuzz_wire.py (the
coverage-guided harness, `make fuzz`) and test_fuzz_regressions.py (every saved input, in
`make test`). Its drivers, `parse_response` and `parse_request` (wire fed a list of `recv`
pieces, as the client and server feed it), serve test_properties.py too.

The first byte of the input picks the request method (GET or HEAD) and how the rest is cut
into `recv` pieces; the rest is what a server sent. The response must parse to the same result
(or the same ProtocolError) whole and in pieces, the same bytes read as a request must do the
same, and nothing but rawhttp's ProtocolError family may be raised.
"""

from __future__ import annotations

from rawhttp import wire
from rawhttp.errors import ProtocolError
from rawhttp.wire import Headers


def parse_response(pieces: list[bytes], method: str = "GET") -> tuple:
    """Feed `pieces` (what successive recv calls returned), then EOF; a summary of the result.

    Heads are read until a final one (1xx skipped), the framing decides the body reader, and
    every later piece goes to it, so bytes after the body's end show up in `rest`.
    """
    queue = list(pieces)
    pending = b""
    interim = []
    while True:
        reader = wire.HeadReader()
        raw = reader.feed(pending) if pending else None
        while raw is None:
            if not queue:
                raise ProtocolError("closed inside a head")
            raw = reader.feed(queue.pop(0))
        head = wire.parse_response_head(raw)
        pending = reader.rest
        if not head.is_interim:
            break
        interim.append(head.status)
    framing = wire.response_framing(method, head.status, head.headers)
    body_reader = wire.body_reader(framing)
    body = bytearray()
    for piece in [pending, *queue]:
        for part in body_reader.feed(piece):
            body += part
    if not body_reader.done:
        body_reader.eof()
    trailers = getattr(body_reader, "trailers", Headers())
    return (
        head.http_version,
        head.status,
        head.reason,
        head.headers.items(),
        interim,
        str(framing),
        bytes(body),
        trailers.items(),
        getattr(body_reader, "extensions", []),
        bytes(body_reader.rest),
    )


def parse_request(pieces: list[bytes]) -> tuple:
    """The server's side: skip empty lines, parse the request head, read the body by its
    framing (a request without one has none)."""
    reader = wire.HeadReader(skip_leading_newlines=True)
    queue = list(pieces)
    raw = None
    while raw is None:
        if not queue:
            raise ProtocolError("closed inside a head")
        raw = reader.feed(queue.pop(0))
    head = wire.parse_request_head(raw)
    body_reader = wire.body_reader(wire.request_framing(head.headers))
    body = bytearray()
    for piece in [reader.rest, *queue]:
        for part in body_reader.feed(piece):
            body += part
    body_reader.eof()
    return head.method, head.target, head.http_version, head.headers.items(), bytes(body)


def outcome(parse, pieces: list[bytes], *args):
    """The parse result, or the ProtocolError class and message: both must not depend on the
    cuts. Anything else escapes and fails the test."""
    try:
        return parse(pieces, *args)
    except ProtocolError as exc:
        return type(exc).__name__, str(exc)


def check(data: bytes) -> None:
    """Raise (AssertionError or whatever escaped the parser) if `data` finds a bug."""
    if not data:
        return
    control, message = data[0], data[1:]
    method = "HEAD" if control & 0x80 else "GET"
    step = (control & 0x7F) + 1
    pieces = [message[i : i + step] for i in range(0, len(message), step)] or [b""]
    whole = outcome(parse_response, [message], method)
    assert outcome(parse_response, pieces, method) == whole, "split changed the response"
    whole = outcome(parse_request, [message])
    assert outcome(parse_request, pieces) == whole, "split changed the request"
    wire.request_methods(message)
