"""The files in samples/: the site `rawhttp demo` serves, and the raw responses for --replay.

Each replay file is served by `rawhttp serve --replay` and fetched with rawhttp's client, so
the table below is also a record of what the client makes of each one. The site is checked
for broken links and served to curl and rawhttp, and `rawhttp demo` is run on it.
"""

from __future__ import annotations

import random
import re
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from click.testing import CliRunner

import rawhttp
from rawhttp.cli import main
from rawhttp.errors import IncompleteBody, ProtocolError
from rawhttp.server import Server, sample_site

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SITE = SAMPLES / "site"
RESPONSES = SAMPLES / "responses"
TIMEOUT = 5.0
PAGE = b"<!DOCTYPE html>\n<title>hi</title>\n<p>Hello from a replayed file.</p>\n"

# What rawhttp.get makes of each replay file: (status, body), or the error it raises.
REPLAYED = {
    "content-length.http": (200, PAGE),
    "chunked.http": (200, b"Hello, chunks!\n"),
    "close-delimited.http": (
        200,
        b"No Content-Length and no chunks:\r\n"
        b"this body ends when the server closes the connection.\r\n",
    ),
    "redirect.http": (301, b""),
    "interim-100.http": (200, b"The final answer, after 100.\n"),
    "early-hints-103.http": (200, PAGE),
    "no-content-204.http": (204, b""),
    "obs-fold.http": (200, b"ok\n"),
    "short-body.http": IncompleteBody,
    "malformed-status-line.http": ProtocolError,
    "malformed-content-length.http": ProtocolError,
    "malformed-conflicting-lengths.http": ProtocolError,
    "malformed-te-and-cl.http": ProtocolError,
    "malformed-chunk-size.http": ProtocolError,
    "malformed-space-before-colon.http": ProtocolError,
}


@pytest.fixture
def logs():
    return []


def test_every_replay_file_is_listed_here_and_in_the_readme():
    names = sorted(path.name for path in RESPONSES.glob("*.http"))
    assert names == sorted(REPLAYED)
    readme = (RESPONSES / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in names)


@pytest.mark.parametrize("name", sorted(REPLAYED))
def test_replay_file_heads_have_crlf_line_ends(name):
    raw = (RESPONSES / name).read_bytes()
    heads = re.findall(rb"HTTP/1\.1 .*?\r\n\r\n", raw, re.DOTALL)
    assert heads, "no head ending in an empty CRLF line"
    for head in heads:
        assert head.count(b"\n") == head.count(b"\r\n")


@pytest.mark.parametrize("name", sorted(REPLAYED))
def test_replayed_response_as_rawhttp_sees_it(name, logs):
    expected = REPLAYED[name]
    with Server(replay=str(RESPONSES / name), log=logs.append) as server:
        if isinstance(expected, tuple):
            response = rawhttp.get(server.url + "/", timeout=TIMEOUT)
            assert (response.status, response.body) == expected
        else:
            with pytest.raises(expected) as caught:
                rawhttp.get(server.url + "/", timeout=TIMEOUT)
            assert caught.value.exit_code == (18 if expected is IncompleteBody else 8)


def test_replayed_details(logs):
    with Server(replay=str(RESPONSES / "obs-fold.http"), log=logs.append) as server:
        response = rawhttp.get(server.url + "/", timeout=TIMEOUT)
    assert response.headers["X-Folded"] == "first part, second part on a continuation line"
    with Server(replay=str(RESPONSES / "redirect.http"), log=logs.append) as server:
        response = rawhttp.get(server.url + "/", timeout=TIMEOUT)
    assert response.headers["Location"] == "/index.html"


# --- the site ---------------------------------------------------------------------------------


def local_links(page: Path) -> list[str]:
    text = page.read_text()
    links = re.findall(r'(?:href|src)="([^"#?]+)"', text)
    return [link for link in links if "://" not in link]


@pytest.mark.parametrize("page", sorted(SITE.glob("*.html")), ids=lambda path: path.name)
def test_site_links_lead_somewhere(page):
    links = local_links(page)
    assert links
    for link in links:
        assert (page.parent / link).exists(), f"{page.name} links to missing {link}"


def test_site_files_are_what_they_say():
    assert sample_site() == SITE
    big = (SITE / "files" / "big.bin").read_bytes()
    assert big == random.Random(2024).randbytes(1 << 20)  # as files.html says
    assert (SITE / "pixel.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    ElementTree.parse(SITE / "logo.svg")  # well-formed XML
    assert {path.name for path in SITE.glob("*.html")} >= {"index.html", "files.html"}


def test_site_served_to_curl_and_rawhttp(logs):
    big = (SITE / "files" / "big.bin").read_bytes()
    with Server(SITE, log=logs.append) as server:
        result = subprocess.run(
            ["curl", "-sS", "--max-time", "5", server.url + "/files/big.bin"],
            capture_output=True,
            timeout=10,
        )
        assert (result.returncode, result.stdout == big) == (0, True)
        with rawhttp.stream(server.url + "/files/big.bin", timeout=TIMEOUT) as response:
            received = b"".join(bytes(piece) for piece in response.iter_body())
        assert received == big
        for name, kind in [("style.css", "text/css"), ("logo.svg", "image/svg+xml")]:
            response = rawhttp.get(f"{server.url}/{name}", timeout=TIMEOUT)
            assert response.headers["Content-Type"].split(";")[0] == kind
        listing = rawhttp.get(server.url + "/files/", timeout=TIMEOUT).body
        assert b'<a href="big.bin">big.bin</a>' in listing


def test_demo_serves_fetches_and_saves_page_html(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "page.html").read_bytes() == (SITE / "index.html").read_bytes()
    lines = [line for line in result.stdout.splitlines() if line.startswith("demo: ")]
    assert len(lines) == 3
    assert re.fullmatch(
        r"demo: started rawhttp's server on http://127\.0\.0\.1:\d+/ for .+", lines[0]
    )
    assert re.fullmatch(r"demo: fetched \d+ bytes in [\d.]+ ms \(rawhttp get -v .+\)", lines[1])
    assert "HTTP/1.1 200 OK" in result.stdout
    assert '"GET /index.html HTTP/1.1" 200' in result.stderr


def test_demo_keeps_an_existing_page_html(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "page.html").write_text("mine")
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "page.html").read_text() == "mine"
    assert (tmp_path / "page.html.1").read_bytes() == (SITE / "index.html").read_bytes()
    assert "demo: saved the body as page.html.1 (page.html was there already: kept" in (
        result.stdout
    )


REQUESTS = Path(__file__).resolve().parent.parent / "samples" / "requests"


@pytest.mark.parametrize(
    ("name", "statuses"),
    [
        ("minimal-get.txt", ["200 OK"]),
        ("http10.txt", ["200 OK"]),
        ("missing-host.txt", ["400 Bad Request"]),
        ("pipelined-pair.txt", ["200 OK", "200 OK"]),
        ("head.txt", ["200 OK"]),
        ("malformed-space-before-colon.txt", ["400 Bad Request"]),
        ("wrong-version.txt", ["505 HTTP Version Not Supported"]),
    ],
)
def test_sample_requests_with_send(site_server, name, statuses):
    address = f"127.0.0.1:{site_server.port}"
    result = CliRunner().invoke(main, ["send", address, str(REQUESTS / name), "--timeout", "5"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"* {len(statuses)} response(s): {', '.join(statuses)}"
