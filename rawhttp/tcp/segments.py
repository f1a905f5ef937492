"""Sans-IO TCP segments: the bytes of one captured frame in, a `Segment` value out.

This module never touches a socket (the capture is `capture.py`'s job): a learner can feed it
literal bytes, as with `rawhttp.wire`. It owns three layers of a frame:

- the link layer: Ethernet (what an AF_PACKET socket reads on `lo` and on eth0, and what a pcap
  of LINKTYPE_ETHERNET holds), Linux "cooked" capture (LINKTYPE_LINUX_SLL, what `tcpdump -i any`
  writes), or none (LINKTYPE_RAW: the frame is the IP packet);
- the network layer: IPv4 (RFC 791) and IPv6 (RFC 8200, extension headers skipped);
- TCP (RFC 9293): ports, sequence and acknowledgement numbers, flags, window, and the options
  a SYN carries: MSS, window scale and timestamps (RFC 7323), SACK permitted (RFC 2018).

A frame that is not TCP over IP (ARP, UDP, a later IP fragment) decodes to None; one that says
it is TCP but is cut short or inconsistent raises `SegmentError`. A capture may keep only the
first bytes of each frame (its snap length): the payload's length is read from the IP header,
so a truncated frame still says how many bytes it carried.

    >>> frame = bytes.fromhex(
    ...     "000000000000 000000000000 0800"                      # Ethernet: IPv4
    ...     "4500003c 00004000 4006 0000 7f000001 7f000001"       # IPv4: TCP, 60 bytes
    ...     "c350 1f40 00000064 00000000 a002 ffd7 0000 0000"     # TCP: SYN, 40-byte header
    ...     "020405b4 0402 080a 0000000a 00000000 01 030307")     # MSS, SACK_PERM, TS, NOP, WS
    >>> segment = decode_frame(frame)
    >>> segment.flag_names, segment.sport, segment.dport, segment.seq, segment.payload
    ('SYN', 50000, 8000, 100, 0)
    >>> segment.options
    (('mss', 1460), ('sackOK', None), ('ts', (10, 0)), ('nop', None), ('wscale', 7))
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

# Link-layer header types, as pcap files number them (tcpdump.org/linktypes.html).
LINK_ETHERNET = 1
LINK_RAW = 101
LINK_LINUX_SLL = 113

# EtherType values (IEEE 802.3; Linux's ETH_P_* names).
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100  # a VLAN tag: 4 more bytes before the real EtherType

ETHERNET_HEADER = 14
SLL_HEADER = 16
IPPROTO_TCP = 6

# TCP flag bits, in the order RFC 9293 section 3.1 lists them from the low end.
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = (1 << bit for bit in range(8))
# The order flags are named in: the one that matters most for the lesson first.
FLAG_ORDER = (
    (SYN, "SYN"),
    (FIN, "FIN"),
    (RST, "RST"),
    (PSH, "PSH"),
    (ACK, "ACK"),
    (URG, "URG"),
    (ECE, "ECE"),
    (CWR, "CWR"),
)

# IPv6 extension headers that may sit between the IPv6 header and TCP (RFC 8200 section 4):
# hop-by-hop options, routing, destination options; each says its length in 8-byte units.
_IPV6_EXTENSIONS = {0, 43, 60}
_IPV6_FRAGMENT = 44


class SegmentError(ValueError):
    """A frame that claims to carry TCP, but whose headers are cut short or do not add up."""


class Segment(NamedTuple):
    """One TCP segment, as the IP and TCP headers say. `payload` is its data's length in bytes
    (from the IP lengths, so it is right even when the capture kept only the headers)."""

    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    ack: int
    flags: int
    window: int  # the header's 16-bit field, before any window scaling
    payload: int
    options: tuple[tuple[str, object], ...] = ()

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)

    @property
    def flag_names(self) -> str:
        """'SYN+ACK', 'PSH+ACK', 'FIN+ACK'; '' for none."""
        return "+".join(name for bit, name in FLAG_ORDER if self.flags & bit)

    @property
    def length(self) -> int:
        """Sequence numbers the segment uses: its payload, plus one each for SYN and FIN."""
        return self.payload + (self.flags & SYN and 1) + (self.flags & FIN and 1)

    def option(self, name: str, default: object = None) -> object:
        for key, value in self.options:
            if key == name:
                return value
        return default


def decode_frame(frame: bytes, link: int = LINK_ETHERNET, length: int | None = None):
    """A frame of link type `link` -> `Segment`, or None when it is not TCP over IP.

    `length` is the frame's length on the wire when `frame` is only its first bytes; it is used
    when the IP header leaves the size to the link (a TSO/GSO or BIG TCP packet of 64 KiB or
    more says 0).
    """
    length = len(frame) if length is None else length
    if link == LINK_ETHERNET:
        kind, start = _ethernet(frame)
    elif link == LINK_LINUX_SLL:
        kind, start = _sll(frame)
    elif link == LINK_RAW:
        kind, start = _raw_kind(frame), 0
    else:
        raise SegmentError(f"link type {link} is not one rawhttp decodes")
    if kind not in (ETH_P_IP, ETH_P_IPV6):
        return None
    return decode_packet(memoryview(frame)[start:], length - start, kind == ETH_P_IPV6)


def decode_packet(packet: bytes | memoryview, length: int | None = None, ipv6: bool = False):
    """An IP packet (no link header) -> `Segment`, or None when it is not TCP."""
    length = len(packet) if length is None else length
    if ipv6:
        return _ipv6(packet, length)
    return _ipv4(packet, length)


def _ethernet(frame: bytes) -> tuple[int, int]:
    _need(frame, ETHERNET_HEADER, "Ethernet header")
    (kind,) = struct.unpack_from("!H", frame, 12)
    if kind == ETH_P_8021Q:
        _need(frame, ETHERNET_HEADER + 4, "VLAN tag")
        (kind,) = struct.unpack_from("!H", frame, 16)
        return kind, ETHERNET_HEADER + 4
    return kind, ETHERNET_HEADER


def _sll(frame: bytes) -> tuple[int, int]:
    """Linux cooked header: packet type, ARPHRD type, address length, 8 address bytes,
    then the EtherType of what follows."""
    _need(frame, SLL_HEADER, "Linux cooked (SLL) header")
    (kind,) = struct.unpack_from("!H", frame, 14)
    return kind, SLL_HEADER


def _raw_kind(frame: bytes) -> int:
    version = frame[0] >> 4 if frame else 0
    return {4: ETH_P_IP, 6: ETH_P_IPV6}.get(version, 0)


def _ipv4(packet: bytes | memoryview, length: int):
    _need(packet, 20, "IPv4 header")
    version_ihl, protocol = packet[0], packet[9]
    total, fragment = struct.unpack_from("!H2xH", packet, 2)
    if version_ihl >> 4 != 4:
        raise SegmentError(f"an IPv4 frame with IP version {version_ihl >> 4}")
    header = (version_ihl & 0x0F) * 4
    if header < 20:
        raise SegmentError(f"IPv4 header length {header} is below the minimum 20")
    if protocol != IPPROTO_TCP or fragment & 0x1FFF:
        return None  # not TCP, or a later fragment (no TCP header in it)
    _need(packet, header, "IPv4 options")
    total = total or length  # 0: a GSO packet too big for the field; the frame knows its size
    src = socket.inet_ntop(socket.AF_INET, bytes(packet[12:16]))
    dst = socket.inet_ntop(socket.AF_INET, bytes(packet[16:20]))
    return _tcp(packet[header:], total - header, src, dst)


def _ipv6(packet: bytes | memoryview, length: int):
    _need(packet, 40, "IPv6 header")
    if packet[0] >> 4 != 6:
        raise SegmentError(f"an IPv6 frame with IP version {packet[0] >> 4}")
    (payload_length,) = struct.unpack_from("!H", packet, 4)
    following, offset = packet[6], 40
    remaining = payload_length or length - 40  # 0: a jumbo (BIG TCP) packet
    while following in _IPV6_EXTENSIONS or following == _IPV6_FRAGMENT:
        _need(packet, offset + 8, "IPv6 extension header")
        if following == _IPV6_FRAGMENT:
            (fragment,) = struct.unpack_from("!H", packet, offset + 2)
            if fragment & 0xFFF8:
                return None  # a later fragment: no TCP header in it
            size = 8
        else:
            size = (packet[offset + 1] + 1) * 8
        following, offset, remaining = packet[offset], offset + size, remaining - size
    if following != IPPROTO_TCP:
        return None
    src = socket.inet_ntop(socket.AF_INET6, bytes(packet[8:24]))
    dst = socket.inet_ntop(socket.AF_INET6, bytes(packet[24:40]))
    return _tcp(packet[offset:], remaining, src, dst)


def _tcp(data: bytes | memoryview, length: int, src: str, dst: str) -> Segment:
    """The TCP header at the start of `data`; `length` is the segment's size, header included."""
    _need(data, 20, "TCP header")
    sport, dport, seq, ack, offset_flags, window = struct.unpack_from("!HHIIHH", data)
    header = (offset_flags >> 12) * 4
    if header < 20:
        raise SegmentError(f"TCP data offset {header} is below the minimum 20")
    _need(data, header, "TCP options")
    if length < header:
        raise SegmentError(f"the IP length leaves {length} bytes for a {header}-byte TCP header")
    options = tcp_options(bytes(data[20:header]))
    flags = offset_flags & 0xFF
    return Segment(src, sport, dst, dport, seq, ack, flags, window, length - header, options)


def tcp_options(data: bytes) -> tuple[tuple[str, object], ...]:
    """The TCP options area -> ((name, value), ...), named as tcpdump prints them.

    RFC 9293 section 3.2: kind 0 ends the list, kind 1 is padding (NOP); every other option is
    kind, length (counting these two bytes), value.
    """
    options: list[tuple[str, object]] = []
    index = 0
    while index < len(data):
        kind = data[index]
        if kind == 0:
            break
        if kind == 1:
            options.append(("nop", None))
            index += 1
            continue
        if index + 2 > len(data) or data[index + 1] < 2 or index + data[index + 1] > len(data):
            raise SegmentError(f"TCP option {kind} runs past the end of the header")
        value = data[index + 2 : index + data[index + 1]]
        options.append(_option(kind, value))
        index += data[index + 1]
    return tuple(options)


def _option(kind: int, value: bytes) -> tuple[str, object]:
    if kind == 2 and len(value) == 2:
        return ("mss", struct.unpack("!H", value)[0])
    if kind == 3 and len(value) == 1:
        return ("wscale", value[0])
    if kind == 4 and not value:
        return ("sackOK", None)
    if kind == 5 and len(value) % 8 == 0:
        edges = struct.unpack(f"!{len(value) // 4}I", value)
        return ("sack", tuple(zip(edges[::2], edges[1::2], strict=True)))
    if kind == 8 and len(value) == 8:
        return ("ts", struct.unpack("!II", value))
    return (f"option-{kind}", value.hex())


def _need(data: bytes | memoryview, size: int, what: str) -> None:
    if len(data) < size:
        raise SegmentError(f"frame cut short in the {what} ({len(data)} of {size} bytes)")
