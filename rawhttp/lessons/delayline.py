"""A round-trip time on one machine: two network namespaces joined by a user-space delay line.

`tc qdisc ... netem delay` is the usual tool, but many kernels are built without sch_netem
("Specified qdisc kind is unknown"). What they do have is network namespaces and TUN devices,
and that is enough to build netem in user space: the client and the server each get a
namespace of their own, with a TUN device as their only link; a separate process (so the
client's Python never shares a GIL with it) reads every IP packet one side's kernel sends into
its TUN device and writes it into the other side's after RTT/2, SYN, ACK and data alike. Both
ends run the real kernel's TCP: handshakes, slow start, delayed ACKs and Nagle behave as over a
real path. The queue in between is bounded (MAX_QUEUE packets, more are dropped and counted, as
a router's buffer would).

Addresses are TEST-NET-2 (RFC 5737, 198.51.100.0/24, documentation only): nothing leaves the
namespaces. Everything is removed on exit and on Ctrl-C (`DelayLine` is a context manager);
namespaces are named after the process id, so two lessons never collide.

Needs root (CAP_SYS_ADMIN for namespaces, CAP_NET_ADMIN for the devices) and /dev/net/tun;
`NamespaceUnavailable` says what is missing, and the lesson falls back to `serve --latency`.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import heapq
import os
import selectors
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

from rawhttp.errors import NamespaceUnavailable

CLIENT_ADDRESS = "198.51.100.1"  # TEST-NET-2 (RFC 5737): documentation addresses only
SERVER_ADDRESS = "198.51.100.2"
DEVICE = "rhtun0"
# Packets held in the line at once; past it a packet is dropped (and counted), as a router
# with a full buffer does. A 50 ms line at loopback speeds holds far fewer.
MAX_QUEUE = 4096
# The largest packet read from a TUN device: its MTU is 1500, this leaves room.
MAX_PACKET = 65535
# With nothing in the line, how often the forwarder looks whether it should stop (seconds).
STOP_POLL = 0.1
# Seconds given to `ip` commands and to the forwarder to start and stop.
COMMAND_TIMEOUT = 10.0

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    """Move the calling thread (only it) into the network namespace open as `fd`."""
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@contextlib.contextmanager
def inside(name: str) -> Iterator[None]:
    """Run the body in namespace `name` (this thread only); back where it was afterwards."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def _ip(*args: str) -> None:
    try:
        done = subprocess.run(
            ["ip", *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT
        )
    except FileNotFoundError:
        raise NamespaceUnavailable("the `ip` command (iproute2) is not installed") from None
    if done.returncode != 0:
        why = done.stderr.strip() or f"exit {done.returncode}"
        raise NamespaceUnavailable(f"ip {' '.join(args)}: {why}")


def _open_tun(namespace: str) -> int:
    """A TUN device (IP packets, no extra header) made inside `namespace`: the device belongs
    to the namespace the opening thread is in."""
    with inside(namespace):
        fd = os.open("/dev/net/tun", os.O_RDWR)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", DEVICE.encode(), IFF_TUN | IFF_NO_PI))
        except OSError:
            os.close(fd)
            raise
    return fd


class DelayLine:
    """Client and server namespaces, a delay line between them, torn down on exit.

    `client()` runs code in the client's namespace; `server_command(args)` is a command line
    running `python -m rawhttp ARGS` in the server's. `stats` after exit: packets forwarded
    and dropped.
    """

    def __init__(self, rtt: float, tag: str | None = None):
        self.rtt = rtt
        tag = tag or str(os.getpid())
        self.client_ns = f"rawhttp-client-{tag}"
        self.server_ns = f"rawhttp-server-{tag}"
        self.made: list[str] = []
        self.fds: list[int] = []
        self.forwarder: subprocess.Popen | None = None
        self.stats = {"forwarded": 0, "dropped": 0}

    def __enter__(self) -> DelayLine:
        if os.geteuid() != 0:
            raise NamespaceUnavailable("network namespaces need root")
        if not os.path.exists("/dev/net/tun"):
            raise NamespaceUnavailable("no /dev/net/tun: the kernel has no TUN devices here")
        try:
            self._build()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _build(self) -> None:
        ends = ((self.client_ns, CLIENT_ADDRESS, SERVER_ADDRESS),)
        ends += ((self.server_ns, SERVER_ADDRESS, CLIENT_ADDRESS),)
        for namespace, _, _ in ends:
            _ip("netns", "add", namespace)
            self.made.append(namespace)
        for namespace, mine, peer in ends:
            try:
                self.fds.append(_open_tun(namespace))
            except OSError as exc:
                raise NamespaceUnavailable(f"cannot make a TUN device: {exc.strerror}") from None
            _ip("-n", namespace, "addr", "add", mine, "peer", peer, "dev", DEVICE)
            _ip("-n", namespace, "link", "set", DEVICE, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
        self.forwarder = subprocess.Popen(
            [sys.executable, "-m", "rawhttp.lessons.delayline", *map(str, self.fds), str(self.rtt)],
            pass_fds=self.fds,
            stdout=subprocess.PIPE,
            text=True,
        )

    @contextlib.contextmanager
    def client(self) -> Iterator[None]:
        """Code in this block (this thread) connects from the client's namespace."""
        with inside(self.client_ns):
            yield

    def server_command(self, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.server_ns, sys.executable, "-m", "rawhttp", *args]

    def __exit__(self, *exc_info: object) -> None:
        forwarder, self.forwarder = self.forwarder, None
        if forwarder is not None:
            forwarder.send_signal(signal.SIGTERM)
            try:
                out, _ = forwarder.communicate(timeout=COMMAND_TIMEOUT)
                forwarded, dropped = (int(word) for word in out.split()[:2])
                self.stats = {"forwarded": forwarded, "dropped": dropped}
            except (subprocess.TimeoutExpired, ValueError):
                forwarder.kill()
                forwarder.wait()
        for fd in self.fds:
            os.close(fd)
        self.fds = []
        for namespace in reversed(self.made):
            with contextlib.suppress(NamespaceUnavailable):
                _ip("netns", "del", namespace)
        self.made = []


def forward(
    left: int, right: int, delay: float, max_queue: int = MAX_QUEUE, stopping: list | None = None
) -> tuple[int, int]:
    """Move each packet read from one TUN device to the other `delay` seconds later, until
    `stopping` is not empty (by default: until SIGTERM); (forwarded, dropped). The packets of
    both directions wait in one heap, by when they are due (equal delays keep each direction's
    order). Tests pass SOCK_SEQPACKET sockets: one read is one packet there too."""
    if stopping is None:
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    other = {left: right, right: left}
    for fd in other:
        os.set_blocking(fd, False)
    selector = selectors.DefaultSelector()
    for fd in other:
        selector.register(fd, selectors.EVENT_READ)
    line: list[tuple[float, int, int, bytes]] = []
    count = forwarded = dropped = 0
    while not stopping:
        now = time.monotonic()
        wait = STOP_POLL if not line else max(0.0, line[0][0] - now)
        with contextlib.suppress(InterruptedError):
            for key, _ in selector.select(wait):
                for packet in _drain(key.fd):
                    if len(line) >= max_queue:
                        dropped += 1
                        continue
                    count += 1
                    heapq.heappush(line, (time.monotonic() + delay, count, other[key.fd], packet))
        now = time.monotonic()
        while line and line[0][0] <= now:
            _, _, out, packet = heapq.heappop(line)
            try:
                os.write(out, packet)
                forwarded += 1
            except OSError:  # the device's queue is full, or it went away
                dropped += 1
    selector.close()
    return forwarded, dropped


def _drain(fd: int) -> Iterator[bytes]:
    """Every packet waiting on a TUN device (one read is one packet)."""
    while True:
        try:
            packet = os.read(fd, MAX_PACKET)
        except (BlockingIOError, InterruptedError):
            return
        if not packet:
            return
        yield packet


if __name__ == "__main__":  # the forwarder process: FD FD RTT (seconds)
    forwarded, dropped = forward(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 2)
    print(forwarded, dropped, flush=True)
