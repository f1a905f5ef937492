"""The servers the benchmarks talk to, each started on a loopback port and always stopped.

nginx runs with its own configuration, pid file, logs and temp folders in the benchmark's temp
folder (`-p PREFIX -e LOG -g 'daemon off;'`), `sendfile on`, one worker or more (then each
worker listens on its own socket, `reuseport`, as `rawhttp serve --workers N` does), so it never
touches the system's nginx; lighttpd likewise (`-D -f CONF`, its config in the temp folder).
`rawhttp serve`, `python -m http.server`, twisted and the Python peers of peer_servers.py run
with their log lines dropped. `running` yields a `Running` (the base URL and the process), so
that the benchmark can read the server's CPU time and memory, its workers' included; with
`cores` ("0") the server is started under `taskset -c`, so that it and every process and thread
it starts stay on those cores.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

NGINX_CONF = """\
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ text/html html; application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port}{reuseport};
        root {root};
    }}
}}
"""
# lighttpd (Debian's 1.4), one process; keep-alive as long as nginx's (its counter is 16-bit).
LIGHTTPD_CONF = """\
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
{user}server.max-keep-alive-requests = 65535
server.max-keep-alive-idle = 60
mimetype.assign = (".html" => "text/html", ".bin" => "application/octet-stream")
"""


def nginx_path() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None
    )


def lighttpd_path() -> str | None:
    return shutil.which("lighttpd") or next(
        (p for p in ("/usr/sbin/lighttpd", "/usr/local/sbin/lighttpd") if os.path.exists(p)), None
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}: {process.args}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout} s: {process.args}")


class Running:
    """A server started by `running`: its base URL (`str()` of it too), its process, and the
    cores it is pinned to (None: any)."""

    def __init__(self, url: str, process: subprocess.Popen, cores: str | None = None):
        self.url = url
        self.process = process
        self.cores = cores

    def __str__(self) -> str:
        return self.url

    def pids(self) -> list[int]:
        """The server's process and every descendant (nginx's or rawhttp's workers)."""
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        family, grew = {self.process.pid}, True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in family} - family
            family |= more
            grew = bool(more)
        return sorted(family)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by the server's processes (live ones)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def rss_mib(self) -> float:
        """Resident memory of the server's processes now, summed (MiB)."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024


def pinned(command: list[str], cores: str | None) -> list[str]:
    """`command` under `taskset -c CORES` (the same command when `cores` is None)."""
    return ["taskset", "-c", cores, *command] if cores else command


@contextlib.contextmanager
def running(
    command: list[str], port: int, scheme: str = "http", cores: str | None = None, **popen
) -> Iterator[Running]:
    """Run a server process until the block ends; yields it (str() is its base URL)."""
    process = subprocess.Popen(
        pinned(command, cores), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen
    )
    try:
        wait_listening(port, process)
        yield Running(f"{scheme}://127.0.0.1:{port}", process, cores)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextlib.contextmanager
def nginx(root: Path, prefix: Path, workers: int = 1, **run) -> Iterator[Running]:
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    reuseport = " reuseport" if workers > 1 else ""
    conf.write_text(
        NGINX_CONF.format(prefix=prefix, port=port, root=root, workers=workers, reuseport=reuseport)
    )
    command = [nginx_path(), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    with running([*command, "-g", "daemon off;"], port, **run) as server:
        yield server


@contextlib.contextmanager
def lighttpd(root: Path, prefix: Path, **run) -> Iterator[Running]:
    """lighttpd in the foreground (`-D`), its config in `prefix`, its errors on stderr."""
    binary = lighttpd_path()
    if binary is None:
        raise FileNotFoundError("lighttpd is not installed")
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = prefix / "lighttpd.conf"
    user = 'server.username = "nobody"\n' if os.geteuid() == 0 else ""  # as nginx's worker
    conf.write_text(LIGHTTPD_CONF.format(root=root, port=port, user=user))
    with running([binary, "-D", "-f", str(conf)], port, **run) as server:
        yield server


@contextlib.contextmanager
def rawhttp_serve(root: Path, bin_dir: Path, *options: str, **run) -> Iterator[Running]:
    """`rawhttp serve ROOT` with `options` (`--workers 2`, `--model threads`, `--tls`)."""
    port = free_port()
    command = [str(bin_dir / "rawhttp"), "serve", str(root), "--port", str(port), *options]
    with running(command, port, "https" if "--tls" in options else "http", **run) as server:
        yield server


@contextlib.contextmanager
def http_server(root: Path, **run) -> Iterator[Running]:
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with running([*command, "--directory", str(root)], port, **run) as server:
        yield server


@contextlib.contextmanager
def twisted(root: Path, bin_dir: Path, workdir: Path, **run) -> Iterator[Running]:
    """`twistd -n web --path ROOT` from the bench venv: no pid file, its log to stdout (dropped)."""
    twistd = bin_dir / "twistd"
    if not twistd.exists():
        raise FileNotFoundError("twisted is not installed in bench/.venv")
    port = free_port()
    command = [str(twistd), "-n", "--pidfile=", "--logfile=-", "web", "--path", str(root)]
    command += ["--listen", f"tcp:{port}:interface=127.0.0.1"]
    with running(command, port, cwd=workdir, **run) as server:
        yield server


@contextlib.contextmanager
def python_script(python: Path, script: Path, *args: str, **run) -> Iterator[Running]:
    """`python SCRIPT ARGS... PORT`: floor_server.py, or peer_servers.py PEER ROOT."""
    port = free_port()
    with running([str(python), str(script), *args, str(port)], port, **run) as server:
        yield server
