"""`serve --latency MS`: a round-trip time emulated on the server's side only (an approximation).

A real round trip delays every packet. Without network namespaces (`lessons/delayline.py`,
which needs root) the server can only hold its answers back: each answer waits until `latency`
seconds after its request arrived, so requests that arrived together (pipelined) wait together;
the first answer on a connection waits one `latency` more, standing for the TCP handshake that
the loopback finished at once. What it cannot show: slow start, delayed ACKs, a request that
itself takes longer than one segment. The wait is a `Pause` action, run by the driver's timers
(`loop.py`) or a sleep (`threads.py`), never by blocking the event loop.
"""

from __future__ import annotations

from rawhttp.server.actions import Pause
from rawhttp.server.exchange import Exchange
from rawhttp.server.protocol import ServerConnection


class DelayedConnection(ServerConnection):
    """A ServerConnection whose answers are held back as a round trip of `latency` would."""

    def __init__(self, *args, latency: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.latency = latency
        self.arrived = self.clock()
        self.handshake = latency  # owed once, by the connection's first answer
        self._replaying = False

    def receive(self, data: bytes | memoryview) -> None:
        if not self._replaying:  # bytes fresh from the socket (not a pipelined rest)
            self.arrived = self.clock()
        super().receive(data)

    def answered(self) -> None:
        self._replaying = True  # the next pipelined request, read already, arrived earlier
        try:
            super().answered()
        finally:
            self._replaying = False

    def _queue(self, exchange: Exchange) -> None:
        wait = self.arrived + self.latency + self.handshake - self.clock()
        self.handshake = 0.0
        if wait > 0:
            exchange.actions.insert(0, Pause(wait))
        super()._queue(exchange)
