"""What an answer is made of: the actions a handler returns and a driver carries out.

A handler never touches a socket or sleeps. It describes its answer as a short list of these
values, and a driver (`loop.py` for the event loop, `threads.py` for a thread per connection)
moves the bytes when the socket can take them, the way waitress's tasks write into a buffer
and its channel decides when bytes move. Scenarios that drip or stall are pauses in the list.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple


class Send(NamedTuple):
    """Bytes to send exactly as given (a head, body bytes, or a whole replayed response)."""

    data: bytes


class SendFile(NamedTuple):
    """`count` bytes of the open file `fd` from `offset`, copied by the kernel (sendfile(2)).

    The action owns `fd` (a duplicate the handler made): the driver closes it when the bytes
    are sent or the connection is gone, so a handler's `with open(...)` can end at once.
    """

    fd: int
    offset: int
    count: int

    def close(self) -> None:
        os.close(self.fd)


class Stream(NamedTuple):
    """Bytes made while they are sent: the driver asks for the next piece only when the last
    one has gone, so a large chunked answer never sits in memory whole."""

    pieces: Iterator[bytes]

    def close(self) -> None:
        close_pieces(self.pieces)


class Pause(NamedTuple):
    """Send nothing for `seconds` (the driver keeps serving other connections meanwhile)."""

    seconds: float


class Reset(NamedTuple):
    """Abort the connection with a TCP RST instead of a FIN (SO_LINGER on, timeout 0)."""


class Close(NamedTuple):
    """End the connection politely: half-close, drop what the client still sends, close."""


class Tunnel(NamedTuple):
    """serve --proxy: connect to `plan.target` and copy bytes both ways (CONNECT); relay.py
    runs it, `plan` (a proxy.TunnelPlan) says what to answer and what the proxy saw."""

    plan: object


class Forward(NamedTuple):
    """serve --proxy: send `plan.request` upstream and stream the answer back, re-framed by
    `plan` (a proxy.ForwardPlan); relay.py runs it."""

    plan: object


# The actions that reach past the client's socket to an upstream one (relay.py).
UPSTREAM = (Tunnel, Forward)
Action = Send | SendFile | Stream | Pause | Reset | Close | Tunnel | Forward


def close_pieces(pieces: Iterator[bytes]) -> None:
    """Close a stream's pieces if they can be (a generator: its `finally` runs now)."""
    close = getattr(pieces, "close", None)
    if close is not None:
        close()


def release(action: Action) -> None:
    """Free what an action holds (a file descriptor, a generator) when it will not run."""
    if isinstance(action, (SendFile, Stream)):
        action.close()
