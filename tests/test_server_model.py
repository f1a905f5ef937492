"""The server's design (issue "The server, redesigned"): handlers answer with data, two
drivers run them, the cap cannot be starved by slow clients, and the defects hostile tests
found stay fixed. The black-box tests run against both drivers; the sans-IO parts are fed
bytes directly, with no socket.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import loadgen
import pytest
from conftest import ask_server

from rawhttp import wire
from rawhttp.server import Server, scenarios
from rawhttp.server.actions import Pause, Reset, Send, SendFile, Stream
from rawhttp.server.exchange import Exchange
from rawhttp.server.listener import EVICT_AFTER, raise_open_files_limit
from rawhttp.server.protocol import MIN_BODY_RATE, ServerConnection
from rawhttp.server.scenarios import ScenarioHandler
from rawhttp.server.static import StaticFiles

TIMEOUT = 5.0
HELLO = b"hello, world\n"


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_bytes(HELLO)
    (root / "index.html").write_bytes(b"<p>home</p>\n")
    return root


def request_of(raw: bytes) -> wire.RequestHead:
    reader = wire.RequestReader()
    reader.feed(raw)
    assert reader.head is not None
    return reader.head


def answer_of(handler, raw: bytes) -> Exchange:
    exchange = Exchange(request_of(raw))
    handler(exchange)
    return exchange


# --- answers are data ---------------------------------------------------------------------


def test_a_handler_returns_actions_and_touches_no_socket(site):
    exchange = answer_of(StaticFiles(site), b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [type(action) for action in exchange.actions] == [Send]
    head, _, body = exchange.actions[0].data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == HELLO
    assert exchange.body_bytes == len(HELLO)


def test_a_large_file_is_a_sendfile_action_owning_its_descriptor(site):
    (site / "big.bin").write_bytes(b"x" * 200_000)
    exchange = answer_of(StaticFiles(site), b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    send, sendfile = exchange.actions
    assert isinstance(send, Send) and isinstance(sendfile, SendFile)
    assert (sendfile.offset, sendfile.count) == (0, 200_000)
    assert os.fstat(sendfile.fd).st_size == 200_000  # still open: the handler's file is closed
    sendfile.close()


def test_drip_and_reset_scenarios_are_pauses_not_sleeps(site):
    started = time.monotonic()
    drip = answer_of(ScenarioHandler("drip", site), b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    reset = answer_of(ScenarioHandler("reset", site), b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert time.monotonic() - started < 0.05  # the handler itself never waited
    pauses = [action for action in drip.actions if isinstance(action, Pause)]
    assert len(pauses) == len(HELLO)
    assert isinstance(reset.actions[-2], Pause) and isinstance(reset.actions[-1], Reset)


def test_the_chunked_scenario_streams_a_large_file(site):
    """It read the whole file into memory per request (4 slow clients on 256 MiB: 1 GiB)."""
    size = 8 * 1024 * 1024
    (site / "big.bin").write_bytes(os.urandom(1024) * (size // 1024))
    exchange = answer_of(
        ScenarioHandler("chunked", site), b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    queued = sum(len(action.data) for action in exchange.actions if isinstance(action, Send))
    assert queued < 1024  # only the head: the body is made while it is sent
    (stream,) = [action for action in exchange.actions if isinstance(action, Stream)]
    largest = max(len(piece) for piece in stream.pieces)
    assert largest <= scenarios.CHUNK_MAX + 64


# --- the sans-IO connection ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connection(site, clock, lines) -> ServerConnection:
    handler = StaticFiles(site)
    return ServerConnection(("127.0.0.1", 9), lambda: handler, lines.append, 15.0, clock)


def test_pipelined_requests_are_answered_one_at_a_time_in_order(site):
    lines, clock = [], Clock()
    conn = connection(site, clock, lines)
    conn.receive(
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert conn.state == "answer" and b" 200 OK" in conn.outbox.popleft().data
    conn.answered()
    assert conn.state == "answer" and b" 404 Not Found" in conn.outbox.popleft().data
    conn.answered()
    assert conn.state == "idle"
    assert [line.split('"')[1] for line in lines] == [
        "GET /hello.txt HTTP/1.1",
        "GET /nothing HTTP/1.1",
    ]


def test_a_trickled_body_misses_its_deadline_and_is_too_slow_for_the_cap(site):
    lines, clock = [], Clock()
    conn = connection(site, clock, lines)
    conn.receive(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
    assert conn.state == "body" and not conn.too_slow(clock.now, EVICT_AFTER)
    for _ in range(20):  # a byte every 2 s
        clock.now += 2
        conn.receive(b"a")
        if clock.now >= conn.deadline():
            break
    assert conn.too_slow(clock.now, EVICT_AFTER)
    assert clock.now >= conn.deadline()
    conn.timed_out()
    page = conn.outbox.popleft().data
    assert page.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"Connection: close" in page
    conn.answered()
    assert re.fullmatch(r'127\.0\.0\.1 - - \[.+\] "POST / HTTP/1\.1" 408 \d+', lines[0])


def test_a_steady_body_is_not_too_slow(site):
    clock = Clock()
    conn = connection(site, clock, [])
    conn.receive(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(10):
        clock.now += 1
        conn.receive(b"a" * MIN_BODY_RATE * 2)
    assert not conn.too_slow(clock.now, EVICT_AFTER) and clock.now < conn.deadline()


def test_an_answer_being_sent_is_never_too_slow(site):
    clock = Clock()
    conn = connection(site, clock, [])
    conn.receive(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    clock.now += 60
    assert conn.state == "answer" and not conn.too_slow(clock.now, EVICT_AFTER)


# --- over sockets, both drivers ------------------------------------------------------------------

both_drivers = pytest.mark.usefixtures("server_model")


@both_drivers
def test_slow_bodies_do_not_lock_out_a_normal_client(site):
    """256 connections trickling a body one byte every 2 s locked everyone out (503)."""
    lines: list[str] = []
    with Server(site, max_connections=30, log=lines.append) as server:
        address = (server.host, server.port)
        slow = loadgen.Slowloris(address, 60, start=loadgen.Slowloris.SLOW_BODY)
        try:
            time.sleep(EVICT_AFTER + 0.3)
            slow.trickle()
            for _ in range(5):
                assert loadgen.fetch(address, "/hello.txt")[0] == 200
        finally:
            slow.close()
    assert any("too slow (body)" in line for line in lines)


@both_drivers
def test_keep_alive_churn_at_the_cap_does_not_lock_out_a_newcomer(site):
    with Server(site, max_connections=20, log=lambda line: None) as server:
        address = (server.host, server.port)
        kept = []
        try:
            for _ in range(20):  # every slot holds an idle kept-alive connection
                sock = loadgen.connect(address)
                sock.sendall(loadgen.get_request("/hello.txt"))
                loadgen.read_response(sock)
                kept.append(sock)
            time.sleep(EVICT_AFTER + 0.2)
            assert [loadgen.fetch(address, "/hello.txt")[0] for _ in range(5)] == [200] * 5
        finally:
            for sock in kept:
                sock.close()


@both_drivers
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # A trailer line without LF grew server memory without bound (400 MiB -> 418 MiB RSS).
        (b"0\r\nX-T: " + b"a" * 100_000, 431),
        # 1-byte chunks with 1,000 bytes of extensions each were all kept.
        ((b"1;" + b"e" * 998 + b"\r\nx\r\n") * 40, 400),
        (b"1;a=\rb\r\nx\r\n0\r\n\r\n", 400),  # bare CR inside a chunk extension
        (b"1;a=\x00\r\nx\r\n0\r\n\r\n", 400),  # NUL inside a chunk extension
    ],
)
def test_chunked_request_bodies_are_bounded(site, request_bytes, status):
    head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with Server(site, log=lambda line: None) as server:
        assert ask_server(server, head + request_bytes)[0].status == status


@both_drivers
@pytest.mark.parametrize("pad", [b"\x0b", b"\x0c", b"\x1f", b"\x85", b"\xa0"])
def test_transfer_encoding_padded_with_non_http_whitespace_is_not_chunked(site, pad):
    data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked" + pad + b"\r\n\r\n"
    with Server(site, log=lambda line: None) as server:
        assert ask_server(server, data + b"0\r\n\r\n")[0].status == 400


@both_drivers
@pytest.mark.parametrize("codings", [b"chunked, chunked", b"gzip, chunked"])
def test_codings_before_chunked_are_not_implemented(site, codings):
    data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + codings + b"\r\n\r\n0\r\n\r\n"
    with Server(site, log=lambda line: None) as server:
        assert ask_server(server, data)[0].status == 501


@both_drivers
def test_an_http09_request_line_is_answered_400_at_once(site):
    lines: list[str] = []
    with Server(site, idle_timeout=30, log=lines.append) as server:
        started = time.monotonic()
        head, _ = ask_server(server, b"GET /hello.txt\r\n")
        assert head.status == 400 and time.monotonic() - started < 3
    assert any('"-" 400' in line for line in lines)


@both_drivers
def test_a_request_that_times_out_gets_408_and_a_log_line(site):
    lines: list[str] = []
    with Server(site, idle_timeout=0.3, log=lines.append) as server:
        head, _ = ask_server(server, b"GET /hello.txt HTTP/1.1\r\nHost:")
        assert head.status == 408
    assert any(re.search(r'"-" 408 \d+$', line) for line in lines)


@both_drivers
@pytest.mark.parametrize(
    ("data", "status_line"),
    [
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
            b"HTTP/1.1 413 Content Too Large",
        ),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n", b"HTTP/1.1 414 URI Too Long"),
        (
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=999-\r\n\r\n",
            b"HTTP/1.1 416 Range Not Satisfiable",
        ),
    ],
)
def test_reason_phrases_are_rfc_9110s(site, data, status_line):
    with (
        Server(site, log=lambda line: None) as server,
        socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock,
    ):
        sock.sendall(data)
        assert sock.recv(65536).startswith(status_line + b"\r\n")


@both_drivers
def test_the_access_log_counts_body_bytes_one_line_per_request(site):
    lines: list[str] = []
    with Server(site, log=lines.append) as server:
        ask_server(server, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        ask_server(server, b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", method="HEAD")
    # Two connections: with a thread each, their lines may come in either order.
    assert len(lines) == 2
    assert any(line.endswith(f'"GET /hello.txt HTTP/1.1" 200 {len(HELLO)}') for line in lines)
    assert any(line.endswith('"HEAD /hello.txt HTTP/1.1" 200 -') for line in lines)


def test_open_files_soft_limit_is_raised_to_the_hard_limit():
    import resource

    assert raise_open_files_limit() == resource.getrlimit(resource.RLIMIT_NOFILE)[1]


# --- the command: --model and --workers --------------------------------------------------------


def start_serve(site, *options: str) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "rawhttp", "serve", str(site), "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    match = re.search(r"on (http://127\.0\.0\.1:(\d+))/ \((.+); Ctrl-C to stop\)", line)
    assert match, line
    return process, match.group(2), match.group(3)


def children_of(pid: int, count: int) -> list[int]:
    """The pids of `pid`'s children once there are `count` (they fork after the first line)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            children = [int(child) for child in file.read().split()]
        if len(children) >= count or time.monotonic() > deadline:
            return children
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids: list[int], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(alive(pid) for pid in pids)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux's /proc")
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_workers_share_the_port_and_stop_together(site, stop):
    process, port, how = start_serve(site, "--workers", "2")
    try:
        assert how == "events model, 2 workers"
        workers = children_of(process.pid, 2)
        assert len(workers) == 2
        for _ in range(10):
            assert loadgen.fetch(("127.0.0.1", int(port)), "/hello.txt")[0] == 200
        process.send_signal(stop)
        assert process.wait(TIMEOUT) == 0
        assert wait_gone(workers)
    finally:
        process.kill()
        process.communicate()


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux's /proc")
def test_no_worker_outlives_a_killed_parent(site):
    process, port, _ = start_serve(site, "--workers", "2")
    try:
        workers = children_of(process.pid, 2)
        process.kill()
        process.wait(TIMEOUT)
        assert wait_gone(workers)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=TIMEOUT).close()
    finally:
        process.kill()
        process.communicate()


def test_threads_model_from_the_command_line(site):
    process, port, how = start_serve(site, "--model", "threads")
    try:
        assert how == "threads model"
        assert loadgen.fetch(("127.0.0.1", int(port)), "/hello.txt")[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    finally:
        process.kill()
        process.communicate()


def test_workers_with_threads_is_a_usage_error(site):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rawhttp",
            "serve",
            str(site),
            "--model",
            "threads",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
    )
    assert result.returncode == 2 and "--workers is for --model events" in result.stderr


def test_the_event_loops_timer_heap_does_not_keep_closed_connections(site):
    """Each closed connection's deadline stayed in the heap (holding its buffers) until it
    passed: 10,000 mutated requests grew the server by 34 MiB in `make stress`."""
    with Server(site, model="events", log=lambda line: None) as server:
        for _ in range(600):
            with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
                sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                sock.recv(65536)
        deadline = time.monotonic() + TIMEOUT
        while server.active and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(server.driver._timers) <= 2 * server.active + 256 + 1


# --- the hot path's shortcuts give what the long way gives ---------------------------------


def test_a_response_head_built_once_is_the_head_built_each_time():
    from rawhttp.server import exchange as answers

    fields = (("Content-Type", "text/plain"), ("Content-Length", "5"))
    built = wire.build_response_head(200, wire.Headers(list(fields)), "OK")
    assert answers.response_head(200, fields, "OK") == built
    assert answers.response_head(200, fields, "OK") == built  # (from the cache)
    for size in range(answers.HEADS_KEPT + 10):  # bounded: emptied when full
        answers.response_head(200, (("Content-Length", str(size)),), "OK")
    assert len(answers._HEADS) <= answers.HEADS_KEPT
    answers._HEADS.clear()
    long = (("X", "a" * answers.HEAD_KEPT_SIZE),)  # (a value a client sent, say): not kept
    assert answers.response_head(200, long, "OK").endswith(
        b"a" * answers.HEAD_KEPT_SIZE + b"\r\n\r\n"
    )
    assert not answers._HEADS
    for _ in range(2):  # a bad field is refused every time, never remembered
        with pytest.raises(wire.InvalidRequest):
            answers.response_head(200, (("X", "a\r\nb"),), "OK")


def test_a_file_answered_again_after_it_changed_has_its_new_validators(site):
    files = StaticFiles(site)
    get = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
    first = b"".join(action.data for action in answer_of(files, get).actions)
    etag = re.search(rb"ETag: (.*)\r\n", first)[1]
    again = get.replace(b"\r\n\r\n", b"\r\nIf-None-Match: " + etag + b"\r\n\r\n")
    assert answer_of(files, again).status == 304
    (site / "hello.txt").write_bytes(b"hello, world!\n")
    later = b"".join(action.data for action in answer_of(files, again).actions)
    assert later.startswith(b"HTTP/1.1 200 OK\r\n") and etag not in later
    assert later.endswith(b"\r\n\r\nhello, world!\n") and b"Content-Length: 14\r\n" in later
