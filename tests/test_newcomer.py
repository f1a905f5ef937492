"""What a newcomer meets on a walk through the README, each seen once going wrong.

-o's FILE checked before connecting; every address named when localhost refuses; --explain's
note about the loopback honest and `Trailer` known; -4 with -6 refused; a plain request to a
TLS port said to be one; --show-code --compressed decoding as rawhttp does; usage errors in two
lines; IDN hosts and IPv6 zone ids as curl sends them. curl runs beside where the item names
curl's behaviour.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading

import pytest

CURL = shutil.which("curl")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def rawhttp(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rawhttp", *args],
        capture_output=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1"},
        **kwargs,
    )


def test_a_missing_output_folder_is_found_before_connecting(raw_server, tmp_path):
    server = raw_server([OK])
    target = tmp_path / "nowhere" / "page.html"
    done = rawhttp("get", server.url + "/", "-o", str(target))
    assert done.returncode == 23
    assert server.accepted == 0  # nothing was sent
    assert done.stderr.decode() == (
        f"rawhttp: error: file: cannot write {target}: No such file or directory "
        f"(its folder {target.parent})\n"
    )
    assert b".part" not in done.stderr


def test_an_output_that_is_a_folder_is_refused_before_connecting(raw_server, tmp_path):
    server = raw_server([OK])
    done = rawhttp("get", server.url + "/", "-o", str(tmp_path))
    assert done.returncode == 23
    assert server.accepted == 0
    assert b"it is a folder" in done.stderr


def test_localhost_refusing_names_every_address_tried(refused_port):
    done = rawhttp("get", f"http://localhost:{refused_port}/")
    assert done.returncode == 7
    line = done.stderr.decode()
    assert line.count("\n") == 1
    assert "127.0.0.1: Connection refused" in line and "::1: " in line


def test_explain_says_the_added_loopback_is_tried_only_if_needed(raw_server):
    server = raw_server([OK])
    done = rawhttp("get", f"http://localhost:{server.port}/", "--explain", "-4")
    assert done.returncode == 0
    assert b"tried too" not in done.stderr
    done = rawhttp("get", f"http://localhost:{server.port}/", "--explain")
    text = done.stderr.decode()
    assert "tried too" not in text
    if "added to getaddrinfo's answer" in text:  # /etc/hosts lists one loopback only
        assert "tried if the addresses before fail" in text


def test_explain_knows_the_trailer_field(raw_server):
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
        b"2\r\nok\r\n0\r\nX-Sum: 1\r\n\r\n"
    )
    server = raw_server([chunked])
    done = rawhttp("get", server.url + "/", "--explain")
    assert done.returncode == 0
    text = done.stderr.decode()
    after = text[text.index("Trailer: X-Sum") :].splitlines()[1]
    assert "not in rawhttp's table" not in after
    assert "trailer" in after


def test_ipv4_and_ipv6_together_are_a_usage_error(raw_server):
    """curl takes the last of -4 and -6; rawhttp refuses to guess (on purpose)."""
    server = raw_server([OK])
    assert subprocess.run([CURL, "-s", "-4", "-6", server.url], timeout=30).returncode != 2
    done = rawhttp("get", "-4", "-6", server.url + "/")
    assert done.returncode == 2
    assert server.accepted == 0  # nothing sent (curl's -6 found no IPv6 address to try)
    assert done.stderr.decode().splitlines()[0].startswith("rawhttp: error: usage: -4 and -6")


@pytest.mark.parametrize(
    "args",
    [
        ["get", "--no-such-flag", "http://x/"],
        ["get"],
        ["get", "--timeout", "soon", "http://x/"],
        ["nonsense"],
        ["serve", "--model", "fibres"],
    ],
)
def test_usage_errors_are_two_short_lines(args):
    done = rawhttp(*args)
    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("rawhttp: error: usage: ")
    assert lines[1].startswith("Try '") and lines[1].endswith(" --help'.")


def _tls_server(tmp_path) -> tuple[socket.socket, threading.Thread]:
    """An OpenSSL server (Python's ssl) on a loopback port: it closes a plain request."""
    import trustme

    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        for _ in range(3):  # rawhttp's plain request and ClientHello probe, curl's request
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(5)
            with conn, contextlib.suppress(OSError):  # ssl.SSLError is an OSError
                context.wrap_socket(conn, server_side=True).close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_plain_http_to_a_tls_port_says_so(tmp_path):
    listener, thread = _tls_server(tmp_path)
    port = listener.getsockname()[1]
    try:
        done = rawhttp("get", f"http://127.0.0.1:{port}/")
        theirs = subprocess.run([CURL, "-sS", f"http://127.0.0.1:{port}/"], timeout=30)
    finally:
        thread.join(10)
        listener.close()
    line = done.stderr.decode()
    assert done.returncode in (52, 56)  # curl's codes for this: the same
    assert theirs.returncode in (52, 56)
    assert "the server speaks TLS on this port" in line
    assert f"try https://127.0.0.1:{port}/" in line
    assert line.count("\n") == 1


def test_plain_http_failure_elsewhere_does_not_mention_tls(raw_server):
    server = raw_server([b""])  # an empty reply from a plain server
    done = rawhttp("get", server.url + "/")
    assert done.returncode == 52
    assert b"TLS" not in done.stderr


def test_show_code_compressed_program_decodes_gzip(raw_server, tmp_path):
    content = b"<p>" + b"squeeze me " * 200 + b"</p>\n"
    packed = gzip.compress(content)
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "
        + str(len(packed)).encode()
        + b"\r\n\r\n"
        + packed
    )
    server = raw_server([response])
    shown = rawhttp("get", "--show-code", "--compressed", server.url + "/")
    assert shown.returncode == 0
    program = tmp_path / "fetch.py"
    program.write_bytes(shown.stdout)
    saved = tmp_path / "body"
    ran = subprocess.run(
        [sys.executable, str(program), str(saved)], capture_output=True, timeout=30
    )
    assert ran.returncode == 0, ran.stderr
    assert saved.read_bytes() == content


def test_show_code_without_compressed_keeps_the_bytes(raw_server, tmp_path):
    server = raw_server([OK])
    shown = rawhttp("get", "--show-code", server.url + "/")
    assert b"zlib" not in shown.stdout


def test_idn_host_as_curl_sends_it(raw_server):
    """IDNA 2008 with UTS 46: `faß.test` is `xn--fa-hia.test` (IDNA 2003 made it fass.test)."""
    server = raw_server([OK])
    pin = f"xn--fa-hia.test:{server.port}:127.0.0.1"
    url = f"http://faß.test:{server.port}/"
    theirs = subprocess.run([CURL, "-s", "--resolve", pin, url], capture_output=True, timeout=30)
    ours = rawhttp("get", "--resolve", pin, url)
    assert theirs.returncode == ours.returncode == 0, ours.stderr
    hosts = [request.split(b"\r\n")[1] for request in server.requests]
    assert hosts == [f"Host: xn--fa-hia.test:{server.port}".encode()] * 2


def test_bad_international_names_are_one_line(raw_server):
    done = rawhttp("get", "http://a\u200db.test/")  # a joiner with no context: not IDNA 2008
    assert done.returncode == 3
    assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr


def test_zone_id_connects_but_is_not_sent_in_host(raw_server):
    """RFC 6874's `[::1%25lo]`: the zone picks the interface; Host names the address alone,
    as curl sends it."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        server = raw_server([OK], host="::1")
    except OSError:
        pytest.skip("no ::1 here")
    url = f"http://[::1%25lo]:{server.port}/"
    ours = rawhttp("get", url)
    theirs = subprocess.run([CURL, "-s", url], capture_output=True, timeout=30)
    assert ours.returncode == 0, ours.stderr
    assert theirs.returncode == 0
    hosts = [request.split(b"\r\n")[1] for request in server.requests]
    assert hosts == [f"Host: [::1]:{server.port}".encode()] * 2


def test_make_demo_installs_only_what_the_demo_needs(tmp_path):
    """`make -n` (what make would run) in a fresh folder: demo installs rawhttp alone, test
    adds the test extra."""
    from worksheets import ROOT

    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)

    def planned(target: str) -> str:
        done = subprocess.run(["make", "-n", target], cwd=tmp_path, capture_output=True, timeout=30)
        return done.stdout.decode()

    demo = planned("demo")
    assert "pip install -q -e . " in demo and "[test]" not in demo
    assert "pip install -q -e '.[test]'" in planned("test")
