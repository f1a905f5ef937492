"""`make stress`: the long load on `rawhttp serve`, run as its own process on 127.0.0.1.

1. 50 keep-alive clients make 20,000 requests: no error allowed.
2. 1,000 slowloris connections are held open (a head never finished, a byte now and then),
   while a normal client is answered, each time, within one second.
3. 10,000 random or mutated requests, each on its own connection; then the server must still
   answer normally, its memory must not have grown by more than MAX_GROWTH_MIB, and it must
   hold no more open files than before.

Prints what it held (requests, errors, connections, memory before and after) and exits 1 if
any check failed. Every phase is bounded in count and in time; every socket has a timeout.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for loadgen

import loadgen

from rawhttp.server.listener import EVICT_AFTER

CLIENTS, REQUESTS = 50, 20_000
SLOWLORIS = 1_000
PROBES = 10
MUTATIONS = 10_000
MAX_GROWTH_MIB = 5
PAGE = b"<!DOCTYPE html>\n<title>stress</title>\n" + b"<p>row</p>\n" * 90
BLOB = bytes(range(256)) * 256


def start_server(root: str, log: Path) -> tuple[subprocess.Popen, tuple[str, int]]:
    command = [sys.executable, "-m", "rawhttp", "serve", root, "--port", "0"]
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


def main() -> int:
    limit = loadgen.raise_open_file_limit(SLOWLORIS + 1024)
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory() as root:
        Path(root, "index.html").write_bytes(PAGE)
        Path(root, "blob.bin").write_bytes(BLOB)
        log = Path(root).parent / f"rawhttp-stress-{os.getpid()}.log"
        process, address = start_server(root, log)
        pid = process.pid
        try:
            print(f"server pid {pid} on {address[0]}:{address[1]}, open-file limit {limit}")
            expected = {"/index.html": len(PAGE), "/blob.bin": len(BLOB), "/": len(PAGE)}
            loadgen.keep_alive_clients(address, 4, 50, list(expected), expected, 30)  # warm up
            start_rss, start_files = loadgen.rss_kib(pid), loadgen.open_files(pid)
            print(f"start: memory {mib(start_rss)}, open files {start_files}")

            print(f"1. {CLIENTS} keep-alive clients, {REQUESTS} requests")
            tally = loadgen.keep_alive_clients(
                address, CLIENTS, REQUESTS // CLIENTS, list(expected), expected, 300
            )
            rate = tally.requests / tally.seconds if tally.seconds else 0
            print(
                f"  {tally.requests} requests on {tally.connections} connections in "
                f"{tally.seconds:.1f} s ({rate:.0f}/s), {tally.errors} errors {tally.samples}"
            )
            check(tally.requests == REQUESTS and tally.errors == 0, "every request answered")

            print(f"2. {SLOWLORIS} slowloris connections held open, a normal client probing")
            slow = loadgen.Slowloris(address, SLOWLORIS)
            try:
                time.sleep(EVICT_AFTER + 0.5)
                slow.trickle()
                threads, files = loadgen.threads_of(pid), loadgen.open_files(pid)
                worst, statuses = 0.0, []
                for _ in range(PROBES):
                    try:
                        status, seconds = loadgen.fetch(address, "/index.html")
                    except OSError as exc:
                        status, seconds = type(exc).__name__, loadgen.TIMEOUT
                    statuses.append(status)
                    worst = max(worst, seconds)
                    slow.trickle()
                    time.sleep(0.3)
                print(
                    f"  opened {SLOWLORIS - slow.failed} ({slow.failed} failed to connect), kept "
                    f"open by the client; the server held {threads - 2} at once (threads "
                    f"{threads}, open files {files}), closing the longest waiting or answering "
                    "503 for the rest; "
                    f"probes {statuses}, slowest {worst * 1000:.0f} ms"
                )
                check(
                    statuses == [200] * PROBES and worst < 1.0,
                    "a normal client answered within 1 s",
                )
            finally:
                slow.close()
            time.sleep(0.5)

            print(f"3. {MUTATIONS} random or mutated requests")
            before_rss, before_files = loadgen.rss_kib(pid), loadgen.open_files(pid)
            tally = loadgen.fire_mutations(address, MUTATIONS, 8, seed=2024, time_limit=600)
            deadline = time.monotonic() + 10
            while loadgen.threads_of(pid) > 2 and time.monotonic() < deadline:
                time.sleep(0.1)  # connection threads finishing their lingering close
            after_rss, after_files = loadgen.rss_kib(pid), loadgen.open_files(pid)
            status, seconds = loadgen.fetch(address, "/index.html")
            print(
                f"  {tally.requests} requests in {tally.seconds:.1f} s, {tally.errors} errors "
                f"{tally.samples}; then GET / answered {status} in {seconds * 1000:.0f} ms"
            )
            print(
                f"  memory {mib(before_rss)} -> {mib(after_rss)} "
                f"({(after_rss - before_rss) / 1024:+.1f} MiB); "
                f"open files {before_files} -> {after_files}; "
                f"threads {loadgen.threads_of(pid)}"
            )
            check(tally.requests == MUTATIONS and tally.errors == 0, "every connection ended")
            check(status == 200 and seconds < 1.0, "the server still answers normally")
            check(after_rss - before_rss < MAX_GROWTH_MIB * 1024, f"< {MAX_GROWTH_MIB} MiB growth")
            check(after_files <= before_files, "no file descriptor leaked")
            time.sleep(0.5)
            print(
                f"end: memory {mib(start_rss)} at start -> {mib(loadgen.rss_kib(pid))}, "
                f"open files {start_files} -> {loadgen.open_files(pid)}"
            )
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
    print("stress: " + ("all held" if not failures else f"FAILED: {', '.join(failures)}"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
