"""The classic pcap file format (libpcap 2.4), written with `struct`: what `tcpdump -w` writes
and what Wireshark and `tcpdump -r` open.

A file is one 24-byte header (magic number, version, snap length, link type), then one record
per frame: a 16-byte header (seconds and microseconds since the epoch, bytes kept, bytes the
frame had) and the kept bytes. Every field is little-endian here; readers tell the byte order
from the magic number. The newer pcapng format is not needed for one interface.

This module builds bytes and writes them to a file it is given; what the frames are is
`capture.py`'s business. `sll_header` makes the Linux cooked header (LINKTYPE_LINUX_SLL) that
a capture on several interfaces, or on one without Ethernet headers, is written with.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

MAGIC = 0xA1B2C3D4  # microsecond timestamps (0xA1B23C4D would mean nanoseconds)
VERSION = (2, 4)
# Bytes of a frame a reader should expect at most: libpcap's MAXIMUM_SNAPLEN.
SNAPLEN = 262144

_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")


def file_header(link: int, snaplen: int = SNAPLEN) -> bytes:
    """Magic, version 2.4, time zone 0, timestamp accuracy 0, snap length, link type."""
    return _FILE_HEADER.pack(MAGIC, *VERSION, 0, 0, snaplen, link)


def record(wall_ns: int, data: bytes, length: int | None = None) -> bytes:
    """One frame: `wall_ns` is its time in nanoseconds since the epoch, `data` the bytes kept
    of it, `length` how long it was (more than `len(data)` when the capture cut it short)."""
    seconds, nanoseconds = divmod(wall_ns, 1_000_000_000)
    kept = len(data)
    header = _RECORD_HEADER.pack(seconds, nanoseconds // 1000, kept, max(kept, length or kept))
    return header + bytes(data)


def sll_header(pkttype: int, hatype: int, address: bytes, protocol: int) -> bytes:
    """The 16-byte Linux cooked header: packet type (0 to us, 4 sent by us...), ARPHRD type,
    address length, the link-layer source address padded to 8 bytes, EtherType (big-endian,
    as on the wire)."""
    address = address[:8]
    return struct.pack("!HHH8sH", pkttype, hatype, len(address), address, protocol)


class PcapWriter:
    """Writes frames of one link type to `out` (a binary file it does not close)."""

    def __init__(self, out: BinaryIO, link: int, snaplen: int = SNAPLEN):
        self.out = out
        self.link = link
        self.count = 0
        out.write(file_header(link, snaplen))

    def write(self, wall_ns: int, data: bytes, length: int | None = None) -> None:
        self.out.write(record(wall_ns, data, length))
        self.count += 1
