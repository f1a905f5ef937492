"""rawhttp's benchmarks: `make bench` (full, several minutes) or `make bench-quick` (< 2 min).

    python3 bench/run.py [--quick] [--only download,small_get,server,large,wire] [--no-results]

Every figure is a ratio against a peer measured in the same run, in alternating rounds
(A B C, then B C A, ...), so that a noisy machine hits every tool alike; the table gives the
median of the per-round ratios, and the median and min-max of each tool's own numbers.
Writes bench/RESULTS.md (machine, date, commands, table, targets met or missed).

rawhttp is installed non-editable into bench/.venv from a copy of the source, so start-up is
what a user gets (an editable install adds a path finder that imports pathlib). nginx, wrk and
GNU time come from Debian's packages when missing (needs root; without them the cases that
need them are skipped and say so). Everything runs on 127.0.0.1; temp files are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import servers

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
BIN = VENV / "bin"
LAST_RUN = HERE / ".last-run.json"  # the raw figures, for --rerender (not committed)
MiB = 1024 * 1024


# --- set-up --------------------------------------------------------------------------------


def sh(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, **kwargs)


def ensure_tools() -> list[str]:
    """nginx and wrk from Debian's packages when missing; returns notes on what is missing."""
    wanted = {
        "nginx": servers.nginx_path(),
        "wrk": shutil.which("wrk"),
        "time": "/usr/bin/time" if os.path.exists("/usr/bin/time") else None,
    }
    missing = [name for name, path in wanted.items() if path is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {' '.join(missing)} with apt-get...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with contextlib.suppress(subprocess.CalledProcessError):
            sh("apt-get", "update", "-qq", env=env)
            packages = ["nginx-light" if name == "nginx" else name for name in missing]
            sh("apt-get", "install", "-y", "-qq", *packages, env=env, stdout=subprocess.DEVNULL)
    notes = []
    if not os.path.exists("/usr/bin/time"):
        notes.append("GNU time missing: no CPU time or peak memory figures")
    if servers.nginx_path() is None:
        notes.append("nginx missing: client benchmarks use `rawhttp serve`, no nginx figures")
    if shutil.which("wrk") is None:
        notes.append("wrk missing: no requests/s figures")
    for tool in ("curl", "wget"):
        if shutil.which(tool) is None:
            notes.append(f"{tool} missing: its columns are empty")
    return notes


def ensure_venv() -> None:
    """bench/.venv with rawhttp installed from a copy of the source (never editable) and h11."""
    if not (BIN / "python").exists():
        sh(sys.executable, "-m", "venv", str(VENV))
        sh(
            str(BIN / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--upgrade",
            "setuptools>=70",
            "click",
            "h11",
        )
    with tempfile.TemporaryDirectory(prefix="rawhttp-src-") as copy:
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (REPO / name).exists():
                shutil.copy(REPO / name, copy)
        for folder in ("rawhttp", "samples"):
            if (REPO / folder).exists():
                shutil.copytree(
                    REPO / folder,
                    Path(copy) / folder,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
        sh(
            str(BIN / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--force-reinstall",
            "--no-build-isolation",
            copy,
            stdout=subprocess.DEVNULL,
        )


def make_files(www: Path, quick: bool) -> dict[str, int]:
    """The served files: pseudo-random bytes (no sparse file, no zero pages)."""
    sizes = {"small.html": 1024, "1M.bin": MiB, "100M.bin": 100 * MiB}
    if not quick:
        sizes["1G.bin"] = 1024 * MiB
    block = os.urandom(MiB)
    for name, size in sizes.items():
        with open(www / name, "wb") as file:
            if size < MiB:
                file.write(block[:size])
            for _ in range(size // MiB):
                file.write(block)
                block = block[1:] + block[:1]  # every MiB differs from the last
        os.chmod(www / name, 0o644)
    return sizes


# --- measuring ----------------------------------------------------------------------------------


def run_measured(command: list[str], stdout=subprocess.DEVNULL) -> dict[str, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one child process.

    Peak RSS comes from GNU time (`/usr/bin/time -f %M`): `wait4` on our own child would report
    at least this Python's RSS, because a child's high-water mark survives fork and exec.
    """
    have_gnu_time = os.path.exists("/usr/bin/time")
    gnu_time = ["/usr/bin/time", "-f", "@@rusage %e %U %S %M"] if have_gnu_time else []
    start = time.perf_counter()
    result = subprocess.run([*gnu_time, *command], stdout=stdout, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    stderr = result.stderr.decode(errors="replace")
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed ({result.returncode}): {stderr[-500:]}")
    if not have_gnu_time:
        return {"wall": wall}
    _elapsed, user, system, rss = stderr.rsplit("@@rusage", 1)[1].split()
    # GNU time's own elapsed figure has only 10 ms resolution; ours includes its fork.
    return {"wall": wall, "cpu": float(user) + float(system), "rss": int(rss) / 1024}


def rounds(tools: list[str], count: int) -> Iterator[tuple[int, str]]:
    """(round, tool) in rotating order: A B C, B C A, C A B..."""
    for number in range(count):
        shift = number % len(tools)
        for tool in tools[shift:] + tools[:shift]:
            yield number, tool


class Case:
    """One benchmark: per tool a list of measurements (dicts), one per round."""

    def __init__(self, name: str, unit: str, commands: dict[str, str] | None = None):
        self.name = name
        self.unit = unit
        self.samples: dict[str, list[dict[str, float]]] = {}
        self.commands = commands or {}

    def add(self, tool: str, sample: dict[str, float]) -> None:
        self.samples.setdefault(tool, []).append(sample)

    def values(self, tool: str, metric: str) -> list[float]:
        return [sample[metric] for sample in self.samples.get(tool, []) if metric in sample]

    def ratio(self, tool: str, peer: str, metric: str) -> float | None:
        """Median of the per-round ratios tool/peer."""
        mine, theirs = self.values(tool, metric), self.values(peer, metric)
        pairs = [a / b for a, b in zip(mine, theirs, strict=False) if b]
        return statistics.median(pairs) if pairs else None


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


# --- the cases ---------------------------------------------------------------------------------


def download_case(base: str, name: str, size: int, runs: int, tmp: Path) -> Case:
    out = tmp / "download.out"
    url = f"{base}/{name}"
    commands = {
        "rawhttp": [str(BIN / "rawhttp"), "get", "-o", str(out), url],
        "curl": ["curl", "-s", "-o", str(out), url],
        "wget": ["wget", "-q", "-O", str(out), url],
    }
    commands = {tool: c for tool, c in commands.items() if shutil.which(c[0]) or "/" in c[0]}
    case = Case(f"download {name} to a file", "s", {t: " ".join(c) for t, c in commands.items()})
    for _, tool in rounds(list(commands), runs + 1):
        sample = run_measured(commands[tool])
        if out.stat().st_size != size:
            raise RuntimeError(f"{tool} saved {out.stat().st_size} bytes of {size}")
        out.unlink()
        case.add(tool, sample)
    for tool in case.samples:  # the first round warms the page cache and the binaries
        case.samples[tool] = case.samples[tool][1:] if runs else case.samples[tool]
    return case


def small_get_case(base: str, runs: int, tmp: Path) -> Case:
    out = tmp / "small.out"
    port = base.rsplit(":", 1)[1]
    commands = {
        "rawhttp": [str(BIN / "rawhttp"), "get", "-o", str(out), f"{base}/small.html"],
        "bare socket": [
            str(BIN / "python"),
            str(HERE / "floor_get.py"),
            "127.0.0.1",
            port,
            "/small.html",
            str(out),
        ],
        "curl": ["curl", "-s", "-o", str(out), f"{base}/small.html"],
    }
    case = Case("small GET (1 KiB) end to end", "s", {t: " ".join(c) for t, c in commands.items()})
    for _, tool in rounds(list(commands), runs + 1):
        case.add(tool, run_measured(commands[tool]))
        out.unlink()
    for tool in case.samples:
        case.samples[tool] = case.samples[tool][1:]
    return case


def wrk(url: str, seconds: int, keep_alive: bool) -> float:
    command = ["wrk", "-t1", "-c8", f"-d{seconds}s", url]
    if not keep_alive:
        command[1:1] = ["-H", "Connection: close"]
    output = sh(*command, capture_output=True, text=True).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"wrk got errors from {url}:\n{output}")
    return float(match.group(1))


def server_cases(
    starters: dict[str, Callable], runs: int, seconds: int, large_runs: int, tmp: Path
) -> list[Case]:
    have_wrk = shutil.which("wrk") is not None
    command = f"wrk -t1 -c8 -d{seconds}s [-H 'Connection: close'] URL/small.html"
    keep = Case("server: small file, keep-alive", "req/s", {"all": command})
    close = Case("server: small file, new connection each", "req/s", {"all": command})
    large = Case(
        "server: 100M.bin to curl -o /dev/null",
        "MiB/s",
        {"all": "curl -s -o /dev/null URL/100M.bin"},
    )
    for number, tool in rounds(list(starters), max(runs, large_runs)):
        with starters[tool]() as base:
            if have_wrk and number < runs:
                keep.add(tool, {"rps": wrk(f"{base}/small.html", seconds, keep_alive=True)})
                close.add(tool, {"rps": wrk(f"{base}/small.html", seconds, keep_alive=False)})
            if number < large_runs:
                run_measured(["curl", "-s", "-o", "/dev/null", f"{base}/100M.bin"])  # warm
                sample = run_measured(["curl", "-s", "-o", "/dev/null", f"{base}/100M.bin"])
                large.add(tool, {"mibs": 100 / sample["wall"], "wall": sample["wall"]})
    return [case for case in (keep, close, large) if case.samples]


def wire_case(quick: bool) -> list[Case]:
    command = [str(BIN / "python"), str(HERE / "wire_bench.py")] + (["--quick"] if quick else [])
    data = json.loads(sh(*command, capture_output=True, text=True).stdout)
    mib = data["body_bytes"] // MiB
    cases = []
    names = {
        "head": "wire: 1000 x (GET built, 50-header head parsed)",
        "chunked": f"wire: {mib} MiB chunked body in 1 KiB chunks",
    }
    for key, results in data["results"].items():
        case = Case(names[key], "s", {"all": " ".join(command[1:])})
        for tool, times in results.items():
            for seconds in times:
                case.add(tool, {"time": seconds})
        cases.append(case)
    return cases


# --- targets and report ----------------------------------------------------------------------


class Target:
    def __init__(self, text: str, value: float | None, limit: float, above: bool = False):
        self.text, self.value, self.limit, self.above = text, value, limit, above

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.limit if self.above else self.value <= self.limit

    def line(self) -> str:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        sign = ">=" if self.above else "<="
        return f"| {self.text} | {fmt(self.value)} | {sign} {self.limit:g} | {verdict} |"


def targets(cases: dict[str, Case]) -> list[Target]:
    def ratio(case: str, tool: str, peer: str, metric: str) -> float | None:
        return cases[case].ratio(tool, peer, metric) if case in cases else None

    def peak(case: str, tool: str) -> float | None:
        values = cases[case].values(tool, "rss") if case in cases else []
        return max(values) if values else None

    return [
        Target("1 GiB download, wall, rawhttp / curl", ratio("1G", "rawhttp", "curl", "wall"), 0.6),
        Target(
            "100 MiB download, wall, rawhttp / curl", ratio("100M", "rawhttp", "curl", "wall"), 0.9
        ),
        Target("1 GiB download, peak RSS of rawhttp (MiB)", peak("1G", "rawhttp"), 25),
        Target(
            "small GET, wall, rawhttp / bare socket script",
            ratio("small", "rawhttp", "bare socket", "wall"),
            1.6,
        ),
        Target(
            "server keep-alive req/s, rawhttp / http.server",
            ratio("keep", "rawhttp serve", "http.server", "rps"),
            5,
            above=True,
        ),
        Target(
            "server 100 MiB throughput, rawhttp / nginx",
            ratio("large", "rawhttp serve", "nginx", "mibs"),
            0.9,
            above=True,
        ),
        Target(
            "wire head parsing, time, rawhttp / h11", ratio("head", "rawhttp", "h11", "time"), 1
        ),
        Target(
            "wire chunked decoding, time, rawhttp / h11",
            ratio("chunked", "rawhttp", "h11", "time"),
            1,
        ),
    ]


def table(named: dict[str, Case]) -> list[str]:
    lines = [
        "| case | tool | median (min-max) | ratio to peer (median of rounds) | CPU s | peak RSS MiB"
        " |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    peers = {"download": "curl", "small": "bare socket", "server": "nginx", "wire": "h11"}
    for case in named.values():
        metric = next(iter(next(iter(case.samples.values()))[0]))
        peer = next(p for key, p in peers.items() if case.name.startswith(key))
        if case.name.startswith("server") and "http.server" in case.samples:
            peer = "http.server" if "keep-alive" in case.name else peer
        for tool in case.samples:
            values = case.values(tool, metric)
            ratio = "" if tool == peer else f"{fmt(case.ratio(tool, peer, metric))}x {peer}"
            cpu = case.values(tool, "cpu")
            rss = case.values(tool, "rss")
            lines.append(
                f"| {case.name} | {tool} | {spread(values)} {case.unit} | {ratio} | "
                f"{fmt(statistics.median(cpu)) if cpu else ''} | {fmt(max(rss)) if rss else ''} |"
            )
    return lines


def machine() -> list[str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30

    def version(*command: str) -> str:
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=10)
        except OSError:
            return "missing"
        return (result.stdout or result.stderr).splitlines()[0].strip()

    return [
        f"- Machine: {platform.node()}, {cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, "
        f"Linux {platform.release()}",
        f"- Python {platform.python_version()}; {version('curl', '--version')}; "
        f"{version('wget', '--version')}; {version(servers.nginx_path() or 'nginx', '-v')}; "
        f"{version('wrk', '-v')}",
    ]


# Why a target is missed, written from measurements (see bench/README.md); shown only if missed.
WHY_MISSED = {
    "small GET": (
        "The floor script is Python importing only `socket` (about 21 ms here). `python -c "
        "'import click'` alone takes about 38 ms on this machine, 1.8x the floor, before any "
        "rawhttp code runs. rawhttp's own imports went from about 25 ms to 12 ms (events, wire, "
        "url and client no longer use `dataclasses`, which pulls in `inspect`; `http.HTTPStatus` "
        "is imported by servers only), so `rawhttp get` went from about 63 ms to 50 ms. "
        "Reaching 1.6x would need a command line without click."
    ),
    "100 MiB download": (
        "At 100 MiB, start-up (Python, click and rawhttp: about 50 ms) is half of rawhttp's "
        "time; the transfer itself (splice) is faster than curl's, as the 1 GiB figure shows. "
        "The ratio sits near the target and moves with the machine's noise."
    ),
    "keep-alive req/s": (
        "Thread per connection under the GIL. On this machine `rawhttp serve` answers about "
        "5.7k req/s to one wrk connection but about 3.0k to eight: each request releases the GIL "
        "some 15 times (recv, the lstat/stat calls of realpath and the path checks, open, read, "
        "send, the log line), and each release lets another connection's thread in, so the "
        "threads convoy (sys.setswitchinterval changes nothing). Sending a small file's head "
        "and body in one send bought about 26% (2.4k -> 3.1k req/s against 1.8k for "
        "http.server, same run). 5x http.server needs one thread serving many connections (a "
        "selectors loop): a different server than DESIGN.md's thread per connection."
    ),
    "100 MiB throughput": (
        "Both servers send with sendfile(2); a 100 MiB transfer on loopback takes 50-80 ms, so "
        "curl's own start-up and the machine's noise weigh on each round. Python's "
        "`socket.sendfile` also polls between non-blocking sendfile calls where nginx uses epoll."
    ),
}


def report(named: dict[str, Case], quick: bool, notes: list[str], seconds: float, when: str) -> str:
    found = targets(named)
    lines = [
        "# rawhttp benchmark results",
        "",
        f"Generated by `{'make bench-quick' if quick else 'make bench'}` on "
        f"{when}, in {seconds:.0f} s. Loopback only; every ratio is the median of "
        "per-round ratios against a peer measured in the same rounds (order rotating each round).",
        "",
        *machine(),
        *[f"- Note: {note}" for note in notes],
        "",
        "## Targets",
        "",
        "| target | measured | wanted | verdict |",
        "| --- | --- | --- | --- |",
        *[target.line() for target in found],
        "",
    ]
    missed = [t for t in found if t.met is False]
    for target in missed:
        why = next((text for key, text in WHY_MISSED.items() if key in target.text), None)
        if why:
            lines += [f"- **{target.text}**: {why}"]
    lines += ["", "## All figures", "", *table(named), "", "## Commands", ""]
    for case in named.values():
        for tool, command in case.commands.items():
            lines.append(f"- {case.name}, {tool}: `{portable(command)}`")
    return "\n".join(lines) + "\n"


def portable(command: str) -> str:
    """A command as it reads on any machine: paths relative to the project, temp dirs named."""
    command = command.replace(str(HERE.parent) + "/", "")
    return re.sub(r"/tmp/rawhttp-bench-[^/]+/", "$TMP/", command)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no 1 GiB file")
    parser.add_argument("--only", default="download,small_get,server,large,wire")
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    parser.add_argument(
        "--rerender", action="store_true", help="rewrite RESULTS.md from the last run's figures"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    started = time.monotonic()
    if args.rerender:
        saved = json.loads(LAST_RUN.read_text())
        named = {}
        for key, data in saved["cases"].items():
            named[key] = Case(data["name"], data["unit"], data["commands"])
            named[key].samples = data["samples"]
        text = report(named, saved["quick"], saved["notes"], saved["seconds"], saved["when"])
        (HERE / "RESULTS.md").write_text(text)
        print(text)
        return
    notes = ensure_tools()
    ensure_venv()
    quick = args.quick
    named: dict[str, Case] = {}
    with tempfile.TemporaryDirectory(prefix="rawhttp-bench-") as temp:
        tmp = Path(temp)
        os.chmod(tmp, 0o755)  # nginx's worker (user nobody when run by root) reads the files
        www = tmp / "www"
        www.mkdir(mode=0o755)
        make_files(www, quick)
        have_nginx = servers.nginx_path() is not None

        def client_server():
            if have_nginx:
                return servers.nginx(www, tmp / "nginx")
            return servers.rawhttp_serve(www, BIN)

        with client_server() as base:
            if "download" in only:
                sizes = [
                    ("1M.bin", MiB, 5 if quick else 20),
                    ("100M.bin", 100 * MiB, 3 if quick else 7),
                ]
                if not quick:
                    sizes.append(("1G.bin", 1024 * MiB, 5))
                for name, size, runs in sizes:
                    print(f"download {name}...", flush=True)
                    named[name.removesuffix(".bin")] = download_case(base, name, size, runs, tmp)
            if "small_get" in only:
                print("small GET...", flush=True)
                named["small"] = small_get_case(base, 10 if quick else 30, tmp)
        if "server" in only or "large" in only:
            print("servers...", flush=True)
            starters = {
                "rawhttp serve": lambda: servers.rawhttp_serve(www, BIN),
                "http.server": lambda: servers.http_server(www),
            }
            if have_nginx:
                starters["nginx"] = lambda: servers.nginx(www, tmp / "nginx")
            runs = (1 if quick else 3) if "server" in only else 0
            large_runs = (2 if quick else 5) if "large" in only else 0
            seconds = 2 if quick else 5
            for case in server_cases(starters, runs, seconds, large_runs, tmp):
                key = {"keep-alive": "keep", "new conn": "close", "100M": "large"}
                named[next(v for k, v in key.items() if k in case.name)] = case
        if "wire" in only:
            print("wire parser...", flush=True)
            head, chunked = wire_case(quick)
            named["head"], named["chunked"] = head, chunked
    cases = {key: vars(case) for key, case in named.items()}
    seconds = time.monotonic() - started
    when = f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    LAST_RUN.write_text(
        json.dumps(
            {"quick": quick, "notes": notes, "seconds": seconds, "when": when, "cases": cases}
        )
    )
    text = report(named, quick, notes, seconds, when)
    print()
    print(text)
    if not args.no_results:
        (HERE / "RESULTS.md").write_text(text)
        print(f"written to {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
