"""The bytes of `serve --proxy`: a tunnel's both ways, and a forwarded request's upstream.

`Relay` holds two non-blocking sockets, the client's and a fresh upstream one, and copies
bytes between them as each becomes readable or writable, with what `proxy.py`'s plan says
about them (the 200 or 502 to send, the answer re-framed, the ClientHello's server name).
It never blocks and never waits on its own: a driver asks which events each socket waits for
and calls `on_client`/`on_upstream` when they happen, so the same code runs on the event
loop's selector (`ProxyChannel`, beside every other connection) and, for `--model threads`,
on a selector of the connection's own thread (`run_threaded`).

Memory stays flat whatever the transfer: each direction holds at most one recv's worth
(BUFSIZE) not yet taken by the other socket, and a side is not read while that is there, so a
slow reader slows the writer down through TCP's own flow control (nginx's proxy_buffering
off behaves so). Silence both ways for the idle timeout ends the tunnel (504 if the upstream
never answered).
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import threading
import time

from rawhttp.errors import RawHTTPError
from rawhttp.server.actions import UPSTREAM
from rawhttp.server.loop import Channel
from rawhttp.server.protocol import ServerConnection
from rawhttp.server.proxy import Plan

# Bytes asked of each recv, and so the most each direction holds at once.
BUFSIZE = 64 * 1024
# How often a relay thread looks at the server's stop flag while both sides are quiet.
STOP_CHECK = 0.5
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def connect(host: str, port: int) -> socket.socket:
    """A non-blocking socket with its connect under way. The name is resolved here, which
    blocks for that moment (nginx has its own resolver for this; ours is getaddrinfo)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    code = sock.connect_ex(address)
    if code not in (0, errno.EINPROGRESS):
        sock.close()
        raise OSError(code, os.strerror(code))
    return sock


class Relay:
    """One tunnel or forwarded request in motion. `finished` says it is over; `lost` then
    says why the client's connection must be dropped, or is None if the answer is complete
    and the connection carries on (after a forwarded answer: the next request)."""

    def __init__(self, client: socket.socket, plan: Plan, pending: bytes, idle_timeout: float):
        self.client = client
        self.plan = plan
        self.idle_timeout = idle_timeout
        self.last = time.monotonic()
        self.connected = False
        self.finished = False
        self.lost: str | None = None
        self.client_done = self.upstream_done = False  # each side's EOF has been read
        self.to_client = memoryview(b"")
        target = plan.target
        if plan.tunnel:
            self.to_upstream = memoryview(pending)  # the client may not wait for the 200
            if pending:
                plan.from_client(pending)
        else:
            self.to_upstream = memoryview(plan.request)
        self.upstream: socket.socket | None = None
        self.upstream_gone = False  # shut down: nothing more moves on it
        try:
            self.upstream = connect(target.host, target.port)
        except OSError as error:
            self._fail(502, error.strerror or str(error))

    # -- what each socket waits for ---------------------------------------------------------

    def client_events(self) -> int:
        if self.finished:
            return 0
        events = WRITE if self.to_client else 0
        if self.connected and self.plan.tunnel and not self.client_done and not self.to_upstream:
            events |= READ
        return events

    def upstream_events(self) -> int:
        if self.finished or self.upstream is None or self.upstream_gone:
            return 0
        if not self.connected or self.to_upstream:
            return WRITE
        return 0 if self.upstream_done or self.to_client else READ

    def deadline(self) -> float:
        return self.last + self.idle_timeout

    # -- the events --------------------------------------------------------------------------

    def on_client(self, mask: int) -> None:
        try:
            if mask & READ:
                self._client_readable()
            if mask & WRITE and not self.finished:
                self._send(self.client, "to_client")
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._end(lost="connection lost")
            return
        self._check_done()

    def on_upstream(self, mask: int) -> None:
        try:
            if not self.connected:
                self._connected()
            elif mask & WRITE and self.to_upstream:
                self._send(self.upstream, "to_upstream")
            elif mask & READ:
                self._upstream_readable()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as error:
            self._fail(502, error.strerror or str(error))
        except RawHTTPError as error:  # the upstream's answer is not HTTP
            self._fail(502, f"bad answer: {error}")
        self._check_done()

    def expire(self, now: float) -> None:
        """No byte moved for the idle timeout: the client cut off if it stopped reading, a
        tunnel ended, else 504 (or a cut, once the answer has begun)."""
        if self.finished or now < self.deadline():
            return
        if self.to_client:  # the client is not taking what there is
            self._end(lost=f"the client stopped reading for {self.idle_timeout:g} s")
        elif self.plan.tunnel and self.connected:
            self._end(lost=f"tunnel idle for {self.idle_timeout:g} s")
        else:
            self._fail(504, f"no answer within {self.idle_timeout:g} s")

    # -- the moves ---------------------------------------------------------------------------

    def _connected(self) -> None:
        code = self.upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))
        self.connected = True
        self.last = time.monotonic()
        if self.plan.tunnel:
            self.to_client = memoryview(self.plan.established())

    def _send(self, sock: socket.socket, which: str) -> None:
        buffer = getattr(self, which)
        sent = sock.send(buffer)
        setattr(self, which, buffer[sent:])
        self.last = time.monotonic()
        if not buffer[sent:]:
            self._after_flush(sock)

    def _after_flush(self, sock: socket.socket) -> None:
        """A direction emptied: pass on the half-close its sender made, if any."""
        if sock is self.upstream and self.client_done:
            with contextlib.suppress(OSError):
                self.upstream.shutdown(socket.SHUT_WR)
        elif sock is self.client and self.upstream_done and self.plan.tunnel:
            with contextlib.suppress(OSError):  # (a client already gone: its reads say so)
                self.client.shutdown(socket.SHUT_WR)

    def _client_readable(self) -> None:
        data = self.client.recv(BUFSIZE)
        self.last = time.monotonic()
        if not data:
            self.client_done = True
            if not self.to_upstream:
                self._after_flush(self.upstream)
            return
        self.plan.from_client(data)
        self.to_upstream = memoryview(data)

    def _upstream_readable(self) -> None:
        data = self.upstream.recv(BUFSIZE)
        self.last = time.monotonic()
        if not data:
            self.upstream_done = True
            if not self.plan.tunnel:
                self.to_client = memoryview(self.plan.upstream_closed())
            elif not self.to_client:
                self._after_flush(self.client)
            return
        self.to_client = memoryview(self.plan.from_upstream(data))

    def _check_done(self) -> None:
        if self.finished or self.to_client:
            return
        if self.plan.tunnel:
            if self.client_done and self.upstream_done and not self.to_upstream:
                self._end()
        elif self.plan.done:
            self._end()

    def _fail(self, status: int, why: str) -> None:
        """The upstream failed: the plan's error page for the client if none of the answer
        has gone yet (then the relay ends when it is sent), else the client is cut off."""
        self.upstream_done = self.client_done = True
        self._close_upstream()
        page = None if self.plan.tunnel and self.connected else self.plan.failed(status, why)
        if page is None:
            self._end(lost=f"upstream failed: {why}")
            return
        self.to_client = memoryview(page)
        self.plan = _Failed(self.plan)
        self.last = time.monotonic()  # the page has its own idle timeout to be read in

    def stop(self, why: str) -> None:
        """End it from outside (the client's connection closes, the server stops)."""
        if not self.finished:
            self._end(lost=why)

    def _end(self, lost: str | None = None) -> None:
        self.finished = True
        self.lost = lost
        if self.plan.tunnel:
            self.plan.ended()
        self._close_upstream()

    def _close_upstream(self) -> None:
        """Shut the upstream socket; its owner (the loop, or run_threaded) closes it."""
        if self.upstream is not None and not self.upstream_gone:
            self.upstream_gone = True
            with contextlib.suppress(OSError):
                self.upstream.shutdown(socket.SHUT_RDWR)


class _Failed:
    """What a relay runs once its plan failed: send the error page, then done."""

    tunnel = False
    done = True

    def __init__(self, plan: Plan):
        self.target = plan.target

    def failed(self, status: int, why: str) -> None:
        """Failing again (the page is not read): only the close is left."""


# -- the event loop -------------------------------------------------------------------------


class ProxyChannel(Channel):
    """A client channel of `serve --proxy` on the event loop: while a Tunnel or Forward action
    runs, its socket's events go to the relay, and `partner` (the upstream socket) is watched
    by the loop beside it."""

    relay: Relay | None = None
    upstream_end: UpstreamEnd | None = None

    @property
    def partner(self) -> UpstreamEnd | None:
        end = self.upstream_end
        return end if end is not None and end.sock.fileno() != -1 else None

    def _start(self, action) -> bool:
        if not isinstance(action, UPSTREAM):
            return super()._start(action)
        self.relay = Relay(self.sock, action.plan, self.conn.reader.rest, self.conn.idle_timeout)
        if self.relay.upstream is not None:
            self.upstream_end = UpstreamEnd(self, self.relay.upstream)
        self.relayed()
        return False

    def wanted(self) -> int:
        return self.relay.client_events() if self.relay is not None else super().wanted()

    def wakeup(self) -> float:
        return self.relay.deadline() if self.relay is not None else super().wakeup()

    def readable(self) -> None:
        if self.relay is None:
            super().readable()
            return
        self.relay.on_client(READ)
        self.relayed()

    def pump(self) -> None:
        if self.relay is None:
            super().pump()
            return
        self.relay.on_client(WRITE)
        self.relayed()

    def expire(self, now: float) -> None:
        if self.relay is None:
            super().expire(now)
            return
        self.relay.expire(now)
        self.relayed()

    def relayed(self) -> None:
        """After the relay moved: once it is over, the answer is finished (or the client is
        gone) and the channel carries on as any other."""
        relay = self.relay
        if relay is None or not relay.finished:
            return
        self._let_go()
        if relay.lost is not None:
            self.drop(relay.lost)
            return
        self.conn.progressed()
        self.pump()

    def _let_go(self) -> None:
        """The relay is over: the loop unregisters and closes the upstream socket."""
        self.relay = None
        if self.upstream_end is not None:
            self.upstream_end.closed = True

    def finish(self) -> None:
        if self.relay is not None:
            self.relay.stop("closed")
            self._let_go()
        super().finish()

    def crashed(self, error: Exception) -> None:
        if self.relay is not None:
            self.relay.stop("crashed")
            self._let_go()
        super().crashed(error)


class UpstreamEnd:
    """The upstream socket as the event loop sees it: watched like a channel, its events
    handed to the client channel's relay. Its deadline is the client channel's."""

    def __init__(self, channel: ProxyChannel, sock: socket.socket):
        self.partner = channel
        self.sock = sock
        self.fd = sock.fileno()
        self.closed = False
        self.interest = 0
        self.timer_at = float("inf")

    def _relay(self) -> Relay | None:
        return self.partner.relay

    def wanted(self) -> int:
        relay = self._relay()
        return relay.upstream_events() if relay is not None and not self.closed else 0

    def wakeup(self) -> float:
        return float("inf")

    def readable(self) -> None:
        self._event(READ)

    def pump(self) -> None:
        self._event(WRITE)

    def _event(self, mask: int) -> None:
        relay = self._relay()
        if relay is not None:
            relay.on_upstream(mask)
            self.partner.relayed()

    def expire(self, now: float) -> None:
        """(Never due: the client channel's deadline covers both.)"""

    def crashed(self, error: Exception) -> None:
        self.partner.crashed(error)


# -- the threads model ----------------------------------------------------------------------


def run_threaded(
    sock: socket.socket, conn: ServerConnection, action, stopping: threading.Event
) -> bool:
    """Run a Tunnel or Forward action in the connection's own thread, on a selector of its
    own; False once the client's connection is gone (as `threads.perform` says)."""
    relay = Relay(sock, action.plan, conn.reader.rest, conn.idle_timeout)
    sock.setblocking(False)
    try:
        with selectors.DefaultSelector() as selector:
            while not relay.finished:
                if stopping.is_set():
                    relay.stop("server stopping")
                    break
                _watch(selector, sock, relay.client_events(), relay.on_client)
                if relay.upstream is not None:
                    _watch(selector, relay.upstream, relay.upstream_events(), relay.on_upstream)
                wait = max(0.0, min(STOP_CHECK, relay.deadline() - time.monotonic()))
                for key, mask in selector.select(wait):
                    if not relay.finished:
                        key.data(mask)
                relay.expire(time.monotonic())
    finally:
        if relay.upstream is not None:
            relay.upstream.close()
        sock.setblocking(True)
    if relay.lost is not None:
        conn.dropped(relay.lost)
        return False
    conn.progressed()
    return True


def _watch(selector: selectors.BaseSelector, sock: socket.socket, events: int, call) -> None:
    """Make the selector wait for `events` on `sock` (none: not at all)."""
    try:
        key = selector.get_key(sock)
    except KeyError:
        key = None
    if key is None and events:
        selector.register(sock, events, call)
    elif key is not None and not events:
        selector.unregister(sock)
    elif key is not None and key.events != events:
        selector.modify(sock, events, call)
