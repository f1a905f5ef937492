"""The two server models side by side, for samples/lessons/server-models.md: what each request
costs in CPU (the server process's own user+system time, so a busy machine changes it less
than requests/s), and what each idle connection costs in memory.

    python3 bench/server_models.py [--requests-seconds 4] [--idle 2000]

Needs wrk (Debian's package). Loopback only; every server it starts is stopped. It prints a
Markdown table; nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable
SERVERS = {
    "rawhttp --model events": ["-m", "rawhttp", "serve", "--model", "events"],
    "rawhttp --model threads": ["-m", "rawhttp", "serve", "--model", "threads"],
    "python -m http.server": ["-m", "http.server", "-b", "127.0.0.1"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(name: str, root: str, port: int) -> subprocess.Popen:
    args = [PYTHON, *SERVERS[name]]
    args += [root, "--port", str(port)] if "rawhttp" in name else ["-d", root, str(port)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{name} did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def per_request(name: str, root: str, seconds: int) -> tuple[float, float]:
    """(requests/s, CPU microseconds per request) under wrk -t1 -c50 with keep-alive."""
    port = free_port()
    process = start(name, root, port)
    try:
        before = cpu_seconds(process.pid)
        out = subprocess.run(
            ["wrk", "-t1", "-c50", f"-d{seconds}s", f"http://127.0.0.1:{port}/small.html"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        used = cpu_seconds(process.pid) - before
    finally:
        process.terminate()
        process.wait(10)
    count = int(re.search(r"(\d+) requests in", out).group(1))
    return count / seconds, used / count * 1e6


def idle_cost(name: str, root: str, count: int) -> tuple[int, float]:
    """(connections held, KiB of server memory per idle keep-alive connection)."""
    port = free_port()
    process = start(name, root, port)
    socks = []
    try:
        base = rss_mib(process.pid)
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), 5)
            sock.sendall(b"GET /small.html HTTP/1.1\r\nHost: b\r\n\r\n")
            socks.append(sock)
        for sock in socks:
            sock.recv(65536)
        time.sleep(0.5)
        held = sum(1 for sock in socks if _alive(sock))
        grown = rss_mib(process.pid) - base
    finally:
        for sock in socks:
            sock.close()
        process.terminate()
        process.wait(10)
    return held, grown * 1024 / max(held, 1)


def _alive(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-seconds", type=int, default=4)
    parser.add_argument("--idle", type=int, default=2000)
    options = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as root:
        Path(root, "small.html").write_bytes(b"x" * 1024)
        print(
            "| server | req/s (wrk -t1 -c50) | CPU per request | idle connections held | "
            "memory per idle connection |"
        )
        print("| --- | --- | --- | --- | --- |")
        for name in SERVERS:
            rate, cpu = per_request(name, root, options.requests_seconds)
            held, kib = idle_cost(name, root, options.idle)
            memory = f"{kib:,.1f} KiB" if held else "(closes after each answer)"
            print(
                f"| {name} | {rate:,.0f} | {cpu:,.0f} us | {held:,} of {options.idle:,} | "
                f"{memory} |"
            )
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
