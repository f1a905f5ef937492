"""`--model events`: one `selectors` loop serving every connection of a process.

Sockets are non-blocking. A `Channel` pairs a socket with its `ServerConnection`: it reads when
the connection is reading, and sends the connection's actions when the socket can take bytes
(sendfile(2) for files, straight from the page cache). Deadlines (idle, whole head, body rate,
a client not reading, a pause ending, a lingering close) sit in one timer heap, so the loop
never sleeps past the next one and never blocks on a single client. This is nginx's shape, and
how the C10K problem was solved: a waiting connection costs a socket, not a thread.

Over TLS a `TLSChannel` puts a `tls.TLSSession` between the socket and the connection: the
handshake is bytes fed in and bytes to send like any others (it never blocks the loop), every
answer is encrypted before it goes out, and files go in pieces instead of by sendfile.

The loop is handed a `listener.Serving` (the listening socket, the cap, the log, how to make a
connection, TLS), never the `Server`; the socket moves it shares with `threads.py` (accept,
no delay, reset, half-close, the waker) are `sockets.py`'s.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import selectors
import socket
import time

from rawhttp.server import sockets, tls
from rawhttp.server.actions import Close, Pause, Reset, Send, SendFile, Stream
from rawhttp.server.listener import Serving, evicted_line, flush_log, make_room, refuse
from rawhttp.server.protocol import ServerConnection

# Connections accepted per wake-up of the listening socket, so a burst cannot starve the rest.
ACCEPTS_PER_WAKE = 64
# The longest the loop sleeps with nothing due: how often `on_tick` runs (a worker checks that
# its parent is alive).
TICK = 0.5
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
NOTHING = memoryview(b"")  # a channel's `out` when every byte has gone


class Channel:
    """One client socket and its connection: what is being sent, and what to wait for."""

    partner = None  # serve --proxy: the upstream socket watched beside this one (relay.py)

    def __init__(self, sock: socket.socket, conn: ServerConnection):
        self.sock = sock
        self.fd = sock.fileno()  # the key in the loop's table, still known once closed
        self.conn = conn
        self.out = NOTHING  # bytes of the current Send not yet taken by the kernel
        self.file: list[int] | None = None  # [fd, offset, left] of the current SendFile
        self.resume_at: float | None = None  # a Pause ends then
        self.lingering = False  # our side is shut; reading what is left before closing
        self.closed = False
        self.interest = 0
        self.timer_at = float("inf")

    def wakeup(self) -> float:
        """When the loop must look at this channel even if its socket stays quiet."""
        deadline = self.conn.deadline()
        return min(deadline, self.resume_at) if self.resume_at is not None else deadline

    def wanted(self) -> int:
        if self.closed or self.resume_at is not None:
            return 0
        events = READ if self.conn.reading or self.lingering else 0
        if self.out or self.file is not None:
            events |= WRITE
        return events

    def readable(self) -> None:
        try:
            data = self.sock.recv(sockets.BUFSIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.drop("connection reset")
            return
        if self.lingering:
            if not data:
                self.finish()
            return
        self._received(data)
        self.pump()

    def _received(self, data: bytes) -> None:
        if data:
            self.conn.receive(data)
        else:
            self.conn.eof()

    def _wire(self, data: bytes) -> bytes:
        """What goes on the socket for the answer's `data` (encrypted, over TLS)."""
        return data

    def pump(self) -> None:
        """Send the queued actions until the socket would block, a pause, or nothing is left."""
        try:
            while not self.closed and self._step():
                pass
        except OSError:
            self.drop("connection lost while answering")

    def _step(self) -> bool:
        """Move the answer on by one piece; False when waiting (for the socket, a pause, or
        the client's next request)."""
        if self.out:
            return self._send(self.out)
        if self.file is not None:
            return self._send_file()
        conn = self.conn
        if not conn.outbox:
            if conn.state != "answer":
                return False
            conn.answered()  # may start on a pipelined request already received
            return True
        return self._start(conn.next_action())

    def _start(self, action) -> bool:
        if isinstance(action, Send):
            joined = [action.data]
            while self.conn.outbox and isinstance(self.conn.outbox[0], Send):
                joined.append(self.conn.next_action().data)  # one send for head and page
            return self._send(self._wire(b"".join(joined)))
        elif isinstance(action, SendFile):
            self.file = [action.fd, action.offset, action.count]
        elif isinstance(action, Stream):
            piece = self._next_piece(action)
            if piece is not None:
                self.conn.outbox.appendleft(action)
                self.out = memoryview(self._wire(piece))
        elif isinstance(action, Pause):
            self.resume_at = time.monotonic() + action.seconds
            return False
        elif isinstance(action, Reset):
            self.reset()
            return False
        elif isinstance(action, Close):
            self.linger()
            return False
        return True

    def _send(self, data: bytes | memoryview) -> bool:
        """Send what the socket takes of `data` now, keeping the rest in `out` until it is
        writable again; True when all of it went."""
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):  # (full: nothing went)
            sent = 0
        if sent:
            self.conn.progressed()
        self.out = memoryview(data)[sent:] if sent < len(data) else NOTHING
        return sent == len(data)

    def _next_piece(self, action: Stream) -> bytes | None:
        try:
            return next(action.pieces, None)
        except OSError:  # the file being streamed went away: the answer cannot be finished
            self.drop("could not read what was being streamed")
            return None

    def _send_file(self) -> bool:
        fd, offset, left = self.file
        try:
            sent = os.sendfile(self.sock.fileno(), fd, offset, left)
        except (BlockingIOError, InterruptedError):
            return False
        self.conn.progressed()
        if sent == 0:  # the file shrank while being sent: the promised length is a lie now
            self._end_file()
            self.drop("file shrank while being sent")
            return False
        self.file = [fd, offset + sent, left - sent]
        if left - sent == 0:
            self._end_file()
            return True
        return False

    def _end_file(self) -> None:
        if self.file is not None:
            os.close(self.file[0])
            self.file = None

    def resume(self) -> None:
        self.resume_at = None
        self.conn.progressed()
        self.pump()

    def linger(self) -> None:
        """Half-close and keep reading (dropping) for LINGER_SECONDS (`sockets.half_close`)."""
        self.lingering = True
        if not sockets.half_close(self.sock):
            self.finish()

    def reset(self) -> None:
        with contextlib.suppress(OSError):
            sockets.reset_on_close(self.sock)
        self.finish()

    def drop(self, why: str) -> None:
        self.conn.dropped(why)
        self.finish()

    def finish(self) -> None:
        """Free what the connection still holds; the loop then unregisters and closes the
        socket (in that order: a closed descriptor cannot be unregistered)."""
        if self.closed:
            return
        self.closed = True
        self._end_file()
        self.conn.dropped()

    def crashed(self, error: Exception) -> None:
        """An exception escaped this connection's work (a bug): it fails alone, with a 500
        if nothing of the answer went yet (`ServerConnection.crashed`), never the loop."""
        self.out = NOTHING
        self._end_file()
        self.conn.crashed(error)
        try:
            self.pump()
        except Exception:  # failing again: give up on this connection only
            self.finish()

    def expire(self, now: float) -> None:
        if self.resume_at is not None and now >= self.resume_at:
            self.resume()
        if self.closed or now < self.conn.deadline():
            return
        if self.lingering or (self.conn.state == "closing" and not self.conn.outbox):
            self.finish()
            return
        self.conn.timed_out()
        self.pump()


class TLSChannel(Channel):
    """A channel speaking TLS through a session (see tls.py): ciphertext on the socket."""

    def __init__(self, sock: socket.socket, conn: ServerConnection, session: tls.TLSSession):
        super().__init__(sock, conn)
        self.session = session

    def _received(self, data: bytes) -> None:
        if not data:
            self.conn.eof()
            return
        tls.feed(self.session, self.conn, data)
        waiting = self.session.outgoing()  # the handshake's answers, a ticket, an alert
        if waiting:
            self.out = memoryview(bytes(self.out) + waiting if self.out else waiting)

    def _wire(self, data: bytes) -> bytes:
        return self.session.wrap(data)

    def _start(self, action) -> bool:
        if isinstance(action, SendFile):  # the kernel cannot encrypt: read, wrap, send
            action = Stream(tls.file_pieces(action))
        return super()._start(action)

    def linger(self) -> None:
        """close_notify first (if the socket takes it at once: it is 24 bytes), then the
        half-close."""
        with contextlib.suppress(OSError):
            self.sock.send(self.session.close_notify())
        super().linger()


def _current(entry: tuple[float, int, Channel]) -> bool:
    at, _, channel = entry
    return not channel.closed and at == channel.timer_at


class EventLoop:
    """The driver: accepts, reads, writes and expires deadlines for every connection."""

    def __init__(self, serving: Serving):
        self.serving = serving
        self.channels: dict[int, Channel] = {}
        self.on_tick = None  # called at least every TICK seconds (a worker's parent check)
        self._timers: list[tuple[float, int, Channel]] = []
        self._order = itertools.count()
        self._selector: selectors.BaseSelector | None = None
        self._stopping = False
        self._waker = sockets.Waker()
        self._done = None

    @property
    def active(self) -> int:
        return len(self.channels)

    def run(self) -> None:
        import threading

        self._done = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.serving.listener, READ, None)
        self._selector.register(self._waker.receive, READ, None)
        try:
            while not self._stopping:
                self._turn()
        finally:
            for channel in list(self.channels.values()):
                channel.drop("server stopping")
                self._update(channel)  # forgets it (and a proxy's upstream socket)
            flush_log(self.serving.log)
            self._selector.close()
            self._done.set()

    def _turn(self) -> None:
        now = time.monotonic()
        timeout = TICK if not self._timers else min(TICK, max(0.0, self._timers[0][0] - now))
        for key, mask in self._selector.select(timeout):
            channel = key.data
            if channel is None:
                if key.fileobj is self.serving.listener:
                    self._accept()
                continue
            try:
                if mask & READ:
                    channel.readable()
                if mask & WRITE and not channel.closed:
                    channel.pump()
            except Exception as error:  # no exception from a connection ends the loop
                channel.crashed(error)
            self._update(channel)
        self._expire(time.monotonic())
        flush_log(self.serving.log)
        if self.on_tick is not None:
            self.on_tick()

    def _accept(self) -> None:
        serving = self.serving
        for _ in range(ACCEPTS_PER_WAKE):
            accepted = sockets.accept(serving.listener, serving.log)  # (never pauses)
            if accepted is None:
                return
            sock, client = accepted
            try:
                self._admit(sock, client)
            except Exception as error:  # a client gone at once (setsockopt fails), or a bug
                serving.log(f"{client[0]} - - admitting the connection failed: {error!r}")
                sock.close()

    def _admit(self, sock: socket.socket, client: tuple) -> None:
        serving = self.serving
        room = None
        if len(self.channels) >= serving.max_connections:
            connections = [channel.conn for channel in self.channels.values()]
            room = make_room(connections, serving.max_connections, time.monotonic())
        if room is False:
            refuse(sock, client, serving.log)
            return
        if room is not None:
            victim = next(ch for ch in self.channels.values() if ch.conn is room)
            serving.log(evicted_line(room))
            victim.finish()
            self._update(victim)
        sock.setblocking(False)
        sockets.send_at_once(sock)
        conn = serving.new_connection(client)
        if serving.proxy_channel is not None:  # serve --proxy: it can relay (relay.py)
            channel = serving.proxy_channel(sock, conn)
        elif serving.tls is None:
            channel = Channel(sock, conn)
        else:
            channel = TLSChannel(sock, conn, serving.tls.session())
        self.channels[channel.fd] = channel
        self._update(channel)

    def _update(self, channel: Channel) -> None:
        """Tell the selector what the channel waits for now, and the heap when to look again."""
        partner = channel.partner  # serve --proxy: the other socket of a tunnel (relay.py)
        if partner is not None:
            self._update_one(partner)
        self._update_one(channel)

    def _update_one(self, channel: Channel) -> None:
        if channel.closed:
            self._forget(channel)
            return
        wanted = channel.wanted()
        if wanted != channel.interest:
            if channel.interest and wanted:
                self._selector.modify(channel.sock, wanted, channel)
            elif wanted:
                self._selector.register(channel.sock, wanted, channel)
            else:
                self._selector.unregister(channel.sock)
            channel.interest = wanted
        wakeup = channel.wakeup()
        if wakeup < channel.timer_at:
            channel.timer_at = wakeup
            heapq.heappush(self._timers, (wakeup, next(self._order), channel))

    def _forget(self, channel: Channel) -> None:
        if self.channels.get(channel.fd) is channel:
            del self.channels[channel.fd]
        if channel.interest:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(channel.sock)
            channel.interest = 0
        channel.sock.close()
        channel.out = NOTHING  # the heap may hold the channel until its deadline
        self._prune_timers()

    def _prune_timers(self) -> None:
        """Drop the heap's stale entries once they outnumber the live ones: 10,000 short
        connections would otherwise each stay referenced until their deadline (up to a minute)."""
        if len(self._timers) <= 2 * len(self.channels) + 256:
            return
        self._timers = [entry for entry in self._timers if _current(entry)]
        heapq.heapify(self._timers)

    def _expire(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            at, _, channel = heapq.heappop(timers)
            if channel.closed or at != channel.timer_at:
                continue  # stale: the channel has a later (or no) deadline now
            channel.timer_at = float("inf")
            try:
                channel.expire(now)
            except Exception as error:  # as in _turn: this connection fails, not the loop
                channel.crashed(error)
            self._update(channel)

    def stop(self) -> None:
        self._stopping = True
        self._waker.wake()

    def join(self, deadline: float) -> None:
        if self._done is not None:
            self._done.wait(max(0.0, deadline - time.monotonic()))
        self._waker.close()
