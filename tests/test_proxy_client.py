"""The client through HTTP proxies: curl's rules as tables (proxy.py), then real proxies
started here (tinyproxy, mitmdump) and scripted ones (conftest's raw_server) in front of our
server and an in-test TLS origin. The key check everywhere: credentials for the proxy never
reach the origin, and the origin's never go where they should not."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner

from rawhttp import events
from rawhttp.cli import main
from rawhttp.client import Session, get
from rawhttp.dial import Options
from rawhttp.errors import InvalidProxy, TunnelRefused
from rawhttp.proxy import (
    DEFAULT_PORT,
    ENVIRONMENT,
    Settings,
    from_environment,
    no_proxy_entry,
    parse_proxy,
    route,
)
from rawhttp.server import Server
from rawhttp.tunnel import MAX_REFUSAL_BODY, connect_request
from rawhttp.url import parse_url
from rawhttp.wire import ResponseReader

TIMEOUT = 10
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CA = trustme.CA()
ORIGIN_CERT = CA.issue_cert("localhost")
NO_PROXY_ENV = {name: None for name in ENVIRONMENT} | {"HTTP_PROXY": None}


def run(*args: str, env: dict | None = None):
    """`rawhttp get ARGS` in-process, with no proxy variable set unless `env` sets one."""
    return CliRunner().invoke(
        main,
        ["get", *args, "--timeout", "5", "--connect-timeout", "5"],
        env={**NO_PROXY_ENV, **(env or {})},
    )


def basic(pair: str) -> str:
    return "Basic " + base64.b64encode(pair.encode()).decode()


# --- NO_PROXY, as curl's proxy_check_noproxy (plus ports) ------------------------------------

NO_PROXY_TABLE = [
    # host, port, rules, the entry that matches (None: the proxy is used)
    ("example.com", 80, "example.com", "example.com"),
    ("www.example.com", 80, "example.com", "example.com"),
    ("www.example.com", 80, ".example.com", ".example.com"),
    ("example.com", 80, ".example.com", ".example.com"),
    ("badexample.com", 80, "example.com", None),
    ("example.com.", 80, "example.com", "example.com"),
    ("EXAMPLE.com", 80, "example.COM.", "example.COM."),
    ("example.org", 80, "example.com", None),
    ("anything", 80, "*", "*"),
    ("anything", 80, " * ", "*"),
    ("anything", 80, "a.test, *", None),  # curl: `*` only counts alone
    ("b.test", 80, "a.test, b.test", "b.test"),
    ("b.test", 80, "a.test b.test", "b.test"),  # blanks separate too
    ("b.test", 80, ",,a.test,,b.test,,", "b.test"),
    ("127.0.0.1", 80, "127.0.0.1", "127.0.0.1"),
    ("127.0.0.2", 80, "127.0.0.1", None),
    ("10.1.2.3", 80, "10.0.0.0/8", "10.0.0.0/8"),
    ("11.1.2.3", 80, "10.0.0.0/8", None),
    ("192.168.1.7", 80, "192.168.1.0/24", "192.168.1.0/24"),
    ("::1", 80, "::1", "::1"),
    ("2001:db8::5", 80, "2001:db8::/32", "2001:db8::/32"),
    ("2001:db9::5", 80, "2001:db8::/32", None),
    ("127.0.0.1", 80, "::1/128", None),
    ("localhost", 80, "127.0.0.1", None),  # a name is not compared with addresses
    ("127.0.0.1", 80, "localhost", None),  # nor an address with names
    ("localhost", 8000, "localhost:8000", "localhost:8000"),  # ports: our addition
    ("localhost", 8001, "localhost:8000", None),
    ("::1", 8080, "[::1]:8080", "[::1]:8080"),
    ("::1", 8081, "[::1]:8080", None),
    ("localhost", 80, "localhost:http", None),  # not a port number: matches nothing
    ("example.com", 80, "", None),
    ("example.com", 80, "10.0.0.0/99", None),
]


@pytest.mark.parametrize(("host", "port", "rules", "entry"), NO_PROXY_TABLE)
def test_no_proxy_rules(host, port, rules, entry):
    assert no_proxy_entry(host, port, rules) == entry


# --- which proxy, and why --------------------------------------------------------------------

ROUTES = [
    # URL, settings, the proxy's source (None: direct), tunnel
    ("http://a.test/", {"environ": {"http_proxy": "p:1"}}, "http_proxy", False),
    ("http://a.test/", {"environ": {"HTTP_PROXY": "p:1"}}, None, False),  # httpoxy
    ("https://a.test/", {"environ": {"http_proxy": "p:1"}}, None, False),
    (
        "https://a.test/",
        {"environ": {"https_proxy": "p:1", "HTTPS_PROXY": "q:1"}},
        "https_proxy",
        True,
    ),
    ("https://a.test/", {"environ": {"HTTPS_PROXY": "q:1"}}, "HTTPS_PROXY", True),
    ("http://a.test/", {"environ": {"all_proxy": "p:1", "ALL_PROXY": "q:1"}}, "all_proxy", False),
    ("https://a.test/", {"environ": {"ALL_PROXY": "q:1"}}, "ALL_PROXY", True),
    ("http://a.test/", {"environ": {"http_proxy": "", "all_proxy": "q:1"}}, "all_proxy", False),
    ("http://a.test/", {"proxy": "x:1", "environ": {"http_proxy": "p:1"}}, "-x", False),
    ("http://a.test/", {"proxy": "", "environ": {"http_proxy": "p:1"}}, None, False),
    ("http://a.test/", {"proxy": "x:1", "tunnel": True}, "-x", True),
    ("http://a.test/", {"proxy": "x:1", "environ": {"NO_PROXY": "a.test"}}, None, False),
    ("http://a.test/", {"proxy": "x:1", "noproxy": "*"}, None, False),
    ("http://a.test/", {"proxy": "x:1", "noproxy": "", "environ": {"no_proxy": "*"}}, "-x", False),
    (
        "http://a.test/",
        {"proxy": "x:1", "environ": {"no_proxy": "b", "NO_PROXY": "a.test"}},
        "-x",
        False,
    ),
    ("http://a.test/", {}, None, False),
]


@pytest.mark.parametrize(("url", "settings", "source", "tunnel"), ROUTES)
def test_which_proxy(url, settings, source, tunnel):
    found = route(parse_url(url), Settings(**settings))
    assert (found.proxy.source if found.proxy else None) == source
    assert found.tunnel == tunnel


def test_no_settings_is_direct_and_the_environment_is_read_only_when_asked():
    assert route(parse_url("http://a.test/"), None).proxy is None
    kept = from_environment({"http_proxy": "p:1", "HOME": "/root", "no_proxy": ""}).environ
    assert kept == {"http_proxy": "p:1"}


def test_a_skipped_proxy_says_which_entry_and_where_it_came_from():
    settings = Settings(environ={"http_proxy": "http://u:secret@p:1", "no_proxy": "x, .a.test"})
    found = route(parse_url("http://www.a.test/"), settings)
    assert found.proxy is None
    assert found.skipped == ("http://u:***@p:1", "http_proxy", ".a.test")
    assert found.no_proxy_source == "no_proxy"


@pytest.mark.parametrize(
    ("text", "host", "port", "credentials"),
    [
        ("proxy.test", "proxy.test", DEFAULT_PORT, None),
        ("http://proxy.test:3128", "proxy.test", 3128, None),
        ("HTTP://proxy.test:3128/ignored/path", "proxy.test", 3128, None),
        ("http://u%40x:p%3Aw@proxy.test:8", "proxy.test", 8, "u@x:p:w"),
        ("[::1]:3128", "::1", 3128, None),
    ],
)
def test_parse_proxy(text, host, port, credentials):
    proxy = parse_proxy(text)
    assert (proxy.url.host, proxy.url.port, proxy.credentials) == (host, port, credentials)


def test_credentials_in_the_proxy_url_win_over_dash_u():
    assert parse_proxy("http://a:b@p:1", user="c:d").credentials == "a:b"
    assert parse_proxy("http://p:1", user="c:d").authorization == basic("c:d")


@pytest.mark.parametrize("text", ["https://p:1", "socks5://p:1", "http://p:99999", "http://:1"])
def test_proxies_not_spoken_here_are_exit_5(text):
    with pytest.raises(InvalidProxy) as caught:
        parse_proxy(text)
    assert caught.value.exit_code == 5


# --- the CONNECT exchange as bytes -----------------------------------------------------------


def test_the_connect_request():
    proxy = parse_proxy("http://u:p@p:1", headers=(("X-Team", "blue"),))
    assert connect_request(parse_url("https://[::1]/x"), proxy) == (
        b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\nUser-Agent: rawhttp/"
        + __import__("rawhttp.version").version.__version__.encode()
        + b"\r\nProxy-Authorization: " + basic("u:p").encode()
        + b"\r\nX-Team: blue\r\n\r\n"
    )  # fmt: skip


ANSWER = b"HTTP/1.1 200 Connection established\r\nContent-Length: 50\r\n\r\n\x16\x03\x03tunnel"


@pytest.mark.parametrize("step", [len(ANSWER), 1])
def test_a_2xx_to_connect_has_no_body_what_follows_is_the_tunnel(step):
    """RFC 9110 9.3.6: a Content-Length on a 2xx to CONNECT is ignored; the rest is the
    tunnel's, fed whole or one byte at a time."""
    reader = ResponseReader("CONNECT")
    for at in range(0, len(ANSWER), step):
        reader.feed(ANSWER[at : at + step])
    assert reader.head.status == 200 and reader.framing.kind == "none" and reader.done
    assert reader.rest == b"\x16\x03\x03tunnel"


def test_a_refusal_to_connect_keeps_its_body():
    reader = ResponseReader("CONNECT")
    got = reader.feed(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
    assert reader.framing.kind == "length" and b"".join(bytes(p) for p in got[1:-1]) == b"no"


# --- scripted proxies (raw_server records what it was sent) -----------------------------------


def test_forwarded_request_absolute_form_and_credentials_to_the_proxy_only(raw_server):
    proxy = raw_server([OK])
    result = run(
        "-x", proxy.url, "-U", "pu:pp", "-u", "ou:op", "--proxy-header", "X-Via-Test: 1",
        "http://origin.test:8080/a?b=1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sent = proxy.requests[0].decode()
    assert sent.startswith("GET http://origin.test:8080/a?b=1 HTTP/1.1\r\n")
    assert "Host: origin.test:8080\r\n" in sent
    assert f"Proxy-Authorization: {basic('pu:pp')}\r\n" in sent
    assert f"Authorization: {basic('ou:op')}\r\n" in sent
    assert "X-Via-Test: 1\r\n" in sent


def test_a_tunnel_sends_credentials_in_the_connect_only(raw_server):
    """-p: CONNECT, then the request inside the tunnel without anything for the proxy. The
    scripted proxy answers 200 and then, as the origin would, the response (those bytes came
    right after the 200: the stream hands them to the request as the origin's)."""
    proxy = raw_server([b"HTTP/1.1 200 Connection established\r\n\r\n" + OK])
    result = run("-p", "-x", proxy.url, "-U", "pu:pp", "-v", "http://origin.test/")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("ok")
    connect = proxy.requests[0].decode()
    assert connect.startswith("CONNECT origin.test:80 HTTP/1.1\r\nHost: origin.test:80\r\n")
    assert f"Proxy-Authorization: {basic('pu:pp')}" in connect
    inside = result.stderr.split("CONNECT tunnel established")[1]
    assert "> GET / HTTP/1.1" in inside and "Proxy-Authorization" not in inside
    assert f"* {len(OK)} bytes came after it: the origin's, kept for it" in result.stderr


def test_redirects_ask_the_proxy_rules_again_at_each_hop(raw_server):
    origin = raw_server([OK])
    port = origin.port
    proxy = raw_server(
        [f"HTTP/1.1 302 Found\r\nLocation: http://localhost:{port}/b\r\n"
         "Content-Length: 0\r\n\r\n".encode()]
    )  # fmt: skip
    result = run(
        "-L", "-v", "-x", proxy.url, "-U", "pu:pp", "--noproxy", "localhost",
        f"http://127.0.0.1:{port}/a",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert proxy.requests[0].startswith(f"GET http://127.0.0.1:{port}/a HTTP/1.1".encode())
    assert origin.requests[0].startswith(b"GET /b HTTP/1.1\r\n")  # direct: origin-form
    assert b"Proxy-Authorization" not in origin.requests[0]
    assert "--noproxy entry 'localhost' matches it" in result.stderr


@pytest.mark.parametrize(
    ("script", "said"),
    [
        ([b""], "empty reply"),
        ([b"HTTP/1.1 200 Conn"], "in the middle of the response head"),
        ([b"SSH-2.0-OpenSSH_9.2\r\n"], "does not start with an HTTP status line"),
    ],
)
def test_a_proxy_that_fails_during_connect_is_exit_56(raw_server, script, said):
    proxy = raw_server(script)
    result = run("-x", proxy.url, "https://origin.test/")
    assert result.exit_code == 56, result.output
    assert "rawhttp: error: proxy: proxy 127.0.0.1:" in result.stderr
    assert "failed to answer CONNECT origin.test:443" in result.stderr and said in result.stderr


def test_a_refusal_is_shown_whole_up_to_its_limit(raw_server):
    body = b"x" * (MAX_REFUSAL_BODY + 100)
    head = f"HTTP/1.1 502 Bad Gateway\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    proxy = raw_server([head + body])
    options = Options(read_timeout=5, proxy=Settings(proxy=proxy.url))
    with pytest.raises(TunnelRefused) as caught:
        get("https://origin.test/", options=options)
    assert caught.value.head.status == 502 and caught.value.exit_code == 56
    assert caught.value.body == body[:MAX_REFUSAL_BODY]


def test_the_library_ignores_the_environment_unless_asked(raw_server, monkeypatch, site_server):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:1")
    assert get(site_server.url + "/").status == 200


def test_send_stops_at_a_2xx_to_connect(raw_server):
    """Before: the 200 was read as the head of a body that never ends (exit 28)."""
    proxy = raw_server([b"HTTP/1.1 200 Connection established\r\n\r\n"], [b""])
    started = time.monotonic()
    result = CliRunner().invoke(
        main,
        ["send", f"127.0.0.1:{proxy.port}", "--timeout", "5"],
        input=b"CONNECT origin.test:443 HTTP/1.1\nHost: origin.test:443\n\n",
    )
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 3
    assert "* 1 response(s): 200 Connection established" in result.stderr
    assert "The tunnel is open" in result.stderr


# --- the environment, through the CLI --------------------------------------------------------


def test_http_proxy_that_does_not_answer_is_exit_7_not_a_direct_connection(site_server):
    """The issue's first finding: `http_proxy` was ignored and the origin fetched directly."""
    result = run("-v", "-I", site_server.url + "/", env={"http_proxy": "http://127.0.0.1:1"})
    assert result.exit_code == 7, result.output
    assert "* Uses proxy env variable http_proxy == 'http://127.0.0.1:1'" in result.stderr
    assert "rawhttp: error: proxy: could not connect to 127.0.0.1 port 1" in result.stderr
    assert "(the proxy, from http_proxy)" in result.stderr
    assert site_server.accepted == 0


def test_upper_case_http_proxy_is_ignored_as_curl_does(site_server):
    result = run("-I", site_server.url + "/", env={"HTTP_PROXY": "http://127.0.0.1:1"})
    assert result.exit_code == 0, result.output


def test_no_proxy_skips_the_proxy_and_says_so(site_server):
    env = {"http_proxy": "http://127.0.0.1:1", "NO_PROXY": "example.com,127.0.0.1"}
    result = run("-v", "-I", site_server.url + "/", env=env)
    assert result.exit_code == 0, result.output
    assert (
        "* Not using proxy 'http://127.0.0.1:1' (from http_proxy) for 127.0.0.1: "
        "NO_PROXY entry '127.0.0.1' matches it"
    ) in result.stderr


@pytest.mark.parametrize("off", [["-x", ""], ["--noproxy", "*"]])
def test_proxies_turned_off(site_server, off):
    result = run(*off, "-I", site_server.url + "/", env={"http_proxy": "http://127.0.0.1:1"})
    assert result.exit_code == 0, result.output


def test_a_proxy_name_that_does_not_resolve_is_exit_5(site_server):
    result = run("-x", "proxy.invalid:3128", site_server.url + "/")
    assert result.exit_code == 5, result.output
    assert "rawhttp: error: proxy: could not resolve host proxy.invalid" in result.stderr


def test_dash_u_needs_a_password():
    assert run("-x", "p:1", "-U", "user", "http://a.test/").exit_code == 2


# --- real proxies ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, "the proxy exited at start"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


@contextlib.contextmanager
def started(command: list[str], port: int, log: Path):
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(TIMEOUT)


@pytest.fixture
def tinyproxy(tmp_path):
    """Factory: tinyproxy(connect_ports=(...), auth="user pass") -> its port."""
    if shutil.which("tinyproxy") is None:
        if os.environ.get("CI"):  # .ci/run installs it: a missing peer is a failure there
            pytest.fail("tinyproxy is not installed")
        pytest.skip("tinyproxy is not installed")
    stack = contextlib.ExitStack()

    def start(connect_ports: tuple[int, ...] = (), auth: str | None = None) -> int:
        port = free_port()
        lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 10", "Allow 127.0.0.1",
                 "MaxClients 20", f'LogFile "{tmp_path}/tinyproxy-{port}.log"', "LogLevel Info"]  # fmt: skip
        lines += [f"ConnectPort {p}" for p in connect_ports]
        lines += [f"BasicAuth {auth}"] if auth else []
        config = tmp_path / f"tinyproxy-{port}.conf"
        config.write_text("\n".join(lines) + "\n")
        command = ["tinyproxy", "-d", "-c", str(config)]
        return stack.enter_context(started(command, port, tmp_path / f"tinyproxy-{port}.out"))

    with stack:
        yield start


@pytest.fixture(scope="module")
def mitmdump(tmp_path_factory):
    """mitmdump in regular proxy mode, passing TLS through untouched (--ignore-hosts)."""
    binary = shutil.which("mitmdump", path=str(Path(sys.executable).parent))
    binary = binary or shutil.which("mitmdump")
    if binary is None:
        pytest.skip("mitmdump (PyPI mitmproxy, in the test extra) is not installed")
    folder = tmp_path_factory.mktemp("mitmdump")
    port = free_port()
    command = [binary, "--listen-host", "127.0.0.1", "-p", str(port), "--ignore-hosts", ".*",
               "--set", f"confdir={folder}", "--set", "ssl_insecure=true", "-q"]  # fmt: skip
    with started(command, port, folder / "out.log"):
        yield port


class TLSOrigin:
    """An HTTPS origin on 127.0.0.1 with a trustme certificate for localhost: it records the
    SNI and the request each connection sent, and answers it (one per connection)."""

    def __init__(self) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ORIGIN_CERT.configure_cert(self.context)
        self.context.sni_callback = lambda sock, name, ctx: self.names.append(name)
        self.names: list[str | None] = []
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(TIMEOUT)
            with (
                contextlib.suppress(OSError, ssl.SSLError),
                conn,
                self.context.wrap_socket(conn, server_side=True) as tls,
            ):
                self._answer(tls)

    def _answer(self, tls: ssl.SSLSocket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = tls.recv(4096)
            if not chunk:
                return
            request += chunk
        self.requests.append(request)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
        tls.unwrap()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(TIMEOUT)


@pytest.fixture
def tls_origin(tmp_path):
    origin = TLSOrigin()
    ca_file = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(ca_file))
    origin.cafile = str(ca_file)
    yield origin
    origin.close()


@pytest.fixture
def echo_server():
    with Server(".", echo=True, log=lambda line: None) as server:
        yield server


def test_tinyproxy_forwards_http_and_the_origin_gets_no_proxy_credentials(tinyproxy, echo_server):
    port = tinyproxy(auth="pu pp")
    target = echo_server.url.replace("127.0.0.1", "localhost") + "/form"
    result = run("-x", f"127.0.0.1:{port}", "-U", "pu:pp", "-v", "-d", "a=1", target)
    assert result.exit_code == 0, result.output
    assert f"> POST {target} HTTP/1.1" in result.stderr
    assert "Via: 1.1" in result.stdout and "tinyproxy" in result.stdout  # it went through
    echoed = result.stdout.split("\n\n", 1)[1]  # (CliRunner's output has \n line ends)
    assert "POST /form HTTP/1.1" in echoed and "a=1" in echoed
    assert "Proxy-Authorization" not in echoed


def test_tinyproxy_407_for_http_is_a_response_with_a_note(tinyproxy, echo_server):
    port = tinyproxy(auth="pu pp")
    result = run("-x", f"127.0.0.1:{port}", "-v", echo_server.url + "/")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("HTTP/1.0 407") or result.stdout.startswith("HTTP/1.1 407")
    assert "* the proxy answered 407: it wants credentials (-U)" in result.stderr
    assert echo_server.accepted == 0


def test_tinyproxy_tunnels_to_a_tls_origin_with_sni_and_verification_for_it(tinyproxy, tls_origin):
    port = tinyproxy(connect_ports=(tls_origin.port,), auth="pu pp")
    url = f"https://localhost:{tls_origin.port}/private"
    result = run("-x", f"127.0.0.1:{port}", "-U", "pu:pp", "--cacert", tls_origin.cafile, "-v",
                 "-H", "Authorization: Bearer t0k", url)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("secret")
    assert tls_origin.names == ["localhost"]
    request = tls_origin.requests[0].decode()
    assert request.startswith("GET /private HTTP/1.1\r\n")
    assert f"Host: localhost:{tls_origin.port}" in request
    assert "Authorization: Bearer t0k" in request and "Proxy-Authorization" not in request
    assert "* CONNECT tunnel established, response 200" in result.stderr


def test_tinyproxy_407_to_connect_is_exit_56_and_shown(tinyproxy, tls_origin):
    port = tinyproxy(connect_ports=(tls_origin.port,), auth="pu pp")
    url = f"https://localhost:{tls_origin.port}/"
    result = run("-x", f"127.0.0.1:{port}", "--cacert", tls_origin.cafile, url)
    assert result.exit_code == 56, result.output
    assert " 407 " in result.stdout.splitlines()[0] and "Proxy-Authenticate" in result.stdout
    assert "the proxy wants credentials (-U)" in result.stderr
    assert tls_origin.requests == []
    result = run("-x", f"127.0.0.1:{port}", "-U", "pu:wrong", "--cacert", tls_origin.cafile, url)
    # tinyproxy answers wrong credentials with 401, not 407: still a refusal, exit 56.
    assert result.exit_code == 56 and "refused CONNECT" in result.stderr


def test_tinyproxy_403_for_a_port_it_does_not_allow(tinyproxy, tls_origin):
    port = tinyproxy(connect_ports=(443,))
    result = run("-x", f"127.0.0.1:{port}", f"https://localhost:{tls_origin.port}/")
    assert result.exit_code == 56, result.output
    assert result.stdout.startswith("HTTP/1.0 403") or result.stdout.startswith("HTTP/1.1 403")
    assert "</html>" in result.stdout
    assert f"refused CONNECT localhost:{tls_origin.port}: 403" in result.stderr


def test_send_connect_through_tinyproxy_says_the_tunnel_is_open(tinyproxy, echo_server):
    port = tinyproxy(connect_ports=(echo_server.port,))
    result = CliRunner().invoke(
        main,
        ["send", f"127.0.0.1:{port}", "--timeout", "5"],
        input=f"CONNECT 127.0.0.1:{echo_server.port} HTTP/1.1\nHost: x\n\n".encode(),
    )
    assert result.exit_code == 0, result.output
    assert "The tunnel is open" in result.stderr


def test_mitmdump_keeps_one_connection_for_two_origins(mitmdump, echo_server):
    """A forwarding proxy carries requests to any origin on one kept connection."""
    first = echo_server.url + "/one"
    second = echo_server.url.replace("127.0.0.1", "localhost") + "/two"
    result = run("-x", f"127.0.0.1:{mitmdump}", "-v", first, second)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("* Connected to 127.0.0.1:") == 1
    assert f"* Reusing connection to 127.0.0.1:{mitmdump}" in result.stderr
    assert f"> GET {second} HTTP/1.1" in result.stderr
    assert "GET /one HTTP/1.1" in result.stdout and "GET /two HTTP/1.1" in result.stdout


def test_mitmdump_passes_a_tunnel_through(mitmdump, tls_origin):
    url = f"https://localhost:{tls_origin.port}/"
    result = run("-x", f"127.0.0.1:{mitmdump}", "-U", "a:b", "--cacert", tls_origin.cafile, url)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("secret") and tls_origin.names == ["localhost"]
    assert b"Proxy-Authorization" not in tls_origin.requests[0]


def test_session_events_name_the_proxy(raw_server):
    proxy = raw_server([OK])
    seen: list[events.Event] = []
    options = Options(proxy=Settings(environ={"http_proxy": proxy.url}))
    with Session(options, seen.append) as session, session.stream("http://a.test/") as response:
        response.read()
    chosen = [e for e in seen if isinstance(e, events.ProxyChosen)]
    assert chosen[0].source == "http_proxy" and not chosen[0].tunnel


def test_a_407_despite_credentials_says_they_were_not_accepted(raw_server):
    answer = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
    proxy = raw_server([answer])
    result = run("-x", proxy.url, "-U", "a:b", "https://origin.test/")
    assert result.exit_code == 56, result.output
    said = "407 Proxy Authentication Required: the proxy did not accept the credentials given"
    assert said in result.stderr
    assert result.stdout.startswith("HTTP/1.1 407 Proxy Authentication Required\n")


def test_timing_counts_the_first_byte_of_the_origin_not_of_the_proxy():
    from rawhttp.show.timing import Timing
    from rawhttp.wire import parse_response_head

    head = parse_response_head(b"HTTP/1.1 200 Connection established\r\n\r\n")
    timing = Timing()
    for event in [
        events.RequestStarted("http://a.test/", "GET", at=0.0),
        events.Received(b"HTTP/1.1 200 Connection established\r\n\r\n", 0, at=1.0),
        events.TunnelAnswered(head, at=1.0),
        events.Received(b"HTTP/1.1 200 OK\r\n", 39, at=2.0),
    ]:
        timing(event)
    assert timing.report()["first_byte"] == 2.0


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_show_code_writes_a_program_that_goes_through_the_proxy(
    tinyproxy, tls_origin, echo_server, tmp_path, scheme
):
    origin_port = tls_origin.port if scheme == "https" else echo_server.port
    port = tinyproxy(connect_ports=(origin_port,))
    url = f"{scheme}://localhost:{origin_port}/via"
    result = run("--show-code", "-x", f"127.0.0.1:{port}", "--cacert", tls_origin.cafile, url)
    assert result.exit_code == 0, result.output
    program = tmp_path / "through.py"
    program.write_text(result.stdout)
    assert f"HOST, PORT = '127.0.0.1', {port}" in result.stdout
    ran = subprocess.run(
        [sys.executable, str(program)], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("HTTP/1.1 200 OK")
    assert ("secret" if scheme == "https" else "GET /via HTTP/1.1") in ran.stdout


def test_dump_header_has_the_proxy_answer_first_as_curl(raw_server, tmp_path):
    established = b"HTTP/1.1 200 Connection established\r\n\r\n"
    proxy = raw_server([established + OK])
    heads = tmp_path / "heads"
    result = run("-p", "-x", proxy.url, "-D", str(heads), "http://origin.test/")
    assert result.exit_code == 0, result.output
    assert heads.read_bytes() == established + OK[: OK.index(b"\r\n\r\n") + 4]
