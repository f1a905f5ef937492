"""Capturing the TCP segments of a connection with an AF_PACKET socket (Linux), in a thread.

What tcpdump does, with the standard library: a packet socket sees every frame an interface
sends and receives, before TCP has taken the segments apart or after it has put them together.
Opening one takes root or CAP_NET_RAW; without it, `open_packet_socket` raises
`CaptureUnavailable` (exit 2) before any transfer starts, so nothing is half-captured.

This module owns the capture: which interface a route leaves by (`interface_for`; `lo` for
loopback), the filter the kernel runs on each frame (only TCP to or from one port is copied
to us, cut to a snap length), the thread that reads frames with their kernel timestamps, and
stopping with a bounded grace for the last ACKs and FINs. Decoding is `segments.py`'s, writing
files `pcap.py`'s; what the segments mean to a student is the views' (`rawhttp.show.packets`).

The socket is always closed: `stop()` runs from `with Capture(...)` or the view's close.
"""

from __future__ import annotations

import array
import collections
import contextlib
import errno
import os
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from rawhttp.errors import CaptureUnavailable
from rawhttp.tcp.pcap import sll_header
from rawhttp.tcp.segments import (
    ETH_P_IP,
    ETH_P_IPV6,
    LINK_ETHERNET,
    LINK_LINUX_SLL,
    Segment,
    SegmentError,
    decode_frame,
)

# Linux constants the socket module does not name (linux/if_packet.h, linux/filter.h,
# asm-generic/socket.h, linux/if_arp.h).
ETH_P_ALL = 0x0003  # every protocol: the filter below picks
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_AUXDATA = 8  # each frame comes with its length before the snap length cut it
PACKET_IGNORE_OUTGOING = 23  # on lo, every frame is seen leaving and arriving: keep one
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35  # each frame comes with the kernel's time it was seen, in nanoseconds
ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772  # link types whose frames start with Ethernet headers

ANY = "any"  # every interface, as `tcpdump -i any`: frames are written as Linux cooked (SLL)
LOOPBACK = "lo"
# Bytes kept of each frame when only the headers are shown: Ethernet 14 + IPv6 40 (IPv4 20 to
# 60) + TCP 20 to 60, with room to spare. tcpdump's default (-s 0) keeps 262144, as --pcap does.
HEADERS_SNAPLEN = 256
FULL_SNAPLEN = 262144
# The kernel's queue of captured frames, in bytes. Each frame is charged the whole packet it was
# cut from (on lo, segments of 64 KiB), so the default 208 KiB holds only three: a 1 MiB
# download on loopback comes faster than a Python thread wakes. tcpdump asks for 2 MiB.
RECEIVE_BUFFER = 32 * 1024 * 1024
# After the transfer, the longest wait for the rest of the close (the peer's FIN, the last
# ACK): on loopback it takes microseconds; across the Internet, a round trip or two.
GRACE = 1.0
# After reading what is queued, the thread rests this long before waiting again, so that a
# burst of segments is read in a few wake-ups instead of one each: every wake-up takes the
# GIL from the transfer. Even at loopback speeds a millisecond fills a few MiB of the queue.
REST = 0.001

# What a capture of one connection keeps (`per_connection`): its first KEEP_FIRST frames and
# its last KEEP_LAST, so memory stays flat however long the transfer. The handshake and the
# close are the lesson; the middle is counted (`LeftOut`), not kept: kept whole, 266,000
# one-byte segments took 351 MiB. --packets prints at most 160 rows anyway (show.packets).
KEEP_FIRST = 1000
KEEP_LAST = 500
# Until connect() returns, the client's port is unknown: frames to or from the server's port
# wait, at most this many; other clients' frames are dropped once the four-tuple is known.
PENDING_LIMIT = 256

# What to do without the privilege. Not `setcap` on the interpreter the system runs: every
# script run with it could then sniff the network. sudo lends root to this one command; a
# copy of Python in a venv of its own (`--copies`: a file, not a link to the system's) holds
# the capability for what is installed there alone.
PRIVILEGE_HINT = (
    "run the command with sudo, or give the capability to a copy of Python kept for this: "
    "python3 -m venv --copies ~/.rawhttp-capture && ~/.rawhttp-capture/bin/pip install rawhttp "
    "&& sudo setcap cap_net_raw+ep ~/.rawhttp-capture/bin/python3 (never the system's python3)"
)

# The system call that makes packet sockets; tests replace it with a fake (no privilege).
socket_factory: Callable[..., socket.socket] = socket.socket


class Frame(NamedTuple):
    """One captured frame: when the kernel saw it (`at` on `time.perf_counter`'s clock, the
    events' clock; `wall_ns` since the epoch, for pcap), its bytes as kept (in `link`'s
    format), its length before the cut, and what it decodes to."""

    at: float
    wall_ns: int
    data: bytes
    length: int
    segment: Segment


class LeftOut:
    """The frames of the middle of a connection that were counted, not kept: per direction
    (True: the client's), segments without data and data bytes."""

    def __init__(self) -> None:
        self.count = 0
        self.empty = {True: 0, False: 0}
        self.data = {True: 0, False: 0}

    def add(self, frame: Frame, client: tuple[str, int]) -> None:
        mine = (frame.segment.src, frame.segment.sport) == client
        self.count += 1
        if frame.segment.payload:
            self.data[mine] += frame.segment.payload
        else:
            self.empty[mine] += 1


def open_packet_socket(kind: int, protocol: int, what: str = "--packets") -> socket.socket:
    """An AF_PACKET socket of `kind` (SOCK_RAW: frames with link headers; SOCK_DGRAM: from the
    IP header on), or CaptureUnavailable saying what is missing and how to get it."""
    family = getattr(socket, "AF_PACKET", None)
    if family is None:
        raise CaptureUnavailable(
            f"{what} needs an AF_PACKET socket, which only Linux has (this is {sys.platform}): "
            "run tcpdump or Wireshark beside rawhttp instead; --trace shows the socket calls"
        )
    try:
        return socket_factory(family, kind, protocol)
    except PermissionError as exc:
        raise CaptureUnavailable(
            f"{what} cannot open an AF_PACKET socket ({exc.strerror or exc}): capturing "
            f"packets takes root or CAP_NET_RAW; {PRIVILEGE_HINT} (--tcp-info needs neither)"
        ) from None
    except OSError as exc:
        if exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT):
            raise CaptureUnavailable(
                f"{what} needs AF_PACKET sockets, which this kernel lacks ({exc.strerror}): "
                "load the module with: sudo modprobe af_packet"
            ) from None
        raise CaptureUnavailable(f"{what} cannot open an AF_PACKET socket: {exc}") from None


def check_capture(what: str = "--packets") -> socket.socket:
    """Raise CaptureUnavailable now if a capture could not be opened later: the commands call
    this before any transfer, so a transfer is never made without the capture asked for.

    Returns the socket it opened (SOCK_RAW, receiving nothing until bound): hand it to the
    first Capture (`sock=`), or close it. Each packet socket closed waits for the kernel's RCU
    grace period (about 10 ms here), so one socket less is time saved.
    """
    return open_packet_socket(socket.SOCK_RAW, 0, what)


# --- which interface ----------------------------------------------------------------------


def interface_for(address: str) -> str:
    """The interface a connection to `address` goes by: `lo` for this machine's own addresses,
    else the one holding the source address the kernel's route picks, else ANY."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    if _is_loopback(address):
        return LOOPBACK
    try:
        # connect() on a UDP socket sends nothing: it only picks the route and source address.
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((address, 9))
            source = probe.getsockname()[0]
    except OSError:
        return ANY
    if source == address:
        return LOOPBACK  # one of our own addresses: the kernel delivers it over lo
    return _owner(source, family) or ANY


def _is_loopback(address: str) -> bool:
    address = address.removeprefix("::ffff:")
    return address.startswith("127.") or address == "::1"


def _owner(source: str, family: int) -> str | None:
    """The interface that holds the local address `source`."""
    if family == socket.AF_INET6:
        wanted = socket.inet_pton(socket.AF_INET6, source.partition("%")[0]).hex()
        with contextlib.suppress(OSError), open("/proc/net/if_inet6", encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if len(fields) == 6 and fields[0] == wanted:
                    return fields[5]
        return None
    import fcntl  # only here: SIOCGIFADDR asks an interface for its IPv4 address

    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            with contextlib.suppress(OSError):
                answer = fcntl.ioctl(probe.fileno(), siocgifaddr, request)
                if socket.inet_ntoa(answer[20:24]) == source:
                    return name
    return None


def _link_type(interface: str) -> int | None:
    """The interface's ARPHRD type from sysfs (1 Ethernet, 772 loopback...), None if unknown."""
    try:
        with open(f"/sys/class/net/{interface}/type", "rb") as kind:  # bytes: no codec to load
            return int(kind.read())
    except (OSError, ValueError):
        return None


# --- the kernel's filter ------------------------------------------------------------------

# Classic BPF, the language of tcpdump's filters (Documentation/networking/filter.rst). Each
# instruction is (code, jump if true, jump if false, constant); jumps skip that many
# instructions forward. These are the few codes the filter needs.
_LDH_ABS, _LDB_ABS, _LDH_IND, _LDX_MSH = 0x28, 0x30, 0x48, 0xB1
_JEQ, _JSET, _RET = 0x15, 0x45, 0x06
_PROTOCOL = 0xFFFFF000  # SKF_AD_OFF + SKF_AD_PROTOCOL: the frame's EtherType, any link


def port_filter(port: int, start: int, snaplen: int) -> list[tuple[int, int, int, int]]:
    """A filter keeping TCP segments to or from `port` (`tcp port PORT` in tcpdump's words),
    cut to `snaplen` bytes; `start` is where the IP header begins in a frame (14 after an
    Ethernet header, 0 without one). IPv6 segments behind extension headers are not kept."""
    program: list = [
        (_LDH_ABS, _PROTOCOL),
        (_JEQ, ETH_P_IP, None, "ipv6"),
        (_LDB_ABS, start + 9),  # IPv4 protocol
        (_JEQ, 6, None, "drop"),
        (_LDH_ABS, start + 6),  # fragment offset: a later fragment has no TCP header
        (_JSET, 0x1FFF, "drop", None),
        (_LDX_MSH, start),  # X = IPv4 header length
        (_LDH_IND, start),  # TCP source port
        (_JEQ, port, "keep", None),
        (_LDH_IND, start + 2),  # TCP destination port
        (_JEQ, port, "keep", "drop"),
        "ipv6",
        (_JEQ, ETH_P_IPV6, None, "drop"),
        (_LDB_ABS, start + 6),  # IPv6 next header
        (_JEQ, 6, None, "drop"),
        (_LDH_ABS, start + 40),
        (_JEQ, port, "keep", None),
        (_LDH_ABS, start + 42),
        (_JEQ, port, "keep", "drop"),
        "keep",
        (_RET, snaplen),
        "drop",
        (_RET, 0),
    ]
    return _assemble(program)


def _assemble(program: list) -> list[tuple[int, int, int, int]]:
    """Labels to jump offsets: `(code, k)` or `(code, k, true_label, false_label)`."""
    labels: dict[str, int] = {}
    code: list[tuple] = []
    for line in program:
        if isinstance(line, str):
            labels[line] = len(code)
        else:
            code.append(line)
    assembled = []
    for index, (op, k, *jumps) in enumerate(code):
        true, false = (labels[j] - index - 1 if j else 0 for j in (jumps or [None, None]))
        assembled.append((op, true, false, k))
    return assembled


def attach_filter(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    """SO_ATTACH_FILTER takes a `struct sock_fprog`: a count and a pointer to the instructions.
    An array's buffer_info() is its address (no ctypes needed); the kernel copies the program
    during the call, so the array may go after."""
    code = array.array("B", b"".join(struct.pack("HBBI", *line) for line in program))
    fprog = struct.pack("HP", len(program), code.buffer_info()[0])
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


# --- the capture ----------------------------------------------------------------------------


class Capture:
    """Frames of TCP to or from `port` on `interface` (a name, or ANY), read by a thread.

    Opening binds the socket at once, so every frame from then on is queued in the kernel,
    even before the thread reads it: start a capture before the connect() it should see.
    `keep` stores the frames in `frames`; `on_frame` is called with each (in the thread).
    `sock` is one from `check_capture`, used if it is of the kind needed (closed otherwise).
    `per_connection`: the capture is for one connection, named by `only(client, server)` once
    connect() returned; frames wait until then (PENDING_LIMIT), others are dropped after, and
    `frames` keeps its first KEEP_FIRST and last KEEP_LAST (the middle counted in `left_out`).

    `stop()` returns once every queued frame is read (or the thread stopped by itself, when
    `wait_until`'s condition held); the thread then closes the socket while the caller goes
    on, and `join()` waits for that.
    """

    def __init__(
        self,
        interface: str,
        port: int,
        *,
        snaplen: int = HEADERS_SNAPLEN,
        keep: bool = True,
        on_frame: Callable[[Frame], None] | None = None,
        what: str = "--packets",
        sock: socket.socket | None = None,
        per_connection: bool = False,
    ):
        self.interface = interface
        self.port = port
        self.snaplen = snaplen
        self.keep = keep
        self.on_frame = on_frame
        self.per_connection = per_connection
        self.ends: tuple[tuple[str, int], tuple[str, int]] | None = None
        self._first: list[Frame] = []
        self._last: collections.deque[Frame] = collections.deque(maxlen=KEEP_LAST)
        self.left_out = LeftOut()
        self.received = self.dropped = 0  # the kernel's count of frames kept, and lost
        self.changed = threading.Condition()
        self._stopped = False
        self._drained = threading.Event()
        self._stop_when: Callable[[list[Frame]], bool] | None = None
        self._sock = self._open(what, sock)
        self._wake_read, self._wake_write = os.pipe()
        self._clock = _clocks()
        self._thread = threading.Thread(target=self._run, name=f"capture {interface}", daemon=True)
        self._thread.start()

    def _open(self, what: str, spare: socket.socket | None) -> socket.socket:
        ethernet = self.interface != ANY and _link_type(self.interface) in (
            ARPHRD_ETHER,
            ARPHRD_LOOPBACK,
        )
        # With Ethernet headers the frames are written as they came; anything else (several
        # interfaces, a tunnel) from the IP header on, under a Linux cooked header.
        self.link = LINK_ETHERNET if ethernet else LINK_LINUX_SLL
        kind = socket.SOCK_RAW if ethernet else socket.SOCK_DGRAM
        # Protocol 0 receives nothing until bind() names the interface and protocol, so the
        # filter is in place before the first frame. ANY cannot be bound from Python: that
        # socket receives at once, and the few frames before the filter are dropped below.
        protocol = socket.htons(ETH_P_ALL) if self.interface == ANY else 0
        if spare is not None and (kind, protocol) == (spare.type, 0):
            sock = spare
        else:
            if spare is not None:
                spare.close()
            sock = open_packet_socket(kind, protocol, what)
        try:
            _set_options(sock, self.interface == LOOPBACK)
            attach_filter(sock, port_filter(self.port, 14 if ethernet else 0, self.snaplen))
            if self.interface != ANY:
                sock.bind((self.interface, ETH_P_ALL))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise CaptureUnavailable(f"{what} cannot capture on {self.interface}: {exc}") from None
        return sock

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        try:
            while True:
                ready = poller.poll()
                self._drain()
                if any(fd == self._wake_read for fd, _ in ready):
                    break  # stop() asked; the frames queued until then were read just above
                if self._stop_when is not None and self._stop_when(self.frames):
                    break  # wait_until's condition holds: stop at once, and close meanwhile
                time.sleep(REST)
            with contextlib.suppress(OSError):
                stats = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
                self.received, self.dropped = struct.unpack("II", stats)
        finally:
            self._drained.set()
            self._sock.close()
            os.close(self._wake_read)

    def _drain(self) -> None:
        """Read every frame queued in the kernel, then wake whoever waits for one."""
        taken = False
        while True:
            try:
                data, ancillary, _, address = self._sock.recvmsg(self.snaplen, 256)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                return
            frame = self._frame(data, ancillary, address)
            if frame is not None:
                taken = True
                self._take(frame)
        if taken:
            with self.changed:
                self.changed.notify_all()

    def _frame(self, data: bytes, ancillary: list, address: tuple) -> Frame | None:
        interface, protocol, pkttype, hatype, hwaddr = address
        if pkttype == socket.PACKET_OUTGOING and interface == LOOPBACK:
            return None  # lo hands each frame over twice, leaving and arriving: keep arriving
        wall_ns, length = time.time_ns(), len(data)
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                seconds, nanoseconds = struct.unpack_from("qq", value)
                wall_ns = seconds * 1_000_000_000 + nanoseconds
            elif level == SOL_PACKET and kind == PACKET_AUXDATA and len(value) >= 8:
                length = struct.unpack_from("I", value, 4)[0]
        if self.link == LINK_LINUX_SLL:
            data = sll_header(pkttype, hatype, hwaddr, protocol) + data
            length += 16
        try:
            segment = decode_frame(data, self.link, length)
        except SegmentError:
            return None
        if segment is None or self.port not in (segment.sport, segment.dport):
            return None
        perf, wall = self._clock
        return Frame(perf + (wall_ns - wall) / 1e9, wall_ns, data, length, segment)

    @property
    def frames(self) -> list[Frame]:
        """The frames kept, in capture order (for one connection: its first and last)."""
        with self.changed:
            return [*self._first, *self._last]

    def _take(self, frame: Frame) -> None:
        if self.per_connection:
            self._take_for_connection(frame)
            return
        if self.keep:
            with self.changed:
                self._first.append(frame)
        self._hand_on(frame)

    def _hand_on(self, frame: Frame) -> None:
        if self.on_frame is not None:
            with contextlib.suppress(Exception):  # a view never stops the capture
                self.on_frame(frame)

    def _take_for_connection(self, frame: Frame) -> None:
        with self.changed:
            if self.ends is None:  # the client's port is not known yet: wait, bounded
                if len(self._first) < PENDING_LIMIT:
                    self._first.append(frame)
                return
            if not _between(frame, self.ends):
                return  # another client of the same server port
            if len(self._first) < KEEP_FIRST:
                self._first.append(frame)
            else:
                if len(self._last) == KEEP_LAST:
                    self.left_out.add(self._last[0], self.ends[0])
                self._last.append(frame)
        self._hand_on(frame)

    def only(self, client: tuple[str, int], server: tuple[str, int]) -> None:
        """The connection is `client` <-> `server`: the frames waiting are sorted (its own
        handed on, the others dropped), and from now on only its frames are kept."""
        with self.changed:
            self.ends = (tuple(client), tuple(server))
            waiting, self._first = self._first, []
            mine = [frame for frame in waiting if _between(frame, self.ends)]
            self._first.extend(mine)
        for frame in mine:
            self._hand_on(frame)

    def wait_until(self, done: Callable[[list[Frame]], bool], timeout: float | None = None) -> bool:
        """Wait until `done(frames)` holds, `timeout` seconds at most (GRACE, read now); say
        whether it did.

        The capture then stops by itself: the thread checks `done` after each read and, once
        it holds, closes the socket while the caller goes on (closing a packet socket waits
        for the kernel's RCU grace period, about 10 ms)."""
        with self.changed:
            self._stop_when = done
            wait = GRACE if timeout is None else timeout
            return self.changed.wait_for(lambda: done([*self._first, *self._last]), wait)

    def stop(self) -> None:
        """Stop capturing: returns once every frame queued is read (and `received`, `dropped`
        are set); the thread goes on to close the socket. Safe to call twice."""
        if not self._stopped:
            self._stopped = True
            if not self._drained.is_set():
                with contextlib.suppress(OSError):  # the thread may have stopped by itself
                    os.write(self._wake_write, b"x")
        self._drained.wait(5)

    def join(self) -> None:
        """stop(), and wait until the thread has closed the socket."""
        self.stop()
        self._thread.join(5)
        if self._wake_write >= 0:
            os.close(self._wake_write)
            self._wake_write = -1

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc_info) -> None:
        self.join()


def _between(frame: Frame, ends: tuple[tuple[str, int], tuple[str, int]]) -> bool:
    segment = frame.segment
    return ((segment.src, segment.sport), (segment.dst, segment.dport)) in (ends, ends[::-1])


def _set_options(sock: socket.socket, loopback: bool) -> None:
    """A queue large enough for a burst (SO_RCVBUFFORCE needs CAP_NET_ADMIN; else SO_RCVBUF,
    capped by net.core.rmem_max), kernel timestamps and lengths with each frame, and on lo
    only the arriving copy of each frame."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    if loopback:
        with contextlib.suppress(OSError):  # Linux 4.20+; older ones are filtered in _frame
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)


def _clocks() -> tuple[float, int]:
    """One instant on both clocks: `time.perf_counter`'s, which the events use, and the wall
    clock (CLOCK_REALTIME) of the kernel's timestamps, read back to back. A frame's `at` is
    its wall time's distance from this instant, added to the perf_counter reading."""
    before = time.perf_counter()
    wall = time.time_ns()
    after = time.perf_counter()
    return (before + after) / 2, wall
