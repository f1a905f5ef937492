"""The kernel's table of TCP sockets: `/proc/net/tcp` (IPv4) and `/proc/net/tcp6` (IPv6).

Every TCP socket of the machine has a line there, including the ones no program holds any more:
after `close()`, the kernel keeps the connection until its four-way close is over, and the side
that closed first then waits in TIME_WAIT (two maximum segment lifetimes; 60 s on Linux), so
that a late segment of this connection cannot be taken for one of a new connection with the
same four addresses and ports. That wait is what `SO_REUSEADDR` lets a restarted server bind
through. This is what `ss -tan` and `netstat -tan` read.

`parse_table` is sans-IO (the file's text -> entries). `lookup` asks the kernel for the one
socket it wants through sock_diag (netlink, what `ss` uses: microseconds, however many sockets
the machine has) and reads the files where that is not available; both give the same entry.

A line, with the addresses in hex as the kernel stores them (IPv4: one 32-bit word in the
machine's byte order; IPv6: four such words), the port in hex, the state as a number, and the
timer: kind 3 is the TIME_WAIT timer, with the ticks left (USER_HZ, 100 a second):

      sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt ...
       0: 0100007F:1F40 0100007F:C350 06 00000000:00000000 03:00001770 00000000 ...
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

# TCP states (include/net/tcp_states.h): the numbers in /proc/net/tcp and in tcp_info.
STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}
# States in which the close is still going on: a FIN or its ACK is yet to come.
CLOSING_STATES = {"FIN_WAIT1", "FIN_WAIT2", "CLOSE_WAIT", "LAST_ACK", "CLOSING"}
USER_HZ = 100  # /proc/net/tcp gives timers in clock ticks of 1/USER_HZ s (100 on Linux)
TIME_WAIT_TIMER = 3  # the "tr" field's value for the TIME_WAIT timer
PATHS = {socket.AF_INET: "/proc/net/tcp", socket.AF_INET6: "/proc/net/tcp6"}

Address = tuple[str, int]


class SocketEntry(NamedTuple):
    """One line of the table: the socket's two ends, its state, and for TIME_WAIT the seconds
    left before the kernel forgets the connection."""

    local: Address
    remote: Address
    state: str
    seconds_left: float | None = None


def parse_table(text: str) -> list[SocketEntry]:
    """The text of /proc/net/tcp or /proc/net/tcp6 -> its entries (the header line skipped)."""
    entries = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        local, remote, state = _address(fields[1]), _address(fields[2]), int(fields[3], 16)
        timer, _, ticks = fields[5].partition(":")
        left = int(ticks, 16) / USER_HZ if int(timer, 16) == TIME_WAIT_TIMER else None
        entries.append(SocketEntry(local, remote, STATES.get(state, str(state)), left))
    return entries


def _address(text: str) -> Address:
    """'0100007F:1F40' -> ('127.0.0.1', 8000). Each 8-digit group is a 32-bit word in this
    machine's byte order, so it is packed back the same way ('=')."""
    host, _, port = text.partition(":")
    words = [int(host[start : start + 8], 16) for start in range(0, len(host), 8)]
    packed = struct.pack(f"={len(words)}I", *words)
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    address = socket.inet_ntop(family, packed)
    if address.startswith("::ffff:") and "." in address:
        address = address[7:]  # an IPv4 peer of an IPv6 socket: written as IPv4, as getpeername
    return address, int(port, 16)


def lookup(local: Address, remote: Address) -> SocketEntry | None:
    """The entry of the socket whose ends are `local` and `remote`, or None when the kernel has
    no such socket (any more): a connection that is fully closed, or not on this machine."""
    return lookup_all([(local, remote)])[0]


def lookup_all(pairs: list[tuple[Address, Address]]) -> list[SocketEntry | None]:
    """`lookup` for several (local, remote) pairs: by sock_diag, else from the files."""
    try:
        return [ask_kernel(local, remote) for local, remote in pairs]
    except OSError:
        return read_tables(pairs)


def read_tables(pairs: list[tuple[Address, Address]]) -> list[SocketEntry | None]:
    """`lookup` for several (local, remote) pairs from the files, reading each once at most.

    A busy machine's table has thousands of lines (every TIME_WAIT connection of the last
    minute), and the kernel writes them all out for each read: so each table is read once and
    searched for the lines' address fields as text, and only the lines found are parsed.
    An IPv4 connection is in /proc/net/tcp, or in tcp6 when one end is an IPv6 socket that
    accepted it (a dual-stack server), written as ::ffff:a.b.c.d.
    """
    found: list[SocketEntry | None] = [None] * len(pairs)
    for family in (socket.AF_INET, socket.AF_INET6):
        wanted = {}
        for index, (local, remote) in enumerate(pairs):
            key = _key(local, remote, family)
            if found[index] is None and key is not None:
                wanted[key] = index
        if not wanted:
            continue
        try:
            with open(PATHS[family], encoding="ascii") as table:
                text = table.read()
        except OSError:
            continue
        for key, index in wanted.items():
            at = text.find(key)
            if at >= 0:
                line = text[text.rfind("\n", 0, at) + 1 : text.find("\n", at)]
                found[index] = parse_table("header\n" + line)[0]
    return found


def _key(local: Address, remote: Address, family: int) -> str | None:
    """' 0100007F:C350 0100007F:1F40 ': the two address fields of the pair's line in the
    table of `family`, or None when that table cannot hold it."""
    fields = [_hex(address, family) for address in (local, remote)]
    if None in fields:
        return None
    return f" {fields[0]} {fields[1]} "


def _hex(address: Address, family: int) -> str | None:
    host, port = address
    if family == socket.AF_INET:
        if ":" in host:
            return None
        packed = socket.inet_pton(socket.AF_INET, host)
    else:
        host = f"::ffff:{host}" if "." in host else host
        packed = socket.inet_pton(socket.AF_INET6, host.partition("%")[0])
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{word:08X}" for word in words) + f":{port:04X}"


# sock_diag (linux/sock_diag.h, linux/inet_diag.h): one netlink request naming a socket by its
# two ends, one answer (struct inet_diag_msg) or an error (ENOENT: no such socket).
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
NO_COOKIE = 0xFFFFFFFF
_NLMSG_HEADER = struct.Struct("=IHHII")
_DIAG_REQUEST = struct.Struct("=BBBxI")  # family, protocol, extensions, states
_DIAG_ANSWER = struct.Struct("=BBBB")  # family, state, timer, retransmissions


def ask_kernel(local: Address, remote: Address) -> SocketEntry | None:
    """`lookup` by sock_diag; raises OSError when netlink is not there to ask.

    An IPv4 pair is asked as IPv4, then as IPv4-mapped IPv6 (a dual-stack socket). The answer
    is checked against the question: for a pair with no connection the kernel may answer with
    the socket listening on the port instead.
    """
    families = [socket.AF_INET6] if ":" in local[0] else [socket.AF_INET, socket.AF_INET6]
    for family in families:
        answer = _ask(family, _mapped(local, family), _mapped(remote, family))
        if answer is not None:
            return answer._replace(local=tuple(local), remote=tuple(remote))
    return None


def _mapped(address: Address, family: int) -> Address:
    host, port = address
    return (f"::ffff:{host}" if family == socket.AF_INET6 and "." in host else host, port)


def _ask(family: int, local: Address, remote: Address) -> SocketEntry | None:
    sockid = _sockid(family, local, remote)
    request = _DIAG_REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0xFFFFFFFF) + sockid
    size = _NLMSG_HEADER.size + len(request)
    header = _NLMSG_HEADER.pack(size, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as netlink:
        netlink.settimeout(1.0)
        netlink.send(header + request)
        data = netlink.recv(8192)
    kind = _NLMSG_HEADER.unpack_from(data)[1]
    body = data[_NLMSG_HEADER.size :]
    if kind == NLMSG_ERROR or len(body) < 4 + len(sockid) + 4:
        return None  # ENOENT: the kernel has no such socket
    _, state, timer, _ = _DIAG_ANSWER.unpack_from(body)
    if body[4 : 4 + 36] != sockid[:36]:
        return None  # another socket (the listening one): not this connection
    (expires,) = struct.unpack_from("=I", body, 4 + len(sockid))
    name = STATES.get(state, str(state))
    left = expires / 1000 if timer == TIME_WAIT_TIMER else None
    return SocketEntry(local, remote, name, left)


def _packed(family: int, host: str) -> bytes:
    return socket.inet_pton(family, host.partition("%")[0]).ljust(16, b"\0")


def _sockid(family: int, local: Address, remote: Address) -> bytes:
    """struct inet_diag_sockid: ports and addresses in network byte order, no interface, no
    cookie (any socket with these ends)."""
    hosts = [_packed(family, host) for host, _ in (local, remote)]
    ports = struct.pack("!HH", local[1], remote[1])
    return ports + hosts[0] + hosts[1] + struct.pack("=III", 0, NO_COOKIE, NO_COOKIE)
