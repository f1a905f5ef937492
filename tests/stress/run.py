"""`make stress`: the long load on `rawhttp serve`, run as its own process on 127.0.0.1, once
against each model (`--model events`, then `--model threads`), each in a fresh server:

1. 50 keep-alive clients make 20,000 requests: no error allowed.
2. 1,000 slowloris connections are held open (a head never finished, a byte now and then),
   while a normal client is answered, each time, within one second.
3. 10,000 random or mutated requests, each on its own connection; then the server must still
   answer normally, its memory must not have grown by more than MAX_GROWTH_MIB, and it must
   hold no more open files than before.
4. Idle keep-alive connections (one GET answered on each, then silence): 10,000 for events
   (its whole default cap), the cap (256) for threads. The server's memory must stay under
   MAX_RSS_MIB, and a normal client, probing meanwhile, be answered within FAST_PROBE (at the
   cap, by the eviction of the longest idle one).
5. Slow bodies: a POST head with Content-Length: 100000, then one body byte every ~2 s: 1,000
   for events, the cap (256) for threads; the same probe within FAST_PROBE.

Prints what it held (requests, errors, connections, memory, the slowest probe) and exits 1 if
any check failed, with a summary of every check per model. Every phase is bounded in count and
in time; every socket has a timeout. About a minute per model.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for loadgen

import loadgen

from rawhttp.server.listener import EVICT_AFTER, IDLE_TIMEOUT, MAX_CONNECTIONS
from rawhttp.server.protocol import LINGER_SECONDS

MODELS = ("events", "threads")
CLIENTS, REQUESTS = 50, 20_000
SLOWLORIS = 1_000
PROBES = 10
MUTATIONS = 10_000
MAX_GROWTH_MIB = 5
# Phases 4 and 5: per model, how many connections (threads: its cap, no more).
IDLE = {"events": 10_000, "threads": MAX_CONNECTIONS["threads"]}
SLOW_BODIES = {"events": 1_000, "threads": MAX_CONNECTIONS["threads"]}
MAX_RSS_MIB = 200
FAST_PROBES = 5
FAST_PROBE = 0.1  # seconds
TRICKLE_EVERY = 2.0  # seconds between the slow bodies' bytes
# Connections being opened at once by the idle phase (the server's listen backlog is 1,024).
OPENING = 500
PAGE = b"<!DOCTYPE html>\n<title>stress</title>\n" + b"<p>row</p>\n" * 90
BLOB = bytes(range(256)) * 256
TINY = b"ok\n"


def start_server(root: str, log: Path, model: str) -> tuple[subprocess.Popen, tuple[str, int]]:
    command = [sys.executable, "-m", "rawhttp", "serve", root, "--port", "0", "--model", model]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log.open("wb"), text=True)
    ready, _, _ = select.select([process.stdout], [], [], 15)
    line = process.stdout.readline() if ready else ""
    match = re.search(r"http://([\d.]+):(\d+)/", line)
    if match is None:
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return process, (match.group(1), int(match.group(2)))


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def probe(address: tuple[str, int], count: int, pause: float, between=None):
    """`count` GETs, each on a new connection: (statuses, slowest seconds)."""
    worst, statuses = 0.0, []
    for _ in range(count):
        try:
            status, seconds = loadgen.fetch(address, "/index.html")
        except OSError as exc:
            status, seconds = type(exc).__name__, loadgen.TIMEOUT
        statuses.append(status)
        worst = max(worst, seconds)
        if between is not None:
            between()
        time.sleep(pause)
    return statuses, worst


def open_idle(address: tuple[str, int], count: int, time_limit: float):
    """`count` connections, each making one keep-alive GET of /tiny.txt and then silent.

    Non-blocking, OPENING at a time, in this thread: (open sockets, failures as text)."""
    request = loadgen.get_request("/tiny.txt")
    expected = b"\r\n\r\n" + TINY
    selector = selectors.DefaultSelector()
    done: list[socket.socket] = []
    failures: list[str] = []
    started = 0
    deadline = time.monotonic() + time_limit

    def fail(sock: socket.socket, why: str) -> None:
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(sock)
        sock.close()
        failures.append(why)

    try:
        while len(done) + len(failures) < count:
            if time.monotonic() > deadline:
                failures.append(f"time limit: {count - len(done)} not answered")
                break
            while started < count and len(selector.get_map()) < OPENING:
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(address)
                selector.register(sock, selectors.EVENT_WRITE, bytearray())
                started += 1
            for key, mask in selector.select(0.5):
                sock, answer = key.fileobj, key.data
                if mask & selectors.EVENT_WRITE:
                    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if error:
                        fail(sock, f"connect: {os.strerror(error)}")
                        continue
                    sock.send(request)  # a few dozen bytes: a new socket's buffer takes them
                    selector.modify(sock, selectors.EVENT_READ, answer)
                    continue
                try:
                    data = sock.recv(65536)
                except OSError as exc:
                    fail(sock, f"recv: {exc}")
                    continue
                if not data:
                    fail(sock, f"closed after {bytes(answer[:40])!r}")
                    continue
                answer += data
                if answer.endswith(expected):
                    if not answer.startswith(b"HTTP/1.1 200 "):
                        fail(sock, f"answered {bytes(answer[:40])!r}")
                        continue
                    selector.unregister(sock)
                    done.append(sock)
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
    return done, failures


def still_open(socks: list[socket.socket]) -> int:
    """How many of `socks` the server has not closed (no EOF, no reset waiting to be read)."""
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        closed = len(selector.select(0))
    return len(socks) - closed


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def run_model(model: str, check) -> None:
    """Every phase against one fresh server running `model`."""
    with tempfile.TemporaryDirectory() as root:
        Path(root, "index.html").write_bytes(PAGE)
        Path(root, "blob.bin").write_bytes(BLOB)
        Path(root, "tiny.txt").write_bytes(TINY)
        log = Path(root).parent / f"rawhttp-stress-{os.getpid()}-{model}.log"
        process, address = start_server(root, log, model)
        pid = process.pid
        try:
            phases(model, pid, address, check)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        text = log.read_text(errors="replace")
        log.unlink()
        check("Traceback" not in text, "no traceback in the server's log")
        check(process.returncode == 0, f"the server stopped cleanly (exit {process.returncode})")


def phases(model: str, pid: int, address: tuple[str, int], check) -> None:
    cap = MAX_CONNECTIONS[model]
    print(f"server pid {pid} on {address[0]}:{address[1]}, --model {model} (cap {cap:,})")
    expected = {"/index.html": len(PAGE), "/blob.bin": len(BLOB), "/": len(PAGE)}
    loadgen.keep_alive_clients(address, 4, 50, list(expected), expected, 30)  # warm up
    time.sleep(LINGER_SECONDS + 0.5)  # the warm-up's connections finish their lingering close
    start_rss, start_files = loadgen.rss_kib(pid), loadgen.open_files(pid)
    print(f"start: memory {mib(start_rss)}, open files {start_files}")

    def held() -> int:
        """Client connections the server holds now: its open files beyond those at start."""
        return loadgen.open_files(pid) - start_files

    print(f"1. {CLIENTS} keep-alive clients, {REQUESTS:,} requests")
    tally = loadgen.keep_alive_clients(
        address, CLIENTS, REQUESTS // CLIENTS, list(expected), expected, 300
    )
    rate = tally.requests / tally.seconds if tally.seconds else 0
    print(
        f"  {tally.requests} requests on {tally.connections} connections in "
        f"{tally.seconds:.1f} s ({rate:.0f}/s), {tally.errors} errors {tally.samples}"
    )
    check(tally.requests == REQUESTS and tally.errors == 0, f"{REQUESTS:,} requests answered")

    print(f"2. {SLOWLORIS:,} slowloris connections held open, a normal client probing")
    slow = loadgen.Slowloris(address, SLOWLORIS)
    try:
        time.sleep(EVICT_AFTER + 0.5)
        slow.trickle()
        holding = held()
        statuses, worst = probe(address, PROBES, 0.3, slow.trickle)
        print(
            f"  opened {SLOWLORIS - slow.failed} ({slow.failed} failed to connect), kept open "
            f"by the client; the server held {holding} at once (cap {cap:,}), closing the "
            f"longest waiting or answering 503 past it; probes {statuses}, slowest "
            f"{worst * 1000:.0f} ms"
        )
        check(
            statuses == [200] * PROBES and worst < 1.0,
            f"{SLOWLORIS:,} slowloris: a normal client answered within 1 s "
            f"(slowest of {PROBES}: {worst * 1000:.0f} ms)",
        )
    finally:
        slow.close()
    time.sleep(0.5)

    print(f"3. {MUTATIONS:,} random or mutated requests")
    before_rss, before_files = loadgen.rss_kib(pid), loadgen.open_files(pid)
    tally = loadgen.fire_mutations(address, MUTATIONS, 8, seed=2024, time_limit=600)
    deadline = time.monotonic() + 10
    while loadgen.open_files(pid) > before_files and time.monotonic() < deadline:
        time.sleep(0.1)  # connections finishing their lingering close
    after_rss, after_files = loadgen.rss_kib(pid), loadgen.open_files(pid)
    status, seconds = loadgen.fetch(address, "/index.html")
    growth = (after_rss - before_rss) / 1024
    print(
        f"  {tally.requests} requests in {tally.seconds:.1f} s, {tally.errors} errors "
        f"{tally.samples}; then GET / answered {status} in {seconds * 1000:.0f} ms"
    )
    print(
        f"  memory {mib(before_rss)} -> {mib(after_rss)} ({growth:+.1f} MiB); "
        f"open files {before_files} -> {after_files}; threads {loadgen.threads_of(pid)}"
    )
    check(tally.requests == MUTATIONS and tally.errors == 0, "every mutated connection ended")
    check(status == 200 and seconds < 1.0, "the server still answers normally")
    check(growth < MAX_GROWTH_MIB, f"< {MAX_GROWTH_MIB} MiB growth ({growth:+.1f} MiB)")
    check(after_files <= before_files, "no file descriptor leaked")

    count = IDLE[model]
    print(f"4. {count:,} idle keep-alive connections, a normal client probing")
    before_rss, started = loadgen.rss_kib(pid), time.monotonic()
    socks, failures = open_idle(address, count, 60)
    opened = time.monotonic() - started
    try:
        time.sleep(EVICT_AFTER + 0.2)  # so that, at the cap, the oldest may make room
        holding, rss = held(), loadgen.rss_kib(pid)
        statuses, worst = probe(address, FAST_PROBES, 0.1)
        rss = max(rss, loadgen.rss_kib(pid))
        left = still_open(socks)
        print(
            f"  {len(socks):,} answered and kept open in {opened:.1f} s, {len(failures)} "
            f"failed {failures[:3]}; the server held {holding:,} at once (cap {cap:,}), "
            f"memory {mib(before_rss)} -> {mib(rss)}; probes {statuses}, slowest "
            f"{worst * 1000:.0f} ms; "
            f"{left:,} still open after them ({len(socks) - left} closed to make room)"
        )
        check(
            len(socks) == count and holding >= count,
            f"{count:,} idle keep-alive connections held ({holding:,})",
        )
        check(rss < MAX_RSS_MIB * 1024, f"memory < {MAX_RSS_MIB} MiB with them ({mib(rss)})")
        check(
            statuses == [200] * FAST_PROBES and worst < FAST_PROBE,
            f"{count:,} idle: a normal client answered within {FAST_PROBE * 1000:.0f} ms "
            f"(slowest of {FAST_PROBES}: {worst * 1000:.0f} ms)",
        )
        if opened + EVICT_AFTER + 2 > IDLE_TIMEOUT:
            print(f"  note: the phase came near the idle timeout ({IDLE_TIMEOUT:g} s)")
    finally:
        close_all(socks)
    wait_for_files(pid, start_files)

    count = SLOW_BODIES[model]
    print(f"5. {count:,} slow bodies (1 byte per {TRICKLE_EVERY:g} s), a normal client probing")
    before_rss = loadgen.rss_kib(pid)
    slow = loadgen.Slowloris(address, count, start=loadgen.Slowloris.SLOW_BODY)
    try:
        last = time.monotonic()

        def trickle() -> None:
            nonlocal last
            if time.monotonic() - last >= TRICKLE_EVERY:
                slow.trickle()
                last = time.monotonic()

        time.sleep(EVICT_AFTER + 0.2)
        holding, rss = held(), loadgen.rss_kib(pid)
        statuses, worst = [], 0.0
        for _ in range(3):  # a probe now and then over three trickles (~6 s)
            more, slowest = probe(address, FAST_PROBES, 0.2, trickle)
            statuses += more
            worst = max(worst, slowest)
            holding = max(holding, held())
            while time.monotonic() - last < TRICKLE_EVERY:
                time.sleep(0.05)
            trickle()
        rss = max(rss, loadgen.rss_kib(pid))
        print(
            f"  opened {count - slow.failed:,} ({slow.failed} failed to connect); the server "
            f"held {holding:,} at once (cap {cap:,}), memory {mib(before_rss)} -> {mib(rss)}; "
            f"{len(statuses)} probes, {statuses.count(200)} answered 200, slowest "
            f"{worst * 1000:.0f} ms"
        )
        check(
            slow.failed == 0 and holding >= count,
            f"{count:,} slow bodies held ({holding:,})",
        )
        check(
            statuses == [200] * len(statuses) and worst < FAST_PROBE,
            f"{count:,} slow bodies: a normal client answered within "
            f"{FAST_PROBE * 1000:.0f} ms (slowest of {len(statuses)}: {worst * 1000:.0f} ms)",
        )
    finally:
        slow.close()
    wait_for_files(pid, start_files)
    print(
        f"end: memory {mib(start_rss)} at start -> {mib(loadgen.rss_kib(pid))}, "
        f"open files {start_files} -> {loadgen.open_files(pid)}"
    )


def wait_for_files(pid: int, files: int, timeout: float = 10) -> None:
    """Until the server holds no more than `files` open files (closes end with a linger)."""
    deadline = time.monotonic() + timeout
    while loadgen.open_files(pid) > files and time.monotonic() < deadline:
        time.sleep(0.1)


def main() -> int:
    limit = loadgen.raise_open_file_limit(max(IDLE.values()) + SLOWLORIS + 1024)
    results: dict[str, list[tuple[bool, str]]] = {}
    started = time.monotonic()
    for model in MODELS:
        print(f"=== --model {model} (open-file limit here {limit:,})", flush=True)
        checks = results.setdefault(model, [])

        def check(ok: bool, what: str, checks=checks) -> None:
            print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
            checks.append((ok, what))

        run_model(model, check)
    print(f"\nstress summary ({time.monotonic() - started:.0f} s):")
    failed = 0
    for model, checks in results.items():
        for ok, what in checks:
            print(f"  {model:<8} {'held  ' if ok else 'FAILED'} {what}")
            failed += not ok
    print("stress: " + ("all held" if not failed else f"FAILED: {failed} checks not held"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
