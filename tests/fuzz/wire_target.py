"""What the fuzzer checks, on one input, without atheris: shared by fuzz_wire.py (the
coverage-guided harness, `make fuzz`) and test_fuzz_regressions.py (every saved input, in
`make test`). Its drivers, `run`, `parse_response` and `parse_request` (wire's readers fed a
list of `recv` pieces, as the client and server feed them), serve test_properties.py and
test_wire.py too.

The first byte of the input picks the request method (GET or HEAD) and how the rest is cut
into `recv` pieces; the rest is what a server sent. The response must parse to the same result
(or the same ProtocolError) whole and in pieces, the same bytes read as a request must do the
same, and nothing but rawhttp's ProtocolError family may be raised.
"""

from __future__ import annotations

from rawhttp import wire
from rawhttp.errors import ProtocolError


def run(reader, pieces: list[bytes], eof: bool = True) -> list[tuple]:
    """Feed `pieces` (what successive recv calls returned) to a `wire.ResponseReader` or
    `RequestReader`, then EOF unless `eof` is false; the events it returned, as values to
    compare: ("head", head, end), ("body", bytes), ("end", trailer items). Body pieces next to
    each other are joined, since where the bytes were cut must not show."""
    batches = [reader.feed(piece) for piece in pieces]
    if eof and not reader.done:
        batches.append(reader.eof())
    events: list[tuple] = []
    for batch in batches:
        for event in batch:
            if isinstance(event, wire.HeadEvent):
                events.append(("head", event.head, event.end))
            elif isinstance(event, wire.EndOfMessage):
                events.append(("end", event.trailers.items()))
            elif events and events[-1][0] == "body":
                events[-1] = ("body", events[-1][1] + bytes(event))
            else:
                events.append(("body", bytes(event)))
    return events


def body_of(events: list[tuple]) -> bytes:
    return b"".join(event[1] for event in events if event[0] == "body")


def parse_response(pieces: list[bytes], method: str = "GET") -> tuple:
    """Feed `pieces` to a ResponseReader, then EOF; a summary of the result.

    Every piece is fed, so bytes after the body's end show up in `rest`."""
    reader = wire.ResponseReader(method)
    events = run(reader, pieces)
    head = reader.head
    assert head is not None and events[-1][0] == "end", "EOF neither raised nor ended it"
    return (
        head.http_version,
        head.status,
        head.reason,
        head.headers.items(),
        [interim.status for interim in reader.interim],
        str(reader.framing),
        body_of(events),
        events[-1][1],
        getattr(reader.body, "extensions", []),
        bytes(reader.rest),
    )


def parse_request(pieces: list[bytes]) -> tuple:
    """The server's side: a RequestReader fed `pieces`, then EOF (a request without framing
    fields has no body)."""
    reader = wire.RequestReader()
    events = run(reader, pieces)
    head = reader.head
    if head is None:
        raise ProtocolError("closed before a request")
    return head.method, head.target, head.http_version, head.headers.items(), body_of(events)


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
