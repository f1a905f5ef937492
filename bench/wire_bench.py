"""The wire parser alone, against h11 doing the same work, in one process.

    python wire_bench.py [--quick]    # prints one JSON object: {case: {parser: [seconds...]}}

Cases:
- head: build a GET request, then parse a 50-header response head and decide its framing
  (rawhttp: a `wire.ResponseReader`, as the client reads a response; h11: a client
  `Connection` sends the request and reads the response). Seconds per 1000.
- chunked: decode a 100 MiB chunked body made of 1 KiB chunks, fed in 64 KiB reads after its
  head, counting the body bytes (the same reader and connection). Seconds for the whole body.
Rounds alternate rawhttp, h11, rawhttp, h11... so that drift hits both alike.
"""

from __future__ import annotations

import json
import sys
import time

import h11

from rawhttp import wire

HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    + b"".join(
        b"X-Header-%02d: value number %d, some text to parse\r\n" % (i, i) for i in range(48)
    )
    + b"Content-Type: application/octet-stream\r\nContent-Length: 1234\r\n\r\n"
)
CHUNK = 1024
READ = 64 * 1024


def chunked_body(total: int) -> bytes:
    one = b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n"
    return one * (total // CHUNK) + b"0\r\n\r\n"


def head_rawhttp(count: int) -> None:
    headers = wire.Headers([("Host", "example.com"), ("Accept", "*/*")])
    for _ in range(count):
        wire.build_request("GET", "/", headers)
        reader = wire.ResponseReader("GET")
        event = reader.feed(HEAD)[0]
        assert isinstance(event, wire.HeadEvent) and reader.framing is not None, event


def head_h11(count: int) -> None:
    request = h11.Request(method="GET", target="/", headers=[("Host", "example.com")])
    for _ in range(count):
        conn = h11.Connection(h11.CLIENT)
        conn.send(request)
        conn.send(h11.EndOfMessage())
        conn.receive_data(HEAD)
        event = conn.next_event()
        assert isinstance(event, h11.Response), event


def chunked_rawhttp(wire_bytes: bytes, total: int) -> None:
    reader = wire.ResponseReader("GET")
    reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert reader.framing == wire.Framing("chunked")
    view = memoryview(wire_bytes)
    received = 0
    for start in range(0, len(view), READ):
        for event in reader.feed(view[start : start + READ]):
            if isinstance(event, memoryview):
                received += len(event)
    assert reader.done and received == total, (reader.done, received)


def chunked_h11(wire_bytes: bytes, total: int) -> None:
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=READ * 2)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "example.com")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert isinstance(conn.next_event(), h11.Response)
    view = memoryview(wire_bytes)
    received = 0
    done = False
    for start in range(0, len(view), READ):
        conn.receive_data(bytes(view[start : start + READ]))
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                break
            if isinstance(event, h11.Data):
                received += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                done = True
                break
    assert done and received == total, (done, received)


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    quick = "--quick" in sys.argv
    rounds = 3 if quick else 7
    total = (20 if quick else 100) * 1024 * 1024
    body = chunked_body(total)
    results: dict[str, dict[str, list[float]]] = {
        "head": {"rawhttp": [], "h11": []},
        "chunked": {"rawhttp": [], "h11": []},
    }
    head_rawhttp(200)  # warm up both
    head_h11(200)
    for _ in range(rounds):
        results["head"]["rawhttp"].append(timed(head_rawhttp, 1000))
        results["head"]["h11"].append(timed(head_h11, 1000))
    for _ in range(rounds):
        results["chunked"]["rawhttp"].append(timed(chunked_rawhttp, body, total))
        results["chunked"]["h11"].append(timed(chunked_h11, body, total))
    print(json.dumps({"body_bytes": total, "results": results}))


if __name__ == "__main__":
    main()
