"""The page-load lesson: the textbook's formulas, `serve --latency` (the server-side RTT),
the user-space delay line, and the lesson run across it: in network namespaces as root (as
CI runs), skipped with the kernel's reason where namespaces are refused."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from rawhttp.errors import LessonUnavailable
from rawhttp.lessons import delayline, pageload
from rawhttp.server import Server, sample_site
from rawhttp.url import parse_url

SITE = str(sample_site())
RTT = 0.02


@pytest.mark.parametrize(
    ("strategy", "parallel", "n", "expected"),
    [
        ("non-persistent", 0, 12, 26),
        ("persistent", 0, 12, 14),
        ("pipelined", 0, 12, 3),
        ("non-persistent", 6, 12, 6),
        ("non-persistent", 5, 12, 8),
        ("persistent", 6, 12, 5),
        ("persistent", 4, 12, 6),
    ],
)
def test_textbook_round_trips(strategy, parallel, n, expected):
    assert pageload.predicted(strategy, parallel, n)[0] == expected


def test_sample_page_has_ten_images_and_two_stylesheets():
    names = pageload.sample_objects(SITE)
    assert len([n for n in names if n.endswith(".svg")]) == 10
    assert len([n for n in names if n.endswith(".css")]) == 2
    page = (sample_site() / pageload.SAMPLE_FOLDER / "index.html").read_text()
    assert all(f'"{name}"' in page for name in names)  # the page references each one


# --- serve --latency --------------------------------------------------------------------------


def _ask(sock: socket.socket, count: int = 1) -> float:
    """Send `count` pipelined requests, read their answers; seconds taken."""
    request = b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n"
    started = time.perf_counter()
    sock.sendall(request * count)
    size = (sample_site() / "style.css").stat().st_size
    data = b""
    while data.count(b"HTTP/1.1 200") < count or len(data.rsplit(b"\r\n\r\n", 1)[-1]) < size:
        data += sock.recv(65536)
    return time.perf_counter() - started


@pytest.mark.parametrize("model", ["events", "threads"])
def test_serve_latency_holds_answers_back(model):
    latency = 0.1
    with Server(SITE, latency=latency, model=model, log=lambda line: None) as server:
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            first = _ask(sock)
            second = _ask(sock)
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            _ask(sock)
            pipelined = _ask(sock, 3)
    assert 2 * latency <= first < 2 * latency + 0.15  # the handshake's RTT, then the request's
    assert latency <= second < latency + 0.15
    assert latency <= pipelined < latency + 0.15  # three answers wait together, not in turn


def test_serve_latency_says_it_is_an_approximation():
    process = subprocess.Popen(
        [sys.executable, "-m", "rawhttp", "serve", SITE, "--port", "0", "--latency", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().startswith("Serving")
        assert "an approximation" in process.stderr.readline()
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)


# --- the delay line ---------------------------------------------------------------------------


def test_forwarder_delays_each_packet_and_drops_past_its_queue():
    left_outer, left = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    right_outer, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stopping: list = []
    result: list = []
    worker = threading.Thread(
        target=lambda: result.append(
            delayline.forward(left.fileno(), right.fileno(), 0.05, max_queue=2, stopping=stopping)
        )
    )
    worker.start()
    try:
        sent = time.monotonic()
        for packet in (b"one", b"two", b"three"):
            left_outer.send(packet)
        right_outer.settimeout(2)
        got = [right_outer.recv(100), right_outer.recv(100)]
        waited = time.monotonic() - sent
        left_outer.send(b"back")  # the other way too
        right_outer.send(b"reply")
        left_outer.settimeout(2)
        assert left_outer.recv(100) == b"reply"
    finally:
        stopping.append(True)
        worker.join(5)
        for sock in (left_outer, left, right_outer, right):
            sock.close()
    assert got == [b"one", b"two"] and waited >= 0.05
    forwarded, dropped = result[0]
    assert dropped >= 1 and forwarded >= 3


def _namespaces_or_skip() -> None:
    """Skip, saying why, where the kernel (or the user) cannot make namespaces and TUNs."""
    try:
        with delayline.DelayLine(0.001, tag=f"probe-{os.getpid()}"):
            pass
    except delayline.NamespaceUnavailable as error:
        if os.environ.get("CI") and os.geteuid() == 0:
            pytest.fail(f"CI runs as root, yet: {error}")
        pytest.skip(f"no network namespaces here: {error}")


def _our_namespaces() -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith("rawhttp-")]


@pytest.mark.slow
def test_delay_line_makes_a_real_round_trip_time():
    _namespaces_or_skip()
    before = _our_namespaces()
    with delayline.DelayLine(0.04) as line:
        command = line.server_command(
            ["serve", SITE, "--host", delayline.SERVER_ADDRESS, "--port", "80"]
        )
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            assert server.stdout.readline().startswith(b"Serving")
            with line.client():
                started = time.perf_counter()
                sock = socket.create_connection((delayline.SERVER_ADDRESS, 80), timeout=5)
                handshake = time.perf_counter() - started
                sock.close()
        finally:
            server.terminate()
            server.wait(10)
            server.stdout.close()
    assert 0.04 <= handshake < 0.04 + 0.1  # SYN out, SYN+ACK back: one RTT
    assert line.stats["forwarded"] >= 3 and line.stats["dropped"] == 0
    assert _our_namespaces() == before  # both namespaces gone


# --- the lesson -------------------------------------------------------------------------------


def _lesson(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rawhttp", "lesson", "page-load", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _rows(output: str) -> dict[str, tuple[int, float, float]]:
    """strategy -> (connections, textbook RTTs, measured RTTs) from the lesson's table."""
    rows = {}
    for line in output.splitlines():
        found = re.match(r"(.{30}) +1\+12 +(\d+)  \S+ = (\d+) +([\d.]+) +\d+", line)
        if found:
            rows[found[1].strip()] = (int(found[2]), float(found[3]), float(found[4]))
    return rows


CONNECTIONS = {
    "non-persistent": 13,
    "persistent": 1,
    "pipelined": 1,
    "parallel x6, non-persistent": 13,
    "parallel x6, persistent": 6,
}


def _check_table(output: str) -> None:
    rows = _rows(output)
    assert {name: conns for name, (conns, _, _) in rows.items()} == CONNECTIONS, output
    for name, (_, book, measured) in rows.items():
        assert measured >= 0.85 * book, f"{name}: faster than the round trips allow"


@pytest.mark.slow
def test_lesson_with_serve_latency():
    done = _lesson("--rtt", "20", "--server-latency")
    assert done.returncode == 0, done.stderr
    assert "emulated by serve --latency 20 (an approximation" in done.stdout
    _check_table(done.stdout)
    assert "Why measured and textbook differ:" in done.stdout


@pytest.mark.slow
def test_lesson_in_network_namespaces():
    _namespaces_or_skip()
    before = _our_namespaces()
    done = _lesson("--rtt", "20")
    assert done.returncode == 0, done.stderr
    assert "emulated by network namespaces and a delay line" in done.stdout
    assert "http://198.51.100.2/pageload/index.html" in done.stdout
    _check_table(done.stdout)
    assert _our_namespaces() == before


@pytest.mark.slow
def test_lesson_ctrl_c_tears_everything_down():
    _namespaces_or_skip()
    before = _our_namespaces()
    process = subprocess.Popen(
        [sys.executable, "-m", "rawhttp", "lesson", "page-load", "--rtt", "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().startswith("page-load:")
        assert process.stdout.readline().startswith("page:")
        assert len(_our_namespaces()) == len(before) + 2
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert "rawhttp: interrupted" in err
    assert _our_namespaces() == before
    servers = subprocess.run(["pgrep", "-f", "serve .* --host 198.51.100.2"], capture_output=True)
    assert servers.stdout == b""


def test_lesson_on_a_url_uses_the_finder(site_server, monkeypatch):
    objects = [parse_url(f"{site_server.url}/style.css"), parse_url(f"{site_server.url}/logo.svg")]
    monkeypatch.setattr(pageload, "find_objects", lambda: lambda html, base: objects)
    lines: list[str] = []
    rows = pageload.run_url(parse_url(f"{site_server.url}/index.html"), lines.append)
    assert [row.objects for row in rows] == [2] * len(pageload.STRATEGY_ROWS)
    assert [row.connections for row in rows] == [3, 1, 1, 3, 2]
    assert lines[0].startswith(f"page-load: {site_server.url}/index.html, round-trip time")


def test_lesson_on_a_url_without_the_finder_says_what_it_needs(monkeypatch):
    monkeypatch.setitem(sys.modules, "rawhttp.fetch.requisites", None)  # as before the merge
    with pytest.raises(LessonUnavailable, match="requisites"):
        pageload.find_objects()
