"""The complete fetcher: HTTPS, --compressed, -O naming, --timing, --fail, -4/-6, --resolve."""

from __future__ import annotations

import datetime
import gzip
import json
import os
import ssl
import zlib

import pytest
import trustme
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from rawhttp.cli import main
from rawhttp.download import resume_plan
from rawhttp.errors import OutputError
from rawhttp.show.timing import MILESTONES
from rawhttp.sinks import remote_name, unclobbered

PAGE = b"<html><body>" + b"compressible text " * 2000 + b"</body></html>"


def cli(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--timeout", "5"])


# --- HTTPS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def https_server(ca, tmp_path):
    servers = []

    def start(*names: str, **cert_options) -> tuple[HTTPServer, str]:
        cert = ca.issue_cert(*(names or ("localhost", "127.0.0.1")), **cert_options)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
        server.expect_request("/").respond_with_data("secure page")
        server.start()
        servers.append(server)
        cafile = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(cafile))
        return server, str(cafile)

    yield start
    for server in servers:
        server.clear()
        server.stop()


def https_url(server: HTTPServer, host: str = "localhost") -> str:
    return f"https://{host}:{server.port}/"


def test_https_verified_with_cacert(https_server):
    server, cafile = https_server()
    result = cli(https_url(server), "--cacert", cafile, "--body-only", "-v")
    assert result.exit_code == 0, result.output
    assert result.stdout == "secure page"
    assert "* SSL connection using TLSv1." in result.stderr
    assert "*  SSL certificate verify ok." in result.stderr


def test_https_untrusted_is_60(https_server):
    server, _ = https_server()
    result = cli(https_url(server))
    assert result.exit_code == 60
    assert (
        "rawhttp: error: tls: certificate of localhost not trusted (unknown issuer)"
        in result.stderr
    )


def test_https_wrong_host_is_60(https_server):
    server, cafile = https_server("other.test")
    result = cli(https_url(server), "--cacert", cafile)
    assert result.exit_code == 60
    assert "(wrong host)" in result.stderr


def test_https_expired_is_60(https_server):
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    server, cafile = https_server(not_before=past, not_after=past + datetime.timedelta(days=1))
    result = cli(https_url(server), "--cacert", cafile)
    assert result.exit_code == 60
    assert "(expired)" in result.stderr


def test_https_insecure(https_server):
    server, _ = https_server("other.test")
    result = cli(https_url(server), "-k", "--body-only")
    assert (result.exit_code, result.stdout) == (0, "secure page")


def test_tls_to_plain_server_is_35(raw_server):
    server = raw_server([b"HTTP/1.1 400 Bad Request\r\n\r\n"])
    result = cli(f"https://127.0.0.1:{server.port}/", "-k")
    assert result.exit_code == 35
    assert "rawhttp: error: tls: handshake with 127.0.0.1 failed" in result.stderr


def test_plain_get_does_not_import_ssl_or_zlib(raw_server, tmp_path):
    import subprocess
    import sys

    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    code = (
        "import sys; from rawhttp.cli import main\n"
        f"try: main(['get', '{server.url}', '-o', 'x'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in ('ssl', 'zlib', 'json', 'gzip') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=30, cwd=tmp_path
    )
    assert done.stdout.decode().strip().endswith("[]"), done.stdout


# --- --compressed -----------------------------------------------------------------------------


def compressed(coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(PAGE)
    if coding == "raw-deflate":
        squeezer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return squeezer.compress(PAGE) + squeezer.flush()
    return zlib.compress(PAGE)


def encoded_response(body: bytes, coding: str) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n"
        % (coding.encode(), len(body))
    ) + body


@pytest.mark.parametrize(
    ("coding", "header"), [("gzip", "gzip"), ("deflate", "deflate"), ("raw-deflate", "deflate")]
)
def test_compressed_decoded(raw_server, tmp_path, coding, header):
    server = raw_server([encoded_response(compressed(coding), header)])
    target = tmp_path / "page.html"
    result = cli(server.url, "--compressed", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == PAGE
    assert b"Accept-Encoding: gzip, deflate" in server.requests[0]  # (br, zstd if installed)


def test_not_decoded_without_flag(raw_server):
    body = gzip.compress(PAGE)
    server = raw_server([encoded_response(body, "gzip")])
    result = cli(server.url, "--body-only")
    assert result.stdout_bytes == body
    assert b"Accept-Encoding" not in server.requests[0]


@pytest.mark.parametrize(
    "body",
    [
        gzip.compress(PAGE)[:-20],
        b"\x1f\x8b\x08\x00garbage that is not deflate" * 3,
        gzip.compress(PAGE) + b"junk",
    ],
    ids=["truncated", "corrupt", "trailing junk"],
)
def test_corrupt_gzip_is_61_and_leaves_no_file(raw_server, tmp_path, body):
    server = raw_server([encoded_response(body, "gzip")])
    target = tmp_path / "page.html"
    result = cli(server.url, "--compressed", "-o", str(target))
    assert result.exit_code == 61
    assert result.stderr.startswith("rawhttp: error: http: ")
    assert os.listdir(tmp_path) == []


def test_gzip_bomb_memory_is_bounded(raw_server, tmp_path):
    import tracemalloc

    body = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MiB in about 64 KiB
    server = raw_server([encoded_response(body, "gzip")])
    tracemalloc.start()
    result = cli(server.url, "--compressed", "-o", str(tmp_path / "zeros"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.exit_code == 0
    assert (tmp_path / "zeros").stat().st_size == 64 * 1024 * 1024
    assert peak < 16 * 1024 * 1024


# --- file naming --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("/", "index.html"),
        ("/a/b.tar.gz", "b.tar.gz"),
        ("/dir/", "index.html"),
        ("/x%20y.txt?q=1", "x y.txt"),
        ("/x%00", "x%00"),  # a control's escape is kept as written, as curl keeps it
    ],
)
def test_remote_name(target, name):
    assert remote_name(target) == name


@pytest.mark.parametrize("target", ["/a/..", "/%2e%2e", "/a%2fb", "/a%5cb"])
def test_remote_name_refuses_paths(target):
    with pytest.raises(OutputError):
        remote_name(target)


def test_remote_name_cli(raw_server, tmp_path):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    result = cli(
        server.url + "/files/data.bin", "-O", "--output-dir", str(tmp_path / "out"), "--body-only"
    )
    assert result.exit_code == 0
    assert (tmp_path / "out" / "data.bin").read_bytes() == b"ok"


def test_no_clobber(tmp_path, raw_server):
    (tmp_path / "f").write_text("keep")
    assert unclobbered(str(tmp_path / "g")) == str(tmp_path / "g")
    assert unclobbered(str(tmp_path / "f")) == str(tmp_path / "f.1")
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew"])
    result = cli(server.url, "-o", str(tmp_path / "f"), "--no-clobber", "--body-only")
    assert result.exit_code == 0
    assert (tmp_path / "f").read_text() == "keep"
    assert (tmp_path / "f.1").read_text() == "new"


# --- resume decisions (the transfers are tested against rawhttp's server) --------------------


@pytest.mark.parametrize(
    ("status", "content_range", "plan"),
    [
        (206, "bytes 100-199/200", "append"),
        (200, None, "restart"),
        (416, "bytes */100", "complete"),
    ],
)
def test_resume_plan(status, content_range, plan):
    assert resume_plan(100, status, content_range) == plan


@pytest.mark.parametrize(
    ("status", "content_range"), [(206, "bytes 0-99/200"), (416, "bytes */300"), (206, None)]
)
def test_resume_plan_refuses(status, content_range):
    from rawhttp.errors import ResumeError

    with pytest.raises(ResumeError):
        resume_plan(100, status, content_range)


def test_resume_needs_a_file(raw_server):
    result = cli("127.0.0.1:1/", "-C")
    assert result.exit_code == 2


# --- --timing, --fail -----------------------------------------------------------------------


def test_timing_text_fields_in_order(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    result = cli(server.url, "--timing", "--body-only")
    assert result.exit_code == 0
    labels = [
        line.split("  ")[1] if line.startswith("  ") else line
        for line in result.stderr.splitlines()
    ]
    expected = [label for _, label, _ in MILESTONES] + ["address", "head", "body", "mean rate"]
    assert [label.strip() for label in labels] == expected
    assert f"127.0.0.1 port {server.port}" in result.stderr


def test_timing_json(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    result = cli(server.url, "--timing=json", "--body-only")
    data = json.loads(result.stderr)
    assert list(data)[:7] == [name for name, _, _ in MILESTONES]
    steps = [
        data[name]
        for name in (
            "dns_lookup",
            "tcp_connect",
            "request_sent",
            "first_byte",
            "body_done",
            "total",
        )
    ]
    assert steps == sorted(steps)
    assert data["tls_handshake"] is None
    assert (data["port"], data["body_bytes"]) == (server.port, 2)
    assert data["head_bytes"] == len(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")


def test_fail_saves_body_then_22(raw_server, tmp_path):
    server = raw_server([b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nsad!"])
    target = tmp_path / "err.html"
    result = cli(server.url, "--fail", "-o", str(target))
    assert result.exit_code == 22
    assert target.read_bytes() == b"sad!"


# --- address family and pinning ---------------------------------------------------------------


def test_ipv6_literal(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6"], host="::1")
    result = cli(server.url, "-6", "--body-only")
    assert (result.exit_code, result.stdout) == (0, "v6")
    assert b"Host: [::1]:%d" % server.port in server.requests[0]


def test_ipv4_only_refuses_ipv6_literal(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\n\r\n"], host="::1")
    result = cli(server.url, "-4")
    assert result.exit_code == 6
    assert "(IPv4 only)" in result.stderr


def test_ipv6_only_refuses_ipv4_literal(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\n\r\n"])
    assert cli(server.url, "-6").exit_code == 6


def test_resolve_pins_address(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npinned"])
    result = cli(
        f"http://pinned.example:{server.port}/",
        "--resolve",
        f"pinned.example:{server.port}:127.0.0.1",
        "--body-only",
    )
    assert (result.exit_code, result.stdout) == (0, "pinned")
    assert b"Host: pinned.example:%d\r\n" % server.port in server.requests[0]


def test_http10_request_line(raw_server):
    server = raw_server([b"HTTP/1.0 200 OK\r\n\r\nold"])
    result = cli(server.url, "--http1.0", "--body-only")
    assert server.requests[0].startswith(b"GET / HTTP/1.0\r\n")
    assert (result.exit_code, result.stdout) == (0, "old")


# --- progress bar: only on a terminal ----------------------------------------------------------


def run_with_stderr(args: list[str], stderr_fd: int, cwd) -> int:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "rawhttp", "get", *args],
        stdout=subprocess.DEVNULL,
        stderr=stderr_fd,
        timeout=30,
        cwd=cwd,
    )
    return done.returncode


def test_progress_bar_on_a_terminal(raw_server, tmp_path):
    import pty

    body = b"x" * 300_000
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body), body])
    leader, follower = pty.openpty()
    try:
        assert run_with_stderr([server.url, "-o", "f", "-v"], follower, tmp_path) == 0
        os.close(follower)
        shown = b""
        while True:
            try:
                piece = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not piece:
                break
            shown += piece
    finally:
        os.close(leader)
    text = shown.decode()
    assert "100.0% [########################]" in text
    assert "293.0 KiB / 293.0 KiB" in text
    # -v lines are never glued to the bar: each starts on a cleared line.
    assert "\r\x1b[K* Body complete" not in text
    for line in text.replace("\r\n", "\n").split("\n"):
        if "* " in line:
            assert "%" not in line.split("* ")[0]


def test_no_progress_bar_off_a_terminal(raw_server, tmp_path):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    with open(tmp_path / "err", "w") as err:
        assert run_with_stderr([server.url, "-o", "f"], err.fileno(), tmp_path) == 0
    assert (tmp_path / "err").read_text() == ""


def test_no_progress_flag(raw_server, tmp_path):
    import pty

    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    leader, follower = pty.openpty()
    try:
        assert run_with_stderr([server.url, "-o", "f", "--no-progress"], follower, tmp_path) == 0
        os.close(follower)
        try:
            shown = os.read(leader, 65536)
        except OSError:
            shown = b""
    finally:
        os.close(leader)
    assert b"%" not in shown


def test_https_to_http_redirect_is_followed_with_a_warning(https_server, raw_server):
    plain = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain"])
    server, cafile = https_server()
    server.clear()
    server.expect_request("/").respond_with_data(
        "", status=302, headers={"Location": plain.url + "/"}
    )
    result = cli(https_url(server), "--cacert", cafile, "-L", "--body-only")
    assert (result.exit_code, result.stdout) == (0, "plain")
    assert f"rawhttp: warning: redirect from https to plain http: {plain.url}/" in result.stderr


def test_redirect_to_other_scheme_is_refused(raw_server):
    server = raw_server([b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n\r\n"])
    result = cli(server.url, "-L")
    assert result.exit_code == 3
    assert "unsupported scheme 'file'" in result.stderr


def test_output_dir_that_cannot_be_made(raw_server, tmp_path):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    (tmp_path / "file").write_text("a file, not a folder")
    result = cli(server.url + "/x.txt", "-O", "--output-dir", str(tmp_path / "file" / "sub"))
    assert result.exit_code == 23
    assert result.stderr.startswith(
        f"rawhttp: error: file: cannot create {tmp_path / 'file' / 'sub'}"
    )
