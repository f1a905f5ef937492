"""rawhttp's client against nginx, the server most of the web runs on (DESIGN.md section 4).

nginx runs on 127.0.0.1 with its own configuration, pid file and temp folders in tmp_path,
serving samples/site. CI installs it (`.ci/run`), and there a missing nginx fails these tests;
on a machine without it they are skipped.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import socket
import subprocess
import time

import pytest
from click.testing import CliRunner

import rawhttp
from rawhttp.cli import main
from rawhttp.server import sample_site

CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    keepalive_timeout 5;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ text/html html; text/plain txt; text/css css; application/octet-stream bin; }}
    gzip on;
    gzip_types text/plain text/css;
    gzip_min_length 10;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location = /moved {{ return 301 /index.html; }}
        location = /teapot {{ return 418 "short and stout"; }}
        location /uploads/ {{ root {prefix}; dav_methods PUT; client_max_body_size 4m; }}
        location /tiny/ {{ root {prefix}; dav_methods PUT; client_max_body_size 1k; }}
    }}
}}
"""


nginx_prefix: list = [None]  # where the running nginx keeps its files (uploads land there)


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    return found or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory) -> str:
    binary = nginx_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run should have installed it")
        pytest.skip("nginx is not installed")
    prefix = tmp_path_factory.mktemp("nginx")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (prefix / "uploads").mkdir()
    (prefix / "tiny").mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(CONF.format(prefix=prefix, port=port, root=sample_site()))
    command = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, process)
        nginx_prefix[0] = prefix
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {process.stderr.read().decode()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nginx is not listening on port {port}")


def cli(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--timeout", "5"])


SITE = sample_site()


def test_file_with_content_length(nginx):
    response = rawhttp.get(nginx + "/index.html", timeout=5)
    assert response.status == 200
    assert response.headers["Server"].startswith("nginx")
    assert response.body == (SITE / "index.html").read_bytes()


def test_big_file_to_disk_identical(nginx, tmp_path):
    target = tmp_path / "big.bin"
    result = cli(nginx + "/files/big.bin", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == (SITE / "files" / "big.bin").read_bytes()


def test_gzip_is_chunked_and_decoded(nginx, tmp_path):
    target = tmp_path / "notes.txt"
    result = cli(nginx + "/files/notes.txt", "--compressed", "-o", str(target), "-v")
    assert result.exit_code == 0, result.output
    assert "Content-Encoding: gzip" in result.stdout
    assert "* Body framing: chunked" in result.stderr  # nginx compresses on the fly
    assert target.read_bytes() == (SITE / "files" / "notes.txt").read_bytes()


def test_gzip_kept_as_received_without_the_flag(nginx):
    result = cli(nginx + "/files/notes.txt", "-H", "Accept-Encoding: gzip", "--body-only")
    assert gzip.decompress(result.stdout_bytes) == (SITE / "files" / "notes.txt").read_bytes()


def test_head(nginx):
    result = cli(nginx + "/index.html", "-I")
    assert result.exit_code == 0
    size = (SITE / "index.html").stat().st_size
    assert f"Content-Length: {size}\r\n" in result.stdout_bytes.decode()
    assert result.stdout_bytes.endswith(b"\r\n\r\n")


def test_resume_with_range(nginx, tmp_path):
    data = (SITE / "files" / "big.bin").read_bytes()
    (tmp_path / "big.bin.part").write_bytes(data[:123_456])
    result = cli(nginx + "/files/big.bin", "-C", "-o", str(tmp_path / "big.bin"))
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"HTTP/1.1 206 Partial Content\r\n")
    assert (tmp_path / "big.bin").read_bytes() == data


def test_redirect_followed(nginx):
    result = cli(nginx + "/moved", "-L", "--body-only")
    assert result.exit_code == 0
    assert result.stdout_bytes == (SITE / "index.html").read_bytes()


def test_several_urls_share_one_connection(nginx):
    result = cli(
        nginx + "/index.html", nginx + "/style.css", nginx + "/files/notes.txt", "-v", "--body-only"
    )
    assert result.exit_code == 0
    assert result.stderr.count("* Reusing connection") == 2
    assert result.stderr.count("* Connected to") == 1


def test_error_status_with_fail(nginx):
    result = cli(nginx + "/teapot", "--fail", "--body-only")
    assert result.exit_code == 22
    assert result.stdout == "short and stout"


def test_404(nginx):
    response = rawhttp.get(nginx + "/nothing-here", timeout=5)
    assert response.status == 404
    assert b"404 Not Found" in response.body


# --- request bodies: framing, limits and 100-continue from nginx's side ---------------------------


def test_put_with_content_length_and_chunked_reach_nginx(nginx, tmp_path):
    path = tmp_path / "up.bin"
    path.write_bytes(os.urandom(20_000))
    assert cli(f"{nginx}/uploads/a.bin", "-T", str(path)).exit_code == 0
    assert (nginx_prefix[0] / "uploads" / "a.bin").read_bytes() == path.read_bytes()
    result = CliRunner().invoke(
        main, ["get", f"{nginx}/uploads/b.bin", "-T", "-", "-v"], input=b"chunked body"
    )
    assert result.exit_code == 0 and "> Transfer-Encoding: chunked" in result.stderr
    assert (nginx_prefix[0] / "uploads" / "b.bin").read_bytes() == b"chunked body"


def test_nginx_says_100_continue_to_a_large_upload(nginx, tmp_path):
    path = tmp_path / "large.bin"
    path.write_bytes(os.urandom(1024 * 1024 + 1))
    result = cli(f"{nginx}/uploads/large.bin", "-T", str(path), "-v")
    assert result.exit_code == 0, result.output
    assert "* The server said 100 Continue: sending the body" in result.stderr
    assert (nginx_prefix[0] / "uploads" / "large.bin").read_bytes() == path.read_bytes()


def test_nginx_refuses_a_large_body_before_it_is_sent(nginx, tmp_path):
    path = tmp_path / "large.bin"
    path.write_bytes(b"x" * (1024 * 1024 + 1))
    result = cli(f"{nginx}/tiny/large.bin", "-T", str(path), "-v")
    assert result.stdout.startswith("HTTP/1.1 413 ")
    assert "* Request body not sent: the server answered 413" in result.stderr
    small = cli(f"{nginx}/tiny/small.bin", "-d", "x" * 2000)
    assert small.stdout.startswith("HTTP/1.1 413 ")


def test_a_post_to_a_static_file_is_405_from_nginx(nginx):
    result = cli(f"{nginx}/index.html", "-d", "a=1")
    assert result.exit_code == 0 and result.stdout.startswith("HTTP/1.1 405 ")
