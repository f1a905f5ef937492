"""--timeline FILE.html (show/timeline.py): a lane per connection, a bar per request, the
heads escaped, TCP segments when captured, nothing fetched from elsewhere; then the page in
headless Chromium (its DOM after scripts ran, and a screenshot of a sane size)."""

from __future__ import annotations

import struct
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from rawhttp.cli import main
from rawhttp.fetch.conversation import Lane
from rawhttp.fetch.strategies import Report, fetch_urls
from rawhttp.server import Server, sample_site
from rawhttp.show import timeline
from rawhttp.tcp.capture import Frame
from rawhttp.tcp.segments import ACK, PSH, SYN, Segment
from rawhttp.url import parse_url

EVIL = b"<script>alert(1)</script>"


class Dom(HTMLParser):
    """Counts what the tests look for: elements by class, and any outside reference."""

    def __init__(self, text: str):
        super().__init__()
        self.classes: dict[str, int] = {}
        self.outside: list[str] = []
        self.scripts = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        for name in (attrs.get("class") or "").split():
            self.classes[name] = self.classes.get(name, 0) + 1
        for key in ("src", "href"):
            if attrs.get(key):
                self.outside.append(attrs[key])
        self.scripts += tag == "script"

    def count(self, name: str) -> int:
        return self.classes.get(name, 0)


@pytest.fixture
def evil_server(raw_server):
    """Answers with a header a page must not run."""
    answer = b"HTTP/1.1 200 OK\r\nX-Evil: %s\r\nContent-Length: 2\r\n\r\nok" % EVIL
    return raw_server([answer])


def test_a_lane_per_connection_a_bar_per_request(site_server):
    urls = [parse_url(f"{site_server.url}/{name}") for name in ("index.html", "style.css") * 3]
    report = fetch_urls(urls, "persistent", 2)
    dom = Dom(timeline.render(report, title="test"))
    assert dom.count("lane") == len(report.lanes) == 2
    assert dom.count("bar") == 6 and dom.count("heads") == 6
    assert dom.count("seg") == 0  # nothing captured
    assert dom.outside == [] and dom.scripts == 1  # inline only


def test_heads_are_escaped(evil_server):
    report = fetch_urls([parse_url(evil_server.url + "/x")], "non-persistent")
    page = timeline.render(report)
    assert EVIL.decode() not in page
    assert "X-Evil: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "GET /x HTTP/1.1" in page


def test_at_most_max_lanes_are_drawn():
    lanes = [Lane(n, ("http", "127.0.0.1", 80), float(n)) for n in range(timeline.MAX_LANES + 5)]
    page = timeline.render(Report([], lanes, 0.0, float(len(lanes))))
    assert Dom(page).count("lane") == timeline.MAX_LANES
    assert "5 more connections not drawn (MAX_LANES" in page


def test_segments_on_their_connection_with_retransmissions(site_server):
    report = fetch_urls([parse_url(site_server.url + "/style.css")], "persistent")
    lane = report.lanes[0]
    (client, cport), (server, sport) = lane.local, lane.remote
    at = report.started

    def frame(offset: float, out: bool, flags: int, seq: int, payload: int) -> Frame:
        ends = (client, cport, server, sport) if out else (server, sport, client, cport)
        segment = Segment(*ends, seq=seq, ack=0, flags=flags, window=0, payload=payload)
        return Frame(at + offset, 0, b"", 0, segment)

    frames = [
        frame(0.0, True, SYN, 1, 0),
        frame(0.0001, False, SYN | ACK, 9, 0),
        frame(0.0002, True, PSH | ACK, 2, 80),
        frame(0.0003, True, PSH | ACK, 2, 80),  # the same bytes again
        frame(0.0004, False, ACK, 10, 0),
        Frame(at, 0, b"", 0, Segment("10.0.0.1", 1, "10.0.0.2", 2, 0, 0, SYN, 0, 0)),  # not ours
    ]
    dom = Dom(timeline.render(report, frames))
    assert dom.count("seg") == 5
    assert dom.count("syn") == 2 and dom.count("data") == 2 and dom.count("ack") == 1
    assert dom.count("retransmission") == 1


def test_cli_writes_the_page(site_server, tmp_path):
    out = tmp_path / "t.html"
    args = [f"{site_server.url}/{{index.html,style.css,logo.svg}}", "-o", "/dev/null"]
    result = CliRunner().invoke(main, ["get", *args, "--timeline", str(out)])
    assert result.exit_code == 0, result.output
    dom = Dom(out.read_text())
    assert dom.count("lane") == 1 and dom.count("bar") == 3  # persistent by default


def test_cli_timeline_cannot_be_written(site_server, tmp_path):
    target = tmp_path / "missing" / "t.html"
    result = CliRunner().invoke(
        main, ["get", f"{site_server.url}/style.css", "--timeline", str(target)]
    )
    assert result.exit_code == 23
    assert "cannot write the timeline" in result.stderr


# --- in Chromium --------------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _chromium(command: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                command,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            timeout=60,
        )


@pytest.mark.slow
def test_timeline_in_chromium(tmp_path):
    from test_browser_forms import browser

    from rawhttp.show.packets import check_capture

    command = browser()
    try:
        check_capture().close()
        packets = ["--packets"]
    except Exception:  # no capture without root: the page is still checked, without segments
        packets = []
    out = tmp_path / "timeline.html"
    with Server(sample_site(), latency=0.02, log=lambda line: None) as server:
        args = [
            "-Z",
            "--parallel-max",
            "3",
            f"{server.url}/pageload/img[01-09].svg",
            "-o",
            "/dev/null",
            "--timeline",
            str(out),
            *packets,
        ]
        result = CliRunner().invoke(main, ["get", *args])
    assert result.exit_code == 0, result.output
    dumped = _chromium(command, "--virtual-time-budget=2000", "--dump-dom", out.as_uri())
    dom = Dom(dumped.stdout.decode())
    assert dom.count("lane") == 3 and dom.count("bar") == 9
    assert dom.count("tick") >= 5
    if packets:
        assert dom.count("syn") >= 6 and dom.count("fin") >= 3  # both ends' SYN and FIN
    # a click on a bar shows its heads: the page, plus one line of script that clicks
    clicked = tmp_path / "clicked.html"
    click = "<script>document.querySelectorAll('.bar')[4].click()</script></body>"
    clicked.write_text(out.read_text().replace("</body>", click))
    dumped = _chromium(command, "--virtual-time-budget=2000", "--dump-dom", clicked.as_uri())
    detail = dumped.stdout.decode().split('id="detail-text">')[1].split("</pre>")[0]
    assert detail.startswith("GET /pageload/img") and "HTTP/1.1 200 OK" in detail
    shot = tmp_path / "timeline.png"
    _chromium(command, "--window-size=1200,700", f"--screenshot={shot}", out.as_uri())
    assert _png_size(shot) == (1200, 700)
    assert shot.stat().st_size > 10_000  # drawn, not blank
