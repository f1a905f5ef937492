"""The socket moves both drivers make, written once: `loop.py` (non-blocking sockets) and
`threads.py` (blocking ones, or a `TLSSocket` standing in for one) call these rather than
`setsockopt` and `shutdown` themselves.

It owns no policy: when to reset, linger or wake is the drivers' and `protocol.py`'s call.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable

# Bytes asked of each recv, by both drivers.
BUFSIZE = 64 * 1024
# SO_LINGER on with a zero timeout: close() then sends a RST and drops what is unsent.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


def accept(
    listener: socket.socket, log: Callable[[str], None], pause_after_failure: float = 0.0
) -> tuple[socket.socket, tuple] | None:
    """The next waiting client (its socket and address), or None: none is waiting (another
    worker took it, or it left before we got to it), or accepting failed (out of descriptors,
    say), which is logged and, for a driver that may block, followed by a pause so it does not
    go straight back into the same failure."""
    try:
        return listener.accept()
    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
        return None
    except OSError as exc:  # report it and carry on
        log(f"accept failed: {exc}")
        if pause_after_failure:
            time.sleep(pause_after_failure)
        return None


def send_at_once(sock: socket.socket) -> None:
    """Send small writes (a head, a dripped byte) at once instead of waiting for an ACK
    (TCP_NODELAY: Nagle's algorithm off)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def reset_on_close(sock: socket.socket) -> None:
    """Abort: the caller's close() then sends a TCP RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)


def half_close(sock: socket.socket) -> bool:
    """Begin a lingering close: shut our side (the FIN goes after the answer) and go on
    reading, so unread bytes do not make the kernel send a reset that could make the client
    lose the end of our answer (the 400 saying why we stop) before reading it; Apache and
    nginx call this a lingering close. False if the socket is already gone."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return False
    return True


class Waker:
    """The self-pipe trick: `stop()`, called from another thread or a signal handler, wakes a
    driver's select by writing a byte to a socket pair whose `receive` end it waits on."""

    def __init__(self) -> None:
        self.receive, self._send = socket.socketpair()

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            self._send.send(b"!")

    def close(self) -> None:
        self.receive.close()
        self._send.close()
