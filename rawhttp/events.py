"""The trace events one transfer emits, in order: the single record of what happened.

`client.py` emits them; everything a user sees about a transfer besides the head and body
(`-v`, and later traces, explanations and timings) is a view of these events, rendered in
`rawhttp.show`. Each event carries `at`, seconds on the `time.perf_counter` clock.

`Sent.data` and `Received.data` are views of the client's buffers, valid only during the call:
a listener that keeps bytes must copy them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rawhttp.wire import Framing, ResponseHead


def _now() -> float:
    return time.perf_counter()


@dataclass(frozen=True)
class Event:
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class RequestStarted(Event):
    """A request begins (each URL, each redirect hop): the zero point for timings."""

    url: str
    method: str


@dataclass(frozen=True)
class Resolved(Event):
    """getaddrinfo answered: the (family name, address, port) tuples to try, in order."""

    host: str
    port: int
    addresses: list[tuple[str, str, int]]


@dataclass(frozen=True)
class Connecting(Event):
    family: str
    address: str
    port: int


@dataclass(frozen=True)
class ConnectFailed(Event):
    address: str
    port: int
    reason: str


@dataclass(frozen=True)
class Connected(Event):
    """The TCP handshake finished: the connection's 4-tuple."""

    local: tuple[str, int]
    remote: tuple[str, int]
    reused: bool = False


@dataclass(frozen=True)
class Reused(Event):
    """The request goes on a connection kept open from the previous one (keep-alive)."""

    remote: tuple[str, int]


@dataclass(frozen=True)
class TLSEstablished(Event):
    version: str
    cipher: str


@dataclass(frozen=True)
class Sent(Event):
    data: bytes | memoryview
    offset: int


@dataclass(frozen=True)
class Received(Event):
    data: bytes | memoryview
    offset: int


@dataclass(frozen=True)
class HeadReceived(Event):
    """A complete head: an interim (1xx) one, or the final one of a hop.

    `end` is its end's offset in the received byte stream: where the body (or the next head)
    starts, usually in the middle of a read.
    """

    head: ResponseHead
    end: int = 0


@dataclass(frozen=True)
class FramingDecided(Event):
    framing: Framing


@dataclass(frozen=True)
class BodyProgress(Event):
    """After each read of the body: body bytes so far (after de-chunking)."""

    received: int


@dataclass(frozen=True)
class BodyDone(Event):
    """The body is complete; `reason` says why reading stopped; `extra` counts ignored bytes."""

    received: int
    reason: str
    extra: int = 0
    chunks: int | None = None


@dataclass(frozen=True)
class Redirecting(Event):
    status: int
    location: str
    method: str


@dataclass(frozen=True)
class Warned(Event):
    """Something allowed but worth a word on stderr (an https -> http redirect, say)."""

    message: str


@dataclass(frozen=True)
class Closed(Event):
    """The connection ended: `by` is "client" or "server"; or it was `kept` open for reuse."""

    by: str
    kept: bool = False
