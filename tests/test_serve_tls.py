"""`serve --tls`: HTTPS from both drivers and from workers, checked with rawhttp's client, curl,
Python's http.client, `openssl s_client` (TLS 1.2 and 1.3) and Chromium; the handshake under
the head deadline and the cap; plain HTTP to the TLS port answered 400; the handshake's log
line; the one-line error without the `tls` extra. The session itself is checked sans-IO, fed
by a client SSLObject over memory BIOs, byte by byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from base64 import b64encode
from pathlib import Path

import pytest
import trustme

import rawhttp
from rawhttp.dial import Options
from rawhttp.server import Server, protocol, running
from rawhttp.server.listener import EVICT_AFTER
from rawhttp.server.tls import PLAIN_HTTP, TLSSession, offered_alpn, server_context

TIMEOUT = 10
MIB = 1024 * 1024
PAGE = b"<!DOCTYPE html><title>over TLS</title><h1>over TLS</h1>\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tls-root")
    (folder / "index.html").write_bytes(PAGE)
    (folder / "big.bin").write_bytes(os.urandom(MIB))
    return folder


@pytest.fixture(params=["events", "threads"])
def model(request) -> str:
    return request.param


@contextlib.contextmanager
def tls_server(root: Path, **options):
    """A TLS server with a CA made at start-up; (server, the log's lines)."""
    lines: list[str] = []
    with Server(root, tls=True, log=lines.append, **options) as server:
        yield server, lines


def get(server: Server, path: str, **kwargs) -> rawhttp.Response:
    url = f"https://localhost:{server.port}{path}"
    options = Options(cafile=server.tls.cafile, read_timeout=TIMEOUT)
    return rawhttp.get(url, options=options, timeout=TIMEOUT, **kwargs)


def client_context(server: Server) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.tls.cafile)


def wait_for(condition, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


# --- clients against both drivers --------------------------------------------------------------


def test_rawhttp_get_a_page_and_1_mib_byte_exact(root, model):
    with tls_server(root, model=model) as (server, lines):
        assert server.url.startswith("https://")
        page = get(server, "/index.html")
        assert (page.status, page.body) == (200, PAGE)
        big = get(server, "/big.bin")
        assert big.status == 200 and big.body == (root / "big.bin").read_bytes()
    assert not any(" - - TLS " in line for line in lines)  # handshakes are logged with -v only


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/self/status")


def test_a_large_file_over_tls_keeps_memory_flat(root, model, tmp_path):
    """64 MiB (sparse) to curl: read, encrypted and sent a piece at a time, so the server's
    process (this one) does not grow by the file's size."""
    big = tmp_path / "sparse.bin"
    with big.open("wb") as file:
        file.truncate(64 * MIB)
    with tls_server(tmp_path, model=model) as (server, _):
        before = peak_rss_mib()
        done = subprocess.run(
            [
                "curl",
                "-sS",
                "--cacert",
                server.tls.cafile,
                "-o",
                "/dev/null",
                "-w",
                "%{size_download}",
                f"https://localhost:{server.port}/sparse.bin",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.stdout == str(64 * MIB), done.stderr
        assert peak_rss_mib() - before < 16


def test_the_server_ends_the_session_with_close_notify(root, model):
    """After `Connection: close` the client reads a clean TLS end (close_notify), not a bare
    TCP FIN, which Python's ssl reports as SSLEOFError."""
    with tls_server(root, model=model) as (server, _):
        raw = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
        with client_context(server).wrap_socket(
            raw, server_hostname="localhost", suppress_ragged_eofs=False
        ) as tls:
            tls.sendall(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            received = b""
            while data := tls.recv(65536):  # SSLEOFError here without close_notify
                received += data
        assert received.startswith(b"HTTP/1.1 200 OK") and received.endswith(PAGE)


def test_keep_alive_several_requests_on_one_tls_connection(root, model):
    """Python's http.client over an ssl context: five answers, one connection, one handshake."""
    with tls_server(root, model=model, verbose=True) as (server, lines):
        conn = http.client.HTTPSConnection(
            "localhost", server.port, context=client_context(server), timeout=TIMEOUT
        )
        try:
            for path in ["/index.html", "/big.bin", "/index.html", "/nope", "/index.html"]:
                conn.request("GET", path)
                answer = conn.getresponse()
                body = answer.read()
                assert answer.status == (404 if path == "/nope" else 200)
                if path == "/big.bin":
                    assert body == (root / "big.bin").read_bytes()
        finally:
            conn.close()
        assert server.accepted == 1
    assert sum("TLS TLSv1.3" in line for line in lines) == 1


def test_curl_with_cacert_downloads_1_mib(root, model, tmp_path):
    with tls_server(root, model=model) as (server, _):
        out = tmp_path / "big.bin"
        done = subprocess.run(
            [
                "curl",
                "-sS",
                "--cacert",
                server.tls.cafile,
                "-o",
                str(out),
                "-w",
                "%{http_code}",
                f"https://localhost:{server.port}/big.bin",
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.stdout == "200", done.stderr
        assert out.read_bytes() == (root / "big.bin").read_bytes()


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_openssl_s_client_each_version(root, model, version):
    with tls_server(root, model=model, verbose=True) as (server, lines):
        request = b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        done = subprocess.run(
            [
                "openssl",
                "s_client",
                "-connect",
                f"127.0.0.1:{server.port}",
                version,
                "-servername",
                "localhost",
                "-alpn",
                "h2,http/1.1",
                "-CAfile",
                server.tls.cafile,
                "-verify_return_error",
                "-ign_eof",
            ],
            input=request,
            capture_output=True,
            timeout=TIMEOUT,
        )
        out = done.stdout.decode("latin-1")
        name = {"-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}[version]
        assert f"Protocol  : {name}" in out or f"New, {name}" in out, out
        assert "ALPN protocol: http/1.1" in out
        assert "HTTP/1.1 200 OK" in out and PAGE.decode() in out
    logged = [line for line in lines if " - - TLS " in line]
    assert len(logged) == 1 and f"TLS {name} " in logged[0]
    assert "server name localhost, ALPN offered h2,http/1.1, chosen http/1.1" in logged[0]


# --- plain HTTP on the TLS port, handshake failures ---------------------------------------------


def test_plain_http_to_the_tls_port_gets_a_400_page(root, model):
    with tls_server(root, model=model) as (server, lines):
        answer = rawhttp.get(f"http://127.0.0.1:{server.port}/", timeout=TIMEOUT)
        assert answer.status == 400
        assert PLAIN_HTTP in answer.text
        assert answer.headers.get("Connection") == "close"
        done = subprocess.run(
            ["curl", "-sS", "-w", "\\n%{http_code}", f"http://127.0.0.1:{server.port}/"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.stdout.endswith("\n400") and PLAIN_HTTP in done.stdout
        assert get(server, "/index.html").status == 200  # the server carries on over TLS
    assert sum('"-" 400' in line for line in lines) == 2


def test_a_client_that_rejects_the_certificate_is_logged(root, model):
    with tls_server(root, model=model) as (server, lines):
        done = subprocess.run(
            ["curl", "-sS", f"https://localhost:{server.port}/"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 60  # curl: the certificate is not trusted
        wait_for(lambda: any("TLS handshake failed" in line for line in lines))
        assert get(server, "/index.html").status == 200


def test_garbage_after_the_handshake_is_logged_and_closed(root, model):
    """A record that does not decrypt, after a good handshake: one log line, the connection
    closed, the server carries on."""
    with tls_server(root, model=model) as (server, lines):
        raw = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
        with (
            client_context(server).wrap_socket(raw, server_hostname="localhost") as tls,
            socket.fromfd(tls.fileno(), socket.AF_INET, socket.SOCK_STREAM) as same,
        ):
            same.sendall(b"\x17\x03\x03\x00\x20" + bytes(32))  # application data
            same.settimeout(TIMEOUT)
            while same.recv(65536):  # the server's alert, then its close
                pass
        assert get(server, "/index.html").status == 200
    assert any(" - - TLS failed: " in line for line in lines)


def test_what_the_client_offered_is_logged_escaped(root):
    with tls_server(root, verbose=True) as (server, lines):
        context = client_context(server)
        context.set_alpn_protocols(["x\ny", "http/1.1"])
        raw = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "http/1.1"
        wait_for(lambda: any(" - - TLS " in line for line in lines))
    assert any("ALPN offered x\\x0ay,http/1.1, chosen" in line for line in lines)


# --- deadlines and the cap ----------------------------------------------------------------------


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Wait for the server to close `sock`; how long it took."""
    started = time.monotonic()
    sock.settimeout(seconds)
    with contextlib.suppress(ConnectionResetError):
        while sock.recv(4096):
            pass
    return time.monotonic() - started


def test_a_silent_client_is_closed_by_the_deadline_and_blocks_nobody(root, model):
    with (
        tls_server(root, model=model, idle_timeout=0.6) as (server, lines),
        socket.create_connection((server.host, server.port), timeout=TIMEOUT) as silent,
    ):
        started = time.monotonic()
        assert get(server, "/index.html").status == 200  # served meanwhile
        assert closed_within(silent, 5) + (time.monotonic() - started) < 3
    assert any("TLS handshake not done within" in line for line in lines)


def half_client_hello() -> bytes:
    """The first half of a real ClientHello: a handshake that can never finish."""
    hello = client_hello(["http/1.1"])
    return hello[: len(hello) // 2]


def test_a_trickled_handshake_is_closed_by_the_head_deadline(root, model, monkeypatch):
    """Half a ClientHello, then a byte every 0.2 s: never silent long enough for the idle
    deadline (2 s), closed by the head's (1 s), as a trickled head is."""
    monkeypatch.setattr(protocol, "HEAD_TIMEOUT", 1.0)
    piece = half_client_hello()
    with (
        tls_server(root, model=model, idle_timeout=2) as (server, lines),
        socket.create_connection((server.host, server.port), timeout=TIMEOUT) as slow,
    ):
        slow.sendall(piece[:40])
        started = time.monotonic()
        closed = False
        for byte in piece[40:]:
            time.sleep(0.2)
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if time.monotonic() - started > 1.5:
                break
        assert get(server, "/index.html").status == 200
        assert closed or closed_within(slow, 3) < 3
        assert time.monotonic() - started < 3
    assert any("TLS handshake not done within the head timeout" in line for line in lines)


def test_the_cap_counts_handshaking_connections(root, model):
    """Two silent connections fill a cap of two: a newcomer is refused at once, and once they
    have waited EVICT_AFTER one is closed to make room, as a slow head is."""
    with tls_server(root, model=model, max_connections=2) as (server, lines):
        address = (server.host, server.port)
        with contextlib.ExitStack() as stack:
            for _ in range(2):
                stack.enter_context(socket.create_connection(address, timeout=TIMEOUT))
            wait_for(lambda: server.active == 2)
            with socket.create_connection(address, timeout=TIMEOUT) as third:
                assert third.recv(100).startswith(b"HTTP/1.1 503 ")
            time.sleep(EVICT_AFTER + 0.2)
            assert get(server, "/index.html").status == 200
    assert any("closed as too slow (handshake)" in line for line in lines)


# --- the command line: workers, the printed commands, certificates, the extra -------------------


def run_serve(root: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rawhttp", "serve", str(root), "--port", "0", "--tls", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def started(process: subprocess.Popen, lines: int) -> list[str]:
    out = [process.stdout.readline() for _ in range(lines)]
    assert all(out), process.stderr.read()
    return out


def stop(process: subprocess.Popen) -> str:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    return err


def test_serve_tls_with_two_workers_prints_commands_that_work(root):
    process = run_serve(root, "--workers", "2", "-v")
    try:
        first, note, rawhttp_line, curl_line = started(process, 4)
        port = re.search(r"https://127\.0\.0\.1:(\d+)/", first)[1]
        assert "2 workers" in first
        cafile = re.search(r"its CA file \(removed at exit\) is (\S+)", note)[1]
        assert rawhttp_line.split() == [
            "rawhttp",
            "get",
            f"https://localhost:{port}/",
            "--cacert",
            cafile,
        ]
        assert curl_line.split() == ["curl", "--cacert", cafile, f"https://localhost:{port}/"]
        ours = subprocess.run(
            [sys.executable, "-m", "rawhttp", *rawhttp_line.split()[1:], "--body-only"],
            capture_output=True,
            timeout=TIMEOUT,
        )
        assert (ours.returncode, ours.stdout) == (0, PAGE), ours.stderr
        for _ in range(6):  # spread over both workers
            theirs = subprocess.run(
                [*curl_line.split(), "-sS"], capture_output=True, timeout=TIMEOUT
            )
            assert theirs.stdout == PAGE, theirs.stderr
    finally:
        err = stop(process)
    assert err.count("ALPN offered h2,http/1.1, chosen http/1.1") == 6
    assert not os.path.exists(cafile)  # the CA made for the run is removed at exit


def test_given_cert_and_key(root, tmp_path):
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    cert, key, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(cafile))
    with running(root, cert=cert, key=key) as url:
        assert url.startswith("https://127.0.0.1:")
        port = url.rsplit(":", 1)[1]
        options = Options(cafile=str(cafile))
        answer = rawhttp.get(f"https://localhost:{port}/", options=options, timeout=TIMEOUT)
        assert answer.body == PAGE


def test_running_writes_the_ca_where_asked(root, tmp_path):
    cafile = tmp_path / "ca.pem"
    with running(root, tls=True, ca_file=cafile) as url:
        options = Options(cafile=str(cafile))
        answer = rawhttp.get(url.replace("127.0.0.1", "localhost"), options=options)
        assert answer.status == 200
    assert cafile.exists()  # the caller's file is the caller's to remove


def test_a_bad_certificate_is_one_line_exit_2(root, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    process = run_serve(root, "--cert", str(junk))
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 2
    assert err.startswith(f"rawhttp: error: tls: cannot load the certificate {junk}: ")
    assert err.count("\n") == 1 and out == ""


def test_without_the_tls_extra_one_line_naming_it(root, tmp_path):
    """trustme made unimportable (a module of that name that raises ImportError, first on the
    path): --tls without --cert says which extra it needs; with --cert it does not need it."""
    (tmp_path / "trustme.py").write_text("raise ImportError('blocked by the test')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    process = run_serve(root, env=env)
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 2
    assert err == (
        "rawhttp: error: tls: serve --tls without --cert needs the optional extra: "
        "pip install 'rawhttp[tls]'\n"
    )
    assert out == ""


def test_cert_without_tls_is_a_usage_error(root, tmp_path):
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "rawhttp", "serve", str(root), "--cert", str(cert)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 2 and "--cert and --key are for --tls" in done.stderr


# --- Chromium ------------------------------------------------------------------------------------


def spki_hash(server: Server) -> str:
    """The base64 SHA-256 of the served certificate's public key, as Chromium's
    --ignore-certificate-errors-spki-list takes it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    context = ssl.create_default_context(cafile=server.tls.cafile)
    with (
        socket.create_connection((server.host, server.port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    key = x509.load_der_x509_certificate(der).public_key()
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.mark.slow
def test_chromium_loads_a_page_over_tls(root, model):
    from test_browser_forms import browser

    command = browser()
    with (
        tls_server(root, model=model, verbose=True) as (server, lines),
        tempfile.TemporaryDirectory() as profile,
    ):
        done = subprocess.run(
            [
                command,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--ignore-certificate-errors-spki-list={spki_hash(server)}",
                "--dump-dom",
                f"https://localhost:{server.port}/index.html",
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert "<h1>over TLS</h1>" in done.stdout, done.stderr[-2000:]
    assert any('"GET /index.html HTTP/1.1" 200' in line for line in lines)
    assert any("chosen http/1.1" in line and "server name localhost" in line for line in lines)


# --- the session, sans-IO -----------------------------------------------------------------------


def client_hello(alpn: list[str]) -> bytes:
    """The first flight of a client SSLObject: its ClientHello record."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_offered_alpn_read_from_the_client_hello():
    assert offered_alpn(client_hello(["h2", "http/1.1"])) == ["h2", "http/1.1"]
    assert offered_alpn(client_hello(["http/1.1"])) == ["http/1.1"]
    hello = client_hello(["h2"])
    assert offered_alpn(hello[:60]) is None  # cut short: not read past its end
    assert offered_alpn(b"GET / HTTP/1.1\r\n") is None


def test_a_session_fed_one_byte_at_a_time():
    """A client SSLObject and a TLSSession talking through memory only, every byte the
    server receives fed on its own: handshake, a request, an answer, close_notify."""
    ca = trustme.CA()
    context = server_context()
    ca.issue_cert("localhost").configure_cert(context)
    session = TLSSession(context, verbose=True)  # keeps the ClientHello for summary()
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    client_context.set_alpn_protocols(["http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(incoming, outgoing, server_hostname="localhost")

    def to_server() -> bytes:
        plaintext = b""
        for byte in outgoing.read():
            plaintext += session.receive(bytes([byte]))
        incoming.write(session.outgoing())
        return plaintext

    for _ in range(5):
        with contextlib.suppress(ssl.SSLWantReadError):
            client.do_handshake()
            break
        assert to_server() == b""
    assert to_server() == b""  # the client's Finished
    assert session.state == "open" and client.selected_alpn_protocol() == "http/1.1"
    client.write(b"GET / HTTP/1.1\r\n\r\n")
    assert to_server() == b"GET / HTTP/1.1\r\n\r\n"
    incoming.write(session.wrap(b"HTTP/1.1 204 No Content\r\n\r\n"))
    assert client.read(100) == b"HTTP/1.1 204 No Content\r\n\r\n"
    with contextlib.suppress(ssl.SSLWantReadError):
        client.unwrap()
    to_server()
    assert session.state == "closed"
    assert "server name localhost, ALPN offered http/1.1, chosen http/1.1" in session.summary()


def test_plain_bytes_make_the_session_plain():
    from rawhttp.server.tls import NotTLS

    session = TLSSession(server_context())
    with pytest.raises(NotTLS):
        session.receive(b"GET / HTTP/1.1\r\n")
    assert session.wrap(b"HTTP/1.1 400 Bad Request\r\n") == b"HTTP/1.1 400 Bad Request\r\n"
