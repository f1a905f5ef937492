"""rawhttp's views of a transfer through a proxy (`serve --proxy` as the proxy): --explain tells
the CONNECT step and what the proxy could read, --timing has a proxy CONNECT row, --trace
labels the CONNECT exchange, --packets places the TLS records after its bytes, and --retry
does not ask again after a refused CONNECT."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_packets import privileged  # noqa: F401  (the fixture: captures need CAP_NET_RAW)

from rawhttp.cli import main
from rawhttp.server import Server, running, sample_site

SITE = sample_site()
PROXY_VARIABLES = "http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy"
NO_PROXY_ENV = dict.fromkeys([*PROXY_VARIABLES.split(), "NO_PROXY"])


def get(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--timeout", "5"], env=NO_PROXY_ENV)


@pytest.fixture(scope="module")
def proxy():
    with Server(SITE, proxy=True, log=lambda line: None) as server:
        yield server.url


@pytest.fixture(scope="module")
def origin():
    with running(SITE, log=lambda line: None) as url:
        yield url


@pytest.fixture(scope="module")
def tls_origin(tmp_path_factory):
    cafile = tmp_path_factory.mktemp("tls") / "ca.pem"
    with running(SITE, tls=True, ca_file=cafile, log=lambda line: None) as url:
        yield url.replace("127.0.0.1", "localhost"), str(cafile)


def test_explain_tells_the_connect_step_and_what_the_proxy_can_read(proxy, tls_origin):
    base, cafile = tls_origin
    result = get("--explain", "-x", proxy, "--cacert", cafile, f"{base}/index.html", "-o", "-")
    assert result.exit_code == 0, result.output
    text = result.stderr
    authority = base.removeprefix("https://")
    assert f"proxy: {proxy.removeprefix('http://')} (from -x)" in text
    assert f"to the proxy, in plaintext: CONNECT {authority} HTTP/1.1" in text
    assert "the proxy answered 200 Connection established" in text
    assert "what the proxy can read of this fetch: CONNECT host:port, and the server" in text
    assert text.index("the proxy answered 200") < text.index("ClientHello")


def test_explain_a_forwarded_request_says_the_proxy_reads_it_all(proxy, origin):
    result = get("--explain", "-x", proxy, f"{origin}/index.html", "-o", "-")
    assert result.exit_code == 0, result.output
    assert f"target  {origin}/index.html: the whole URL (absolute-form)" in result.stderr
    assert "the proxy reads this request in full" in result.stderr
    assert (
        "Via: 1.1 " in result.stderr and "the proxies the message passed through" in result.stderr
    )


def test_timing_has_a_proxy_connect_row_between_connect_and_tls(proxy, tls_origin, origin):
    base, cafile = tls_origin
    result = get("--timing", "-x", proxy, "--cacert", cafile, f"{base}/", "-o", "-")
    assert result.exit_code == 0, result.output
    labels = [line.split()[0:2] for line in result.stderr.splitlines() if line.startswith("  ")]
    names = [" ".join(pair) for pair in labels]
    assert names.index("TCP connect") < names.index("proxy CONNECT") < names.index("TLS hello")
    assert "< 200 Connection established (" in result.stderr
    timed = get("--timing=json", "-x", proxy, "-p", f"{origin}/", "-o", "-")  # -p: http inside
    data = json.loads(timed.stderr.splitlines()[-1])
    assert 0 < data["tcp_connect"] < data["proxy_connect"] <= data["total"]


def test_timing_without_a_proxy_has_no_such_row(origin):
    result = get("--timing", f"{origin}/", "-o", "-")
    assert "proxy CONNECT" not in result.stderr
    data = json.loads(get("--timing=json", f"{origin}/", "-o", "-").stderr.splitlines()[-1])
    assert data["proxy_connect"] is None


def test_trace_labels_the_connect_exchange_then_the_tls_records(proxy, tls_origin):
    base, cafile = tls_origin
    result = get("--trace", "-x", proxy, "--cacert", cafile, f"{base}/", "-o", "-")
    assert result.exit_code == 0, result.output
    text = result.stderr
    assert "send() -> " in text and "(to the proxy: CONNECT, in plaintext" in text
    assert "(from the proxy: its answer to CONNECT, in plaintext)" in text
    assert "---- end of the proxy's answer at offset 39; the tunnel starts ----" in text
    assert "tls write() -> " not in text.split("the tunnel starts")[0]  # not called decrypted
    assert text.index("the tunnel starts") < text.index("TLS record out 517 bytes at offset 0")


def test_trace_of_a_refused_connect_shows_its_body(proxy):
    result = get("--trace", "-x", proxy, "https://example.test:8443/")
    assert result.exit_code == 56
    assert "---- end of head at offset" in result.stderr
    assert "CONNECT to port 8443 is not allowed" in result.stderr


def test_packets_place_the_tls_records_after_the_connect_bytes(privileged, proxy, tls_origin):  # noqa: F811
    base, cafile = tls_origin
    result = get("--packets", "-x", proxy, "--cacert", cafile, f"{base}/", "-o", "-")
    assert result.exit_code == 0, result.output
    rows = result.stderr.splitlines()
    connect = next(row for row in rows if "CONNECT to the proxy (plaintext), bytes 0-" in row)
    hello = next(row for row in rows if "TLS ClientHello, bytes " in row)
    sent = int(connect.rsplit("-", 1)[1]) + 1
    assert f"TLS ClientHello, bytes {sent}-" in hello  # right after the CONNECT's bytes
    answer = next(row for row in rows if "the proxy's answer (plaintext), bytes 0-38" in row)
    assert rows.index(answer) < rows.index(next(r for r in rows if "TLS ServerHello" in r))


def test_retry_does_not_retry_a_refused_connect(proxy):
    result = get("--retry", "2", "-x", proxy, "https://example.test:8443/")
    assert result.exit_code == 56
    assert "trying again" not in result.stderr


def test_retry_does_retry_a_connect_the_origin_refused(proxy, refused_port):
    result = get("--retry", "1", "-x", proxy, f"https://127.0.0.1:{refused_port}/")
    assert result.exit_code == 56
    assert "rawhttp: warning: status 502: trying again in 1 s (1 left)" in result.stderr
