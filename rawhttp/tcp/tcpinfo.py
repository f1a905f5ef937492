"""`struct tcp_info`: what the Linux kernel knows about one TCP connection.

`getsockopt(IPPROTO_TCP, TCP_INFO)` copies this struct (linux/tcp.h) out of the kernel for the
socket it is asked on; any program may ask about its own sockets, no privilege needed. It
holds the connection's state, the round-trip time the kernel measures and its variance, the
congestion window, segment and byte counters, and retransmissions: what `ss -ti` shows.

`decode` is sans-IO (bytes -> `TcpInfo`); `read` is the one system call. The struct has grown
over the years (each field is appended at the end), so an older kernel's shorter copy decodes
too: the fields it does not have are None. Fields are in the machine's byte order.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

from rawhttp.tcp.proctcp import STATES

# (field, struct code), in the order of linux/tcp.h. "_" fields are read and dropped. The
# struct has no padding: every u64 falls on a multiple of 8.
_LAYOUT = [
    ("state", "B"), ("ca_state", "B"), ("retransmits", "B"), ("probes", "B"),
    ("backoff", "B"), ("options", "B"), ("wscales", "B"), ("_flags", "B"),
    ("rto", "I"), ("ato", "I"), ("snd_mss", "I"), ("rcv_mss", "I"),
    ("unacked", "I"), ("sacked", "I"), ("lost", "I"), ("retrans", "I"), ("_fackets", "I"),
    ("last_data_sent", "I"), ("_last_ack_sent", "I"), ("last_data_recv", "I"),
    ("last_ack_recv", "I"),
    ("pmtu", "I"), ("rcv_ssthresh", "I"), ("rtt", "I"), ("rttvar", "I"),
    ("snd_ssthresh", "I"), ("snd_cwnd", "I"), ("advmss", "I"), ("reordering", "I"),
    ("rcv_rtt", "I"), ("rcv_space", "I"),
    ("total_retrans", "I"),
    ("pacing_rate", "Q"), ("max_pacing_rate", "Q"), ("bytes_acked", "Q"),
    ("bytes_received", "Q"), ("segs_out", "I"), ("segs_in", "I"),
    ("notsent_bytes", "I"), ("min_rtt", "I"), ("data_segs_in", "I"), ("data_segs_out", "I"),
    ("delivery_rate", "Q"),
    ("busy_time", "Q"), ("rwnd_limited", "Q"), ("sndbuf_limited", "Q"),
    ("delivered", "I"), ("delivered_ce", "I"),
    ("bytes_sent", "Q"), ("bytes_retrans", "Q"), ("dsack_dups", "I"), ("reord_seen", "I"),
    ("rcv_ooopack", "I"),
    ("snd_wnd", "I"),
]  # fmt: skip
# Byte offset and struct of each field, computed once.
_FIELDS: list[tuple[str, int, struct.Struct]] = []
_offset = 0
for _name, _code in _LAYOUT:
    _FIELDS.append((_name, _offset, struct.Struct("=" + _code)))
    _offset += struct.calcsize("=" + _code)
SIZE = _offset  # bytes asked of the kernel; it copies at most its own struct's size

# tcpi_options bits (linux/tcp.h TCPI_OPT_*): what the two ends agreed on in the handshake.
OPTION_BITS = {1: "timestamps", 2: "sack", 4: "wscale", 8: "ecn"}


class TcpInfo(NamedTuple):
    """The fields a student looks at; times are in microseconds, as the kernel gives them.
    None: this kernel's struct is too short to have the field."""

    state: str  # "ESTABLISHED", "CLOSE_WAIT"...: the same names as /proc/net/tcp
    rtt: int | None  # smoothed round-trip time (srtt)
    rttvar: int | None  # its mean deviation
    snd_cwnd: int | None  # congestion window, in segments
    snd_mss: int | None  # the largest segment this side sends
    retransmits: int  # retransmissions of the segment now being retried (0: none pending)
    total_retrans: int | None  # segments retransmitted over the connection's life
    segs_out: int | None  # segments sent, SYN, pure ACKs and FIN included
    segs_in: int | None  # segments received
    bytes_acked: int | None  # data bytes the peer has acknowledged
    bytes_received: int | None  # data bytes received (and acknowledged by us)
    data_segs_out: int | None = None  # segments sent that carried data
    data_segs_in: int | None = None  # segments received that carried data
    bytes_sent: int | None = None  # data bytes sent, retransmissions included
    options: tuple[str, ...] = ()  # "timestamps", "sack", "wscale", "ecn"
    snd_wscale: int = 0
    rcv_wscale: int = 0


def decode(data: bytes) -> TcpInfo:
    """The bytes `getsockopt(IPPROTO_TCP, TCP_INFO, SIZE)` returned -> `TcpInfo`."""
    values = {}
    for name, offset, field in _FIELDS:
        if offset + field.size > len(data):
            break
        values[name] = field.unpack_from(data, offset)[0]
    if "_flags" not in values:  # not even the eight one-byte fields
        raise ValueError(f"{len(data)} bytes are too short for a struct tcp_info")
    options = tuple(name for bit, name in OPTION_BITS.items() if values["options"] & bit)
    return TcpInfo(
        state=STATES.get(values["state"], f"state {values['state']}"),
        rtt=values.get("rtt"),
        rttvar=values.get("rttvar"),
        snd_cwnd=values.get("snd_cwnd"),
        snd_mss=values.get("snd_mss"),
        retransmits=values["retransmits"],
        total_retrans=values.get("total_retrans"),
        segs_out=values.get("segs_out"),
        segs_in=values.get("segs_in"),
        bytes_acked=values.get("bytes_acked"),
        bytes_received=values.get("bytes_received"),
        data_segs_out=values.get("data_segs_out"),
        data_segs_in=values.get("data_segs_in"),
        bytes_sent=values.get("bytes_sent"),
        options=options,
        snd_wscale=values["wscales"] & 0x0F,
        rcv_wscale=values["wscales"] >> 4,
    )


def read(sock: socket.socket) -> TcpInfo | None:
    """The kernel's tcp_info for `sock`, or None where there is none to read: not Linux, a
    socket closed (or handed to TLS) already, not TCP."""
    option = getattr(socket, "TCP_INFO", None)
    if option is None:
        return None
    try:
        return decode(sock.getsockopt(socket.IPPROTO_TCP, option, SIZE))
    except (OSError, ValueError):
        return None
