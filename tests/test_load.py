"""A short load on rawhttp's server, for `make test` (about ten seconds on two cores): many
keep-alive requests without an error, held-open connections that do not lock a normal client
out, and mutated requests after which the server answers as before, holding no more files or
threads than it started with. `make stress` runs the long version (tests/stress/run.py).
"""

from __future__ import annotations

import time

import loadgen
import pytest

from rawhttp.server import Server
from rawhttp.server.listener import EVICT_AFTER

# Every test here runs against both drivers (--model events and --model threads).
pytestmark = pytest.mark.usefixtures("server_model")

PAGE = b"<!DOCTYPE html>\n<title>load</title>\n" + b"<p>row</p>\n" * 90
BLOB = bytes(range(256)) * 256  # 64 KiB


@pytest.fixture
def site(tmp_path):
    (tmp_path / "index.html").write_bytes(PAGE)
    (tmp_path / "blob.bin").write_bytes(BLOB)
    return tmp_path


def wait_until_idle(server: Server, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while server.active and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.active == 0, f"{server.active} connections still open"


def test_keep_alive_clients_make_thousands_of_requests_without_an_error(site):
    expected = {"/index.html": len(PAGE), "/blob.bin": len(BLOB), "/": len(PAGE)}
    with Server(site, log=lambda line: None) as server:
        tally = loadgen.keep_alive_clients(
            (server.host, server.port),
            clients=25,
            requests_each=200,
            paths=list(expected),
            expected=expected,
            time_limit=20,
        )
        assert (tally.errors, tally.samples) == (0, [])
        assert (tally.requests, tally.connections) == (5000, 25)
        assert server.accepted == 25  # every request rode a kept connection


def test_held_open_connections_do_not_lock_out_a_normal_client(site):
    """More slowloris connections than the cap: once they have waited EVICT_AFTER, each
    newcomer closes the longest waiter, so a normal client is answered within a second."""
    lines: list[str] = []
    with Server(site, max_connections=50, log=lines.append) as server:
        address = (server.host, server.port)
        slow = loadgen.Slowloris(address, 200)
        try:
            assert slow.failed == 0
            time.sleep(EVICT_AFTER + 0.2)
            assert slow.trickle() > 0
            for _ in range(3):
                status, seconds = loadgen.fetch(address, "/index.html")
                assert status == 200
                assert seconds < 1.0
            assert server.active <= 50 + 3
        finally:
            slow.close()
        wait_until_idle(server)
    assert any("connection cap reached" in line for line in lines)


def test_mutated_requests_leave_the_server_answering_and_holding_nothing(site):
    with Server(site, idle_timeout=2, log=lambda line: None) as server:
        address = (server.host, server.port)
        assert loadgen.fetch(address, "/index.html")[0] == 200
        files_before = loadgen.open_files()
        tally = loadgen.fire_mutations(address, count=3000, workers=4, seed=7, time_limit=30)
        assert (tally.errors, tally.samples) == (0, [])
        assert tally.requests == 3000
        status, seconds = loadgen.fetch(address, "/index.html")
        assert status == 200 and seconds < 1.0
        wait_until_idle(server)
        assert loadgen.open_files() <= files_before
