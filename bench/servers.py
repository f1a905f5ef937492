"""The servers the benchmarks talk to, each started on a loopback port and always stopped.

nginx runs with its own configuration, pid file, logs and temp folders in the benchmark's temp
folder (`-p PREFIX -e LOG -g 'daemon off;'`), one worker, `sendfile on`, so it never touches the
system's nginx. `rawhttp serve` and `python -m http.server` run with their log lines dropped.
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
worker_processes 1;
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
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def nginx_path() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None
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


@contextlib.contextmanager
def running(command: list[str], port: int, **popen) -> Iterator[str]:
    """Run a server process until the block ends; yields its base URL."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen
    )
    try:
        wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextlib.contextmanager
def nginx(root: Path, prefix: Path) -> Iterator[str]:
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, root=root))
    command = [nginx_path(), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    with running([*command, "-g", "daemon off;"], port) as url:
        yield url


@contextlib.contextmanager
def rawhttp_serve(root: Path, bin_dir: Path) -> Iterator[str]:
    port = free_port()
    with running([str(bin_dir / "rawhttp"), "serve", str(root), "--port", str(port)], port) as url:
        yield url


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with running([*command, "--directory", str(root)], port) as url:
        yield url
