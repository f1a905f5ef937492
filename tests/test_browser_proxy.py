"""A browser through `serve --proxy`: headless Chromium (Debian's package), told to use our
proxy for everything (loopback included: `<-loopback>` undoes Chromium's implicit bypass),
loads the sample site from our server and an HTTPS page from `serve --tls`; the proxy's log
shows each request of the http:// page whole, and of the https:// one only CONNECT and the
SNI. Both models. Skipped only when Chromium is missing and CI is unset."""

from __future__ import annotations

import subprocess
import tempfile
import time

import pytest
from test_browser_forms import browser

from rawhttp.server import Server, running, sample_site
from rawhttp.server.exchange import StatusPage
from rawhttp.server.proxy import is_loopback_host

pytestmark = pytest.mark.slow
SITE = sample_site()
# Chromium's own traffic (updates, sync, safe browsing...) would go to the proxy too: off.
QUIET = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--no-pings",
]


def dom_through(proxy_url: str, url: str) -> str:
    """Chromium's DOM of `url`, fetched through the proxy."""
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [
                browser(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                *QUIET,
                f"--user-data-dir={profile}",
                f"--proxy-server={proxy_url}",
                "--proxy-bypass-list=<-loopback>",
                "--ignore-certificate-errors",  # the certificate serve --tls made at start-up
                "--virtual-time-budget=5000",
                "--dump-dom",
                url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            dom, _ = process.communicate(timeout=90)
        finally:
            process.kill()
            process.wait()
    return dom


def lines_with(lines: list[str], needle: str, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in list(lines) if needle in line]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no log line with {needle!r} in {lines}")


def loopback_only(rules) -> None:
    """What Chromium still asks for beyond the page (accounts, updates) is refused before the
    proxy looks a name up: the test stays on loopback."""
    check = rules.check

    def checked(target, tunnel, headers):
        if not is_loopback_host(target.host):
            raise StatusPage(403, "this test's proxy goes to loopback only")
        check(target, tunnel, headers)

    rules.check = checked


@pytest.fixture(params=["events", "threads"])
def proxy(request):
    lines: list[str] = []
    with Server(SITE, proxy=True, log=lines.append, model=request.param) as server:
        loopback_only(server.proxy)
        yield server, lines


def test_chromium_loads_the_sample_site_through_the_proxy(proxy):
    server, lines = proxy
    with Server(SITE, log=lambda line: None) as origin:
        dom = dom_through(server.url, f"{origin.url}/index.html")
        assert "<title>rawhttp sample site" in dom
        assert origin.accepted >= 1  # (the proxy's connections)
    for path in ("/index.html", "/style.css"):
        found = lines_with(lines, f'"GET {origin.url}{path} HTTP/1.1" 200')
        assert found, path


def test_chromium_loads_an_https_page_through_a_tunnel(proxy, tmp_path):
    server, lines = proxy
    with running(SITE, tls=True, ca_file=tmp_path / "ca.pem", log=lambda line: None) as base:
        url = base.replace("127.0.0.1", "localhost")
        dom = dom_through(server.url, f"{url}/index.html")
    assert "<title>rawhttp sample site" in dom
    authority = url.removeprefix("https://")
    tunnels = lines_with(lines, f'"CONNECT {authority} HTTP/1.1" 200')
    assert all("(tunnel: SNI localhost, " in line for line in tunnels)
    assert not any("index.html" in line or "style.css" in line for line in lines)
