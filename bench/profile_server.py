"""Where a keep-alive request's microseconds go in `rawhttp serve`: a profile under wrk load.

    bench/.venv/bin/python bench/profile_server.py [--seconds 4] [--top 15] [--json]

Serves a 1 KiB file with `rawhttp serve DIR --workers 1` twice, each time in a child process
pinned to core 0 with wrk (`-t1 -c50`, keep-alive) on core 1: first as it is, for the CPU per
request (the child's CPU time over the requests wrk completed), then inside cProfile. The child
runs the command line itself (`rawhttp.cli.main`), so the profile covers exactly what `rawhttp
serve` does, whatever the server package looks like inside; the profile starts when the load
does (SIGUSR1), so start-up is not in it. cProfile's own cost per call makes the profiled run
slower (the overhead factor is printed), and more so for functions called often: the table
gives each function's share of the profiled time, its calls per request, and that share of the
unprofiled CPU per request as an estimate. cProfile's clock is wall time, so the loop's wait
for events (mostly idle) is left out of the shares. A second table sums the shares per file.
bench/run.py runs it (`--json`) and puts both tables in RESULTS.md.

Needs wrk and rawhttp importable (bench/.venv has it). Loopback only; the children are always
stopped and the temp folder removed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import servers

SERVER_CORE, WRK_CORE = "0", "1"
CONNECTIONS = 50


def child(root: str, port: int, output: str | None) -> None:
    """Run `rawhttp serve` in this process until SIGTERM; with `output`, under cProfile from
    SIGUSR1 on (so start-up is not in it), and write the profile's rows there as JSON."""
    from rawhttp.cli import main

    sys.argv = ["rawhttp", "serve", root, "--port", str(port), "--workers", "1"]
    profiler = cProfile.Profile() if output else None
    if profiler:
        signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
    try:
        main()
    except SystemExit:
        pass
    finally:
        if profiler:
            profiler.disable()
            Path(output).write_text(json.dumps(rows(pstats.Stats(profiler))))


def rows(stats: pstats.Stats) -> list[dict]:
    """Every function of the profile: where, how often called, its own time and with callees."""
    found = []
    for (file, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():
        where = short_path(file)
        found.append(
            {
                "function": name if file == "~" else f"{where}:{line} {name}",
                "file": where if file != "~" else built_in_kind(name),
                "calls": calls,
                "tottime": tottime,
                "cumtime": cumtime,
            }
        )
    return found


# Built-ins whose time is mostly a system call: socket, file and poll calls.
SYSTEM_CALL_MODULES = ("_socket.", "posix.", "select.", "_io.", "_ssl.")


def built_in_kind(name: str) -> str:
    """The file column of a built-in: system calls apart from the rest (str, bytes, any...)."""
    if any(module in name for module in SYSTEM_CALL_MODULES):
        return "(built-ins: system calls)"
    return "(built-ins: other)"


def waits(function: str) -> bool:
    """The loop's wait for events (epoll, poll, select): cProfile's clock is wall time, so its
    time is mostly the server idle, waiting for wrk, and it is left out of the shares."""
    return re.search(r"'(e?poll|select)' of 'select\.", function) is not None or (
        "select.select" in function
    )


def short_path(file: str) -> str:
    """A path from the package on (rawhttp/server/loop.py, selectors.py), not the machine's."""
    if "/rawhttp/" in file:
        return "rawhttp/" + file.rsplit("/rawhttp/", 1)[1]
    if "/site-packages/" in file:
        return file.split("/site-packages/", 1)[1]
    if match := re.search(r"/lib/python3\.\d+/(.*)", file):
        return match.group(1)
    return os.path.basename(file)


def load(root: Path, seconds: int, profiled: bool, work: Path) -> dict:
    """One wrk run against a child server; its requests, CPU seconds, and profile rows."""
    port = servers.free_port()
    output = work / "profile.json"
    command = [sys.executable, __file__, "--child", str(root), str(port)]
    if profiled:
        command.append(str(output))
    with servers.running(command, port, cores=SERVER_CORE) as server:
        url = f"{server}/small.html"
        subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=True)  # warm
        if profiled:
            server.process.send_signal(signal.SIGUSR1)  # the profile starts with the load
        before = server.cpu_seconds()
        wrk = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", url]
        result = subprocess.run(
            servers.pinned(wrk, WRK_CORE), capture_output=True, text=True, check=True
        )
        cpu = server.cpu_seconds() - before
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(30)
    done = re.search(r"(\d+) requests in", result.stdout)
    if done is None or "Non-2xx" in result.stdout:
        raise RuntimeError(f"wrk failed against rawhttp serve:\n{result.stdout}")
    found = {"requests": int(done.group(1)), "cpu": cpu}
    if profiled:
        found["rows"] = json.loads(output.read_text())
    return found


def profile(seconds: int, top: int) -> dict:
    """The plain run's CPU per request, the profiled run's, and the top rows by own time."""
    with tempfile.TemporaryDirectory(prefix="rawhttp-profile-") as temp:
        work = Path(temp)
        root = work / "www"
        root.mkdir()
        (root / "small.html").write_bytes(os.urandom(1024))
        plain = load(root, seconds, False, work)
        profiled = load(root, seconds, True, work)
    requests = profiled["requests"]
    busy = [row for row in profiled["rows"] if not waits(row["function"])]
    total = sum(row["tottime"] for row in busy)
    files: dict[str, float] = {}
    for row in busy:
        files[row["file"]] = files.get(row["file"], 0.0) + row["tottime"]
    ranked = sorted(busy, key=lambda row: row["tottime"], reverse=True)
    return {
        "seconds": seconds,
        "plain_us": plain["cpu"] / plain["requests"] * 1e6,
        "profiled_us": profiled["cpu"] / requests * 1e6,
        "requests": requests,
        "functions": [
            {
                "function": row["function"],
                "calls_per_request": row["calls"] / requests,
                "share": row["tottime"] / total,
            }
            for row in ranked[:top]
        ],
        "files": [
            {"file": file, "share": own / total}
            for file, own in sorted(files.items(), key=lambda item: item[1], reverse=True)[:top]
        ],
    }


def render(found: dict) -> list[str]:
    """The Markdown section RESULTS.md gets (and the console)."""
    plain = found["plain_us"]
    lines = [
        "## Where the microseconds go",
        "",
        "From `bench/profile_server.py` in this run: `rawhttp serve --workers 1` (its log to "
        f"/dev/null) on core {SERVER_CORE}, wrk -t1 -c{CONNECTIONS} keep-alive on core {WRK_CORE}, "
        f"{found['seconds']} s without and then with cProfile. Unprofiled: {plain:.0f} us of "
        f"CPU per request; profiled: {found['profiled_us']:.0f} us "
        f"({found['profiled_us'] / plain:.1f}x: cProfile's cost per call, heavier on "
        f'functions called often), {found["requests"]:,} requests. "share" is the '
        "function's own time (tottime) over the profile's total, \"est. us\" that share of "
        "the unprofiled figure, an estimate; the wait for events (epoll) is left out, its "
        "wall time being mostly idle. The kernel's side of a system call (for send, the "
        "loopback delivery too) is in the built-in's own time.",
        "",
        "| function (own time) | calls per request | share | est. us per request |",
        "| --- | --- | --- | --- |",
    ]
    for row in found["functions"]:
        name = row["function"].replace("|", "\\|")
        lines.append(
            f"| `{name}` | {row['calls_per_request']:.2f} | {row['share']:.1%} | "
            f"{row['share'] * plain:.1f} |"
        )
    lines += ["", "| file (own time of its functions) | share | est. us per request |"]
    lines += ["| --- | --- | --- |"]
    for row in found["files"]:
        lines.append(f"| {row['file']} | {row['share']:.1%} | {row['share'] * plain:.1f} |")
    return [*lines, ""]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="each wrk run (default 4)")
    parser.add_argument("--top", type=int, default=15, help="rows per table (default 15)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("profile_server.py: wrk is not installed")
    found = profile(args.seconds, args.top)
    print(json.dumps(found) if args.json else "\n".join(render(found)))


if __name__ == "__main__":
    main()
