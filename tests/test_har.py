"""`get --har FILE` (show/har.py): HAR 1.2 of everything a command fetched, validated against
a JSON Schema written from the spec (tests/har-1.2.schema.json), read back with haralyzer,
and loaded by mitmproxy's `mitmdump -nr FILE`; its figures checked against what was sent and
received (heads in order, sizes, bodies decoded, connections, timings that add up)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_fetcher import ca, https_server  # noqa: F401 (fixtures)

from rawhttp.cli import main
from rawhttp.server import Server, sample_site
from rawhttp.show import har as har_module

SCHEMA = json.loads((Path(__file__).parent / "har-1.2.schema.json").read_text())
SITE = sample_site()


def get(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--timeout", "5", "--body-only"])


def load(path: Path) -> dict:
    """The HAR, checked against the schema and the spec's arithmetic."""
    import jsonschema

    document = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(document, SCHEMA)
    for entry in document["log"]["entries"]:
        timings = entry["timings"]
        added = sum(value for key, value in timings.items() if key != "ssl" and value != -1)
        assert entry["time"] == pytest.approx(added, abs=0.01)
        if timings["ssl"] != -1:
            assert timings["connect"] >= timings["ssl"]
        datetime.fromisoformat(entry["startedDateTime"])
    started = [entry["startedDateTime"] for entry in document["log"]["entries"]]
    assert started == sorted(started)
    return document


@pytest.fixture
def gallery(tmp_path):
    """The gallery page and its objects fetched with --har; (HAR document, path, server URL)."""
    path = tmp_path / "page.har"
    with Server(SITE, log=lambda line: None) as server:
        result = get(
            "--page-requisites",
            "--output-dir",
            str(tmp_path / "out"),
            "--har",
            str(path),
            server.url + "/gallery.html",
        )
        assert result.exit_code == 0, result.output
    return load(path), path, server.url


def test_a_page_as_har(gallery):
    document, _, base = gallery
    log = document["log"]
    assert log["creator"]["name"] == "rawhttp"
    (page,) = log["pages"]
    assert page["title"] == base + "/gallery.html"
    entries = log["entries"]
    assert len(entries) == 14  # the page, 2 stylesheets, the logo, 10 pictures
    assert {entry["pageref"] for entry in entries} == {page["id"]}
    assert page["pageTimings"]["onLoad"] > 0
    assert [entry["request"]["url"] for entry in entries[:3]] == [
        base + "/gallery.html",
        base + "/style.css",
        base + "/gallery/gallery.css",
    ]
    # One kept-alive connection: DNS and connect only for the first request.
    assert {entry["connection"] for entry in entries} == {"1"}
    assert {entry["serverIPAddress"] for entry in entries} == {"127.0.0.1"}
    assert entries[0]["timings"]["dns"] >= 0 and entries[0]["timings"]["connect"] >= 0
    assert all(entry["timings"]["connect"] == -1 for entry in entries[1:])
    assert all(entry["timings"]["ssl"] == -1 for entry in entries)


def test_heads_in_order_and_sizes(gallery):
    document, _, base = gallery
    first = document["log"]["entries"][0]
    request, response = first["request"], first["response"]
    assert [header["name"] for header in request["headers"]] == [
        "Host",
        "User-Agent",
        "Accept",
        "Connection",
    ]
    assert request["headers"][0]["value"] == base.split("//")[1]
    head = "GET /gallery.html HTTP/1.1\r\n" + "".join(
        f"{h['name']}: {h['value']}\r\n" for h in request["headers"]
    )
    assert request["headersSize"] == len(head) + 2 and request["bodySize"] == 0
    assert response["status"] == 200 and response["statusText"] == "OK"
    names = [header["name"] for header in response["headers"]]
    assert names[:3] == ["Server", "Date", "Content-Type"]
    assert response["headersSize"] == len(
        "HTTP/1.1 200 OK\r\n"
        + "".join(f"{h['name']}: {h['value']}\r\n" for h in response["headers"])
        + "\r\n"
    )
    body = (SITE / "gallery.html").read_bytes()
    assert response["bodySize"] == response["content"]["size"] == len(body)
    assert response["content"]["text"] == body.decode()
    assert "encoding" not in response["content"]


def test_binary_bodies_are_base64(gallery):
    document, _, _ = gallery
    pictures = [e for e in document["log"]["entries"] if e["request"]["url"].endswith(".png")]
    assert len(pictures) == 10
    for entry in pictures:
        content = entry["response"]["content"]
        name = entry["request"]["url"].split("/")[-1]
        assert content["encoding"] == "base64"
        assert base64.b64decode(content["text"]) == (SITE / "gallery" / name).read_bytes()
        assert content["mimeType"] == "image/png"


def test_haralyzer_reads_it_back(gallery):
    from haralyzer import HarPage, HarParser

    document, _, base = gallery
    parser = HarParser(document)
    assert parser.creator["name"] == "rawhttp"
    page = HarPage("page_1", har_parser=parser)
    assert page.url == base + "/gallery.html"
    assert len(page.entries) == 14
    assert len(page.image_files) == 11 and len(page.css_files) == 2
    assert page.actual_page.response.status == 200
    assert (
        page.image_size
        == sum(path.stat().st_size for path in (SITE / "gallery").glob("*.png"))
        + (SITE / "logo.svg").stat().st_size
    )
    assert page.page_load_time >= 0


def test_mitmdump_loads_it(gallery, tmp_path):
    _, path, base = gallery
    mitmdump = shutil.which("mitmdump") or str(Path(sys.executable).parent / "mitmdump")
    if not os.path.exists(mitmdump):
        if os.environ.get("CI"):
            pytest.fail("mitmdump is missing: the test extra installs mitmproxy")
        pytest.skip("mitmproxy is not installed")
    run = subprocess.run(
        [mitmdump, "-nr", str(path), "--set", f"confdir={tmp_path / 'mitm'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count(" GET " + base) == 14
    assert run.stdout.count("<< 200 OK") == 14


def test_redirects_gzip_and_chunks(raw_server, tmp_path):
    body = b"squeezed " * 50
    squeezed = gzip.compress(body)
    chunked = (
        b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in (b"abc", b"defg"))
        + b"0\r\n\r\n"
    )
    server = raw_server(
        *[
            [b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n"],
            [
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(squeezed), squeezed)
            ],
            [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
                + chunked
            ],
        ]
    )
    path = tmp_path / "x.har"
    result = get("-L", server.url + "/start", server.url + "/chunks?a=1&b=", "--har", str(path))
    assert result.exit_code == 0, result.output
    log = load(path)["log"]
    assert "pages" not in log
    hop, final, chunks = log["entries"]
    assert hop["response"]["status"] == 302
    assert hop["response"]["redirectURL"] == "/next"
    assert final["request"]["url"] == server.url + "/next"
    content = final["response"]["content"]
    assert content["text"] == body.decode()  # gzip undone, as the spec asks
    assert content["size"] == len(body) and final["response"]["bodySize"] == len(squeezed)
    assert content["compression"] == len(body) - len(squeezed)
    assert chunks["response"]["content"]["text"] == "abcdefg"
    assert chunks["request"]["queryString"] == [
        {"name": "a", "value": "1"},
        {"name": "b", "value": ""},
    ]
    # The raw server closes after each answer: three connections.
    assert [entry["connection"] for entry in log["entries"]] == ["1", "2", "3"]


def test_a_failed_transfer_is_an_entry_too(tmp_path, refused_port):
    path = tmp_path / "x.har"
    result = get(f"http://127.0.0.1:{refused_port}/", "--har", str(path))
    assert result.exit_code == 7
    (entry,) = load(path)["log"]["entries"]
    assert entry["response"]["status"] == 0
    assert "failed:" in entry["comment"]


def test_max_har_body(tmp_path, monkeypatch):
    monkeypatch.setattr(har_module, "MAX_HAR_BODY", 1000)
    path = tmp_path / "x.har"
    with Server(SITE, log=lambda line: None) as server:
        result = get(
            server.url + "/gallery/01.png", server.url + "/files/big.bin", "--har", str(path)
        )
    assert result.exit_code == 0, result.output
    small, big = (entry["response"]["content"] for entry in load(path)["log"]["entries"])
    assert base64.b64decode(small["text"]) == (SITE / "gallery" / "01.png").read_bytes()
    assert "text" not in big and big["size"] == 1 << 20
    assert "MAX_HAR_BODY" in big["comment"]


def test_a_har_that_cannot_be_written_is_exit_23(tmp_path):
    with Server(SITE, log=lambda line: None) as server:
        result = get(server.url + "/style.css", "--har", str(tmp_path / "missing" / "x.har"))
    assert result.exit_code == 23
    assert "rawhttp: error: file: cannot write the HAR to" in result.stderr


def test_two_pages_each_with_its_entries(tmp_path):
    path = tmp_path / "x.har"
    with Server(SITE, log=lambda line: None) as server:
        pages = [server.url + "/files.html", server.url + "/index.html"]
        result = get("--page-requisites", "--output-dir", str(tmp_path), "--har", str(path), *pages)
    assert result.exit_code == 0, result.output
    log = load(path)["log"]
    assert [page["title"] for page in log["pages"]] == pages
    owners = [
        (entry["pageref"], entry["request"]["url"].rsplit("/", 1)[1]) for entry in log["entries"]
    ]
    # files.html needs style.css, logo.svg, pixel.png; index.html the same, fetched again for it.
    assert owners == [
        ("page_1", "files.html"),
        ("page_1", "style.css"),
        ("page_1", "logo.svg"),
        ("page_1", "pixel.png"),
        ("page_2", "index.html"),
        ("page_2", "style.css"),
        ("page_2", "logo.svg"),
        ("page_2", "pixel.png"),
    ]
    assert log["pages"][1]["startedDateTime"] == log["entries"][4]["startedDateTime"]


def test_https_has_ssl_inside_connect(https_server, tmp_path):  # noqa: F811
    server, cafile = https_server()
    path = tmp_path / "x.har"
    url = f"https://127.0.0.1:{server.port}/"
    result = get(url, url, "--cacert", cafile, "--har", str(path))
    assert result.exit_code == 0, result.output
    first, second = load(path)["log"]["entries"]
    timings = first["timings"]
    assert timings["ssl"] > 0 and timings["connect"] > timings["ssl"]
    assert first["response"]["content"]["text"] == "secure page"
    # werkzeug closes after each answer: a second connection, with its own handshake.
    assert second["timings"]["ssl"] > 0 and second["timings"]["dns"] >= 0
    assert (first["connection"], second["connection"]) == ("1", "2")
