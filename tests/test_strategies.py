"""The connection strategies (fetch/strategies.py, fetch/parallel.py), checked from the server's
side: a recording server notes each connection, the requests on it in arrival order, and how
many answers it had sent when each request arrived (0 for all of them: pipelined), and the
most connections open at once. Then the same against our server and nginx, 200 URLs from three
servers at once, and the CLI (`--connections`, `-Z`, `--parallel-max`)."""

from __future__ import annotations

import hashlib
import socket
import threading
import tracemalloc

import pytest
from click.testing import CliRunner
from test_nginx import nginx  # noqa: F401  (the fixture)

from rawhttp.cli import main
from rawhttp.errors import EmptyReply, InvalidRequest, Timeout
from rawhttp.fetch import conversation
from rawhttp.fetch.strategies import PARALLEL_LIMIT, check_plan, fetch_page, fetch_urls
from rawhttp.server import Server, sample_site
from rawhttp.url import parse_url
from rawhttp.wire import RequestReader

SITE = sample_site()


class Recorder:
    """An HTTP/1.1 server that answers each request with its target as the body and records
    what the client did: per connection, [(target, answers sent before it arrived, its
    Connection header)]; `close_after` answers per connection, then it closes (nginx's
    keepalive_requests); `silent` never answers."""

    def __init__(self, close_after: int = 0, silent: bool = False):
        self.close_after = close_after
        self.silent = silent
        self.connections: list[list[tuple[str, int, str]]] = []
        self.open = self.most_open = 0
        self.lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with self.lock:
                self.connections.append([])
                record = self.connections[-1]
                self.open += 1
                self.most_open = max(self.most_open, self.open)
            thread = threading.Thread(target=self._serve, args=(conn, record), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, record: list) -> None:
        answered, reader, keep = 0, RequestReader(), True
        with conn:
            conn.settimeout(5)
            try:
                while keep:
                    data = conn.recv(65536)
                    if not data:
                        break
                    heads = []
                    while data:  # every complete request in what came, before answering any
                        events = reader.feed(data)
                        if reader.head is not None and reader.done:
                            head = reader.head
                            connection = head.headers.get("Connection") or ""
                            record.append((head.target, answered, connection))
                            heads.append(head)
                            data, reader = reader.rest, RequestReader()
                        else:
                            break
                        del events
                    for head in heads:
                        if self.silent:
                            self.stop.wait(10)
                            return
                        body = head.target.encode()
                        closing = head.headers.get("Connection") == "close" or (
                            self.close_after and answered + 1 >= self.close_after
                        )
                        fields = b"Connection: close\r\n" if closing else b""
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s"
                            % (len(body), fields, body)
                        )
                        answered += 1
                        if closing:
                            keep = False
                            break
            except OSError:
                pass
        with self.lock:
            self.open -= 1

    @property
    def requests(self) -> list[str]:
        return [target for conn in self.connections for target, _, _ in conn]

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(5)
        for thread in self.threads:
            thread.join(5)


@pytest.fixture
def recorder():
    made: list[Recorder] = []

    def start(**options) -> Recorder:
        made.append(Recorder(**options))
        return made[-1]

    yield start
    for server in made:
        server.close()


def urls(base: str, count: int) -> list:
    return [parse_url(f"{base}/o{n}") for n in range(count)]


def bodies(report) -> list[bytes]:
    return [bytes(fetch.sink.body) for fetch in report.fetches]


# --- one connection at a time ---------------------------------------------------------------


def test_non_persistent_one_connection_per_object_with_close(recorder):
    server = recorder()
    report = fetch_urls(urls(server.url, 5), "non-persistent")
    assert [len(conn) for conn in server.connections] == [1] * 5
    assert server.requests == [f"/o{n}" for n in range(5)]
    assert {conn[0][2] for conn in server.connections} == {"close"}
    assert bodies(report) == [f"/o{n}".encode() for n in range(5)]
    assert len(report.lanes) == 5
    assert max(_open_at_once(report.lanes)) == 1  # each closed before the next was opened


def test_persistent_one_connection_one_request_at_a_time(recorder):
    server = recorder()
    report = fetch_urls(urls(server.url, 6), "persistent")
    (conn,) = server.connections
    assert [target for target, _, _ in conn] == [f"/o{n}" for n in range(6)]
    # each request arrived after the answer to the one before had been sent
    assert [before for _, before, _ in conn] == list(range(6))
    assert {header for _, _, header in conn} == {"keep-alive"}
    assert len(report.lanes) == 1 and report.fetches[5].lane == 1


def test_pipelined_every_request_before_the_first_answer(recorder):
    server = recorder()
    report = fetch_urls(urls(server.url, 8), "pipelined")
    (conn,) = server.connections
    assert [target for target, _, _ in conn] == [f"/o{n}" for n in range(8)]
    assert [before for _, before, _ in conn] == [0] * 8
    assert bodies(report) == [f"/o{n}".encode() for n in range(8)]


def test_pipeline_depth_is_max_pipeline(recorder):
    server = recorder()
    count = conversation.MAX_PIPELINE + 5
    report = fetch_urls(urls(server.url, count), "pipelined")
    (conn,) = server.connections
    befores = [before for _, before, _ in conn]
    assert befores == [0] * conversation.MAX_PIPELINE + [conversation.MAX_PIPELINE] * 5
    assert all(fetch.ok for fetch in report.fetches)


def test_pipelined_server_closing_early_the_rest_go_on_new_connections(recorder):
    server = recorder(close_after=3)  # as nginx after keepalive_requests answers
    report = fetch_urls(urls(server.url, 8), "pipelined")
    # each connection was sent what was left; the server answered three on each, then closed
    sent = [[target for target, _, _ in conn] for conn in server.connections]
    assert sent == [[f"/o{n}" for n in range(first, 8)] for first in (0, 3, 6)]
    assert bodies(report) == [f"/o{n}".encode() for n in range(8)]
    assert len(report.lanes) == 3


def test_pipelining_refuses_non_idempotent_methods():
    with pytest.raises(InvalidRequest, match=r"RFC 9112 9\.3\.2"):
        check_plan("pipelined", "POST", 0)
    with pytest.raises(InvalidRequest, match="not idempotent"):
        check_plan("persistent", "POST", 3)
    with pytest.raises(InvalidRequest, match="--parallel-max"):
        check_plan("persistent", "GET", PARALLEL_LIMIT + 1)


def test_a_server_that_never_answers_fails_after_max_tries(raw_server):
    server = raw_server([b""])  # reads the request, closes without a byte
    report = fetch_urls([parse_url(server.url + "/x")], "persistent")
    (fetch,) = report.fetches
    assert isinstance(fetch.error, EmptyReply)
    assert server.accepted == conversation.MAX_TRIES


@pytest.mark.parametrize("parallel_max", [0, 2])
def test_a_silent_server_times_out(recorder, parallel_max):
    from rawhttp.dial import Options

    server = recorder(silent=True)
    options = Options(read_timeout=0.3)
    report = fetch_urls(urls(server.url, 2), "persistent", parallel_max, options=options)
    assert all(isinstance(fetch.error, Timeout) for fetch in report.fetches)


def test_a_page_then_its_objects_on_the_same_connection(recorder):
    server = recorder()
    page = parse_url(server.url + "/page")
    report = fetch_page(page, lambda html, base: urls(server.url, 3), "persistent")
    (conn,) = server.connections
    assert [target for target, _, _ in conn] == ["/page", "/o0", "/o1", "/o2"]
    assert [fetch.index for fetch in report.fetches] == [0, 1, 2, 3]


# --- parallel: one selectors loop ---------------------------------------------------------------


def test_parallel_persistent_n_kept_connections_sharing_the_queue(recorder):
    server = recorder()
    report = fetch_urls(urls(server.url, 30), "persistent", 4)
    assert len(server.connections) == 4
    assert server.most_open <= 4
    assert sorted(server.requests) == sorted(f"/o{n}" for n in range(30))
    for conn in server.connections:  # one request at a time on each
        assert [before for _, before, _ in conn] == list(range(len(conn)))
    assert bodies(report) == [f"/o{n}".encode() for n in range(30)]


def test_parallel_non_persistent_up_to_n_at_once(recorder):
    server = recorder()
    report = fetch_urls(urls(server.url, 12), "non-persistent", 3)
    assert len(server.connections) == 12
    assert max(_open_at_once(report.lanes)) == 3  # (the server sees a close a little later)
    assert all(len(conn) == 1 and conn[0][2] == "close" for conn in server.connections)
    assert all(fetch.ok for fetch in report.fetches)


def test_parallel_pipelined_shares_the_queue_out(recorder):
    server = recorder()
    report = fetch_urls(urls(server.url, 12), "pipelined", 3)
    assert len(server.connections) == 3
    assert sorted(len(conn) for conn in server.connections) == [4, 4, 4]
    assert all(before == 0 for conn in server.connections for _, before, _ in conn)
    assert bodies(report) == [f"/o{n}".encode() for n in range(12)]


def test_parallel_refuses_https():
    with pytest.raises(InvalidRequest, match="http:// URLs only"):
        fetch_urls([parse_url("https://127.0.0.1:1/")], "persistent", 2)


def test_parallel_connection_refused(refused_port):
    report = fetch_urls(urls(f"http://127.0.0.1:{refused_port}", 3), "persistent", 2)
    assert [fetch.error.exit_code for fetch in report.fetches] == [7, 7, 7]


def test_parallel_localhost_tries_each_address(site_server):
    """localhost names ::1 and 127.0.0.1: the loop tries the next address on a refusal."""
    url = parse_url(f"http://localhost:{site_server.port}/index.html")
    report = fetch_urls([url] * 3, "persistent", 2)
    assert all(fetch.ok for fetch in report.fetches)


class HashSink:
    """Keeps a body's digest, not the body: memory stays flat."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data) -> None:
        self.digest.update(data)

    def finish(self) -> None:
        return None

    def abort(self) -> None:
        return None


def test_200_urls_from_three_servers_at_once(tmp_path):
    """-Z over three servers: at most N connections in all, every body right, memory flat."""
    size, count, limit = 64 * 1024, 200, 6
    for n in range(count):
        (tmp_path / f"f{n}.bin").write_bytes(bytes([n % 251]) * size)
    expected = [hashlib.sha256(bytes([n % 251]) * size).hexdigest() for n in range(count)]
    servers = [Server(tmp_path, log=lambda line: None).start() for _ in range(3)]
    try:
        targets = [parse_url(f"{servers[n % 3].url}/f{n}.bin") for n in range(count)]
        tracemalloc.start()
        report = fetch_urls(targets, "persistent", limit, sink_for=lambda i, url: HashSink())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        for server in servers:
            server.close()
    assert [fetch.sink.digest.hexdigest() for fetch in report.fetches] == expected
    assert len(report.lanes) <= 2 * limit  # a lane moves between origins only when idle
    assert max(_open_at_once(report.lanes)) <= limit
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes for {count * size} bytes of bodies"
    assert sum(server.accepted for server in servers) == len(report.lanes)


def _open_at_once(lanes) -> list[int]:
    moments = sorted(
        [(lane.opened_at, 1) for lane in lanes] + [(lane.closed_at, -1) for lane in lanes]
    )
    level, levels = 0, []
    for _, step in moments:
        level += step
        levels.append(level)
    return levels


# --- against real servers ---------------------------------------------------------------------


def _site_urls(base: str) -> list:
    names = ["index.html", "style.css", "pixel.png", "logo.svg"] * 5
    return [parse_url(f"{base}/{name}") for name in names], names


@pytest.mark.parametrize("parallel_max", [0, 3])
def test_pipelining_against_our_server(site_server, parallel_max):
    targets, names = _site_urls(site_server.url)
    report = fetch_urls(targets, "pipelined", parallel_max)
    assert bodies(report) == [(SITE / name).read_bytes() for name in names]
    assert site_server.accepted == max(1, parallel_max)


@pytest.mark.slow
@pytest.mark.parametrize("parallel_max", [0, 3])
def test_pipelining_against_nginx(nginx, parallel_max):  # noqa: F811
    targets, names = _site_urls(nginx)
    report = fetch_urls(targets, "pipelined", parallel_max)
    assert bodies(report) == [(SITE / name).read_bytes() for name in names]
    assert len(report.lanes) == max(1, parallel_max)
    assert all(fetch.head.headers["Server"].startswith("nginx") for fetch in report.fetches)


# --- the CLI ----------------------------------------------------------------------------------


def cli(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--timeout", "5"])


def test_cli_parallel_prints_each_answer_whole(recorder):
    server = recorder()
    result = cli("-Z", "--parallel-max", "2", f"{server.url}/a", f"{server.url}/b")
    assert result.exit_code == 0, result.output
    out = result.stdout_bytes
    for target in (b"/a", b"/b"):
        assert b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + target in out
    assert len(server.connections) == 2


def test_cli_connections_and_globs_to_files(recorder, tmp_path):
    server = recorder()
    result = cli(
        "--connections",
        "pipelined",
        f"{server.url}/p[1-4]",
        "-o",
        str(tmp_path / "out#1"),
        "-v",
    )
    assert result.exit_code == 0, result.output
    assert [(tmp_path / f"out{n}").read_bytes() for n in range(1, 5)] == [
        f"/p{n}".encode() for n in range(1, 5)
    ]
    assert [before for _, before, _ in server.connections[0]] == [0, 0, 0, 0]
    assert "4 URL(s) on 1 connection(s)" in result.stderr


def test_cli_pipelining_a_post_is_refused(recorder):
    server = recorder()
    result = cli("--connections", "pipelined", "-X", "POST", f"{server.url}/a")
    assert result.exit_code == 2
    assert "RFC 9112" in result.stderr
    assert server.connections == []


def test_cli_refuses_what_does_not_combine(recorder):
    server = recorder()
    result = cli("-Z", "-d", "x=1", "--trace", f"{server.url}/a")
    assert result.exit_code == 2
    assert "--trace, a request body cannot be used with" in result.output


def test_cli_parallel_max_range():
    assert cli("-Z", "--parallel-max", "0", "http://127.0.0.1:1/").exit_code == 2
    result = cli("-Z", "--parallel-max", str(PARALLEL_LIMIT + 1), "http://127.0.0.1:1/")
    assert result.exit_code == 2


def test_cli_fail_and_errors_give_curls_exit_codes(refused_port):
    result = cli("-Z", f"http://127.0.0.1:{refused_port}/a")
    assert result.exit_code == 7
    assert "rawhttp: error: tcp: could not connect" in result.stderr


@pytest.mark.parametrize("parallel", [["--connections", "persistent"], ["-Z"]])
def test_cli_ctrl_c_leaves_no_file(recorder, tmp_path, parallel):
    import signal
    import subprocess
    import sys
    import time

    server = recorder(silent=True)
    target = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "rawhttp", "get", *parallel, f"{server.url}/a", "-o", str(target)],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while not server.connections and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 130, err
    assert "rawhttp: interrupted" in err
    assert list(tmp_path.iterdir()) == []
