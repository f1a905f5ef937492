"""`-Z`: up to N connections at once, driven by one `selectors` loop (no thread per connection).

The client's counterpart of the server's event loop (`server/loop.py`): every socket is
non-blocking; `connect_ex` starts a handshake and the loop waits for the socket to become
writable; each connection's requests and answers are a sans-IO `Conversation` (the one the
blocking driver uses), so the loop only moves bytes: `send` what `take()` gave, `recv_into`
one shared buffer and `feed` it. Waiting requests sit in one queue per origin, shared by that
origin's connections, which is how parallel combines with the three strategies: parallel
persistent is N kept connections taking the next request as each answer ends; parallel
non-persistent is up to N one-request connections at once; parallel pipelined shares the
queue out over N connections, each sending its share before reading.

Plain http only: an https URL is refused (`check`), as a TLS handshake would need its own
non-blocking state machine here; without -Z https works with every strategy.
"""

from __future__ import annotations

import errno
import math
import selectors
import socket
import time
from collections import OrderedDict, deque

from rawhttp.dial import Options, resolve
from rawhttp.errors import ConnectError, InvalidRequest, RawHTTPError, Timeout
from rawhttp.fetch.conversation import Conversation, Fetch, Lane, requeue

# Bytes asked of each recv, into one buffer every connection shares: it is fed to a reader,
# which copies what it keeps, before the next recv.
BUFSIZE = 256 * 1024
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def check(fetches: list[Fetch]) -> None:
    """Refuse https: this loop speaks plain TCP (see the module's docstring)."""
    for fetch in fetches:
        if fetch.url.scheme != "http":
            raise InvalidRequest(
                f"-Z fetches http:// URLs only ({fetch.url}): drop -Z to fetch https, "
                "one connection at a time"
            )


def _ignore(event: object) -> None:
    return None


class Link:
    """One non-blocking connection in the loop: its socket, its conversation, what is left to
    send, the addresses still to try, and when it has waited too long."""

    def __init__(self, lane: Lane, conversation: Conversation, addresses: list):
        self.lane = lane
        self.conversation = conversation
        self.addresses = addresses
        self.sock: socket.socket | None = None
        self.connected = False
        self.out = memoryview(b"")
        self.deadline = math.inf
        self.interest = 0

    @property
    def origin(self) -> str:
        return self.lane.origin


class ParallelDriver:
    """Up to `limit` connections at once over every origin's queue, in one selectors loop."""

    def __init__(self, strategy: str, limit: int, options: Options):
        self.strategy = strategy
        self.limit = max(1, limit)
        self.options = options
        self.lanes: list[Lane] = []
        self.links: list[Link] = []
        self.queues: OrderedDict[tuple, deque[Fetch]] = OrderedDict()
        self._addresses: dict[tuple, list] = {}
        self._buffer = memoryview(bytearray(BUFSIZE))
        self._selector = selectors.DefaultSelector()

    def run(self, fetches: list[Fetch]) -> None:
        """Fetch these (and keep idle kept connections for the next run)."""
        check(fetches)
        for fetch in fetches:
            self.queues.setdefault(fetch.url.origin, deque()).append(fetch)
        while True:
            self._schedule()
            if not any(self.queues.values()) and all(k.conversation.idle for k in self.links):
                return
            self._turn()

    # --- deciding what goes where ------------------------------------------------------------

    def _schedule(self) -> None:
        """Give waiting requests to idle connections of their origin, then open connections
        (round robin over the origins) while fewer than `limit` are open."""
        for link in list(self.links):
            if link.connected:
                self._give(link)
        progress = True
        while progress:
            progress = False
            for origin, queue in list(self.queues.items()):
                if len(queue) > self._waiting_links(origin) and self._room():
                    progress = self._open(origin, queue[0]) or progress

    def _waiting_links(self, origin: tuple) -> int:
        """Connections of `origin` that will take requests: still connecting, or able to."""
        return sum(
            1
            for link in self.links
            if link.origin == origin and (not link.connected or link.conversation.can_take)
        )

    def _room(self) -> bool:
        """Whether one more connection may open: under the limit, or an idle connection of
        another origin (kept for nothing) can be closed for it."""
        if len(self.links) < self.limit:
            return True
        for link in list(self.links):
            if link.connected and link.conversation.idle and not self.queues.get(link.origin):
                self._close(link)
                return True
        return False

    def _give(self, link: Link) -> None:
        queue = self.queues.get(link.origin)
        if not queue or not link.conversation.can_take:
            return
        share = math.ceil(len(queue) / max(1, self._waiting_links(link.origin)))
        data = link.conversation.take(queue, share)
        if data:
            link.out = memoryview(data)
            link.deadline = time.monotonic() + self.options.read_timeout
            self._send(link)
            if link.sock is not None:
                self._watch(link)

    # --- the loop ----------------------------------------------------------------------------

    def _turn(self) -> None:
        now = time.monotonic()
        soonest = min((link.deadline for link in self.links), default=now + 1.0)
        for key, mask in self._selector.select(max(0.0, min(soonest - now, 1.0))):
            link = key.data
            if link.sock is None:
                continue
            if not link.connected and mask & WRITE:
                self._connected(link)
            elif mask & WRITE:
                self._send(link)
            if link.sock is not None and link.connected and mask & READ:
                self._receive(link)
            if link.sock is not None:
                self._watch(link)
        now = time.monotonic()
        for link in [link for link in self.links if link.deadline <= now]:
            self._expired(link)

    def _open(self, origin: tuple, first: Fetch) -> bool:
        try:
            addresses = self._resolve(origin, first)
        except RawHTTPError as error:
            for fetch in self.queues.pop(origin):
                fetch.fail(error)
            return False
        lane = Lane(len(self.lanes) + 1, origin, time.perf_counter())
        self.lanes.append(lane)
        link = Link(lane, Conversation(lane, self.strategy), list(addresses))
        self.links.append(link)
        self._connect(link)
        return True

    def _resolve(self, origin: tuple, first: Fetch) -> list:
        if origin not in self._addresses:
            self._addresses[origin] = resolve(first.url, self.options, _ignore)
        return self._addresses[origin]

    def _connect(self, link: Link) -> None:
        """Start the handshake to the next address; fail the origin when none is left."""
        family, sockaddr = link.addresses.pop(0)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(sockaddr)
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self._connect_failed(link, code)
            return
        link.sock, link.interest = sock, WRITE
        link.deadline = time.monotonic() + self.options.connect_timeout
        self._selector.register(sock, WRITE, link)

    def _connected(self, link: Link) -> None:
        assert link.sock is not None
        code = link.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._drop_socket(link)
            self._connect_failed(link, code)
            return
        link.connected = True
        lane = link.lane
        lane.connected_at = time.perf_counter()
        lane.local = link.sock.getsockname()[:2]
        lane.remote = link.sock.getpeername()[:2]
        link.deadline = math.inf
        self._give(link)

    def _connect_failed(self, link: Link, code: int) -> None:
        if link.addresses:
            self._connect(link)
            return
        self._forget(link)
        error = ConnectError(f"could not connect to {link.origin}: {errno.errorcode.get(code)}")
        others = any(other.origin == link.origin for other in self.links)
        if not others:  # nothing else will carry this origin's requests
            for fetch in self.queues.pop(link.origin, deque()):
                fetch.fail(error)

    def _send(self, link: Link) -> None:
        assert link.sock is not None
        try:
            while link.out:
                sent = link.sock.send(link.out)
                link.out = link.out[sent:]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._ended(link)

    def _receive(self, link: Link) -> None:
        assert link.sock is not None
        try:
            count = link.sock.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            count = 0  # a reset: as a close, for what had no byte of its answer yet
        conversation = link.conversation
        if count == 0:
            conversation.eof()
            self._ended(link)
            return
        link.deadline = time.monotonic() + self.options.read_timeout
        conversation.feed(self._buffer[:count])
        if conversation.closing_now or (conversation.closing and conversation.idle):
            self._ended(link)
        elif conversation.idle:
            link.deadline = math.inf
            self._give(link)

    def _ended(self, link: Link) -> None:
        """The connection is over: what it never answered goes back to its origin's queue."""
        conversation = link.conversation
        queue = self.queues.setdefault(link.origin, deque())
        requeue(queue, conversation.unanswered(), conversation.answered > 0)
        self._close(link)

    def _expired(self, link: Link) -> None:
        if not link.connected:
            self._drop_socket(link)
            self._connect_failed(link, errno.ETIMEDOUT)
            return
        error = Timeout(f"no data from the server for {self.options.read_timeout:g} s")
        for fetch in link.conversation.unanswered():
            fetch.fail(error)
        self._close(link)

    def _watch(self, link: Link) -> None:
        """Tell the selector what the link waits for now."""
        assert link.sock is not None
        wanted = (WRITE if link.out or not link.connected else 0) | (READ if link.connected else 0)
        if wanted != link.interest:
            self._selector.modify(link.sock, wanted, link)
            link.interest = wanted

    def _drop_socket(self, link: Link) -> None:
        if link.sock is not None:
            self._selector.unregister(link.sock)
            link.sock.close()
            link.sock = None

    def _forget(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)

    def _close(self, link: Link) -> None:
        self._drop_socket(link)
        self._forget(link)
        link.lane.closed_at = time.perf_counter()

    def close(self) -> None:
        for link in list(self.links):
            self._close(link)
        self._selector.close()
