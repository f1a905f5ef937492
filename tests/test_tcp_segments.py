"""rawhttp.tcp without a capture: frames, pcap, tcp_info, the socket table and the kernel
filter are all bytes in, values out. Literal frames, tables of cases, no privilege needed."""

from __future__ import annotations

import errno
import socket
import struct
import sys

import pytest

from rawhttp.errors import CaptureUnavailable
from rawhttp.show.packets import Annotator, capture_check, close_is_over, options_text
from rawhttp.tcp import capture, pcap, proctcp, tcpinfo
from rawhttp.tcp.capture import Frame
from rawhttp.tcp.segments import (
    ACK,
    FIN,
    LINK_ETHERNET,
    LINK_LINUX_SLL,
    LINK_RAW,
    PSH,
    RST,
    SYN,
    Segment,
    SegmentError,
    decode_frame,
    decode_packet,
    tcp_options,
)

ETHERNET_IPV4 = bytes.fromhex("000000000000 000000000000 0800")
ETHERNET_IPV6 = bytes.fromhex("000000000000 000000000000 86dd")
# IPv4, 60 bytes in all, DF, TTL 64, TCP, no checksum, 127.0.0.1 -> 127.0.0.1.
IPV4_SYN = bytes.fromhex("4500003c 00004000 4006 0000 7f000001 7f000001")
# TCP 50000 -> 8000, seq 100, ack 0, 40-byte header, SYN, window 65495, then 20 bytes of
# options: MSS 65495, SACK permitted, timestamps 10/0, NOP, window scale 7.
TCP_SYN = bytes.fromhex(
    "c350 1f40 00000064 00000000 a002 ffd7 0000 00000204ffd7 0402 080a 0000000a 00000000 01 030307"
)
SYN_FRAME = ETHERNET_IPV4 + IPV4_SYN + TCP_SYN


def ipv4(tcp: bytes, payload: bytes = b"", total: int | None = None, fragment: int = 0x4000):
    """An IPv4 packet 10.0.0.1 -> 10.0.0.2 around `tcp`; DF set unless `fragment` says else."""
    total = 20 + len(tcp) + len(payload) if total is None else total
    header = struct.pack("!BBHHHBBH", 0x45, 0, total, 0, fragment, 64, 6, 0)
    return header + bytes([10, 0, 0, 1, 10, 0, 0, 2]) + tcp + payload


def tcp_header(flags: int, seq: int = 1, ack: int = 1, options: bytes = b"") -> bytes:
    offset = (20 + len(options)) // 4
    return (
        struct.pack("!HHIIHHHH", 8000, 50000, seq, ack, offset << 12 | flags, 512, 0, 0) + options
    )


def ipv6(next_header: int, rest: bytes, payload_length: int | None = None) -> bytes:
    length = len(rest) if payload_length is None else payload_length
    src = socket.inet_pton(socket.AF_INET6, "::1")
    return struct.pack("!IHBB", 6 << 28, length, next_header, 64) + src + src + rest


# --- frames -> segments -------------------------------------------------------------------


def test_ethernet_ipv4_syn_with_its_options():
    segment = decode_frame(SYN_FRAME)
    assert segment == Segment(
        "127.0.0.1",
        50000,
        "127.0.0.1",
        8000,
        100,
        0,
        SYN,
        65495,
        0,
        (("mss", 65495), ("sackOK", None), ("ts", (10, 0)), ("nop", None), ("wscale", 7)),
    )
    assert (segment.flag_names, segment.length) == ("SYN", 1)
    assert segment.option("wscale") == 7 and segment.option("sack") is None
    assert options_text(segment) == "mss 65495, sackOK, TS val 10 ecr 0, wscale 7"


@pytest.mark.parametrize(
    ("flags", "names", "length"),
    [
        (SYN | ACK, "SYN+ACK", 1),
        (ACK, "ACK", 0),
        (PSH | ACK, "PSH+ACK", 5),
        (FIN | ACK, "FIN+ACK", 1),
        (FIN | PSH | ACK, "FIN+PSH+ACK", 6),
        (RST, "RST", 0),
        (0, "", 0),
    ],
)
def test_flags_and_sequence_length(flags, names, length):
    payload = b"hello" if flags & PSH else b""
    segment = decode_packet(ipv4(tcp_header(flags), payload))
    assert (segment.flag_names, segment.length) == (names, length)
    assert segment.payload == len(payload)


def test_data_segment_over_ipv6_with_a_hop_by_hop_header():
    tcp = tcp_header(PSH | ACK, seq=7, ack=9) + b"GET / HTTP/1.1\r\n"
    hop_by_hop = bytes([6, 0]) + bytes(6)  # next header TCP, 8 bytes long
    segment = decode_frame(ETHERNET_IPV6 + ipv6(0, hop_by_hop + tcp))
    assert (segment.src, segment.dst, segment.seq, segment.ack) == ("::1", "::1", 7, 9)
    assert segment.payload == 16


def test_ipv6_later_fragment_and_other_protocols_are_not_segments():
    later = bytes([6, 0]) + struct.pack("!HI", 8 << 3, 1)  # offset 8 x 8 bytes
    assert decode_frame(ETHERNET_IPV6 + ipv6(44, later + tcp_header(ACK))) is None
    assert decode_frame(ETHERNET_IPV6 + ipv6(17, bytes(8))) is None  # UDP
    assert decode_packet(ipv4(tcp_header(ACK), fragment=0x0010)) is None  # IPv4 later fragment
    udp = bytearray(ipv4(bytes(8)))
    udp[9] = 17
    assert decode_packet(bytes(udp)) is None
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    assert decode_frame(arp) is None


def test_vlan_tag_sll_and_raw_links():
    vlan = bytes(12) + b"\x81\x00\x00\x05\x08\x00" + IPV4_SYN + TCP_SYN
    assert decode_frame(vlan).sport == 50000
    # Linux cooked: sent by us (4), ARPHRD_LOOPBACK (772), 6-byte address, EtherType IPv4.
    sll = pcap.sll_header(4, 772, bytes(6), 0x0800)
    assert sll == bytes.fromhex("0004 0304 0006 0000000000000000 0800")
    assert decode_frame(sll + IPV4_SYN + TCP_SYN, LINK_LINUX_SLL).seq == 100
    assert decode_frame(IPV4_SYN + TCP_SYN, LINK_RAW).dport == 8000
    with pytest.raises(SegmentError):
        decode_frame(SYN_FRAME, 228)


def test_a_frame_cut_after_the_headers_still_counts_its_payload():
    """What a capture with a snap length keeps: the headers, and the IP length of the rest."""
    full = ETHERNET_IPV4 + ipv4(tcp_header(PSH | ACK), b"x" * 1000)
    assert decode_frame(full[:54], LINK_ETHERNET, len(full)).payload == 1000


def test_gso_packet_whose_ip_length_says_zero():
    """A TSO/GSO or BIG TCP packet over 64 KiB: the IP length is 0, the frame's length rules."""
    frame = ETHERNET_IPV4 + ipv4(tcp_header(ACK), total=0)
    assert decode_frame(frame, LINK_ETHERNET, 14 + 20 + 20 + 70000).payload == 70000


@pytest.mark.parametrize("cut", range(len(SYN_FRAME)))
def test_every_cut_inside_the_headers_is_an_error(cut):
    with pytest.raises(SegmentError):
        decode_frame(SYN_FRAME[:cut])


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (ETHERNET_IPV4 + b"\x44" + IPV4_SYN[1:] + TCP_SYN, "below the minimum 20"),  # IHL 4
        (ETHERNET_IPV4 + b"\x65" + IPV4_SYN[1:] + TCP_SYN, "IP version 6"),
        (ETHERNET_IPV4 + IPV4_SYN + TCP_SYN[:12] + b"\x40\x02" + TCP_SYN[14:], "data offset 16"),
        (ETHERNET_IPV4 + ipv4(tcp_header(ACK), total=30), "leaves 10 bytes"),
    ],
)
def test_inconsistent_headers(frame, words):
    with pytest.raises(SegmentError, match=words):
        decode_frame(frame)


@pytest.mark.parametrize(
    ("options", "decoded"),
    [
        (b"", ()),
        (b"\x01\x01\x00\x02\x04\x05\xb4", (("nop", None), ("nop", None))),  # EOL ends them
        (b"\x05\x0a" + struct.pack("!II", 100, 200), (("sack", ((100, 200),)),)),
        (b"\x1e\x04\xab\xcd", (("option-30", "abcd"),)),  # MPTCP, say: kept as hex
        (b"\x02\x04\x05\xb4", (("mss", 1460),)),
    ],
)
def test_tcp_options(options, decoded):
    assert tcp_options(options) == decoded


@pytest.mark.parametrize("options", [b"\x02", b"\x02\x05\x05\xb4", b"\x08\x01", b"\x03\x00"])
def test_options_running_past_the_header(options):
    with pytest.raises(SegmentError):
        tcp_options(options)


# --- pcap ----------------------------------------------------------------------------------


def read_pcap(data: bytes) -> tuple[int, list[tuple[int, bytes, int]]]:
    """A pure-Python reader of classic pcap files: link type, [(time in µs, bytes, length)]."""
    magic, major, minor, _, _, _, link = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor) == (0xA1B2C3D4, 2, 4)
    records, offset = [], 24
    while offset < len(data):
        seconds, micros, kept, length = struct.unpack_from("<IIII", data, offset)
        offset += 16
        records.append((seconds * 1_000_000 + micros, data[offset : offset + kept], length))
        offset += kept
    return link, records


def test_pcap_bytes_and_round_trip():
    assert pcap.file_header(LINK_ETHERNET) == bytes.fromhex(
        "d4c3b2a1 0200 0400 00000000 00000000 00000400 01000000"
    )
    record = pcap.record(1_700_000_000_123_456_789, b"abc", 60)
    assert record == struct.pack("<IIII", 1_700_000_000, 123_456, 3, 60) + b"abc"

    class Out(list):
        write = list.append

    out = Out()
    writer = pcap.PcapWriter(out, LINK_LINUX_SLL)
    writer.write(5_000_001_000, SYN_FRAME)
    writer.write(6_000_000_000, SYN_FRAME[:20], len(SYN_FRAME))
    link, records = read_pcap(b"".join(out))
    assert (link, writer.count) == (LINK_LINUX_SLL, 2)
    assert records == [(5_000_001, SYN_FRAME, len(SYN_FRAME)), (6_000_000, SYN_FRAME[:20], 74)]


# --- struct tcp_info -----------------------------------------------------------------------


def tcp_info_bytes(size: int = 232) -> bytes:
    """A struct tcp_info as linux/tcp.h lays it out; the offsets are written out by hand."""
    data = bytearray(size)
    data[0:8] = bytes([8, 0, 0, 0, 0, 7, 0x7A, 0])  # CLOSE_WAIT, options 7, wscales 10/7
    for offset, value in [(16, 65483), (68, 52), (72, 26), (80, 10), (100, 3)]:
        struct.pack_into("=I", data, offset, value)  # snd_mss rtt rttvar snd_cwnd total_retrans
    if size >= 160:
        struct.pack_into("=QQ", data, 120, 110, 232)  # bytes_acked, bytes_received
        struct.pack_into("=II", data, 136, 6, 5)  # segs_out, segs_in
        struct.pack_into("=II", data, 152, 2, 1)  # data_segs_in, data_segs_out
    if size >= 208:
        struct.pack_into("=Q", data, 200, 109)  # bytes_sent
    return bytes(data)


def test_tcp_info_decoded_from_literal_bytes():
    info = tcpinfo.decode(tcp_info_bytes())
    assert info.state == "CLOSE_WAIT"
    assert (info.rtt, info.rttvar, info.snd_cwnd, info.snd_mss) == (52, 26, 10, 65483)
    assert (info.total_retrans, info.segs_out, info.segs_in) == (3, 6, 5)
    assert (info.bytes_acked, info.bytes_received, info.bytes_sent) == (110, 232, 109)
    assert (info.data_segs_out, info.data_segs_in) == (1, 2)
    assert info.options == ("timestamps", "sack", "wscale")
    if sys.byteorder == "little":
        assert (info.snd_wscale, info.rcv_wscale) == (10, 7)


def test_an_older_kernels_shorter_tcp_info():
    """Linux 3.x stopped after total_retrans (104 bytes): the later fields are None."""
    info = tcpinfo.decode(tcp_info_bytes(104))
    assert (info.rtt, info.total_retrans) == (52, 3)
    assert (info.segs_out, info.bytes_acked, info.bytes_sent) == (None, None, None)
    with pytest.raises(ValueError):
        tcpinfo.decode(bytes(7))


def test_tcp_info_of_no_socket_is_none():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        assert tcpinfo.read(udp) is None
    closed = socket.socket()
    closed.close()
    assert tcpinfo.read(closed) is None


# --- /proc/net/tcp -------------------------------------------------------------------------

PROC_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:C350 0100007F:1F40 06 00000000:00000000 03:00001770 00000000     0        0 0 3
   2: 0100007F:1F40 0100007F:C351 01 00000000:00000000 00:00000000 00000000     0        0 2 1
"""
PROC_TCP6 = """\
  sl  local_address                         remote_address                        st ...
   0: 00000000000000000000000001000000:1F40 00000000000000000000000001000000:C352 08 0 0 0 0
   1: 0000000000000000FFFF00000100007F:1F40 0000000000000000FFFF00000100007F:C353 09 0 0 0 0
"""


@pytest.mark.skipif(sys.byteorder != "little", reason="the literal words are little-endian")
def test_proc_net_tcp_lines():
    listen, time_wait, established = proctcp.parse_table(PROC_TCP)
    assert listen == (("127.0.0.1", 8000), ("0.0.0.0", 0), "LISTEN", None)
    assert time_wait == (("127.0.0.1", 50000), ("127.0.0.1", 8000), "TIME_WAIT", 60.0)
    assert established.state == "ESTABLISHED"
    close_wait, last_ack = proctcp.parse_table(PROC_TCP6)
    assert close_wait[:3] == (("::1", 8000), ("::1", 50002), "CLOSE_WAIT")
    assert last_ack[:3] == (("127.0.0.1", 8000), ("127.0.0.1", 50003), "LAST_ACK")
    # What read_tables searches for: the two address fields, as the table writes them.
    key = proctcp._key(("127.0.0.1", 50000), ("127.0.0.1", 8000), socket.AF_INET)
    assert key == " 0100007F:C350 0100007F:1F40 " and key in PROC_TCP
    mapped = proctcp._key(("127.0.0.1", 8000), ("127.0.0.1", 50003), socket.AF_INET6)
    assert mapped in PROC_TCP6
    assert proctcp._key(("::1", 1), ("::1", 2), socket.AF_INET) is None


# --- the kernel's filter, run by a small classic-BPF interpreter ---------------------------


def run_filter(program, frame: bytes, protocol: int) -> int:
    """The few classic BPF instructions port_filter uses, as the kernel runs them."""
    a = x = pc = 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code == 0x06:  # ret k
            return k
        if code == 0x28:  # ldh [k]
            a = protocol if k == 0xFFFFF000 else struct.unpack_from("!H", frame, k)[0]
        elif code == 0x30:  # ldb [k]
            a = frame[k]
        elif code == 0x48:  # ldh [x + k]
            a = struct.unpack_from("!H", frame, x + k)[0]
        elif code == 0xB1:  # ldx 4 * ([k] & 0xf)
            x = (frame[k] & 0x0F) * 4
        elif code in (0x15, 0x45):  # jeq k, jset k
            hit = a == k if code == 0x15 else bool(a & k)
            pc += jt if hit else jf
        else:
            raise AssertionError(f"unexpected code {code:#x}")


@pytest.mark.parametrize(
    ("frame", "protocol", "kept"),
    [
        (SYN_FRAME, 0x0800, True),  # to port 8000
        (ETHERNET_IPV4 + ipv4(tcp_header(ACK)), 0x0800, True),  # from port 8000
        (ETHERNET_IPV4 + ipv4(tcp_header(ACK), fragment=0x0020), 0x0800, False),  # fragment
        (ETHERNET_IPV6 + ipv6(6, tcp_header(ACK)), 0x86DD, True),
        (ETHERNET_IPV6 + ipv6(17, tcp_header(ACK)), 0x86DD, False),  # UDP
        (bytes(12) + b"\x08\x06" + bytes(28), 0x0806, False),  # ARP
    ],
)
def test_port_filter(frame, protocol, kept):
    program = capture.port_filter(8000, 14, 256)
    assert run_filter(program, frame, protocol) == (256 if kept else 0)
    assert run_filter(capture.port_filter(8001, 14, 256), frame, protocol) == 0
    # The same filter for frames that start at the IP header (a cooked capture).
    assert run_filter(capture.port_filter(8000, 0, 99), frame[14:], protocol) == (99 if kept else 0)


# --- no capture without the privilege ------------------------------------------------------


def refuse(code: int):
    def factory(*args):
        raise (PermissionError if code == errno.EPERM else OSError)(code, "refused")

    return factory


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.EPERM, "takes root or CAP_NET_RAW; run the command with sudo"),
        (errno.EAFNOSUPPORT, "sudo modprobe af_packet"),
        (errno.EMFILE, "cannot open an AF_PACKET socket"),
    ],
)
def test_capture_unavailable_says_what_is_missing(monkeypatch, code, words):
    monkeypatch.setattr(capture, "socket_factory", refuse(code))
    with pytest.raises(CaptureUnavailable, match=words) as caught:
        capture.check_capture("--packets")
    assert (caught.value.exit_code, caught.value.layer) == (2, "capture")
    assert "\n" not in str(caught.value)


def test_no_af_packet_outside_linux(monkeypatch):
    monkeypatch.delattr(socket, "AF_PACKET", raising=False)
    with pytest.raises(CaptureUnavailable, match="only Linux has"):
        capture.check_capture("--pcap")


# --- what the view says each segment does ---------------------------------------------------

CLIENT, SERVER = ("10.0.0.1", 50000), ("10.0.0.2", 80)


def seg(from_client: bool, flags: int, seq: int, ack: int = 0, payload: int = 0) -> Segment:
    src, dst = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
    options = (("wscale", 7),) if flags & SYN else ()
    return Segment(*src, *dst, seq % 2**32, ack % 2**32, flags, 512, payload, options)


C_ISN, S_ISN = 2**32 - 10, 5000  # the client's numbers wrap past 2**32 during the transfer
CONVERSATION = [
    (seg(True, SYN, C_ISN), "handshake 1/3"),
    (seg(False, SYN | ACK, S_ISN, C_ISN + 1), "handshake 2/3"),
    (seg(True, ACK, C_ISN + 1, S_ISN + 1), "handshake 3/3"),
    (seg(True, PSH | ACK, C_ISN + 1, S_ISN + 1, 100), "first data segment: request bytes 0-99"),
    (seg(False, PSH | ACK, S_ISN + 1, C_ISN + 101, 300), "response bytes 0-299"),
    (seg(False, PSH | ACK, S_ISN + 1, C_ISN + 101, 300), "retransmission of bytes 0-299"),
    (seg(False, FIN | ACK, S_ISN + 301, C_ISN + 101), "FIN: the server closes first"),
    (seg(True, ACK, C_ISN + 101, S_ISN + 302), "ACK of the server's FIN"),
    (seg(True, FIN | ACK, C_ISN + 101, S_ISN + 302), "FIN: the client closes too"),
    (seg(False, ACK, S_ISN + 302, C_ISN + 102), "the last ACK"),
]


def test_annotations_of_a_whole_connection():
    annotator = Annotator(CLIENT)
    described = [annotator.describe(segment) for segment, _ in CONVERSATION]
    for (columns, notes), (_, expected) in zip(described, CONVERSATION, strict=True):
        assert any(note.startswith(expected) for note in notes), (columns, notes)
    assert annotator.closed and annotator.first_fin == "server"
    # Relative numbers, the 32-bit wrap undone; the window scaled once both SYNs offered it.
    assert described[4][0].split()[2:6] == ["1", "101", "300", str(512 << 7)]
    assert described[9][0].split()[2:4] == ["302", "102"]
    assert described[0][0].split()[-1] == "512"  # a SYN's window is never scaled


def test_close_is_over_and_the_capture_check():
    frames = [Frame(float(i), i, b"", 0, s) for i, (s, _) in enumerate(CONVERSATION)]
    assert close_is_over(frames, CLIENT, SERVER)
    assert not close_is_over(frames[:-1], CLIENT, SERVER)
    reset = [*frames[:5], Frame(5.0, 5, b"", 0, seg(False, RST, S_ISN + 301))]
    assert close_is_over(reset, CLIENT, SERVER)
    # TCP_INFO read before close(), after the server's FIN and our ACK of it (frames 0-7):
    # sent SYN, ACK, ACK without data + 100 bytes; received SYN+ACK and FIN + 600 bytes (the
    # retransmission included) and the FIN's sequence number.
    info = tcpinfo.decode(tcp_info_bytes())._replace(
        segs_out=4,
        data_segs_out=1,
        bytes_sent=100,
        segs_in=5,
        data_segs_in=3,
        bytes_received=301,
    )
    assert "all captured" in capture_check(frames, CLIENT, info, until=7.0, dropped=0)
    missed = capture_check(frames[:3] + frames[4:], CLIENT, info, until=7.0, dropped=1)
    assert "segments were missed; the kernel dropped 1 frame(s)" in missed
