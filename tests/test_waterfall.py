"""The --timing waterfall (show/waterfall.py) after several requests: drawn from hand-timed
events (where each phase lands on the axis), then from real runs: several URLs on two
servers (connection numbers), a page's requisites, and on a terminal in colour."""

from __future__ import annotations

import re
import subprocess
import sys

from click.testing import CliRunner
from test_color import SGR, on_a_terminal

from rawhttp import events
from rawhttp.cli import main
from rawhttp.server import Server, sample_site
from rawhttp.show.color import STYLES, Palette
from rawhttp.show.exchanges import Exchanges
from rawhttp.show.waterfall import Waterfall, draw
from rawhttp.wire import Headers, ResponseHead

ROW = re.compile(r"^\s+(\d+|-)\s+(\d{3}|error)\s+([\d,-]+)\s+(\S+)\s+\|(.*)\|$")


def head(status: int = 200) -> ResponseHead:
    return ResponseHead("HTTP/1.1", status, "OK", Headers(), b"HTTP/1.1 200 OK\r\n\r\n")


def request(listener, url: str, at: float, steps: list[tuple[str, float]]) -> None:
    """Feed the events of one request, each step at `at` + its offset (seconds)."""
    listener(events.RequestStarted(url=url, method="GET", at=at))
    made = {
        "dns": lambda t: events.Resolved("h", 80, [], at=t),
        "connect": lambda t: events.Connected(("127.0.0.1", 5), ("127.0.0.1", 80), at=t),
        "tls": lambda t: events.TLSEstablished("TLSv1.3", "X", at=t),
        "reused": lambda t: events.Reused(("127.0.0.1", 80), at=t),
        "sent": lambda t: events.RequestHeadSent(b"GET / HTTP/1.1\r\n\r\n", 0, at=t),
        "first": lambda t: events.Received(b"x", 0, at=t),
        "head": lambda t: events.HeadReceived(head(), 19, at=t),
        "done": lambda t: events.BodyDone(1000, "length", at=t),
        "kept": lambda t: events.Closed("client", kept=True, at=t),
    }
    for name, offset in steps:
        listener(made[name](at + offset))


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_phases_land_where_they_happened():
    recorded = Exchanges()
    new = [("dns", 0.010), ("connect", 0.020), ("tls", 0.040), ("sent", 0.041)]
    new += [("first", 0.060), ("head", 0.060), ("done", 0.080), ("kept", 0.080)]
    request(recorded, "http://h/a.html", 100.0, new)
    again = [("reused", 0.0), ("sent", 0.001), ("first", 0.010), ("head", 0.010)]
    again += [("done", 0.020), ("kept", 0.020)]
    request(recorded, "http://h/b.png", 100.080, again)
    lines = draw(recorded.list, recorded.connections, Palette(False), width=50)
    assert lines[0] == (
        "rawhttp: waterfall: 2 requests on 1 connection in 100.000 ms (a column is 2.000 ms)"
    )
    first, second = (ROW.match(line).groups() for line in lines[2:4])
    assert first[:4] == ("1", "200", "1,000", "/a.html")
    # 2 ms a column: DNS 0-10 ms, connect 10-20, TLS 20-40, waiting 40-60, receiving 60-80.
    assert first[4] == "d" * 5 + "c" * 5 + "t" * 10 + "w" * 10 + "=" * 10 + " " * 10
    assert second[:4] == ("1", "200", "1,000", "/b.png")
    assert second[4] == " " * 40 + "w" * 5 + "=" * 5
    assert lines[-1] == "  d DNS  c connect  t TLS  w waiting  = receiving"


def test_a_phase_shorter_than_a_column_still_shows():
    recorded = Exchanges()
    quick = [("dns", 0.0001), ("connect", 0.0002), ("sent", 0.0003), ("first", 0.0004)]
    request(recorded, "http://h/", 0.0, [*quick, ("head", 0.0004), ("done", 0.0005)])
    request(recorded, "http://h/slow", 0.0005, [("reused", 0), ("sent", 0), ("first", 1.0)])
    row = ROW.match(draw(recorded.list, 1, Palette(False), width=20)[2]).group(5)
    assert re.match(r"dcw+= ", row), row  # a column each, though all fit in the first


def test_colours_are_the_phases_kinds():
    recorded = Exchanges()
    request(recorded, "http://h/", 0.0, [("dns", 0.1), ("connect", 0.2), ("sent", 0.2)])
    request(recorded, "http://h/x", 0.3, [("reused", 0.0), ("first", 0.1), ("head", 0.1)])
    painted = "\n".join(draw(recorded.list, 1, Palette(True), width=30))
    for kind, letter in (("dns", "d"), ("connect", "c"), ("wait", "w")):
        assert f"\x1b[{STYLES[kind]}m{letter}\x1b[0m" in painted
    plain = "\n".join(draw(recorded.list, 1, Palette(False), width=30))
    assert SGR.sub("", painted) == plain


def test_one_request_has_no_waterfall(capsys):
    view = Waterfall()
    request(view, "http://h/", 0.0, [("dns", 0.1), ("done", 0.2)])
    view.close()
    assert capsys.readouterr().err == ""


def get(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--timeout", "5", "--body-only"])


def rows(stderr: str) -> list[tuple[str, ...]]:
    start = stderr.index("rawhttp: waterfall:")
    return [match.groups() for line in stderr[start:].splitlines() if (match := ROW.match(line))]


def test_several_urls_on_two_servers(tmp_path):
    site = sample_site()
    with (
        Server(site, log=lambda line: None) as one,
        Server(site, log=lambda line: None) as two,
    ):
        urls = [one.url + "/index.html", one.url + "/style.css", two.url + "/logo.svg"]
        result = get(*urls, "--timing")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("  DNS lookup") == 3  # each transfer's table is still there
    assert "rawhttp: waterfall: 3 requests on 2 connections in" in result.stderr
    found = rows(result.stderr)
    assert [row[0] for row in found] == ["1", "1", "2"]
    assert [row[3] for row in found] == [url.split("//")[1] for url in urls]  # two hosts
    sizes = [(site / name).stat().st_size for name in ("index.html", "style.css", "logo.svg")]
    assert [int(row[2].replace(",", "")) for row in found] == sizes
    first, reused, other = (row[4] for row in found)
    assert "d" in first and "c" in first and "=" in first
    assert "d" not in reused and "c" not in reused and "w" in reused
    assert "c" in other
    # The bars follow one another on the axis: each starts after the one before it.
    starts = [len(bar) - len(bar.lstrip()) for bar in (first, reused, other)]
    assert starts == sorted(starts)


def test_one_url_and_json_have_none():
    with Server(sample_site(), log=lambda line: None) as server:
        assert "waterfall" not in get(server.url + "/", "--timing").stderr
        result = get(server.url + "/", server.url + "/style.css", "--timing=json")
    assert "waterfall" not in result.stderr


def test_a_page_and_its_requisites(tmp_path):
    with Server(sample_site(), log=lambda line: None) as server:
        result = get(
            "--page-requisites",
            "--output-dir",
            str(tmp_path),
            server.url + "/gallery.html",
            "--timing",
        )
    assert result.exit_code == 0, result.output
    found = rows(result.stderr)
    assert len(found) == 14
    assert {row[0] for row in found} == {"1"}
    assert found[0][3] == "/gallery.html" and found[-1][3] == "/gallery/10.png"


def test_coloured_on_a_terminal_only():
    with Server(sample_site(), log=lambda line: None) as server:
        urls = [server.url + "/", server.url + "/style.css"]
        shown, _ = on_a_terminal(
            ["get", *urls, "--timing", "--body-only"], stdout=subprocess.DEVNULL
        )
        assert f"\x1b[{STYLES['receive']}m=" in shown
        piped = subprocess.run(
            [sys.executable, "-m", "rawhttp", "get", *urls, "--timing", "--body-only"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert "rawhttp: waterfall: 2 requests" in piped.stderr and "\x1b[" not in piped.stderr
    assert "rawhttp: waterfall: 2 requests" in SGR.sub("", shown)
