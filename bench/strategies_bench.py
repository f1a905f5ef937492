"""Many small URLs, `rawhttp get` against `curl`, from nginx on loopback (1 KiB files):

- one host, one process, one kept connection: client CPU per request, start-up subtracted
  ((CPU of COUNT URLs - CPU of one URL) / (COUNT - 1)), for rawhttp's one-at-a-time road
  (`get URL...`) and its strategies road (`--connections persistent`), against curl's;
- `-Z --parallel-max 8` over the same URLs: wall time against `curl -Z --parallel-max 8`,
  and rawhttp's peak RSS.

    python3 bench/strategies_bench.py [--count 1000] [--rounds 3] [--rawhttp PATH]

Needs nginx, curl and GNU time (Debian's packages). The URLs are one curl glob
(`f[0001-1000].txt`), expanded by each tool; every body goes to /dev/null.
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import time

from upload_bench import _wait, arguments, free_port, scratch

CONF = """daemon off; master_process off; worker_processes 1; pid {dir}/nginx.pid;
error_log {dir}/error.log warn; events {{ worker_connections 256; }}
http {{ access_log off; sendfile on; keepalive_requests 100000; client_body_temp_path {dir}/body;
  server {{ listen 127.0.0.1:{port}; root {dir}/www; }} }}
"""
TARGET_CPU_RATIO = 1.5  # client CPU per request, rawhttp / curl
TARGET_WALL_RATIO = 1.5  # -Z --parallel-max 8 wall, rawhttp / curl
TARGET_RSS_MIB = 30.0
PARALLEL = 8
CASES = {
    "curl": ["curl", "-s", "-o", "/dev/null"],
    "rawhttp": ["{rawhttp}", "get", "-o", "/dev/null", "--no-progress"],
    "rawhttp --connections persistent": [
        "{rawhttp}", "get", "-o", "/dev/null", "--connections", "persistent",
    ],
    "curl -Z": ["curl", "-s", "-o", "/dev/null", "-Z", "--parallel-max", str(PARALLEL)],
    "rawhttp -Z": [
        "{rawhttp}", "get", "-o", "/dev/null", "-Z", "--parallel-max", str(PARALLEL),
    ],
}  # fmt: skip


def timed(command: list[str]) -> dict[str, float]:
    """Peak RSS (MiB) from GNU time, as tls_bench's `timed`; CPU seconds (user + system, the
    command's and GNU time's own, next to nothing) from wait4's rusage and wall seconds from
    this clock, both to the microsecond: GNU time gives 10 ms steps, coarser than the 20-50 ms
    curl takes for 1,000 URLs, which made the ratios jump by a third from run to run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        ["/usr/bin/time", "-f", "%M", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    report = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command, stderr=report)
    rss = int(report.strip().splitlines()[-1])
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": rss / 1024}


def command(case: str, rawhttp: str, url: str) -> list[str]:
    words: list[str] = []
    for word in CASES[case]:
        words += shlex.split(rawhttp) if word == "{rawhttp}" else [word]
    return [*words, url]


def measure(options, port: int) -> dict[str, dict[str, list[dict[str, float]]]]:
    """For each case: samples for COUNT URLs ("many") and for one URL ("one")."""
    last = f"{options.count:04d}"
    many = f"http://127.0.0.1:{port}/f[0001-{last}].txt"
    one = f"http://127.0.0.1:{port}/f0001.txt"
    samples = {case: {"many": [], "one": []} for case in CASES}
    timed(command("curl", options.rawhttp, many))  # warm the page cache and nginx
    names = list(CASES)
    for number in range(options.rounds):
        for case in names[number % len(names) :] + names[: number % len(names)]:
            samples[case]["many"].append(timed(command(case, options.rawhttp, many)))
            samples[case]["one"].append(timed(command(case, options.rawhttp, one)))
    return samples


def report(samples: dict, count: int) -> None:
    def median(case: str, size: str, metric: str) -> float:
        return statistics.median(sample[metric] for sample in samples[case][size])

    def per_request(case: str) -> float:
        return (median(case, "many", "cpu") - median(case, "one", "cpu")) / (count - 1)

    print(f"## {count} small URLs on one host, `rawhttp get` against `curl` (nginx, 1 KiB)\n")
    print("| target | measured | wanted | verdict |")
    print("| --- | --- | --- | --- |")
    for case in ("rawhttp", "rawhttp --connections persistent"):
        ratio = per_request(case) / per_request("curl")
        met = "met" if ratio <= TARGET_CPU_RATIO else "MISSED"
        print(
            f"| client CPU per request, {case} / curl | {ratio:.2f} | <= {TARGET_CPU_RATIO} "
            f"| {met} |"
        )
    wall = median("rawhttp -Z", "many", "wall") / median("curl -Z", "many", "wall")
    met = "met" if wall <= TARGET_WALL_RATIO else "MISSED"
    print(f"| -Z --parallel-max {PARALLEL} wall, rawhttp / curl | {wall:.2f} | "
          f"<= {TARGET_WALL_RATIO} | {met} |")  # fmt: skip
    rss = max(sample["rss"] for sample in samples["rawhttp -Z"]["many"])
    met = "met" if rss <= TARGET_RSS_MIB else "MISSED"
    print(f"| -Z peak RSS of rawhttp (MiB) | {rss:.1f} | <= {TARGET_RSS_MIB:g} | {met} |")
    columns = f"wall {count} (s) | CPU {count} (s) | CPU 1 (s) | CPU/request (ms) | RSS (MiB)"
    print(f"\n| case | {columns} |")
    print("| --- | --- | --- | --- | --- | --- |")
    for case in CASES:
        rss_case = max(sample["rss"] for sample in samples[case]["many"])
        print(
            f"| {case} | {median(case, 'many', 'wall'):.3f} | {median(case, 'many', 'cpu'):.3f} "
            f"| {median(case, 'one', 'cpu'):.3f} | {per_request(case) * 1000:.3f} "
            f"| {rss_case:.1f} |"
        )
    print(
        "\nMedians of the rounds (CPU is user + system from wait4, wall from this script's "
        "clock, RSS from GNU time; CPU/request subtracts the one-URL run, mostly start-up)."
    )


def main() -> None:
    options = arguments(__doc__, "count", 1000)
    with scratch("www", "body") as work:
        for number in range(1, options.count + 1):
            (work / "www" / f"f{number:04d}.txt").write_bytes(b"x" * 1023 + b"\n")
        port = free_port()
        (work / "nginx.conf").write_text(CONF.format(dir=work, port=port))
        nginx = subprocess.Popen(
            ["nginx", "-p", str(work), "-c", str(work / "nginx.conf"), "-e", "stderr"]
        )
        try:
            _wait(port)
            report(measure(options, port), options.count)
        finally:
            nginx.terminate()
            nginx.wait(10)


if __name__ == "__main__":
    main()
