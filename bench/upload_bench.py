"""A 1 GiB upload, `rawhttp get -T` against `curl -T`, to nginx on loopback (DAV PUT into a
tmpfs folder, so the disk weighs on neither): wall time as a ratio in the same rounds, and
rawhttp's peak RSS (the body is streamed from the file: memory must stay flat).

    python3 bench/upload_bench.py [--size-mib 1024] [--rounds 3] [--rawhttp PATH]

Part of `make bench` (the Makefile runs it after bench/run.py and adds its table to
bench/RESULTS.md). Needs nginx and GNU time (Debian's packages).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

CONF = """daemon off; master_process off; worker_processes 1; pid {dir}/nginx.pid;
error_log {dir}/error.log warn; events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {dir}/body;
  server {{ listen 127.0.0.1:{port}; root {dir};
    location /up/ {{ dav_methods PUT; client_max_body_size 0; }} }} }}
"""
TARGET_RATIO = 1.0
TARGET_RSS_MIB = 25.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one run, from GNU time."""
    started = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, int(result.stderr.strip().splitlines()[-1]) / 1024


def arguments(doc: str, size: str, default: int) -> argparse.Namespace:
    """The options every one of these benchmarks takes: its size, rounds, which rawhttp."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(f"--{size}", type=int, default=default)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rawhttp", default=shutil.which("rawhttp") or "rawhttp")
    return parser.parse_args()


@contextlib.contextmanager
def scratch(*folders: str) -> Iterator[Path]:
    """A temporary folder in tmpfs (so the disk weighs on no tool), with `folders` in it."""
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(dir=base) as folder:
        work = Path(folder)
        for name in folders:
            (work / name).mkdir()
        yield work


def main() -> None:
    options = arguments(__doc__, "size-mib", 1024)
    with scratch("up", "body") as work:
        body = work / "upload.bin"
        with open(body, "wb") as file:
            file.truncate(options.size_mib * 1024 * 1024)
        port = free_port()
        (work / "nginx.conf").write_text(CONF.format(dir=work, port=port))
        nginx = subprocess.Popen(
            [
                "nginx",
                "-p",
                str(work),
                "-c",
                str(work / "nginx.conf"),
                "-e",
                str(work / "error.log"),
            ]
        )
        try:
            _wait(port)
            report(measure(options, body, port))
        finally:
            nginx.terminate()
            nginx.wait(10)


def _wait(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


def measure(options, body: Path, port: int) -> dict:
    url = f"http://127.0.0.1:{port}/up/"
    ratios, rss, walls = [], [], {"rawhttp": [], "curl": []}
    for number in range(options.rounds):
        curl = timed(["curl", "-s", "-o", "/dev/null", "-T", str(body), f"{url}c{number}.bin"])
        ours = timed(
            [options.rawhttp, "get", "-T", str(body), "-o", "/dev/null", f"{url}r{number}.bin"]
        )
        for name in ("c", "r"):
            os.unlink(body.parent / "up" / f"{name}{number}.bin")
        ratios.append(ours[0] / curl[0])
        rss.append(ours[1])
        walls["rawhttp"].append(ours[0])
        walls["curl"].append(curl[0])
    return {
        "ratio": statistics.median(ratios),
        "rss": max(rss),
        "walls": walls,
        "size": options.size_mib,
    }


def report(figures: dict) -> None:
    ratio, rss = figures["ratio"], figures["rss"]
    walls = {name: statistics.median(values) for name, values in figures["walls"].items()}
    print(f"## Upload: {figures['size']} MiB, `rawhttp get -T` against `curl -T` (nginx DAV PUT)\n")
    print("| target | measured | wanted | verdict |")
    print("| --- | --- | --- | --- |")
    met = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"| upload wall, rawhttp / curl | {ratio:.3f} | <= {TARGET_RATIO} | {met} |")
    met = "met" if rss <= TARGET_RSS_MIB else "MISSED"
    print(f"| upload peak RSS of rawhttp (MiB) | {rss:.1f} | <= {TARGET_RSS_MIB:g} | {met} |")
    print(
        f"\nMedian wall: rawhttp {walls['rawhttp']:.2f} s, curl {walls['curl']:.2f} s. Both read "
        "the file and send it over one connection after nginx's 100 Continue; the body goes "
        "from the file in 256 KiB reads and sendall calls, so memory stays flat."
    )


if __name__ == "__main__":
    main()
