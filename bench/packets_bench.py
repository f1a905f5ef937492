"""What `rawhttp get --packets` costs, and whether its capture misses anything (issue 13).

    python3 bench/packets_bench.py [--rounds N] [--size BYTES] [--python PATH]

One `rawhttp serve` process on 127.0.0.1 serves a file of random bytes (1 MiB by default); each
round runs `rawhttp get URL -o FILE` and the same with `--packets`, in alternating order, and
times each whole command (the wall time a user waits: start-up, transfer, the capture's grace
and its report). The figure is the median of the per-round ratios, as in bench/README.md: a
noisy machine slows both runs of a round alike. The first round warms the caches and is dropped.

Every --packets run also prints its own check (`show.packets.capture_check`): TCP_INFO, read
before close(), against the captured frames up to that moment: every segment without data
and every data byte the kernel counted must have been captured. The script counts the runs
where it held, and the frames the kernel said it dropped. Needs root (the capture); not part
of `make test` or `make bench` (bench/run.py is not changed by it).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 1.20  # the bar: --packets adds no more than 20% to the wall time


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"rawhttp serve did not listen on port {port}")


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one command, and its stderr."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-500:]}")
    return elapsed, done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("packets_bench: the capture needs root (or CAP_NET_RAW)", file=sys.stderr)
        return 2
    rawhttp = [args.python, "-m", "rawhttp"]
    with tempfile.TemporaryDirectory(prefix="packets-bench-") as folder:
        site = Path(folder, "site")
        site.mkdir()
        (site / "file.bin").write_bytes(os.urandom(args.size))
        port = free_port()
        server = subprocess.Popen(
            [*rawhttp, "serve", str(site), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        try:
            wait_listening(port)
            url = f"http://127.0.0.1:{port}/file.bin"
            out = str(Path(folder, "out.bin"))
            plain = [*rawhttp, "get", url, "-o", out, "--no-progress"]
            # Bytecode is cached (in the temporary folder) as an installed rawhttp's would be:
            # PYTHONDONTWRITEBYTECODE would make every run compile every module it imports.
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env["PYTHONPYCACHEPREFIX"] = str(Path(folder, "pycache"))
            results = rounds(plain, [*plain, "--packets"], args.rounds, env)
        finally:
            server.terminate()
            server.wait(10)
    report(results, args.size)
    return 0


def rounds(
    plain: list[str], packets: list[str], count: int, env: dict[str, str]
) -> list[tuple[float, float, str]]:
    results = []
    for index in range(count + 1):
        if index % 2:
            with_packets, stderr = timed(packets, env)
            without, _ = timed(plain, env)
        else:
            without, _ = timed(plain, env)
            with_packets, stderr = timed(packets, env)
        if index:  # the first round only warms the caches
            results.append((without, with_packets, stderr))
    return results


def report(results: list[tuple[float, float, str]], size: int) -> None:
    ratios = [packets / plain for plain, packets, _ in results]
    ratio = statistics.median(ratios)
    checks = [re.search(r"^capture check: .*$", err, re.M) for _, _, err in results]
    held = sum(1 for check in checks if check and "all captured" in check.group())
    dropped = [int(m) for _, _, err in results for m in re.findall(r"dropped (\d+) frame", err)]
    segments = [
        int(m) for _, _, err in results for m in re.findall(r": (\d+) segment\(s\) --", err)
    ]
    print(
        f"rawhttp get -o FILE, {size} bytes from rawhttp serve on 127.0.0.1, {len(results)} rounds"
    )
    print(f"  without --packets  median {statistics.median(r[0] for r in results) * 1000:7.1f} ms")
    print(f"  with --packets     median {statistics.median(r[1] for r in results) * 1000:7.1f} ms")
    added = statistics.median(packets - plain for plain, packets, _ in results) * 1000
    print(f"  added by --packets (median of per-round differences) {added:.1f} ms")
    low, high = min(ratios), max(ratios)
    verdict = "within" if ratio <= BUDGET else "OVER"
    print(f"  ratio (median of per-round ratios) {ratio:.3f}  (min {low:.3f}, max {high:.3f})")
    print(f"  {verdict} the budget of {BUDGET:.2f}")
    print(f"  segments captured per transfer: {sorted(set(segments))}")
    print(f"  capture check held in {held} of {len(results)} runs; kernel drops: {sum(dropped)}")
    if held < len(results):
        for check in checks:
            if check and "all captured" not in check.group():
                print("   ", check.group())


if __name__ == "__main__":
    sys.exit(main())
