"""Below the socket, for real, on loopback: captured segments of our own server's transfers,
the pcap that tcpdump reads, TCP_INFO of a live connection, TIME_WAIT after a close, the
lessons' --packets and --no-reuseaddr, and the error when the capture cannot be opened.

Captures need root (or CAP_NET_RAW): without it they are skipped, except in CI (CI=true),
where they must run and fail instead. Every server binds 127.0.0.1 port 0.

Robust on a busy machine: no test sleeps and hopes. The waits for a capture to drain (the
close's last ACK captured) and for a close to settle are conditions with generous bounds
(`patient` below), which return as soon as they hold; what is compared is what is certain
(segments present, byte counts), never how long something took.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner
from test_tcp_segments import read_pcap

import rawhttp
from rawhttp import events
from rawhttp.cli import main
from rawhttp.client import Session
from rawhttp.errors import ListenError
from rawhttp.lessons import tcp
from rawhttp.server import running
from rawhttp.show import packets
from rawhttp.show.packets import PortWatch, TcpView, close_is_over
from rawhttp.tcp import capture, proctcp, tcpinfo
from rawhttp.tcp.pcap import PcapWriter
from rawhttp.tcp.segments import ACK, FIN, SYN, decode_frame

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MIB = 1024 * 1024


def can_capture() -> bool:
    try:
        capture.check_capture().close()
    except Exception:
        return False
    return True


@pytest.fixture(autouse=True)
def patient(monkeypatch):
    """The waits for the close to be captured (GRACE) and to settle in the kernel's table
    (SETTLE) end when it happened: on a loaded machine they may take seconds, so they may."""
    monkeypatch.setattr(capture, "GRACE", 20.0)
    monkeypatch.setattr(packets, "SETTLE", 10.0)


def wait_for_close(cap: capture.Capture) -> None:
    """Until the capture holds the close of the connection whose SYN it saw first."""

    def closed(frames) -> bool:
        syn = next((f.segment for f in frames if f.segment.has(SYN)), None)
        if syn is None:
            return False
        return close_is_over(frames, (syn.src, syn.sport), (syn.dst, syn.dport))

    assert cap.wait_until(closed, timeout=20)


@pytest.fixture
def privileged():
    """Captures need root or CAP_NET_RAW: skipped without, except in CI (there: a failure)."""
    if not can_capture():
        if IN_CI:
            pytest.fail("CI runs the capture tests as root, and this process cannot capture")
        pytest.skip("capturing needs root or CAP_NET_RAW")


def tool(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    if path is None:
        if IN_CI:
            pytest.fail(f"CI installs {name} (.ci/run)")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello\n")
    (root / "big.bin").write_bytes(os.urandom(MIB))
    with running(root, log=lambda line: None) as base_url:
        yield base_url


def segments_of(pcap_bytes: bytes):
    link, records = read_pcap(pcap_bytes)
    return [decode_frame(data, link, length) for _, data, length in records]


class Counts:
    """The bytes each send and recv call moved, from the events."""

    def __init__(self, view: TcpView):
        self.view = view
        self.sent = self.received = 0

    def __call__(self, event) -> None:
        self.view(event)
        if isinstance(event, events.Connected):
            self.connected = event
        elif isinstance(event, events.Sent):
            self.sent += len(event.data)
        elif isinstance(event, events.Received):
            self.received += len(event.data)


def test_handshake_data_and_close_in_the_pcap(privileged, site, tmp_path):
    path = tmp_path / "hello.pcap"
    out = io.StringIO()
    with TcpView(packets=True, pcap=str(path), out=out) as view:
        counts = Counts(view)
        response = rawhttp.get(site + "/hello.txt", on_event=counts, timeout=5)
    assert response.body == b"hello\n"
    segments = segments_of(path.read_bytes())
    port = int(site.rsplit(":", 1)[1])
    client = next((s.src, s.sport) for s in segments if s.dport == port)
    mine = [s for s in segments if (s.src, s.sport) == client]
    theirs = [s for s in segments if (s.src, s.sport) != client]
    # The three-way handshake, in order, each SYN with its options.
    syn, syn_ack, ack = segments[:3]
    assert (syn.flags, syn_ack.flags, ack.flags) == (SYN, SYN | ACK, ACK)
    assert (syn.sport, syn_ack.dport, ack.sport) == (client[1], client[1], client[1])
    assert syn_ack.ack == syn.seq + 1 and ack.ack == syn_ack.seq + 1
    for handshake in (syn, syn_ack):
        names = {name for name, _ in handshake.options}
        assert {"mss", "wscale", "sackOK", "ts"} <= names
    # A FIN from each side, and the payloads add up to what send() and recv() moved.
    assert any(s.has(FIN) for s in mine) and any(s.has(FIN) for s in theirs)
    assert sum(s.payload for s in mine) == counts.sent
    assert sum(s.payload for s in theirs) == counts.received
    # The timeline says the same.
    text = out.getvalue()
    for words in ("handshake 1/3", "handshake 2/3", "handshake 3/3", "first data segment"):
        assert words in text
    assert re.search(r"FIN: the (client|server) closes first", text)
    assert "the last ACK" in text
    assert "options: mss " in text
    assert "all captured" in text


def test_ipv6_on_loopback(privileged, raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"], host="::1")
    out = io.StringIO()
    with TcpView(packets=True, out=out) as view:
        assert rawhttp.get(server.url, on_event=view, timeout=5).body == b"hi"
    text = out.getvalue()
    assert "-- TCP segments of [::1]:" in text and "captured on lo" in text
    assert "handshake 3/3" in text and "the last ACK" in text and "all captured" in text


def test_tcpdump_reads_the_pcap_with_the_same_segment_count(privileged, site, tmp_path):
    path = tmp_path / "big.pcap"
    result = CliRunner().invoke(
        main, ["get", site + "/big.bin", "-o", str(tmp_path / "big.bin"), "--pcap", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "big.bin").stat().st_size == MIB
    link, records = read_pcap(path.read_bytes())
    assert link == 1 and len(records) > 10  # LINKTYPE_ETHERNET on lo; 1 MiB in many segments
    assert all(len(data) == length for _, data, length in records)  # --pcap keeps whole frames
    listed = subprocess.run(
        [tool("tcpdump"), "-nn", "-r", str(path)], capture_output=True, text=True, timeout=30
    )
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == len(records)
    assert "Flags [S]" in listed.stdout.splitlines()[0]


def test_sll_pcap_is_read_by_tcpdump_too(privileged, site, tmp_path):
    """A capture on every interface is written as Linux cooked frames (LINKTYPE_LINUX_SLL)."""
    port = int(site.rsplit(":", 1)[1])
    with capture.Capture(capture.ANY, port, snaplen=capture.FULL_SNAPLEN) as cap:
        rawhttp.get(site + "/hello.txt", timeout=5)
        wait_for_close(cap)
    frames = cap.frames
    assert cap.link == 113 and len(frames) >= 8
    path = tmp_path / "any.pcap"
    with path.open("wb") as out:
        writer = PcapWriter(out, cap.link)
        for frame in frames:
            writer.write(frame.wall_ns, frame.data, frame.length)
    assert [s.flags for s in segments_of(path.read_bytes())][:3] == [SYN, SYN | ACK, ACK]
    listed = subprocess.run(
        [tool("tcpdump"), "-nn", "-r", str(path)], capture_output=True, text=True, timeout=30
    )
    assert len(listed.stdout.splitlines()) == len(frames), listed.stderr


def test_a_1_mib_transfer_loses_no_segment(privileged, site, tmp_path):
    """Every segment without data and every data byte TCP_INFO counted is in the capture."""
    result = CliRunner().invoke(
        main, ["get", site + "/big.bin", "-o", str(tmp_path / "big.bin"), "--packets"]
    )
    assert result.exit_code == 0, result.output
    check = re.search(r"^capture check: .*$", result.stderr, re.M)
    assert check and "all captured" in check.group(), result.stderr
    assert "dropped" not in check.group()
    # The body went by splice, so there are no recv() calls but its one for the head.
    assert "handshake 3/3" in result.stderr and "the last ACK" in result.stderr


def test_packets_on_the_command_line(privileged, site):
    result = CliRunner().invoke(main, ["get", site + "/hello.txt", "--packets", "--tcp-info"])
    assert result.exit_code == 0, result.output
    text = result.stderr
    assert "-- TCP segments of 127.0.0.1:" in text and "captured on lo" in text
    calls = ["connect((", "connect() returned", "send() -> ", "recv() -> ", "close()"]
    assert all(call in text for call in calls)
    assert "tcp_info after connect(): ESTABLISHED" in text
    assert "tcp_info before close():" in text
    assert "after close(), the kernel's table of TCP sockets" in text
    assert "TIME_WAIT" in text
    # In time order: the SYN before connect() returns, the request before send() returns.
    lines = text.splitlines()
    words = ("handshake 1/3", "connect() returned", "first data segment", "send() -> ")
    first = {word: next(i for i, line in enumerate(lines) if word in line) for word in words}
    assert first["handshake 1/3"] < first["connect() returned"]
    assert first["first data segment"] < first["send() -> "]


def test_tcp_info_of_a_real_connection():
    """No privilege needed: the kernel's counters for our own socket."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname(), timeout=5)
        accepted, _ = server.accept()
        with client, accepted:
            accepted.settimeout(5)
            after_connect = tcpinfo.read(client)
            client.sendall(b"x" * 1000)
            got = 0
            while got < 1000:
                got += len(accepted.recv(4096))
            accepted.sendall(b"y" * 500)
            assert len(client.recv(4096)) <= 500
            time.sleep(0.05)
            info = tcpinfo.read(client)
    assert after_connect.state == "ESTABLISHED" and after_connect.segs_out == 2  # SYN, ACK
    assert info.state == "ESTABLISHED"
    assert info.rtt > 0 and info.rttvar > 0 and info.snd_cwnd >= 10
    assert info.bytes_sent == 1000 and info.bytes_acked == 1001  # the SYN counts one
    assert 0 < info.bytes_received <= 500
    assert info.total_retrans == 0 and info.segs_in >= 3
    assert {"timestamps", "sack"} <= set(info.options)


def test_tcp_info_view_without_a_capture(site):
    result = CliRunner().invoke(main, ["get", site + "/hello.txt", "--tcp-info"])
    assert result.exit_code == 0, result.output
    moments = re.findall(r"^\* tcp_info (.+?): (\w+),", result.stderr, re.M)
    assert [when for when, _ in moments] == [
        "after connect()",
        "after send()",
        "after the last recv()",
        "before close()",
    ]
    assert moments[0][1] == "ESTABLISHED"
    assert "segments" in result.stderr and "retransmitted 0" in result.stderr


def test_time_wait_after_a_client_close(site):
    """The client closes first (a kept-alive connection, closed by us): its end waits."""
    out = io.StringIO()
    with TcpView(tcp_info=True, out=out) as view:
        counts = Counts(view)
        session = Session(on_event=counts)
        with session, session.stream(site + "/hello.txt", keep_alive=True) as response:
            assert response.read() == b"hello\n"
    ends = (counts.connected.local, counts.connected.remote)
    assert re.search(r"\(client\) TIME_WAIT, [\d.]+ s left: it closed first", out.getvalue())
    # Both ways of reading the kernel's table agree.
    by_netlink = proctcp.ask_kernel(*ends)
    (by_file,) = proctcp.read_tables([ends])
    assert by_netlink.state == by_file.state == "TIME_WAIT"
    assert 0 < by_file.seconds_left <= 60


def test_explain_says_who_closed_first_and_why_reuseaddr(site):
    result = CliRunner().invoke(
        main, ["get", site + "/hello.txt", "--explain", "-H", "Connection: keep-alive"]
    )
    assert result.exit_code == 0, result.output
    text = result.stderr
    assert re.search(r"the handshake took [\d.]+ ms", text)
    assert "TCP_INFO: the kernel's first round-trip estimate is" in text
    assert "before close(), TCP_INFO says the state is ESTABLISHED" in text
    assert "nothing was retransmitted" in text
    assert "TIME_WAIT" in text and "the client closed first" in text
    assert "SO_REUSEADDR" in text


# --- no capture, no transfer ---------------------------------------------------------------


def test_capture_refused_means_no_transfer(monkeypatch, raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])

    def refuse(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(capture, "socket_factory", refuse)
    for flag in (["--packets"], ["--pcap", os.devnull]):
        result = CliRunner().invoke(main, ["get", server.url, *flag, "--timeout", "2"])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("rawhttp: error: capture: ")
        assert "CAP_NET_RAW" in lines[0] and "sudo" in lines[0]
        # never the capability on the interpreter every script runs: a copy kept for this
        assert os.path.realpath(sys.executable) not in lines[0]
        assert "venv --copies" in lines[0] and "never the system's python3" in lines[0]
        assert result.stdout == ""
    assert server.accepted == 0  # not even connected


def test_without_cap_net_raw_for_real(raw_server):
    """A process without CAP_NET_RAW (dropped with setpriv when we are root)."""
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    command = [sys.executable, "-m", "rawhttp", "get", server.url, "--packets"]
    if os.geteuid() == 0:
        drop = ["--inh-caps=-net_raw", "--ambient-caps=-net_raw", "--bounding-set=-net_raw"]
        command = [tool("setpriv"), *drop, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("rawhttp: error: capture: --packets cannot open an AF_PACKET")
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
    assert server.accepted == 0


# --- the lessons ---------------------------------------------------------------------------


def test_lesson_client_packets(privileged):
    with tcp.running_server("upper", log=lambda line: None) as (host, port):
        result = CliRunner().invoke(
            main, ["lesson", "tcp-client", host, "--port", str(port), "--send", "hi", "--packets"]
        )
    assert result.exit_code == 0, result.output
    assert result.stdout == "HI\n"
    text = result.stderr
    assert f"<-> 127.0.0.1:{port} (server)" in text
    assert "handshake 1/3" in text and "handshake 3/3" in text
    assert "first data segment: server data bytes 0-" in text  # the welcome line comes first
    assert "FIN: the client closes first" in text and "the last ACK" in text


def test_lesson_server_packets_for_each_connection(privileged):
    blocks: list[str] = []
    with tcp.running_server("echo", log=lambda line: None) as (host, port):
        watch = PortWatch(host, port, write=blocks.append)
        with watch:
            for message in ("one", "exit"):
                with tcp.LineClient(host, port, timeout=5) as client:
                    client.ask(message)
                    if message == "exit":
                        assert client.reader.readline() is None  # the server's FIN came
            deadline = time.monotonic() + 5
            while len(blocks) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
    assert len(blocks) == 2
    # 'one': the client closes after its answer; 'exit': the server says Bye and closes. The
    # blocks come as each close is over: on a busy machine the second connection may end first.
    firsts = sorted(re.search(r"FIN: the (\w+) closes first", block)[1] for block in blocks)
    assert firsts == ["client", "server"]
    assert all("the last ACK" in block for block in blocks)


def test_restart_without_reuseaddr_while_in_time_wait():
    """The server closed first (the client said exit): its port has a TIME_WAIT connection."""
    server = tcp.TCPServer("127.0.0.1", 0, log=lambda line: None)
    port = server.address[1]
    background = tcp.in_background(server, "tcp accept loop")
    with background, tcp.LineClient("127.0.0.1", port, timeout=5) as client:
        assert client.ask("exit") == tcp.GOODBYE
        local = client.sock.getsockname()[:2]
        deadline = time.monotonic() + 5
        while client.reader.readline() is not None and time.monotonic() < deadline:
            pass  # the server's FIN
    deadline = time.monotonic() + 5
    entry = None
    while time.monotonic() < deadline:
        entry = proctcp.lookup(("127.0.0.1", port), local)
        if entry is not None and entry.state == "TIME_WAIT":
            break
        time.sleep(0.01)
    assert entry is not None and entry.state == "TIME_WAIT"
    with pytest.raises(ListenError, match="Address already in use"):
        tcp.TCPServer("127.0.0.1", port, reuse_address=False, log=lambda line: None)
    again = tcp.TCPServer("127.0.0.1", port, log=lambda line: None)  # SO_REUSEADDR: fine
    again.close()


# --- what the capture keeps -----------------------------------------------------------------


def test_packets_with_o_says_what_splice_moved(privileged, site, tmp_path):
    """The body went from the socket to the file by splice: no recv() saw it, the timeline
    says how many bytes moved so."""
    result = CliRunner().invoke(
        main, ["get", site + "/big.bin", "-o", str(tmp_path / "big.bin"), "--packets"]
    )
    assert result.exit_code == 0, result.output
    moved = re.search(r"splice\(\) moved (\d+) byte\(s\) of the body", result.stderr)
    received = [int(n) for n in re.findall(r"recv\(\) -> (\d+) bytes", result.stderr)]
    head = len(b"HTTP/1.1 200 OK\r\n")  # at least: the head came by recv()
    assert moved, result.stderr
    assert int(moved.group(1)) + sum(received) > MIB + head
    assert (tmp_path / "big.bin").stat().st_size == MIB


def test_pcap_keeps_only_this_connection_and_writes_as_it_goes(privileged, site, tmp_path):
    """Other clients of the same server port are neither kept nor written (this connection's
    four-tuple only), and frames reach the file during the transfer, not held until its end."""
    path = tmp_path / "mine.pcap"
    stop = threading.Event()
    written_during: list[int] = []

    def others() -> None:
        while not stop.is_set():
            rawhttp.get(site + "/big.bin", timeout=5)

    neighbour = threading.Thread(target=others, daemon=True)
    neighbour.start()
    try:
        with TcpView(pcap=str(path), out=io.StringIO()) as view:

            def listen(event) -> None:
                if isinstance(event, events.Closed):  # before the view's end of connection
                    written_during.append(_grown(path, MIB // 2))
                view(event)

            assert len(rawhttp.get(site + "/big.bin", on_event=listen, timeout=10).body) == MIB
            kept = view.captures[0].frames
    finally:
        stop.set()
        neighbour.join(30)
    port = int(site.rsplit(":", 1)[1])
    assert len({f.segment.sport if f.segment.dport == port else f.segment.dport for f in kept}) == 1
    segments = segments_of(path.read_bytes())
    clients = {s.sport if s.dport == port else s.dport for s in segments}
    assert len(clients) == 1, clients
    assert [s.flags for s in segments][:3] == [SYN, SYN | ACK, ACK]
    assert sum(s.payload for s in segments if s.sport == port) > MIB
    assert written_during == [True]  # most of it was in the file before the close


def _grown(path, size: int) -> bool:
    """Whether the file grows past `size` bytes (the capture's thread may lag: 20 s)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.stat().st_size > size:
            return True
        time.sleep(0.01)
    return False


def _trickle(count: int) -> tuple[socket.socket, threading.Thread]:
    """A server answering with a body of `count` bytes, one send() each, a pause between, so
    that each is a segment of its own (the kernel coalesces small sends queued together)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(20)

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(20)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % count)
                for _ in range(count):
                    conn.sendall(b"x")
                    time.sleep(0.002)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_packets_memory_is_bounded_with_a_summary(privileged, monkeypatch):
    """Beyond a window (the first KEEP_FIRST and last KEEP_LAST frames) segments are counted,
    not kept; the capture check still adds up every byte."""
    monkeypatch.setattr(capture, "KEEP_FIRST", 10)
    monkeypatch.setattr(capture, "KEEP_LAST", 5)
    listener, thread = _trickle(200)
    out = io.StringIO()
    try:
        with TcpView(packets=True, out=out) as view:
            url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
            assert rawhttp.get(url, on_event=view, timeout=10).body == b"x" * 200
            kept = view.captures[0].frames
            left = view.captures[0].left_out
    finally:
        thread.join(20)
        listener.close()
    assert len(kept) == 15
    assert left.count > 0 and left.data[False] > 0
    text = out.getvalue()
    assert "were counted, not kept (a connection keeps its first 10 and last 5)" in text
    assert "all captured" in text
    assert "handshake 1/3" in text and "the last ACK" in text  # the first and the last kept
