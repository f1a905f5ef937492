"""`serve --proxy`: curl and rawhttp's client through it to our server, `serve --tls` and
nginx; what the origin receives (no hop-by-hop field, no proxy credential, a Via); what the
log shows (the whole request for http://, only CONNECT and the SNI for https://); the rules
(403, 508), the upstream failing (502, 504), a close-delimited answer re-framed, and the
tunnel's flat memory and idle deadline. Both models; loopback only.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner
from conftest import HANG, read_answer
from test_nginx import nginx  # noqa: F401  (the module-scoped fixture)

from rawhttp.cli import main
from rawhttp.server import Server, running, sample_site
from rawhttp.server.exchange import StatusPage
from rawhttp.server.proxy import (
    MAX_FORWARDED_BODY,
    ProxyRules,
    split_authority,
    without_hop_by_hop,
)
from rawhttp.wire import Headers

TIMEOUT = 10
SITE = sample_site()
PROXY_VARIABLES = "http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy"
NO_PROXY_ENV = dict.fromkeys([*PROXY_VARIABLES.split(), "NO_PROXY"])


@contextlib.contextmanager
def proxy_server(**options):
    """A `serve --proxy` in a thread: (server, its log lines)."""
    lines: list[str] = []
    with Server(SITE, proxy=True, log=lines.append, **options) as server:
        yield server, lines


@pytest.fixture
def proxy(server_model):
    with proxy_server() as found:
        yield found


@pytest.fixture
def echo_origin():
    with Server(SITE, echo=True, log=lambda line: None) as server:
        yield server


@pytest.fixture(scope="module")
def tls_origin(tmp_path_factory):
    """`serve --tls` on the sample site: (base URL on localhost, its CA file)."""
    cafile = tmp_path_factory.mktemp("tls") / "ca.pem"
    with running(SITE, tls=True, ca_file=cafile, log=lambda line: None) as url:
        yield url.replace("127.0.0.1", "localhost"), str(cafile)


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["curl", "-sS", "--max-time", str(TIMEOUT), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 5,
        env={"PATH": "/usr/bin:/bin"},
    )


def get(*args: str):
    """`rawhttp get ARGS` in-process, with no proxy variable set."""
    return CliRunner().invoke(main, ["get", *args, "--timeout", "5"], env=NO_PROXY_ENV)


def logged(lines: list[str], needle: str, timeout: float = 3.0) -> str:
    """The log line holding `needle`, once written (a tunnel's when it has closed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in list(lines) if needle in line]
        if found:
            return found[-1]
        time.sleep(0.02)
    raise AssertionError(f"no log line with {needle!r} in {lines}")


def connect_through(server, target: str, timeout: float = 5.0) -> socket.socket:
    """A socket through the proxy's tunnel to `target` (the 200 read)."""
    sock = socket.create_connection((server.host, server.port), timeout=timeout)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        piece = sock.recv(1)
        assert piece, answer
        answer += piece
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    return sock


# --- http:// forwarded ------------------------------------------------------------------------


def test_curl_through_the_proxy_origin_gets_no_hop_by_hop_field_and_a_via(proxy, echo_origin):
    server, lines = proxy
    ran = curl(
        "-x", server.url, "-U", "pu:secret", "-H", "Connection: X-Hop", "-H", "X-Hop: 1",
        "-H", "Keep-Alive: timeout=5", "-H", "TE: trailers", "-H", "X-End: 2",
        f"{echo_origin.url}/seen",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    received = ran.stdout
    assert "GET /seen HTTP/1.1" in received  # origin-form upstream
    assert f"Host: 127.0.0.1:{echo_origin.port}" in received
    assert f"Via: 1.1 127.0.0.1:{server.port} (rawhttp/" in received
    assert "X-End: 2" in received
    for gone in ("Proxy-Authorization", "X-Hop", "Keep-Alive", "TE:", "secret", "cHU6"):
        assert gone not in received
    line = logged(lines, "/seen")
    assert f'"GET {echo_origin.url}/seen HTTP/1.1" 200' in line  # the whole request line


def test_the_answer_comes_back_with_a_via_and_keep_alive_to_the_proxy(proxy, echo_origin):
    server, _ = proxy
    url = f"{echo_origin.url}/index.html"
    ran = curl("-i", "-x", server.url, url, url)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.count("HTTP/1.1 200 OK") == 2
    assert f"Via: 1.1 127.0.0.1:{server.port}" in ran.stdout
    assert "<title>" in ran.stdout
    assert server.accepted == 1  # both URLs on one connection to the proxy


def test_a_post_body_is_forwarded(proxy, echo_origin):
    server, _ = proxy
    ran = curl("-x", server.url, "-d", "a=1&b=2", f"{echo_origin.url}/form")
    assert ran.returncode == 0, ran.stderr
    assert "Content-Length: 7" in ran.stdout and "a=1&b=2" in ran.stdout


def test_a_body_over_the_limit_is_413(proxy, echo_origin):
    server, _ = proxy
    body = b"x" * (MAX_FORWARDED_BODY + 1)
    head = f"POST {echo_origin.url}/big HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(head.encode())
        with contextlib.suppress(OSError):
            sock.sendall(body)
        answer, _ = read_answer(sock)
    assert answer.status == 413


def test_a_close_delimited_answer_goes_out_chunked_and_the_connection_stays(proxy, raw_server):
    server, _ = proxy
    origin = raw_server([b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close"])
    request = f"GET {origin.url}/c HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        for _ in range(2):  # the same client connection, twice
            sock.sendall(request)
            head, body = read_answer(sock)
            assert head.headers.get("Transfer-Encoding") == "chunked"
            assert body == b"until the close"
    assert origin.requests[0].startswith(b"GET /c HTTP/1.1\r\n")
    assert b"Connection: close" in origin.requests[0]


def test_an_http_1_0_client_gets_the_close_delimited_answer_as_it_came(proxy, raw_server):
    server, _ = proxy
    origin = raw_server([b"HTTP/1.1 200 OK\r\n\r\nto the end"])
    request = f"GET {origin.url}/c HTTP/1.0\r\n\r\n".encode()
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request)
        head, body = read_answer(sock)
        assert body == b"to the end"
        assert head.headers.get("Connection") == "close"
        assert sock.recv(10) == b""


def test_rawhttp_through_the_proxy_to_our_server(proxy, echo_origin):
    server, lines = proxy
    result = get("-x", server.url, "-U", "pu:pp", f"{echo_origin.url}/from-rawhttp")
    assert result.exit_code == 0, result.output
    assert "GET /from-rawhttp HTTP/1.1" in result.stdout
    assert "Proxy-Authorization" not in result.stdout and "Via: 1.1" in result.stdout
    logged(lines, f'"GET {echo_origin.url}/from-rawhttp HTTP/1.1" 200')


def test_rawhttp_and_curl_through_the_proxy_to_nginx(proxy, nginx):  # noqa: F811
    server, lines = proxy
    result = get("-x", server.url, f"{nginx}/index.html")
    assert result.exit_code == 0, result.output
    assert "<title>" in result.stdout
    ran = curl("-i", "-x", server.url, f"{nginx}/index.html")
    assert ran.returncode == 0 and "Server: nginx" in ran.stdout and "Via: 1.1" in ran.stdout
    tunnelled = get("-p", "-x", server.url, f"{nginx}/index.html")
    assert tunnelled.exit_code == 0, tunnelled.output
    assert "no SNI seen" in logged(lines, f"CONNECT {nginx.removeprefix('http://')}")


# --- https:// through CONNECT -------------------------------------------------------------------


def test_curl_https_through_a_tunnel_the_log_has_only_connect_and_the_sni(proxy, tls_origin):
    server, lines = proxy
    base, cafile = tls_origin
    ran = curl("-x", server.url, "--cacert", cafile, f"{base}/index.html")
    assert ran.returncode == 0, ran.stderr
    assert "<title>" in ran.stdout
    authority = base.removeprefix("https://")
    line = logged(lines, f'"CONNECT {authority} HTTP/1.1" 200')
    assert "(tunnel: SNI localhost, " in line
    assert not any("index.html" in seen for seen in lines)  # the path is not the proxy's


def test_rawhttp_https_through_the_proxy(proxy, tls_origin):
    server, lines = proxy
    base, cafile = tls_origin
    result = get("-x", server.url, "--cacert", cafile, f"{base}/index.html")
    assert result.exit_code == 0, result.output
    assert "<title>" in result.stdout
    assert "SNI localhost" in logged(lines, "CONNECT localhost:")


def test_curl_proxytunnel_for_http(proxy, echo_origin):
    server, lines = proxy
    ran = curl("-p", "-x", server.url, f"{echo_origin.url}/inside")
    assert ran.returncode == 0, ran.stderr
    assert "GET /inside HTTP/1.1" in ran.stdout and "Via" not in ran.stdout  # not read
    line = logged(lines, f"CONNECT 127.0.0.1:{echo_origin.port}")
    assert "no SNI seen" in line and "/inside" not in line


def test_bytes_sent_with_the_connect_go_into_the_tunnel(proxy, echo_origin):
    server, _ = proxy
    target = f"127.0.0.1:{echo_origin.port}"
    early = b"GET /early HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode() + early)
        data = b""
        while piece := sock.recv(65536):
            data += piece
    assert data.startswith(b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK")
    assert b"GET /early HTTP/1.1" in data


# --- the rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_line",
    ["CONNECT example.test:8443 HTTP/1.1", "GET http://example.test:25/ HTTP/1.1"],
)
def test_a_port_the_rules_do_not_open_is_403(proxy, request_line):
    server, _ = proxy
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(f"{request_line}\r\nHost: example.test\r\n\r\n".encode())
        head, body = read_answer(sock, "CONNECT" if "CONNECT" in request_line else "GET")
    assert head.status == 403
    assert b"--proxy-allow example.test:" in body


def test_curl_reports_the_refused_connect(proxy):
    server, _ = proxy
    ran = curl("-x", server.url, "https://example.test:8443/")
    assert ran.returncode == 56 and "403" in ran.stderr


@pytest.mark.parametrize("method", ["GET", "CONNECT"])
def test_a_request_to_the_proxy_itself_is_a_loop_508(proxy, method):
    server, _ = proxy
    target = f"127.0.0.1:{server.port}"
    line = f"CONNECT {target}" if method == "CONNECT" else f"GET http://{target}/"
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(f"{line} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head, _ = read_answer(sock, method)
    assert head.status == 508
    assert server.accepted == 1  # it did not call itself


def test_a_request_whose_via_names_the_proxy_is_a_loop_508(proxy, echo_origin):
    server, _ = proxy
    via = f"1.0 other, 1.1 127.0.0.1:{server.port} (rawhttp/0)"
    ran = curl("-i", "-x", server.url, "-H", f"Via: {via}", f"{echo_origin.url}/")
    assert ran.stdout.startswith("HTTP/1.1 508 Loop Detected")
    assert echo_origin.accepted == 0


def test_origin_form_requests_are_served_from_the_folder(proxy):
    server, _ = proxy
    ran = curl("-i", f"{server.url}/index.html")
    assert ran.stdout.startswith("HTTP/1.1 200 OK") and "<title>" in ran.stdout


@pytest.mark.parametrize(
    "host, port, tunnel, allow, status",
    [
        ("example.test", 443, True, (), None),
        ("example.test", 8443, True, (), 403),
        ("example.test", 8443, True, ("example.test:8443",), None),
        ("EXAMPLE.test", 8443, True, ("example.test:8443",), None),
        ("example.test", 80, False, (), None),
        ("example.test", 8080, False, (), None),  # squid's Safe_ports 1025-65535
        ("example.test", 22, False, (), 403),
        ("example.test", 22, True, (), 403),
        ("localhost", 22, True, (), None),  # loopback servers: any port
        ("127.0.0.2", 6000, True, (), None),
        ("::1", 6000, True, (), None),
        ("127.0.0.1", 3128, False, (), 508),  # the proxy itself
        ("localhost", 3128, True, (), 508),
    ],
)
def test_proxy_rules(host, port, tunnel, allow, status):
    from rawhttp.server.proxy import Target

    rules = ProxyRules("127.0.0.1", 3128, allow)
    try:
        rules.check(Target(host, port), tunnel, Headers())
    except StatusPage as page:
        assert page.status == status
    else:
        assert status is None


def test_hop_by_hop_fields_and_those_connection_names_are_dropped():
    fields = Headers(
        [("Connection", "keep-alive, X-A"), ("X-A", "1"), ("Proxy-Authorization", "Basic x"),
         ("TE", "trailers"), ("Upgrade", "h2c"), ("Proxy-Connection", "keep-alive"),
         ("Accept", "*/*")]
    )  # fmt: skip
    assert without_hop_by_hop(fields).items() == [("Accept", "*/*")]


@pytest.mark.parametrize(
    "text, expected",
    [("a.test:443", ("a.test", 443)), ("[::1]:8443", ("::1", 8443)), ("a.test", None),
     ("a.test:0", None), ("a.test:x", None), (":80", None), ("[::1]", None)],
)  # fmt: skip
def test_split_authority(text, expected):
    if expected is None:
        with pytest.raises(StatusPage):
            split_authority(text, None)
    else:
        assert split_authority(text, None) == expected


# --- the upstream failing -----------------------------------------------------------------------


def test_an_upstream_that_refuses_is_502(proxy, refused_port):
    server, _ = proxy
    targets = [
        ("GET", f"http://127.0.0.1:{refused_port}/"),
        ("CONNECT", f"127.0.0.1:{refused_port}"),
    ]
    for method, target in targets:
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head, body = read_answer(sock, method)
        assert head.status == 502 and b"Connection refused" in body
    assert ran_curl_exit(server, refused_port) == 56


def ran_curl_exit(server, port: int) -> int:
    return curl("-x", server.url, "-p", f"http://127.0.0.1:{port}/").returncode


def test_an_upstream_that_is_not_http_is_502(proxy, raw_server):
    server, _ = proxy
    origin = raw_server([b"SSH-2.0-OpenSSH_9.2\r\n"])
    ran = curl("-i", "-x", server.url, f"{origin.url}/")
    assert ran.stdout.startswith("HTTP/1.1 502 Bad Gateway")


def test_a_silent_upstream_is_504_after_the_idle_timeout(server_model, raw_server):
    origin = raw_server([HANG])
    with proxy_server(idle_timeout=0.5) as (server, _):
        started = time.monotonic()
        ran = curl("-i", "-x", server.url, f"{origin.url}/")
        assert ran.stdout.startswith("HTTP/1.1 504 Gateway Timeout")
        assert time.monotonic() - started < 3


# --- the tunnel: flat memory, the idle deadline -----------------------------------------------


def test_an_idle_tunnel_is_closed_and_logged(server_model, raw_server):
    origin = raw_server([HANG])
    with proxy_server(idle_timeout=0.5) as (server, lines):
        with connect_through(server, f"127.0.0.1:{origin.port}") as sock:
            started = time.monotonic()
            assert sock.recv(10) == b""
            assert 0.4 < time.monotonic() - started < 3
        assert "tunnel idle for 0.5 s" in logged(lines, "CONNECT 127.0.0.1")


def test_a_tunnel_passes_half_closes_both_ways(proxy, raw_server):
    server, lines = proxy
    origin = raw_server([b"from the origin"])  # sends, then closes
    with connect_through(server, f"127.0.0.1:{origin.port}") as sock:
        sock.sendall(b"hello\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)  # passed on to the origin
        received = b""
        while piece := sock.recv(100):
            received += piece
    assert received == b"from the origin"
    assert origin.requests == [b"hello\r\n\r\n"]
    assert "9 bytes up, 15 down" in logged(lines, "CONNECT 127.0.0.1")


BIG = 64 * 1024 * 1024
# How much the proxy's peak RSS may grow while 64 MiB cross it: the buffers are 64 KiB a
# direction, so anything near the transfer's size means it was held whole.
RSS_GROWTH_LIMIT = 16 * 1024 * 1024


def _source(listener: socket.socket) -> None:
    """An origin that sends BIG bytes to whoever connects, then closes."""
    conn, _ = listener.accept()
    with conn:
        chunk = b"x" * (1024 * 1024)
        with contextlib.suppress(OSError):
            for _ in range(BIG // len(chunk)):
                conn.sendall(chunk)


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        found = re.search(r"VmHWM:\s+(\d+) kB", status.read())
    return int(found[1]) * 1024


@pytest.mark.parametrize("model", ["events", "threads"])
def test_64_mib_through_a_tunnel_in_flat_memory(model, tmp_path):
    command = [sys.executable, "-m", "rawhttp", "serve", "--proxy", "--port", "0", "--quiet"]
    process = subprocess.Popen(
        [*command, "--model", model, str(SITE)], stdout=subprocess.PIPE, text=True
    )
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    thread = threading.Thread(target=_source, args=(listener,), daemon=True)
    try:
        port = int(re.search(r":(\d+)/", process.stdout.readline())[1])
        before = _peak_rss(process.pid)
        thread.start()

        class At:
            host = "127.0.0.1"

        At.port = port
        with connect_through(At, f"127.0.0.1:{listener.getsockname()[1]}", TIMEOUT) as sock:
            time.sleep(1.0)  # a reader that lags: an unbounded proxy would buffer it all now
            received = 0
            while piece := sock.recv(1024 * 1024):
                received += len(piece)
        assert received == BIG
        growth = _peak_rss(process.pid) - before
        assert growth < RSS_GROWTH_LIMIT, f"peak RSS grew {growth / 2**20:.1f} MiB"
    finally:
        process.terminate()
        process.wait(TIMEOUT)
        process.stdout.close()
        thread.join(TIMEOUT)
        listener.close()


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--proxy", "--tls"], "--proxy is for plain HTTP"),
        (["--proxy-allow", "a:1"], "--proxy-allow is for --proxy"),
        (["--proxy", "--proxy-allow", "nohost"], "is not HOST:PORT"),
    ],
)
def test_serve_proxy_usage_errors(args, message):
    result = CliRunner().invoke(main, ["serve", *args, str(SITE)])
    assert result.exit_code == 2 and message in result.output


def test_serve_proxy_says_it_at_start_up():
    if shutil.which("timeout") is None:
        pytest.skip("no timeout(1)")
    ran = subprocess.run(
        ["timeout", "-s", "INT", "1", sys.executable, "-m", "rawhttp", "serve", "--proxy",
         "--port", "0", str(SITE)],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert "/; a forward proxy there too (-x http://127.0.0.1:" in ran.stdout


# --- more framings, the ClientHello, stopping ------------------------------------------------


def test_a_chunked_answer_is_chunked_again_its_trailers_dropped(proxy, raw_server):
    server, _ = proxy
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
    origin = raw_server([answer + b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"])
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(f"GET {origin.url}/c HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head, body = read_answer(sock)
    assert body == b"abcde" and head.headers.get("Transfer-Encoding") == "chunked"
    assert "Trailer" not in head.headers  # hop-by-hop


def test_an_answer_with_both_lengths_is_502_not_passed_on(proxy, raw_server):
    """Transfer-Encoding and Content-Length together: a smuggling risk that wire.py refuses."""
    server, _ = proxy
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
    origin = raw_server([answer + b"5\r\nabcde\r\n0\r\n\r\n"])
    ran = curl("-i", "-x", server.url, f"{origin.url}/")
    assert ran.stdout.startswith("HTTP/1.1 502 Bad Gateway")
    assert "smuggling" in ran.stdout


def test_a_head_request_and_a_chunked_request_body_are_forwarded(proxy, echo_origin):
    server, _ = proxy
    ran = curl("-sI", "-x", server.url, f"{echo_origin.url}/index.html")
    assert ran.stdout.startswith("HTTP/1.1 200 OK") and "Content-Length: " in ran.stdout
    chunked = curl(
        "-x", server.url, "-H", "Transfer-Encoding: chunked", "--data-binary", "hello",
        f"{echo_origin.url}/up",
    )  # fmt: skip
    assert "Content-Length: 5" in chunked.stdout and "Transfer-Encoding" not in chunked.stdout


def _client_hello(server_name: str) -> bytes:
    """The first bytes a TLS client sends for `server_name` (made by Python's ssl)."""
    import ssl

    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def _plan():
    from rawhttp.server.exchange import Exchange
    from rawhttp.server.proxy import Target, TunnelPlan
    from rawhttp.wire import parse_request_head

    head = parse_request_head(b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n")
    return TunnelPlan(Exchange(head), Target("a.test", 443))


def test_the_server_name_is_read_from_a_client_hello_cut_anywhere():
    hello = _client_hello("sni.example")
    plan = _plan()
    for start in range(0, len(hello), 7):  # 7-byte pieces: headers and fields cut apart
        plan.from_client(hello[start : start + 7])
    plan.from_client(b"\x17\x03\x03\x00\x05later")  # an application data record: not read
    plan.ended()
    assert plan.server_name == "sni.example"
    assert plan.exchange.note == f"tunnel: SNI sni.example, {len(hello) + 10} bytes up, 0 down"


def test_only_the_first_client_hello_peek_bytes_are_looked_at():
    from rawhttp.server.proxy import CLIENT_HELLO_PEEK

    hello = _client_hello("late.example")
    plan = _plan()
    plan.from_client(b"\x16\x03\x01" + (CLIENT_HELLO_PEEK).to_bytes(2, "big"))  # a long record
    plan.from_client(b"\x00" * (CLIENT_HELLO_PEEK - 5))
    plan.from_client(hello)  # past the peek: never parsed
    assert plan.server_name is None and plan._records is None


def test_what_is_not_tls_names_nothing():
    plan = _plan()
    plan.from_client(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert plan.server_name is None and plan._records is None


def test_stopping_the_server_ends_an_open_tunnel(server_model, raw_server):
    origin = raw_server([HANG])
    with proxy_server() as (server, lines):
        sock = connect_through(server, f"127.0.0.1:{origin.port}")
        started = time.monotonic()
    with sock:
        assert time.monotonic() - started < 3  # close() did not wait for the tunnel
        assert sock.recv(10) == b""
    assert "server stopping" in logged(lines, "CONNECT 127.0.0.1")


def test_a_client_that_stops_reading_a_forwarded_answer_is_cut_off(server_model, raw_server):
    size = 8 * 1024 * 1024
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode()
    origin = raw_server([head + b"x" * size])
    with (
        proxy_server(idle_timeout=0.5) as (server, lines),
        socket.create_connection((server.host, server.port), timeout=5) as sock,
    ):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET {origin.url}/big HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        line = logged(lines, f"GET {origin.url}/big", timeout=5)
    assert "(the client stopped reading for 0.5 s)" in line
