"""`--packets`, `--pcap FILE`, `--tcp-info`: a transfer below the socket, on one timeline.

The socket calls a transfer makes (connect, send, recv, close, from its events) and the TCP
segments they cause (captured by `rawhttp.tcp.capture`) are printed on stderr together, in time
order, when the connection is over: direction, flags, relative sequence and acknowledgement
numbers, payload length, window, the options of each SYN, and what each segment is for (the
three-way handshake, the first data segment, the response, who sends the first FIN, the last
ACK). Then the connection's state in `/proc/net/tcp`: the side that closed first in TIME_WAIT.
Over TLS each data segment is named by the TLS records it carries (from the `TLSRecord`
events' offsets, which are offsets in the TCP byte stream): "TLS ServerHello, ChangeCipherSpec,
application data (encrypted) x4", or "... 1/3 of a record" for a record cut across segments;
the send and recv rows are then the HTTP bytes that went into TLS and came out of it.
Through a proxy's tunnel the connection is to the proxy, and the CONNECT exchange comes first
on it, in plaintext: its segments are named so, and the TLS records (whose events count from
0 after it) are placed after its bytes in each direction.

`--tcp-info` reads the kernel's counters for the socket (`getsockopt(TCP_INFO)`) after connect,
after each send, after the last recv and before close: on the timeline with `--packets`, as
they happen without. `--pcap FILE` writes the captured frames for Wireshark or `tcpdump -r`.

`PortWatch` is the same for the TCP lessons, which have no events: every connection to a port,
printed once its close is over.

A view never fails a transfer: a problem here is one line on stderr, and the transfer goes on.
Only `check_capture` at the start may stop a command (exit 2), before anything is sent.
"""

from __future__ import annotations

import bisect
import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import BinaryIO, NamedTuple, TextIO

from rawhttp import events
from rawhttp.errors import CaptureUnavailable, OutputError
from rawhttp.tcp import capture, proctcp, tcpinfo
from rawhttp.tcp.capture import Capture, Frame
from rawhttp.tcp.pcap import PcapWriter
from rawhttp.tcp.segments import ACK, FIN, RST, SYN, Segment

# A long download's middle is left out: its start and its close are the lesson.
MAX_ROWS = 160
HEAD_ROWS, TAIL_ROWS = 100, 50
# --tcp-info without a capture: how long to wait for the close to settle before reading
# /proc/net/tcp (on loopback it takes microseconds; a server that never closes gets this).
SETTLE = 0.25
LEGEND = [
    "   > client to server, < server to client; seq and ack count from each side's first",
    "   sequence number (its SYN's); len: payload bytes; win: receive window in bytes (scaled)",
]
# A segment's columns; a call's line starts under "flags", notes start under "what".
SEGMENT = "{0} {1:<11} {2:>8} {3:>8} {4:>5} {5:>7}"
NOTES = len(SEGMENT.format("", "", "", "", "", "")) + 2
COLUMNS = f"{'ms':>10}  {SEGMENT.format('', 'flags', 'seq', 'ack', 'len', 'win')}  what"

Address = tuple[str, int]
# What each side's data is called: in an HTTP transfer, and in a lesson's line protocol.
# The CONNECT exchange on a proxy's connection, by direction (True: the client's): plaintext
# placed among the TLS records, before them.
CONNECT_LABELS = {True: "CONNECT to the proxy (plaintext)", False: "the proxy's answer (plaintext)"}
HTTP_WORDS = ("request", "response")
LESSON_WORDS = ("client data", "server data")


class Row(NamedTuple):
    """One line of the timeline; at the same instant, segments (`order` 0) come first."""

    at: float
    order: int
    text: str


# --- what each segment does ----------------------------------------------------------------


class _Side:
    """One direction of a connection, as far as the segments so far tell."""

    def __init__(self) -> None:
        self.isn: int | None = None  # its first sequence number (the SYN's)
        self.wscale: int | None = None  # window scale its SYN offered
        self.end = 0  # relative sequence number after the last byte it sent
        self.data = False  # sent any data yet
        self.fin_end: int | None = None  # relative sequence number after its FIN
        self.fin_acked = False


class Annotator:
    """Walks the segments of one connection in order and says what each does.

    `client` is the end that sent the first SYN. Sequence numbers are made relative to each
    side's first one (unwrapped past 4 GiB); windows are scaled once both SYNs offered it.
    """

    def __init__(
        self,
        client: Address,
        tls: bool = False,
        words: tuple[str, str] = HTTP_WORDS,
        records: TLSRecords | None = None,
    ):
        self.client = client
        self.tls = tls
        self.records = records  # the TLS records of both directions, if known
        self.spans: list[tuple[bool, int, int]] = []  # (client's?, start, end) of new data
        self.words = words  # what each side's data is called
        self.sides = {True: _Side(), False: _Side()}  # True: the client's direction
        self.connected = False
        self.first_fin: str | None = None
        self.reset = False

    @property
    def closed(self) -> bool:
        """Both FINs sent and acknowledged, or a reset: nothing more will come."""
        client, server = self.sides[True], self.sides[False]
        return self.reset or (client.fin_acked and server.fin_acked)

    def describe(self, s: Segment) -> tuple[str, list[str]]:
        """The segment's columns (direction, flags, seq, ack, len, win) and its notes."""
        mine = (s.src, s.sport) == self.client
        me, peer = self.sides[mine], self.sides[not mine]
        if me.isn is None:
            me.isn = s.seq
        if s.has(SYN):
            me.wscale = s.option("wscale")
        seq = _unwrap(s.seq - me.isn, me.end)
        ack = _unwrap(s.ack - peer.isn, peer.end) if s.has(ACK) and peer.isn is not None else None
        notes = self._notes(s, mine, seq, ack)
        me.end = max(me.end, seq + s.length)
        scaled = not s.has(SYN) and me.wscale is not None and peer.wscale is not None
        window = s.window << me.wscale if scaled else s.window
        ack_text = "-" if ack is None else str(ack)
        arrow = ">" if mine else "<"
        columns = SEGMENT.format(arrow, s.flag_names, seq, ack_text, s.payload, window)
        if window == 0 and not s.has(RST):
            notes.append("zero window: the receiver's buffer is full, the sender must wait")
        return columns, notes

    def _notes(self, s: Segment, mine: bool, seq: int, ack: int | None) -> list[str]:
        me, peer = self.sides[mine], self.sides[not mine]
        who, other = ("client", "server") if mine else ("server", "client")
        notes = []
        if s.has(RST):
            self.reset = True
            notes.append(f"RST: the {who} aborts the connection")
        if s.has(SYN):
            again = seq < me.end
            step = "1/3: the client asks to connect" if not s.has(ACK) else "2/3: the server agrees"
            notes.append(f"handshake {step}" + (" (retransmitted)" if again else ""))
        elif mine and not self.connected and ack == 1:
            self.connected = True
            notes.append("handshake 3/3: the client acknowledges; connected")
        if s.payload:
            notes.append(self._data_note(s, mine, seq))
        if s.has(FIN) and me.fin_end is None:
            me.fin_end = seq + s.length
            if self.first_fin is None:
                self.first_fin = who
                notes.append(f"FIN: the {who} closes first")
            else:
                notes.append(f"FIN: the {who} closes too")
        fin_end = peer.fin_end
        if ack is not None and fin_end is not None and not peer.fin_acked and ack >= fin_end:
            peer.fin_acked = True
            if me.fin_acked:
                notes.append("the last ACK: both FINs are acknowledged, the connection is closed")
            else:
                notes.append(f"ACK of the {other}'s FIN")
        return notes

    def _data_note(self, s: Segment, mine: bool, seq: int) -> str:
        me = self.sides[mine]
        start = seq - 1  # offset in the byte stream: the SYN took sequence number 0
        span = f"bytes {start}-{start + s.payload - 1}"
        if seq < me.end:
            return f"retransmission of {span}"
        first = not (me.data or self.sides[not mine].data)
        me.data = True
        self.spans.append((mine, start, start + s.payload))
        role = self.words[0] if mine else self.words[1]
        if self.records is not None:
            role = self.records.describe(mine, start, start + s.payload) or "TLS bytes,"
        elif self.tls:
            role = "TLS ClientHello," if first else "TLS records (encrypted),"
        return f"first data segment: {role} {span}" if first else f"{role} {span}"


class TLSRecords:
    """The TLS records of one connection by where they lie in each direction's TCP byte
    stream, and the data segments that carried them (`spans`, from a first pass of an
    Annotator over the same frames), so a segment can say which records it carries."""

    def __init__(self, records: dict[bool, list[tuple[int, int, str]]], spans) -> None:
        self.records = records  # client's direction? -> [(start, end, label)] in order
        self.spans: dict[bool, list[tuple[int, int]]] = {True: [], False: []}
        for mine, start, end in spans:
            self.spans[mine].append((start, end))

    def describe(self, mine: bool, start: int, end: int) -> str:
        """ "TLS ServerHello, application data (encrypted) x4," for the bytes start..end."""
        from rawhttp.show.tlsrecords import counted

        records = self.records[mine]
        first = bisect.bisect_right([r[1] for r in records], start)
        parts = []
        for low, high, label in records[first:]:
            if low >= end:
                break
            if start <= low and high <= end:
                parts.append(label)
            else:
                parts.append(f"{label} {self._piece(mine, low, high, start)} of a record")
        if not parts:
            return ""
        text = counted(parts)
        return f"{text}," if text in CONNECT_LABELS.values() else f"TLS {text},"

    def _piece(self, mine: bool, low: int, high: int, start: int) -> str:
        """ "2/3": which of the segments that carried the record low..high starts at start."""
        carriers = [s for s, e in self.spans[mine] if s < high and e > low]
        return f"{carriers.index(start) + 1 if start in carriers else '?'}/{len(carriers)}"


def _unwrap(relative: int, near: int) -> int:
    """A 32-bit relative number -> the full count nearest `near` (past 4 GiB they wrap)."""
    relative %= 1 << 32
    return near + ((relative - near + (1 << 31)) % (1 << 32)) - (1 << 31)


def options_text(segment: Segment) -> str:
    """A SYN's options, as tcpdump words them: 'mss 65495, sackOK, TS val 1 ecr 0, wscale 7'."""
    words = []
    for name, value in segment.options:
        if name == "nop":
            continue
        if name == "ts":
            words.append(f"TS val {value[0]} ecr {value[1]}")
        elif value is None:
            words.append(name)
        else:
            words.append(f"{name} {value}")
    return ", ".join(words)


def segment_rows(
    frames: list[Frame],
    client: Address,
    tls: bool = False,
    words: tuple[str, str] = HTTP_WORDS,
    records: dict[bool, list[tuple[int, int, str]]] | None = None,
) -> list[Row]:
    """The timeline rows of one connection's frames (in capture order); `records` are its TLS
    records by direction (True: the client's), with their places in the byte stream."""
    known = None
    if records is not None:
        scout = Annotator(client)  # a first pass: where each data segment lies
        for frame in frames:
            scout.describe(frame.segment)
        known = TLSRecords(records, scout.spans)
    annotator = Annotator(client, tls, words, known)
    rows = []
    for frame in frames:
        columns, notes = annotator.describe(frame.segment)
        rows.append(Row(frame.at, 0, f"{columns}  {'; '.join(notes)}".rstrip()))
        if frame.segment.has(SYN) and frame.segment.options:
            rows.append(Row(frame.at, 0, f"{'':<{NOTES}}options: {options_text(frame.segment)}"))
    return rows


def close_is_over(frames: list[Frame], client: Address, server: Address) -> bool:
    """Whether the frames of this connection hold its whole close (or a reset)."""
    annotator = Annotator(client)
    for frame in frames:
        if _ends(frame.segment) in ((client, server), (server, client)):
            annotator.describe(frame.segment)
    return annotator.closed


def _ends(segment: Segment) -> tuple[Address, Address]:
    return (segment.src, segment.sport), (segment.dst, segment.dport)


def timeline(rows: list[Row], start: float) -> list[str]:
    """Rows in time order, times in ms from `start`; a long middle left out. The sort is
    stable: rows of one instant stay in the order they were made."""
    ordered = sorted(rows, key=lambda row: (row.at, row.order))
    lines = [f"{(row.at - start) * 1000:10.3f}  {row.text}" for row in ordered]
    if len(lines) > MAX_ROWS:
        hidden = len(lines) - HEAD_ROWS - TAIL_ROWS
        gap = f"{'':10}  ... {hidden} lines left out (the middle of the transfer) ..."
        lines = [*lines[:HEAD_ROWS], gap, *lines[-TAIL_ROWS:]]
    return lines


# --- what the kernel says ------------------------------------------------------------------


def info_text(info: tcpinfo.TcpInfo) -> str:
    """One line of TCP_INFO: state, RTT and its variance, congestion window, segments,
    retransmissions, bytes."""
    rtt = f"rtt {info.rtt / 1000:.3f} ms (var {info.rttvar / 1000:.3f})" if info.rtt else "rtt -"
    return (
        f"{info.state}, {rtt}, cwnd {info.snd_cwnd} segments, "
        f"segments {info.segs_out} sent {info.segs_in} received, "
        f"retransmitted {info.total_retrans}, bytes acked {info.bytes_acked} "
        f"received {info.bytes_received}"
    )


def state_lines(client: Address, server: Address, first_fin: str | None) -> list[str]:
    """Both ends' entries in /proc/net/tcp (the server's only if it runs on this machine)."""
    lines = ["after close(), the kernel's table of TCP sockets (/proc/net/tcp) says:"]
    entries = proctcp.lookup_all([(client, server), (server, client)])
    for role, local, remote, entry in (
        ("client", client, server, entries[0]),
        ("server", server, client, entries[1]),
    ):
        ends = f"{_address(local)} -> {_address(remote)}"
        if entry is None:
            if role == "server" and first_fin is None:
                continue  # not on this machine, or nothing is known
            lines.append(f"  {ends}  ({role}) no entry: its side is fully closed")
        elif entry.state == "TIME_WAIT":
            left = f", {entry.seconds_left:.1f} s left" if entry.seconds_left is not None else ""
            why = "it closed first, so its end waits" if first_fin in (role, None) else "waits"
            lines.append(f"  {ends}  ({role}) TIME_WAIT{left}: {why}")
        else:
            lines.append(f"  {ends}  ({role}) {entry.state}")
    return lines


def capture_check(
    frames: list[Frame],
    client: Address,
    info: tcpinfo.TcpInfo,
    until: float,
    dropped: int,
    left_out: capture.LeftOut | None = None,
) -> str:
    """The capture against TCP_INFO read before close(): every segment without data and every
    data byte the kernel counted must be in the frames up to that moment (or in the middle
    that was counted, not kept).

    Data segments cannot be compared one for one: on lo the kernel hands TCP segments of up to
    64 KiB to the interface, which TCP_INFO counts as several MSS-sized segments.
    """
    sent = [f.segment for f in frames if f.at <= until and _ends(f.segment)[0] == client]
    got = [f.segment for f in frames if f.at <= until and _ends(f.segment)[0] != client]
    if None in (info.segs_out, info.data_segs_out, info.bytes_sent):
        return "capture check: this kernel's TCP_INFO has no segment counters to compare with"
    # bytes_received counts sequence numbers: a FIN received takes one, as a byte would.
    fins = sum(1 for s in got if s.has(FIN))
    counted = (
        info.segs_out - info.data_segs_out,
        info.bytes_sent,
        info.segs_in - info.data_segs_in,
        info.bytes_received - fins,
    )
    left = left_out or capture.LeftOut()
    seen = (
        sum(1 for s in sent if not s.payload) + left.empty[True],
        sum(s.payload for s in sent) + left.data[True],
        sum(1 for s in got if not s.payload) + left.empty[False],
        sum(s.payload for s in got) + left.data[False],
    )
    figures = (
        f"{counted[0]} segments without data and {counted[1]} data bytes sent, "
        f"{counted[2]} and {counted[3]} received"
    )
    drops = f"; the kernel dropped {dropped} frame(s) of the capture" if dropped else ""
    if all(s >= c for s, c in zip(seen, counted, strict=True)):
        return f"capture check: TCP_INFO before close() counted {figures}: all captured{drops}"
    return (
        f"capture check: TCP_INFO before close() counted {figures}, but the capture has "
        f"{seen[0]}, {seen[1]}, {seen[2]} and {seen[3]}: segments were missed{drops}"
    )


def _address(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- the view of `rawhttp get` -------------------------------------------------------------


class _Connection:
    """What the view knows of one connection, from its Connecting to its Closed."""

    def __init__(self, remote: Address, start: float):
        self.remote = remote
        self.start = start
        self.local: Address | None = None
        self.sock: socket.socket | None = None
        self.tls = False
        # The TLS records each way (True: the client's), as (start, end, label) in the stream.
        self.records: dict[bool, list[tuple[int, int, str]]] = {True: [], False: []}
        # The bytes of the CONNECT exchange each way (True: the client's), before the tunnel's.
        self.tunnel: dict[bool, int] = {True: 0, False: 0}
        self.capture: Capture | None = None
        self.rows: list[Row] = []
        self.before_close: tuple[tcpinfo.TcpInfo, float] | None = None
        self.received = 0  # the stream offset up to which recv() calls were shown
        self.head_end = 0  # the offset where the last head received ends

    def call(self, at: float, text: str) -> None:
        self.rows.append(Row(at, 1, f"  {text}"))


class TcpView:
    """The listener behind --packets, --pcap and --tcp-info: one for a whole `rawhttp get`,
    since a kept-alive connection outlives the URL it was opened for. `close()` at the end.

    Creating it checks that a capture can be opened (CaptureUnavailable, exit 2) and opens the
    pcap file (OutputError, exit 23): both before any transfer.
    """

    def __init__(
        self,
        packets: bool = False,
        pcap: str | None = None,
        tcp_info: bool = False,
        out: TextIO | None = None,
    ):
        self.out = out or sys.stderr
        self.packets = packets
        self.tcp_info = tcp_info
        self.capturing = packets or pcap is not None
        self.what = "--packets" if packets else "--pcap"
        self.snaplen = capture.FULL_SNAPLEN if pcap else capture.HEADERS_SNAPLEN
        self.conn: _Connection | None = None
        self.broken = False
        self.captures: list[Capture] = []
        # The socket that proved a capture can be opened; the first connection's capture uses it.
        self.spare = capture.check_capture(self.what) if self.capturing else None
        self.pcap_file: BinaryIO | None = None
        self.pcap: PcapWriter | None = None
        self.mixed_links = False  # said once: a connection on another link type
        if pcap is not None:
            try:
                self.pcap_file = open(pcap, "wb")  # noqa: SIM115 (closed by close())
            except OSError as exc:
                raise OutputError(f"cannot write {pcap}: {exc.strerror or exc}") from None

    def __call__(self, event: events.Event) -> None:
        if self.broken:
            return
        handler = getattr(self, "_" + type(event).__name__, None)
        if handler is None and isinstance(event, events.Sent):
            handler = self._Sent  # the request's head and body pieces are Sent too
        if handler is None:
            return
        try:
            handler(event)
        except Exception as exc:  # a view never fails a transfer
            self._give_up(exc)

    def _give_up(self, exc: Exception) -> None:
        self.broken = True
        print(f"rawhttp: packets: stopped showing packets: {exc}", file=self.out)
        if self.conn is not None and self.conn.capture is not None:
            self.conn.capture.stop()

    # The events, in the order a transfer emits them.

    def _RequestStarted(self, e: events.RequestStarted) -> None:
        if self.conn is not None:
            self.conn.call(e.at, f"== {e.method} {e.url} (on the same connection)")

    def _Connecting(self, e: events.Connecting) -> None:
        if self.conn is not None:
            self._finish()
        remote = (e.address, e.port)
        cap = None
        if self.capturing:
            interface = capture.interface_for(e.address)
            spare, self.spare = self.spare, None
            cap = Capture(
                interface,
                e.port,
                snaplen=self.snaplen,
                what=self.what,
                sock=spare,
                per_connection=True,
                on_frame=self._pcap_frame if self.pcap_file is not None else None,
            )
            self.captures.append(cap)
        # The clock starts once the capture is ready: connect() is called right after.
        self.conn = conn = _Connection(remote, time.perf_counter())
        conn.capture = cap
        conn.call(conn.start, f"connect(({e.address!r}, {e.port})): the kernel sends SYN")

    def _ConnectFailed(self, e: events.ConnectFailed) -> None:
        if self.conn is not None and self.conn.local is None:
            self.conn.call(e.at, f"connect() failed: {e.reason}")
            self._finish()

    def _Connected(self, e: events.Connected) -> None:
        if self.conn is None:
            return
        self.conn.local, self.conn.sock = tuple(e.local), e.sock
        if self.conn.capture is not None:  # from now on, this connection's frames only
            self.conn.capture.only(self.conn.local, self.conn.remote)
        elapsed = (e.at - self.conn.start) * 1000
        self.conn.call(e.at, f"connect() returned after {elapsed:.3f} ms: local port {e.local[1]}")
        self._snapshot("after connect()")

    def _TLSEstablished(self, e: events.TLSEstablished) -> None:
        if self.conn is not None:
            self.conn.sock, self.conn.tls = e.sock, True
            self.conn.call(e.at, f"TLS handshake done ({e.version}): what follows is encrypted")

    def _TunnelRequestSent(self, e: events.TunnelRequestSent) -> None:
        if self.conn is not None:
            end = self.conn.tunnel[True] = e.offset + len(e.data)
            self.conn.records[True].append((e.offset, end, CONNECT_LABELS[True]))
            span = f"bytes {e.offset}-{end - 1}"
            self.conn.call(e.at, f"send() -> {len(e.data)} bytes: CONNECT to the proxy ({span})")
            self._snapshot("after send()")

    def _TunnelAnswered(self, e: events.TunnelAnswered) -> None:
        if self.conn is not None:
            end = self.conn.tunnel[False] = len(e.head.raw)  # (what follows is the origin's)
            self.conn.records[False].append((0, end, CONNECT_LABELS[False]))
            self.conn.call(e.at, f"the proxy answered {e.head.status}: the tunnel's bytes follow")

    def _TLSRecord(self, e: events.TLSRecord) -> None:
        if self.conn is not None:
            from rawhttp.show.tlsrecords import record_label

            self.conn.tls = True
            mine = e.direction == "OUT"
            start = e.offset + self.conn.tunnel[mine]  # (after a CONNECT exchange, if any)
            end = start + len(e.seen.record.header) + e.seen.record.length
            self.conn.records[mine].append((start, end, record_label(e.seen)))

    def _Sent(self, e: events.Sent) -> None:
        if self.conn is not None:
            span = f"bytes {e.offset}-{e.offset + len(e.data) - 1}"
            if self.conn.tls:
                text = f"tls write() -> {len(e.data)} bytes of HTTP ({span}), sent encrypted"
            else:
                text = f"send() -> {len(e.data)} bytes (sent {span})"
            self.conn.call(e.at, text)
            self._snapshot("after send()")

    def _Received(self, e: events.Received) -> None:
        if self.conn is not None:
            span = f"bytes {e.offset}-{e.offset + len(e.data) - 1}"
            if self.conn.tls:
                text = f"tls read() -> {len(e.data)} bytes of HTTP ({span}), decrypted"
            else:
                text = f"recv() -> {len(e.data)} bytes (received {span})"
            self.conn.received = e.offset + len(e.data)
            self.conn.call(e.at, text)

    def _HeadReceived(self, e: events.HeadReceived) -> None:
        if self.conn is not None:
            self.conn.head_end = e.end

    def _BodyDone(self, e: events.BodyDone) -> None:
        if self.conn is None:
            return
        # Past the last recv(): bytes the kernel moved from the socket to the file (splice),
        # which no call of the program saw. (A chunked body is never spliced: its wire bytes
        # outnumber the body's, and nothing is said.)
        moved = self.conn.head_end + e.received - self.conn.received
        if moved > 0 and not self.conn.tls:
            self.conn.call(
                e.at,
                f"splice() moved {moved} byte(s) of the body from the socket to the file inside "
                "the kernel: no recv() call saw them (--trace or --compressed make them recv()s)",
            )
            self.conn.received += moved
        if self.conn.sock is not None and e.reason != "server closed":
            self._snapshot("after the last recv()")

    def _Closing(self, e: events.Closing) -> None:
        if self.conn is None:
            return
        if e.by == "server" and self.conn.tls:
            self.conn.call(e.at, "tls read() -> 0 bytes: the server's close_notify")
        elif e.by == "server":
            self.conn.call(e.at, "recv() -> 0 bytes: the server's FIN, the end of its stream")
        info = self._snapshot("before close()", always=self.capturing, at=e.at)
        if info is not None:
            self.conn.before_close = (info, time.perf_counter())
        self.conn.call(e.at, "close(): the kernel sends our FIN")

    def _Closed(self, e: events.Closed) -> None:
        if self.conn is None:
            return
        if e.kept:
            self.conn.call(e.at, "the connection stays open for the next request (keep-alive)")
        else:
            self._finish()

    def _snapshot(
        self, when: str, always: bool = False, at: float | None = None
    ) -> tcpinfo.TcpInfo | None:
        """TCP_INFO now: shown with --tcp-info (on the timeline with --packets, at `at`)."""
        conn = self.conn
        if conn is None or conn.sock is None or not (self.tcp_info or always):
            return None
        info = tcpinfo.read(conn.sock)
        if info is None or not self.tcp_info:
            return info
        at = time.perf_counter() if at is None else at
        if self.packets:
            conn.rows.append(Row(at, 1, f"  tcp_info {when}: {info_text(info)}"))
        else:
            print(f"* tcp_info {when}: {info_text(info)}", file=self.out)
        return info

    # The end of a connection: the grace, the timeline, the table, the pcap.

    def _finish(self) -> None:
        conn, self.conn = self.conn, None
        assert conn is not None
        frames: list[Frame] = []
        if conn.capture is not None:
            frames = self._frames(conn)
        lines: list[str] = []
        if self.packets and conn.capture is not None:
            lines += self._timeline(conn, frames)
        if conn.local is not None and (self.packets or self.tcp_info):
            first_fin = None
            if frames:
                first_fin = _first_fin(frames, conn.local)
            else:
                _settle(conn.local, conn.remote)
            lines += state_lines(conn.local, conn.remote, first_fin)
        if lines:
            self.out.write("\n".join(lines) + "\n")
        if self.pcap_file is not None and conn.capture is not None and conn.local is None:
            self._write_pcap(conn.capture.link, frames)  # a failed connect: its attempt

    def _frames(self, conn: _Connection) -> list[Frame]:
        """This connection's frames, once its close is over (GRACE at most); the capture is
        stopped and closed."""
        cap = conn.capture
        assert cap is not None
        client, server = conn.local, conn.remote
        if client is not None:
            cap.wait_until(lambda frames: close_is_over(frames, client, server))
        cap.stop()
        if client is None:  # a failed connect: the attempt's frames, whatever our port was
            client = _attempt_client(cap.frames, server, conn.start)
            conn.local = None
        return [f for f in cap.frames if client is not None and _belongs(f, client, server)]

    def _timeline(self, conn: _Connection, frames: list[Frame]) -> list[str]:
        cap = conn.capture
        assert cap is not None
        client = conn.local or (_attempt_client(frames, conn.remote, conn.start) or ("?", 0))
        title = (
            f"-- TCP segments of {_address(client)} (client) <-> {_address(conn.remote)} "
            f"(server), captured on {cap.interface}: {len(frames)} segment(s) --"
        )
        records = conn.records if conn.tls else None
        rows = [*segment_rows(frames, client, conn.tls, records=records), *conn.rows]
        lines = [title, *LEGEND, COLUMNS, *timeline(rows, conn.start)]
        left = cap.left_out
        if left.count:
            lines.append(
                f"{left.count} segment(s) of the middle were counted, not kept (a connection "
                f"keeps its first {capture.KEEP_FIRST} and last {capture.KEEP_LAST}): "
                f"{left.data[True]} data bytes sent, {left.data[False]} received"
            )
        if conn.before_close is not None and conn.local is not None:
            info, until = conn.before_close
            lines.append(capture_check(frames, conn.local, info, until, cap.dropped, left))
        elif cap.dropped:
            lines.append(f"the kernel dropped {cap.dropped} frame(s) of the capture")
        return lines

    def _pcap_frame(self, frame: Frame) -> None:
        """--pcap: each frame of the connection written as it comes (in the capture's thread,
        which is the connection's last: the one before was stopped), none held for the file."""
        self._write_pcap(self.captures[-1].link, [frame])

    def _write_pcap(self, link: int, frames: list[Frame]) -> None:
        if self.pcap is None:
            assert self.pcap_file is not None
            self.pcap = PcapWriter(self.pcap_file, link)
        if link != self.pcap.link:
            if not self.mixed_links:
                self.mixed_links = True
                print(
                    "rawhttp: packets: a connection on another link type is not in the pcap",
                    file=self.out,
                )
            return
        for frame in frames:
            self.pcap.write(frame.wall_ns, frame.data, frame.length)

    def close(self) -> None:
        """The end of the command: finish a connection still open, close the pcap file."""
        if self.conn is not None and not self.broken:
            with contextlib.suppress(Exception):
                self._finish()
        for cap in self.captures:
            cap.join()
        if self.spare is not None:
            self.spare.close()
        if self.pcap_file is not None:
            if self.pcap is None:  # no connection was made: still a valid, empty pcap file
                self.pcap = PcapWriter(self.pcap_file, capture.LINK_ETHERNET)
            self.pcap_file.close()

    def __enter__(self) -> TcpView:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _belongs(frame: Frame, client: Address, server: Address) -> bool:
    return _ends(frame.segment) in ((client, server), (server, client))


def _attempt_client(frames: list[Frame], server: Address, since: float) -> Address | None:
    """The end that sent a SYN to `server` first after `since` (a connect that failed)."""
    for frame in frames:
        source, destination = _ends(frame.segment)
        syn = frame.segment.has(SYN) and not frame.segment.has(ACK)
        if syn and destination == tuple(server) and frame.at >= since:
            return source
    return None


def _first_fin(frames: list[Frame], client: Address) -> str | None:
    for frame in frames:
        if frame.segment.has(FIN):
            return "client" if _ends(frame.segment)[0] == client else "server"
    return None


def _settle(client: Address, server: Address) -> None:
    """Without a capture: wait (SETTLE s at most) until neither end is still closing."""
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        entries = proctcp.lookup_all([(client, server), (server, client)])
        if not any(e is not None and e.state in proctcp.CLOSING_STATES for e in entries):
            return
        time.sleep(0.01)


# --- the lessons ----------------------------------------------------------------------------


def _write_stderr(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


class PortWatch:
    """`rawhttp lesson tcp-server|tcp-client --packets`: each connection to `port` the capture
    sees, from its SYN, printed with `write` (one call per connection, so threads' log lines
    never cut into it) once its close is over; connections still open at the end, after a
    grace, as they are."""

    def __init__(
        self,
        host: str,
        port: int,
        write: Callable[[str], None] = _write_stderr,
        sock: socket.socket | None = None,
    ):
        self.host = host
        self.port = port
        self.write = write
        self.sock = sock  # from check_capture(), if the caller has one
        self.open: dict[tuple[Address, Address], list[Frame]] = {}
        self.lock = threading.Lock()
        self.capture: Capture | None = None

    def __enter__(self) -> PortWatch:
        interface = _interface_for_host(self.host)
        self.capture = Capture(
            interface, self.port, keep=False, on_frame=self._frame, sock=self.sock
        )
        return self

    def _frame(self, frame: Frame) -> None:
        """Called in the capture thread for each frame."""
        segment = frame.segment
        source, destination = _ends(segment)
        ends = (source, destination) if segment.dport == self.port else (destination, source)
        with self.lock:
            frames = self.open.get(ends)
            if frames is None:
                if not (segment.has(SYN) and not segment.has(ACK) and segment.dport == self.port):
                    return  # a connection older than the capture
                frames = self.open[ends] = []
            frames.append(frame)
            if not close_is_over(frames, *ends):
                return
            del self.open[ends]
        self.write(self.render(frames, ends[0], ends[1]))

    def render(self, frames: list[Frame], client: Address, server: Address, note: str = "") -> str:
        title = (
            f"-- TCP segments of {_address(client)} (client) <-> {_address(server)} (server): "
            f"{len(frames)} segment(s){note} --"
        )
        rows = segment_rows(frames, client, words=LESSON_WORDS)
        lines = [title, *LEGEND, COLUMNS, *timeline(rows, frames[0].at)]
        return "\n".join(lines) + "\n"

    def __exit__(self, *exc_info) -> None:
        deadline = time.monotonic() + capture.GRACE
        while self.open and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.capture is not None
        self.capture.join()
        with self.lock:
            left, self.open = self.open, {}
        for (client, server), frames in left.items():
            self.write(self.render(frames, client, server, ", still open when the capture ended"))


def _interface_for_host(host: str) -> str:
    """The one interface all of `host`'s addresses go by, else every interface."""
    if host in ("", "0.0.0.0", "::"):
        return capture.ANY
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return capture.ANY
    interfaces = {capture.interface_for(info[4][0]) for info in infos}
    return interfaces.pop() if len(interfaces) == 1 else capture.ANY


def check_capture() -> socket.socket:
    """For the lessons' --packets: CaptureUnavailable (exit 2) now, before anything runs; the
    socket it opened is for PortWatch (`sock=`)."""
    return capture.check_capture("--packets")


__all__ = ["CaptureUnavailable", "PortWatch", "TcpView", "check_capture"]
