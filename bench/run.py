"""rawhttp's benchmarks: `make bench` (full, about 8 minutes) or `make bench-quick` (~45 s).

    python3 bench/run.py [--quick] [--only download,small_get,startup,server,large,wire,profile]
                         [--no-results] [--rerender]

Every figure is a ratio against a peer measured in the same run, in alternating rounds
(A B C, then B C A, ...), so that a noisy machine hits every tool alike; the table gives the
median of the per-round ratios, and the median and min-max of each tool's own numbers.
Writes bench/RESULTS.md (machine, date, commands, table, targets met or missed); a --quick
run writes bench/RESULTS-quick.md instead (not committed), keeping the full results.

rawhttp is installed non-editable into bench/.venv from a copy of the source, so start-up is
what a user gets (an editable install adds a path finder that imports pathlib); the Python
peers of the server table (twisted, aiohttp, tornado, uvicorn, starlette) come from PyPI into
the same venv. nginx, lighttpd, wrk and GNU time come from Debian's packages when missing
(needs root). A peer that is missing or fails is skipped with a note, never the run.
Everything runs on 127.0.0.1; temp files are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import profile_server
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
    """nginx, lighttpd and wrk from Debian's packages when missing; returns notes on what is
    missing."""
    wanted = {
        "nginx": servers.nginx_path(),
        "lighttpd": servers.lighttpd_path(),
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


# The Python peers of the server table, by the module bench/.venv must import: the package
# pip installs it from. trustme is rawhttp's `tls` extra (`serve --tls` makes a certificate).
PEER_PACKAGES = {
    "twisted": "twisted",
    "aiohttp": "aiohttp",
    "tornado": "tornado",
    "uvicorn": "uvicorn",
    "starlette": "starlette",
    "httptools": "httptools",
    "trustme": "trustme",
}


def missing_modules() -> set[str]:
    """The modules of PEER_PACKAGES that bench/.venv cannot import."""
    probe = (
        "import sys, importlib.util as u\nprint(*(m for m in sys.argv[1:] if not u.find_spec(m)))"
    )
    result = sh(str(BIN / "python"), "-c", probe, *PEER_PACKAGES, capture_output=True, text=True)
    return set(result.stdout.split())


def ensure_peers() -> set[str]:
    """pip installs each missing peer into bench/.venv, one at a time (one that fails does not
    keep the others out); returns the modules still missing."""
    for module in sorted(missing_modules()):
        print(f"installing {PEER_PACKAGES[module]} into bench/.venv...", flush=True)
        with contextlib.suppress(subprocess.CalledProcessError):
            sh(str(BIN / "python"), "-m", "pip", "install", "-q", PEER_PACKAGES[module])
    return missing_modules()


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
    if subprocess.run([str(BIN / "python"), "-c", "import trustme"]).returncode:
        sh(str(BIN / "python"), "-m", "pip", "install", "-q", "trustme")  # the tls extra
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


# 1 KiB of HTML, as small.html's size, for `serve --compress` (gzip makes it about a third).
TEXT_PAGE = (
    b"<!doctype html>\n<title>rawhttp</title>\n"
    + b"".join(b"<p>Line %03d of a page the server gzips on the fly.</p>\n" % n for n in range(20))
)[:1024].ljust(1024, b"\n")


def make_files(www: Path, quick: bool) -> dict[str, int]:
    """The served files: pseudo-random bytes (no sparse file, no zero pages)."""
    (www / "text.html").write_bytes(TEXT_PAGE)  # for --compress: text, not random bytes
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
    cpu = float(user) + float(system)
    return {"wall": wall, "cpu": cpu, "sys": float(system), "rss": int(rss) / 1024}


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every core, every process: /proc/stat's
    first line, less idle and iowait)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process and of every child waited for (servers, wrk, curl...)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def rounds(tools: list[str], count: int) -> Iterator[tuple[int, str]]:
    """(round, tool) in rotating order: A B C, B C A, C A B..."""
    for number in range(count):
        shift = number % len(tools)
        for tool in tools[shift:] + tools[:shift]:
            yield number, tool


class Case:
    """One benchmark: per tool a list of measurements (dicts), one per round. `metric` is the
    figure the table shows; `peers` names, per tool, those it is set against."""

    def __init__(
        self,
        name: str,
        unit: str,
        commands: dict[str, str] | None = None,
        metric: str = "",
        peers: dict[str, list[str]] | None = None,
    ):
        self.name = name
        self.unit = unit
        self.samples: dict[str, list[dict[str, float]]] = {}
        self.commands = commands or {}
        self.metric = metric
        self.peers = peers or {}

    @classmethod
    def load(cls, data: dict) -> Case:
        """A case saved by `vars(case)` in .last-run.json."""
        case = cls(data["name"], data["unit"], data["commands"])
        case.samples = data["samples"]
        case.metric = data.get("metric") or next(iter(next(iter(case.samples.values()))[0]))
        case.peers = data.get("peers", {})
        return case

    def add(self, tool: str, sample: dict[str, float]) -> None:
        self.samples.setdefault(tool, []).append(sample)

    def values(self, tool: str, metric: str) -> list[float]:
        return [sample[metric] for sample in self.samples.get(tool, []) if metric in sample]

    def median(self, tool: str, metric: str) -> float | None:
        values = self.values(tool, metric)
        return statistics.median(values) if values else None

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
    case = Case(
        f"download {name} to a file",
        "s",
        {t: " ".join(c) for t, c in commands.items()},
        metric="wall",
        peers={tool: ["curl"] for tool in commands if tool != "curl"},
    )
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
    case = Case(
        "small GET (1 KiB) end to end",
        "s",
        {t: " ".join(c) for t, c in commands.items()},
        metric="wall",
        peers={"rawhttp": ["bare socket"], "curl": ["bare socket"]},
    )
    for _, tool in rounds(list(commands), runs + 1):
        case.add(tool, run_measured(commands[tool]))
        out.unlink()
    for tool in case.samples:
        case.samples[tool] = case.samples[tool][1:]
    return case


def startup_case(runs: int) -> Case:
    """How long `rawhttp get` takes to start (its every module imported, `--help` printed, no
    request), beside the interpreter alone and the interpreter importing click."""
    python = str(BIN / "python")
    commands = {
        "rawhttp get --help": [str(BIN / "rawhttp"), "get", "--help"],
        "python -c 'import click'": [python, "-c", "import click"],
        "python -c pass": [python, "-c", "pass"],
    }
    case = Case(
        "start-up, no request",
        "s",
        {
            t: " ".join(c).replace("-c import click", "-c 'import click'")
            for t, c in commands.items()
        },
        metric="wall",
        peers={"rawhttp get --help": ["python -c 'import click'", "python -c pass"]},
    )
    for _, tool in rounds(list(commands), runs + 1):
        case.add(tool, run_measured(commands[tool]))
    for tool in case.samples:
        case.samples[tool] = case.samples[tool][1:]
    return case


# The servers of the server cases, by the name the tables use.
SERVERS = {
    "rawhttp": "rawhttp serve DIR --workers 1 (events model, one process)",
    "rawhttp threads": "rawhttp serve DIR --model threads (one thread per connection)",
    "rawhttp 2 workers": "rawhttp serve DIR --workers 2 (two event-loop processes)",
    "rawhttp --compress": "rawhttp serve DIR --compress --workers 1, wrk asking for text.html "
    "(1 KiB of HTML) with Accept-Encoding: gzip: gzipped on the fly, chunked (keep-alive only)",
    "rawhttp --tls": "rawhttp serve DIR --tls --workers 1 (HTTPS, a certificate made at "
    "start-up; wrk speaks TLS, so a new connection each is a full handshake each)",
    "http.server": "python -m http.server (ThreadingHTTPServer, HTTP/1.0)",
    "nginx": "nginx, worker_processes 1, sendfile on",
    "nginx 2 workers": "nginx, worker_processes 2, listen ... reuseport",
    "lighttpd": "lighttpd (Debian's), one process, up to 65,535 requests per connection",
    "twisted": "twistd -n web --path DIR (twisted.web's static.File), from bench/.venv",
    "aiohttp": "aiohttp's web.static (bench/peer_servers.py), from bench/.venv",
    "tornado": "tornado's StaticFileHandler (bench/peer_servers.py), from bench/.venv",
    "uvicorn+starlette": "uvicorn, one worker, --loop asyncio, no access log, starlette's "
    "StaticFiles (bench/peer_servers.py; the HTTP parser, httptools or h11, is in the notes)",
    "the floor": "bench/floor_server.py: a bare epoll loop in Python, no parsing, the same "
    "fixed 1 KiB answer to every request head",
}
PYTHON_PEERS = ["twisted", "aiohttp", "tornado", "uvicorn+starlette"]
# Which servers each server case runs, and what each figure is set against.
KEEP_PEERS = {
    "rawhttp": ["http.server", "nginx", "the floor"],
    "rawhttp threads": ["rawhttp", "http.server"],
    "rawhttp 2 workers": ["nginx 2 workers", "rawhttp"],
    "rawhttp --compress": ["rawhttp"],
    "rawhttp --tls": ["rawhttp"],
    "http.server": [],
    "nginx": ["http.server"],
    "nginx 2 workers": ["nginx"],
    "lighttpd": ["nginx"],
    **{peer: ["http.server"] for peer in PYTHON_PEERS},
    "the floor": [],
}
CLOSE_PEERS = {
    "rawhttp": ["http.server", "nginx", "the floor"],
    "rawhttp threads": ["rawhttp", "http.server"],
    "rawhttp --tls": ["rawhttp"],
    "http.server": [],
    "nginx": ["http.server"],
    "lighttpd": ["nginx"],
    **{peer: ["http.server"] for peer in PYTHON_PEERS},
    "the floor": [],
}
LARGE_PEERS = {
    "rawhttp": ["nginx"],
    "rawhttp threads": ["nginx"],
    "http.server": ["nginx"],
    "nginx": [],
}
# What wrk asks a server for, where it is not small.html: (path, extra header lines).
WRK_ASKS = {"rawhttp --compress": ("/text.html", ("Accept-Encoding: gzip",))}
WRK_CONNECTIONS = 50
# One-process servers run on core 0 and wrk on core 1 (`taskset -c`), so that a server's CPU
# per request is its own core's work; the two-worker servers get both cores, wrk beside them.
SERVER_CORE, WRK_CORE = "0", "1"


def wrk(
    server: servers.Running,
    seconds: int,
    keep_alive: bool,
    path: str = "/small.html",
    headers: tuple[str, ...] = (),
) -> dict[str, float]:
    """One wrk run on the 1 KiB file: requests/s, the server's CPU per request (its CPU
    seconds from /proc, workers included, over the requests wrk completed), and the cores the
    server and wrk kept busy (CPU seconds over wall seconds), the server's RSS after. wrk runs
    on WRK_CORE when the server is pinned to its own core."""
    url = f"{server}{path}"
    if not keep_alive:
        headers = (*headers, "Connection: close")
    options = [item for header in headers for item in ("-H", header)]
    command = ["wrk", *options, "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", url]
    insecure = ["--insecure"] if url.startswith("https:") else []  # wrk does not verify either
    warm = sh(
        "curl",
        "-s",
        "-D",
        "-",
        "-o",
        "/dev/null",
        *insecure,
        *options,
        url,
        capture_output=True,
        text=True,
    )  # first answer: warm
    if "Accept-Encoding: gzip" in headers and "content-encoding: gzip" not in warm.stdout.lower():
        raise RuntimeError(f"{url} was not gzipped:\n{warm.stdout}")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu, busy = server.cpu_seconds(), machine_busy()
    start = time.perf_counter()
    pinned = servers.pinned(command, WRK_CORE if server.cores else None)
    output = sh(*pinned, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    server_cpu, busy = server.cpu_seconds() - server_cpu, machine_busy() - busy
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    match = re.search(r"Requests/sec:\s*([\d.]+)", output)
    done = re.search(r"(\d+) requests in", output)
    if match is None or done is None or not int(done.group(1)):
        raise RuntimeError(f"no requests in wrk's output:\n{output}")
    if re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        raise RuntimeError(f"wrk got errors from {url}:\n{output}")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    sample = {
        "rps": float(match.group(1)),
        "requests": int(done.group(1)),
        "us": server_cpu / int(done.group(1)) * 1e6,
        "server_cores": server_cpu / wall,
        "wrk_cores": wrk_cpu / wall,
        "server_rss": server.rss_mib(),
        # Cores kept busy by anything else on the machine meanwhile (the noise).
        "other_cores": max(0.0, busy - server_cpu - wrk_cpu) / wall,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }
    latency = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", output)
    if latency:
        scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}[latency.group(2)]
        sample["latency_max"] = float(latency.group(1)) * scale
    return sample


def server_cases(
    starters: dict[str, Callable],
    runs: int,
    seconds: int,
    large_runs: int,
    notes: list[str],
) -> list[Case]:
    """The wrk and 100 MiB cases, servers in rotating order; a server that fails to start or
    to answer is dropped from later rounds with a note (never the whole run)."""
    have_wrk = shutil.which("wrk") is not None
    command = f"wrk -t1 -c{WRK_CONNECTIONS} -d{seconds}s URL/small.html"
    keep = Case(
        f"server: small file, keep-alive, {WRK_CONNECTIONS} connections",
        "req/s",
        {"all": command},
        metric="rps",
        peers={tool: peers for tool, peers in KEEP_PEERS.items() if tool in starters},
    )
    close = Case(
        f"server: small file, new connection each, {WRK_CONNECTIONS} at once",
        "req/s",
        {"all": command.replace("wrk ", "wrk -H 'Connection: close' ")},
        metric="rps",
        peers={tool: peers for tool, peers in CLOSE_PEERS.items() if tool in starters},
    )
    for tool, (path, headers) in WRK_ASKS.items():
        asks = " ".join(f"-H '{header}'" for header in headers)
        keep.commands[tool] = command.replace("wrk ", f"wrk {asks} ").replace("/small.html", path)
    large = Case(
        "server: 100M.bin to curl -o /dev/null",
        "MiB/s",
        {"all": "curl -s -o /dev/null URL/100M.bin (after one warm-up; median of 3 per round)"},
        metric="mibs",
        peers={tool: peers for tool, peers in LARGE_PEERS.items() if tool in starters},
    )
    dropped: set[str] = set()
    for number, tool in rounds(list(starters), max(runs, large_runs)):
        in_keep, in_close = tool in keep.peers, tool in close.peers
        in_large = tool in large.peers and number < large_runs
        if tool in dropped or not (in_large or (have_wrk and number < runs)):
            continue
        asks = WRK_ASKS.get(tool, ("/small.html", ()))
        try:
            with starters[tool]() as server:
                if have_wrk and number < runs:
                    if in_keep:
                        keep.add(tool, wrk(server, seconds, True, *asks))
                    if in_close:
                        close.add(tool, wrk(server, seconds, False, *asks))
                if in_large:
                    large.add(tool, large_transfer(server))
        except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
            dropped.add(tool)
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else repr(error)
            notes.append(f"{tool} skipped from round {number + 1} on: {reason}")
            print(f"  {tool} skipped: {reason}", flush=True)
    return [case for case in (keep, close, large) if case.samples]


def large_transfer(server: servers.Running) -> dict[str, float]:
    """MiB/s of 100M.bin to curl: the median of three transfers, after a warm-up."""
    fetch = ["curl", "-s", "-o", "/dev/null", f"{server}/100M.bin"]
    run_measured(fetch)  # warm: the file in the page cache, the server's code
    # A transfer takes well under 0.1 s: the median of three per round.
    wall = statistics.median(run_measured(fetch)["wall"] for _ in range(3))
    return {"mibs": 100 / wall, "wall": wall}


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
        case = Case(
            names[key],
            "s",
            {"all": " ".join(command[1:])},
            metric="time",
            peers={"rawhttp": ["h11"]},
        )
        for tool, times in results.items():
            for seconds in times:
                case.add(tool, {"time": seconds})
        cases.append(case)
    return cases


# --- targets and report ----------------------------------------------------------------------


class Target:
    """One line of the targets table: a measured figure against `limit` (at most, or at least
    when `above`); without a limit the figure is only reported. `why` says what limits it,
    from this run's figures."""

    def __init__(
        self,
        text: str,
        value: float | None,
        limit: float | None,
        above: bool = False,
        why: str = "",
        shown: str | None = None,
    ):
        self.text, self.value, self.limit, self.above = text, value, limit, above
        self.why, self.shown = why, shown

    @property
    def met(self) -> bool | None:
        if self.value is None or self.limit is None:
            return None
        return self.value >= self.limit if self.above else self.value <= self.limit

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "not measured"
        if self.limit is None:
            return "reported"
        return "met" if self.met else "MISSED"

    def line(self) -> str:
        wanted = "no target"
        if self.limit is not None:
            wanted = f"{'>=' if self.above else '<='} {self.limit:g}"
        measured = self.shown if self.shown and self.value is not None else fmt(self.value)
        return f"| {self.text} | {measured} | {wanted} | {self.verdict} |"


class Figures:
    """This run's numbers, for the targets and their explanations: a missing case or tool
    gives None, and an explanation that needs it is left out."""

    def __init__(self, cases: dict[str, Case]):
        self.cases = cases

    def ratio(self, case: str, tool: str, peer: str, metric: str | None = None) -> float | None:
        if case not in self.cases:
            return None
        found = self.cases[case]
        return found.ratio(tool, peer, metric or found.metric)

    def median(self, case: str, tool: str, metric: str | None = None) -> float | None:
        if case not in self.cases:
            return None
        found = self.cases[case]
        return found.median(tool, metric or found.metric)

    def peak(self, case: str, tool: str, metric: str = "rss") -> float | None:
        values = self.cases[case].values(tool, metric) if case in self.cases else []
        return max(values) if values else None

    def cpu_per_request(self, case: str, tool: str) -> float | None:
        """Microseconds of the server's CPU per request (median of the rounds): its CPU time
        over the requests wrk completed (runs saved before that count: cores over req/s)."""
        if case not in self.cases:
            return None
        samples = self.cases[case].samples.get(tool, [])
        values = [
            s["us"] if "us" in s else s["server_cores"] / s["rps"] * 1e6
            for s in samples
            if s.get("rps")
        ]
        return statistics.median(values) if values else None


def explain(template: str, **values: float | None) -> str:
    """`template` filled with `values`, or "" if any is missing (that case was not run)."""
    if any(value is None for value in values.values()):
        return ""
    return template.format(**values)


def short_of_a_core(cores: float | None) -> str | None:
    """A sentence when a one-process server had clearly less than its one core."""
    if cores is None:
        return None
    if cores >= 0.85:
        return ""
    return (
        f"It had {cores:.2f} of a core, not a whole one: the rest went to wrk and other work "
        "on the machine, which lowers this figure. "
    )


def nginx_wrk_bound(wrk_cores: float | None) -> str | None:
    """A sentence when wrk, one thread, was on a whole core against nginx."""
    if wrk_cores is None:
        return None
    if wrk_cores < 0.85:
        return ""
    return f" wrk (one thread: one core at most, {wrk_cores:.2f} here) is what limits nginx."


def per_cpu_ratio(f: Figures, case: str) -> float | None:
    """How many more requests rawhttp answers than http.server per CPU second."""
    us, peer_us = f.cpu_per_request(case, "rawhttp"), f.cpu_per_request(case, "http.server")
    return peer_us / us if us and peer_us else None


def cores_note(f: Figures, case: str) -> str | None:
    """Why the requests/s ratio is off the per-CPU one, when the cores say so."""
    cores = f.median(case, "rawhttp", "server_cores")
    peer = f.median(case, "http.server", "server_cores")
    if cores is None or peer is None:
        return None
    if abs(cores - peer) / max(cores, peer) < 0.15:
        return ""
    return (
        f" The two differ because rawhttp kept {cores:.2f} cores busy in its rounds and "
        f"http.server {peer:.2f} in its own."
    )


def targets(cases: dict[str, Case]) -> list[Target]:
    f = Figures(cases)
    start = f.median("startup", "rawhttp get --help")
    click = f.median("startup", "python -c 'import click'")
    bare = f.median("startup", "python -c pass")
    keep, close = "keep", "close"
    wall_100 = f.median("100M", "rawhttp")
    return [
        Target(
            "1 GiB download, wall, rawhttp / curl",
            f.ratio("1G", "rawhttp", "curl"),
            0.6,
            why=explain(
                "Writing the file: rawhttp moves the body with splice(2) (socket -> pipe -> "
                "file, the bytes never enter Python) in {wall:.2f} s, {sys:.2f} of its "
                "{cpu:.2f} CPU s in the kernel; curl takes {curl:.2f} s, {curl_sys:.2f} of "
                "{curl_cpu:.2f} CPU s in the kernel. What splice saves is curl's copies "
                "through user space ({curl_user:.2f} CPU s); the kernel's work of moving the "
                "bytes into the page cache is paid by both, and the more of the time it is "
                "(a slower disk or page cache, other writers), the nearer the ratio is to 1. "
                "rawhttp's start-up ({start:.0f} ms) is a small share at this size.",
                wall=f.median("1G", "rawhttp"),
                cpu=f.median("1G", "rawhttp", "cpu"),
                sys=f.median("1G", "rawhttp", "sys"),
                curl=f.median("1G", "curl"),
                curl_cpu=(cc := f.median("1G", "curl", "cpu")),
                curl_sys=(cs := f.median("1G", "curl", "sys")),
                curl_user=cc is not None and cs is not None and cc - cs,
                start=start and start * 1000,
            ),
        ),
        Target(
            "100 MiB download, wall, rawhttp / curl",
            f.ratio("100M", "rawhttp", "curl"),
            0.9,
            why=explain(
                "Start-up: `rawhttp get` needs {start:.0f} ms to start (Python, click and "
                "rawhttp's modules; the start-up case), and its whole 100 MiB download took "
                "{wall:.0f} ms{share}; curl's whole download takes {curl:.0f} ms. The transfer "
                "itself is splice(2), no slower than curl's (the 1 GiB line), so the ratio "
                "moves with the machine's noise around the target.",
                start=start and start * 1000,
                wall=wall_100 and wall_100 * 1000,
                share=start
                and wall_100
                and (
                    f", so start-up is about {100 * start / wall_100:.0f}% of it"
                    if start < wall_100
                    else " (less than that start-up alone: the machine was busier during the "
                    "start-up rounds)"
                ),
                curl=(c := f.median("100M", "curl")) and c * 1000,
            ),
        ),
        Target(
            "1 GiB download, peak RSS of rawhttp (MiB)",
            f.peak("1G", "rawhttp"),
            25,
            why=explain(
                "The interpreter and its modules: `rawhttp get --help` alone peaks at "
                "{help:.1f} MiB (`python -c 'import click'` at {click:.1f} MiB); the download "
                "adds {more:.1f} MiB (the 1 MiB pipe is the kernel's, the receive buffer 1 MiB).",
                help=f.peak("startup", "rawhttp get --help"),
                click=f.peak("startup", "python -c 'import click'"),
                more=(p := f.peak("1G", "rawhttp"))
                and (h := f.peak("startup", "rawhttp get --help"))
                and p - h,
            ),
        ),
        Target(
            "`rawhttp get` start-up (`rawhttp get --help`), wall, ms",
            start and start * 1000,
            None,
            shown=explain(
                "{ms:.0f} ms, {ratio:.2f}x `python -c 'import click'`",
                ms=start and start * 1000,
                ratio=f.ratio("startup", "rawhttp get --help", "python -c 'import click'"),
            ),
            why=explain(
                "The interpreter and click: Python alone starts in {bare:.0f} ms, importing "
                "click takes it to {click:.0f} ms, and rawhttp's own modules (client, wire, "
                "views) add {own:.0f} ms. A command line on click cannot start faster than "
                "`import click`; this replaces the retired target against a bare socket "
                "script (which imports nothing but `socket`).",
                bare=bare and bare * 1000,
                click=click and click * 1000,
                own=start and click and (start - click) * 1000,
            ),
        ),
        Target(
            f"server keep-alive req/s (wrk -c{WRK_CONNECTIONS}), rawhttp --workers 1 / http.server",
            f.ratio(keep, "rawhttp", "http.server"),
            8,
            above=True,
            why=explain(
                "CPU per request, on one core (the GIL: one core per worker): rawhttp answered "
                "{rps:,.0f} req/s keeping {cores:.2f} cores busy, {us:.0f} us of CPU per "
                "request (reading and parsing the head, opening and checking the path, "
                "building the answer, the log line); http.server spent {hs_us:,.0f} us, so per "
                "CPU second rawhttp answers {per_cpu:.1f}x as many, and 8x needs about "
                "{needed:.0f} us per request. {share}wrk took {wrk:.2f} cores, other work "
                "{others:.2f}. http.server speaks HTTP/1.0 and closes after every answer, so its "
                "figure is a new connection per request ({hs:,.0f} req/s at {hs_cores:.2f} "
                "cores: its threads take turns at the GIL, and the kernel side of their system "
                "calls runs beside it).",
                rps=f.median(keep, "rawhttp"),
                cores=(cores := f.median(keep, "rawhttp", "server_cores")),
                us=(us := f.cpu_per_request(keep, "rawhttp")),
                hs_us=(hs_us := f.cpu_per_request(keep, "http.server")),
                per_cpu=us and hs_us and hs_us / us,
                needed=hs_us and hs_us / 8,
                share=short_of_a_core(cores),
                others=f.median(keep, "rawhttp", "other_cores"),
                wrk=f.median(keep, "rawhttp", "wrk_cores"),
                hs=f.median(keep, "http.server"),
                hs_cores=f.median(keep, "http.server", "server_cores"),
            ),
        ),
        Target(
            "server keep-alive, requests per CPU second, rawhttp / http.server",
            (r := per_cpu_ratio(f, keep)),
            None,
            shown=explain(
                "{ratio:.2f} ({us:.0f} vs {hs_us:,.0f} us of CPU per request)",
                ratio=r,
                us=f.cpu_per_request(keep, "rawhttp"),
                hs_us=f.cpu_per_request(keep, "http.server"),
            ),
            why=explain(
                "The same two servers per CPU second they used, so a round in which one of "
                "them got less of the machine (other work, wrk) does not move it: "
                "{req:.2f}x in requests/s against {ratio:.2f}x per CPU second.{note}",
                req=f.ratio(keep, "rawhttp", "http.server"),
                ratio=r,
                note=cores_note(f, keep),
            ),
        ),
        Target(
            f"server new connection each req/s (wrk -c{WRK_CONNECTIONS}), rawhttp / http.server",
            f.ratio(close, "rawhttp", "http.server"),
            3,
            above=True,
            why=explain(
                "One core again, and more work per request: accepting, a socket, the "
                "connection's objects, the close (half-close, then reading to the client's "
                "FIN). rawhttp answered {rps:,.0f} req/s at {cores:.2f} cores, {us:.0f} us of "
                "CPU per request ({keep_us:.0f} us with keep-alive); http.server spent "
                "{hs_us:,.0f} us, so per CPU second rawhttp answers {per_cpu:.1f}x as many. "
                "{share}wrk took {wrk:.2f} cores (its connects and closes are kernel work too), "
                "other work {others:.2f}. http.server: {hs:,.0f} req/s at {hs_cores:.2f} cores; "
                "nginx: {nginx:,.0f} req/s. rawhttp's RSS after the run: {rss:.0f} MiB "
                "({keep_rss:.0f} MiB after the keep-alive run).",
                rps=f.median(close, "rawhttp"),
                cores=(cores := f.median(close, "rawhttp", "server_cores")),
                us=(us := f.cpu_per_request(close, "rawhttp")),
                keep_us=f.cpu_per_request(keep, "rawhttp"),
                hs_us=(hs_us := f.cpu_per_request(close, "http.server")),
                per_cpu=us and hs_us and hs_us / us,
                share=short_of_a_core(cores),
                others=f.median(close, "rawhttp", "other_cores"),
                wrk=f.median(close, "rawhttp", "wrk_cores"),
                hs=f.median(close, "http.server"),
                hs_cores=f.median(close, "http.server", "server_cores"),
                nginx=f.median(close, "nginx"),
                rss=f.peak(close, "rawhttp", "server_rss"),
                keep_rss=f.peak(keep, "rawhttp", "server_rss"),
            ),
        ),
        Target(
            "server new connection each, requests per CPU second, rawhttp / http.server",
            (r := per_cpu_ratio(f, close)),
            None,
            shown=explain(
                "{ratio:.2f} ({us:.0f} vs {hs_us:,.0f} us of CPU per request)",
                ratio=r,
                us=f.cpu_per_request(close, "rawhttp"),
                hs_us=f.cpu_per_request(close, "http.server"),
            ),
            why=explain(
                "The same two servers per CPU second they used, so a round in which one of "
                "them got less of the machine (other work, wrk) does not move it: "
                "{req:.2f}x in requests/s against {ratio:.2f}x per CPU second.{note}",
                req=f.ratio(close, "rawhttp", "http.server"),
                ratio=r,
                note=cores_note(f, close),
            ),
        ),
        Target(
            "server keep-alive req/s, rawhttp --workers 2 / nginx worker_processes 2",
            f.ratio(keep, "rawhttp 2 workers", "nginx 2 workers"),
            None,
            shown=explain(
                "{ratio:.3f} ({rps:,.0f} vs {nginx:,.0f} req/s)",
                ratio=f.ratio(keep, "rawhttp 2 workers", "nginx 2 workers"),
                rps=f.median(keep, "rawhttp 2 workers"),
                nginx=f.median(keep, "nginx 2 workers"),
            ),
            why=explain(
                "wrk shares the 2 cores: rawhttp's two workers kept {cores:.2f} cores busy "
                "and wrk {wrk:.2f} ({scale:.2f}x one worker's figure); nginx's two workers "
                "kept {n_cores:.2f} busy with wrk at {n_wrk:.2f}, at {n_us:.0f} us of CPU per "
                "request against rawhttp's {us:.0f}.{wrk_bound}",
                cores=f.median(keep, "rawhttp 2 workers", "server_cores"),
                wrk=f.median(keep, "rawhttp 2 workers", "wrk_cores"),
                scale=f.ratio(keep, "rawhttp 2 workers", "rawhttp"),
                n_cores=f.median(keep, "nginx 2 workers", "server_cores"),
                n_wrk=f.median(keep, "nginx 2 workers", "wrk_cores"),
                n_us=f.cpu_per_request(keep, "nginx 2 workers"),
                us=f.cpu_per_request(keep, "rawhttp 2 workers"),
                wrk_bound=nginx_wrk_bound(f.median(keep, "nginx 2 workers", "wrk_cores")),
            ),
        ),
        Target(
            "server keep-alive req/s, rawhttp --model threads / --model events",
            f.ratio(keep, "rawhttp threads", "rawhttp"),
            None,
            shown=explain(
                "{ratio:.3f} ({rps:,.0f} vs {events:,.0f} req/s)",
                ratio=f.ratio(keep, "rawhttp threads", "rawhttp"),
                rps=f.median(keep, "rawhttp threads"),
                events=f.median(keep, "rawhttp"),
            ),
            why=explain(
                "The same connection code, one thread per connection: {conns} threads take "
                "turns at the GIL, each blocking call (recv, open, send) a switch; "
                "{us:.0f} us of CPU per request at {cores:.2f} cores, against the event "
                "loop's {events_us:.0f} us.",
                conns=WRK_CONNECTIONS,
                us=f.cpu_per_request(keep, "rawhttp threads"),
                cores=f.median(keep, "rawhttp threads", "server_cores"),
                events_us=f.cpu_per_request(keep, "rawhttp"),
            ),
        ),
        *cpu_targets(f),
        Target(
            "server 100 MiB throughput, rawhttp / nginx",
            f.ratio("large", "rawhttp", "nginx"),
            0.9,
            above=True,
            why=explain(
                "Not the copy: both rawhttp models send the file with sendfile(2), as nginx "
                "does, so the bytes never enter Python (--model threads: {threads:.2f}x), and "
                "http.server, which copies through user space in 64 KiB writes, is at "
                "{hs:.2f}x: the Python servers trail nginx by much the same margin, whatever "
                "they copy with. One transfer takes {wall:.0f} ms against nginx's {nginx:.0f} "
                "ms (median of 3 per round, curl's own start-up of some 10 ms included), so "
                "a few ms per transfer, and the machine's noise, move the ratio; what those "
                "ms are was not found here (the transfer's system calls are the same kinds).",
                threads=f.ratio("large", "rawhttp threads", "nginx"),
                hs=f.ratio("large", "http.server", "nginx"),
                wall=(w := f.median("large", "rawhttp", "wall")) and w * 1000,
                nginx=(n := f.median("large", "nginx", "wall")) and n * 1000,
            ),
        ),
        Target(
            "wire head parsing, time, rawhttp / h11",
            f.ratio("head", "rawhttp", "h11"),
            1,
            why=explain(
                "Python on both sides: {t:.0f} ms against h11's {h:.0f} ms per 1000 heads; "
                "the cost is per header line (split, the name and value checks).",
                t=(t := f.median("head", "rawhttp")) and t * 1000,
                h=(h := f.median("head", "h11")) and h * 1000,
            ),
        ),
        Target(
            "wire chunked decoding, time, rawhttp / h11",
            f.ratio("chunked", "rawhttp", "h11"),
            1,
            why=explain(
                "Python per chunk (the size line, a slice of the buffer): {t:.2f} s against "
                "h11's {h:.2f} s.",
                t=f.median("chunked", "rawhttp"),
                h=f.median("chunked", "h11"),
            ),
        ),
    ]


def others_us(f: Figures, case: str, but: str) -> str | None:
    """ "lighttpd 9, nginx 15, ...": the CPU per request of every one-process server in `case`
    but `but`, lowest first (None when the case was not run)."""
    if case not in f.cases:
        return None
    figures = [
        (us, tool)
        for tool in f.cases[case].samples
        if tool != but and "2 workers" not in tool
        if (us := f.cpu_per_request(case, tool)) is not None
    ]
    return ", ".join(f"{tool} {us:,.0f}" for us, tool in sorted(figures)) or None


def us_ratio(f: Figures, case: str, tool: str, peer: str) -> float | None:
    """Median of the per-round ratios of CPU per request, tool / peer."""
    return f.ratio(case, tool, peer, "us")


def cpu_targets(f: Figures) -> list[Target]:
    """Issue 19's targets: rawhttp's CPU per request, absolute and against the floor, with the
    peers' figures beside it; --compress and --tls against plain HTTP."""
    keep, close = "keep", "close"
    us, close_us = f.cpu_per_request(keep, "rawhttp"), f.cpu_per_request(close, "rawhttp")
    floor, close_floor = f.cpu_per_request(keep, "the floor"), f.cpu_per_request(close, "the floor")
    where = (
        f"Each one-process server pinned to core {SERVER_CORE} and wrk to core {WRK_CORE}; CPU "
        "per request is the server's CPU time (user + system, its processes from /proc) over "
        "the requests wrk completed, median of the rounds. "
    )
    return [
        Target(
            "server keep-alive, CPU per request, rawhttp --workers 1 (us)",
            us,
            60,
            why=explain(
                where + "The others in the same rounds, us of CPU per keep-alive request, "
                "lowest first: {peers}.",
                peers=others_us(f, keep, "rawhttp"),
            ),
        ),
        Target(
            "server keep-alive, CPU per request, rawhttp / the floor",
            (r := us_ratio(f, keep, "rawhttp", "the floor")),
            1.4,
            shown=explain("{r:.2f}x ({us:.0f} vs {floor:.1f} us)", r=r, us=us, floor=floor),
            why=explain(
                "The floor (bench/floor_server.py) pays for an epoll loop in Python and its "
                "system calls (a recv and a send per request) and nothing else: no parsing, no "
                "file, no log. What rawhttp spends above it, {extra:.0f} us per request, is its "
                'HTTP work: the section "Where the microseconds go" below says where.',
                extra=us and floor and us - floor,
            ),
        ),
        Target(
            "server new connection each, CPU per request, rawhttp --workers 1 (us)",
            close_us,
            90,
            why=explain(
                "Each request also pays an accept, a socket, the connection's objects and the "
                "close: {extra:.0f} us more than with keep-alive; the floor spends {floor:.1f} "
                "us ({ratio:.2f}x). The others, lowest first: {peers}.",
                extra=close_us and us and close_us - us,
                floor=close_floor,
                ratio=us_ratio(f, close, "rawhttp", "the floor"),
                peers=others_us(f, close, "rawhttp"),
            ),
        ),
        *[
            Target(
                f"server {what}, CPU per request, rawhttp {option} / plain HTTP",
                (r := us_ratio(f, case, f"rawhttp {option}", "rawhttp")),
                None,
                shown=explain(
                    "{r:.2f}x ({us:.0f} vs {plain:.0f} us)",
                    r=r,
                    us=f.cpu_per_request(case, f"rawhttp {option}"),
                    plain=f.cpu_per_request(case, "rawhttp"),
                ),
                why=explain(
                    why + " {extra:.0f} us more per request.",
                    extra=(o := f.cpu_per_request(case, f"rawhttp {option}"))
                    and (p := f.cpu_per_request(case, "rawhttp"))
                    and o - p,
                ),
            )
            for what, case, option, why in (
                (
                    "keep-alive",
                    keep,
                    "--compress",
                    "1 KiB of HTML gzipped on every request (a new compressor each time) and "
                    "sent chunked, against small.html sent as it is:",
                ),
                (
                    "keep-alive",
                    keep,
                    "--tls",
                    "The same loop with every byte through TLS (a decrypt per request, an "
                    "encrypt per answer); wrk keeps its connections open, so no handshakes:",
                ),
                (
                    "new connection each",
                    close,
                    "--tls",
                    "A TLS handshake per request, as wrk opens a connection per request:",
                ),
            )
        ],
    ]


def cores_text(case: Case, tool: str) -> str:
    """ "0.99 + wrk 0.16 cores (others 0.00)": the cores the server and wrk kept busy in a wrk
    case (medians), and the machine's other work meanwhile."""
    cores = case.values(tool, "server_cores")
    if not cores:
        return ""
    wrk_cores = statistics.median(case.values(tool, "wrk_cores"))
    text = f"{statistics.median(cores):.2f} + wrk {wrk_cores:.2f} cores"
    if others := case.values(tool, "other_cores"):
        text += f" (others {statistics.median(others):.2f})"
    return text


def cpu_table(named: dict[str, Case]) -> list[str]:
    """The server CPU per request table: every server of the wrk cases, lowest keep-alive
    figure first, with its ratio to the floor in the same rounds and the cores it used."""
    f = Figures(named)
    cases = [named[key] for key in ("keep", "close") if key in named]
    tools = [tool for tool in SERVERS if any(tool in case.samples for case in cases)]
    if not any("us" in sample for case in cases for s in case.samples.values() for sample in s):
        return []

    def order(tool: str) -> tuple[float, float]:
        us = f.cpu_per_request("keep", tool)
        return (us is None, us or f.cpu_per_request("close", tool) or 0.0)

    lines = [
        "## Server CPU per request",
        "",
        f"wrk -t1 -c{WRK_CONNECTIONS} on the 1 KiB file, keep-alive and a new connection each; "
        f"one-process servers pinned to core {SERVER_CORE}, wrk to core {WRK_CORE} (the "
        "two-worker servers on both, wrk beside them). CPU per request: the server's user + "
        "system time, its processes from /proc, over the requests wrk completed; median "
        "(min-max) of the rounds, and the median of the per-round ratios to the floor. The "
        "cores columns: what the server and wrk kept busy, and the machine's other work.",
        "",
        "| server | keep-alive us/request | x the floor | new connection us/request | "
        "x the floor | keep-alive cores | new connection cores |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tool in sorted(tools, key=order):
        cells = []
        for key in ("keep", "close"):
            case = named.get(key)
            values = case.values(tool, "us") if case else []
            ratio = us_ratio(f, key, tool, "the floor") if tool != "the floor" else None
            cells += [spread(values) if values else "-", f"{fmt(ratio)}x" if ratio else ""]
        cores = [cores_text(named[key], tool) if key in named else "" for key in ("keep", "close")]
        lines.append(f"| {tool} | {' | '.join(cells)} | {' | '.join(cores)} |")
    return [*lines, ""]


def table(named: dict[str, Case]) -> list[str]:
    lines = [
        "| case | tool | median (min-max) | ratio to peers (median of rounds) | CPU | peak RSS MiB"
        " |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for case in named.values():
        metric = case.metric
        for tool in case.samples:
            values = case.values(tool, metric)
            ratios = ", ".join(
                f"{fmt(case.ratio(tool, peer, metric))}x {peer}"
                for peer in case.peers.get(tool, [])
                if peer in case.samples
            )
            cpu, rss = case.values(tool, "cpu"), case.values(tool, "rss")
            if cpu_text := cores_text(case, tool):  # a wrk run: the server's RSS too
                rss = case.values(tool, "server_rss")
            else:
                cpu_text = f"{fmt(statistics.median(cpu))} s" if cpu else ""
            lines.append(
                f"| {case.name} | {tool} | {spread(values)} {case.unit} | {ratios} | "
                f"{cpu_text} | {fmt(max(rss)) if rss else ''} |"
            )
    return lines


def source() -> str:
    """The commit benchmarked, and the files of the installed copy that differ from it."""
    try:
        commit = sh("git", "-C", str(REPO), "rev-parse", "--short", "HEAD", capture_output=True)
        status = sh(
            "git",
            "-C",
            str(REPO),
            "status",
            "--porcelain",
            "--",
            "rawhttp",
            "pyproject.toml",
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "source: not a git checkout"
    changed = [line[3:] for line in status.stdout.splitlines()]
    text = f"source: commit {commit.stdout.decode().strip()}"
    if changed:
        text += f", with uncommitted changes to {', '.join(changed)}"
    return text + " (installed as a copy, non-editable)"


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


def report(
    named: dict[str, Case],
    quick: bool,
    notes: list[str],
    seconds: float,
    when: str,
    profile: dict | None = None,
) -> str:
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
        "Ratios are rawhttp / peer: for times and memory lower is better, for req/s and MiB/s "
        "higher. Lines without a target are figures reported beside their peers.",
        "",
        "| target | measured | wanted | verdict |",
        "| --- | --- | --- | --- |",
        *[target.line() for target in found],
        "",
    ]
    lines += ["What limits each figure, from this run's numbers:", ""]
    for target in found:
        if target.why:
            lines.append(
                f"- **{target.text}** ({target.line().split(' | ')[-1][:-2]}): {target.why}"
            )
    servers_run = [name for name in SERVERS if any(name in case.samples for case in named.values())]
    if any(case.name.startswith("server") for case in named.values()):
        lines += ["", "Servers in the server cases:", ""]
        lines += [f"- {name}: {SERVERS[name]}" for name in servers_run]
    lines += ["", *cpu_table(named)]
    if profile:
        lines += profile_server.render(profile)
    lines += ["## All figures", "", *table(named), "", "## Commands", ""]
    for case in named.values():
        for tool, command in case.commands.items():
            lines.append(f"- {case.name}, {tool}: `{portable(command)}`")
    return "\n".join(lines) + "\n"


def portable(command: str) -> str:
    """A command as it reads on any machine: paths relative to the project, temp dirs named."""
    command = command.replace(str(HERE.parent) + "/", "")
    return re.sub(r"/tmp/rawhttp-bench-[^/]+/", "$TMP/", command)


def run_profile(quick: bool, notes: list[str]) -> dict | None:
    """bench/profile_server.py's figures (rawhttp serve under cProfile and wrk), or None with a
    note when it cannot run."""
    if shutil.which("wrk") is None:
        return None
    print("profile...", flush=True)
    command = [str(BIN / "python"), str(HERE / "profile_server.py"), "--json"]
    command += ["--seconds", "2" if quick else "4"]
    try:
        return json.loads(sh(*command, capture_output=True, text=True).stdout)
    except (subprocess.CalledProcessError, json.JSONDecodeError) as error:
        notes.append(f"profile skipped: {error}")
        return None


def server_starters(www: Path, tmp: Path, missing: set[str], notes: list[str]) -> dict:
    """Per server of SERVERS, a function that starts it (a context manager); those that cannot
    run here are left out, each with a note saying why."""
    pin = {"cores": SERVER_CORE} if (os.cpu_count() or 1) >= 2 and shutil.which("taskset") else {}
    if not pin:
        notes.append("fewer than 2 cores or no taskset: servers and wrk are not pinned")
    python, peers = BIN / "python", HERE / "peer_servers.py"
    starters = {
        "rawhttp": lambda: servers.rawhttp_serve(www, BIN, "--workers", "1", **pin),
        "rawhttp threads": lambda: servers.rawhttp_serve(www, BIN, "--model", "threads", **pin),
        "rawhttp 2 workers": lambda: servers.rawhttp_serve(www, BIN, "--workers", "2"),
        "rawhttp --compress": lambda: servers.rawhttp_serve(
            www, BIN, "--compress", "--workers", "1", **pin
        ),
        "rawhttp --tls": lambda: servers.rawhttp_serve(www, BIN, "--tls", "--workers", "1", **pin),
        "http.server": lambda: servers.http_server(www, **pin),
        "nginx": lambda: servers.nginx(www, tmp / "nginx", **pin),
        "nginx 2 workers": lambda: servers.nginx(www, tmp / "nginx2", 2),
        "lighttpd": lambda: servers.lighttpd(www, tmp / "lighttpd", **pin),
        "twisted": lambda: servers.twisted(www, BIN, tmp, **pin),
        "aiohttp": lambda: servers.python_script(python, peers, "aiohttp", str(www), **pin),
        "tornado": lambda: servers.python_script(python, peers, "tornado", str(www), **pin),
        "uvicorn+starlette": lambda: servers.python_script(
            python, peers, "starlette", str(www), **pin
        ),
        "the floor": lambda: servers.python_script(python, HERE / "floor_server.py", **pin),
    }
    needs = {
        "nginx 2 workers": "nginx",
        "twisted": "twisted",
        "aiohttp": "aiohttp",
        "tornado": "tornado",
        "uvicorn+starlette": "uvicorn",
    }
    absent = set(missing)
    if servers.nginx_path() is None:
        absent.add("nginx")
    if servers.lighttpd_path() is None:
        absent.add("lighttpd")
    if "starlette" in missing:
        absent.add("uvicorn")
    help_text = sh(str(BIN / "rawhttp"), "serve", "--help", capture_output=True, text=True).stdout
    if "--tls" not in help_text:
        starters.pop("rawhttp --tls")
        notes.append("rawhttp --tls skipped: `rawhttp serve` has no --tls in this tree")
    elif "trustme" in missing:
        starters.pop("rawhttp --tls")
        notes.append("rawhttp --tls skipped: trustme (the tls extra) is not in bench/.venv")
    for name in list(starters):
        what = needs.get(name, name)
        if what in absent:
            starters.pop(name)
            notes.append(f"{name} skipped: {what} is not installed")
    if "uvicorn+starlette" in starters:
        parser = sh(str(python), str(peers), "--parser", capture_output=True, text=True)
        notes.append(f"uvicorn's HTTP parser here: {parser.stdout.strip()} (`--http`)")
    return starters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no 1 GiB file")
    parser.add_argument("--only", default="download,small_get,startup,server,large,wire,profile")
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    parser.add_argument(
        "--rerender", action="store_true", help="rewrite RESULTS.md from the last run's figures"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    started = time.monotonic()
    if args.rerender:
        saved = json.loads(LAST_RUN.read_text())
        named = {key: Case.load(data) for key, data in saved["cases"].items()}
        text = report(
            named,
            saved["quick"],
            saved["notes"],
            saved["seconds"],
            saved["when"],
            saved.get("profile"),
        )
        (HERE / "RESULTS.md").write_text(text)
        print(text)
        return
    notes = [source(), *ensure_tools()]
    ensure_venv()
    missing = ensure_peers() if only & {"server", "large"} else set()
    load_before, busy_before, own_before = os.getloadavg()[0], machine_busy(), own_cpu()
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

        with client_server() as server:
            base = str(server)
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
        if "startup" in only:
            print("start-up...", flush=True)
            named["startup"] = startup_case(10 if quick else 30)
        if "server" in only or "large" in only:
            print("servers...", flush=True)
            starters = server_starters(www, tmp, missing, notes)
            runs = (1 if quick else 3) if "server" in only else 0
            large_runs = (2 if quick else 5) if "large" in only else 0
            seconds = 1 if quick else 2  # CPU per request needs no more
            for case in server_cases(starters, runs, seconds, large_runs, notes):
                key = {"keep-alive": "keep", "new conn": "close", "100M": "large"}
                named[next(v for k, v in key.items() if k in case.name)] = case
        if "wire" in only:
            print("wire parser...", flush=True)
            head, chunked = wire_case(quick)
            named["head"], named["chunked"] = head, chunked
    found = run_profile(quick, notes) if "profile" in only else None
    cases = {key: vars(case) for key, case in named.items()}
    seconds = time.monotonic() - started
    others = (machine_busy() - busy_before) - (own_cpu() - own_before)
    notes.append(
        f"other work on the machine: {max(0.0, others) / seconds:.2f} cores busy on average "
        f"during the run, besides the benchmark's own processes (load average {load_before:.2f} "
        f'at the start, {os.getloadavg()[0]:.2f} at the end); the table\'s "others" gives it '
        "per server run"
    )
    when = f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    LAST_RUN.write_text(
        json.dumps(
            {
                "quick": quick,
                "notes": notes,
                "seconds": seconds,
                "when": when,
                "cases": cases,
                "profile": found,
            }
        )
    )
    text = report(named, quick, notes, seconds, when, found)
    print()
    print(text)
    if not args.no_results:
        # A quick run is a smoke test: it must not replace the committed full results.
        results = HERE / ("RESULTS-quick.md" if quick else "RESULTS.md")
        results.write_text(text)
        print(f"written to {results}")


if __name__ == "__main__":
    main()
