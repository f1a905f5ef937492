"""What the fuzzer checks, on one input, without atheris: shared by fuzz_wire.py (the
coverage-guided harness, `make fuzz`) and test_fuzz_regressions.py (every saved input, in
`make test`).

The first byte of the input picks the request method (GET or HEAD) and how the rest is cut
into `recv` pieces; the rest is what a server sent. The response must parse to the same result
(or the same ProtocolError) whole and in pieces, the same bytes read as a request must do the
same, and nothing but rawhttp's ProtocolError family may be raised.
"""

from __future__ import annotations

from rawhttp import wire
from rawhttp.errors import ProtocolError


def _response(pieces: list[bytes], method: str) -> tuple:
    queue = list(pieces)
    pending = b""
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
    body = wire.body_reader(wire.response_framing(method, head.status, head.headers))
    data = bytearray()
    for piece in [pending, *queue]:
        for part in body.feed(piece):
            data += part
    if not body.done:
        body.eof()
    return head.status, head.headers.items(), bytes(data), bytes(body.rest)


def _request(pieces: list[bytes]) -> tuple:
    reader = wire.HeadReader(skip_leading_newlines=True)
    queue = list(pieces)
    raw = None
    while raw is None:
        if not queue:
            raise ProtocolError("closed inside a head")
        raw = reader.feed(queue.pop(0))
    head = wire.parse_request_head(raw)
    body = wire.body_reader(wire.request_framing(head.headers))
    data = bytearray()
    for piece in [reader.rest, *queue]:
        for part in body.feed(piece):
            data += part
    body.eof()
    return head.method, head.target, head.headers.items(), bytes(data)


def _outcome(parse, *args):
    try:
        return parse(*args)
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
    whole = _outcome(_response, [message], method)
    assert _outcome(_response, pieces, method) == whole, "split changed the response"
    whole = _outcome(_request, [message])
    assert _outcome(_request, pieces) == whole, "split changed the request"
    wire.request_methods(message)
