"""The server's pages as a person sees them: headless Chromium (Debian's package) loads the
sample site's pages, a folder listing and an error page from our server, at 1,200 x 900.

For each page: a screenshot of the window's size that is not blank, and a DOM with what must be
there (the listing's rows in order, links only for what is served; the error's status; each
sample page's heading and links that all answer). One more page measures the layout: nothing
may need horizontal scrolling at 1,200 px (the home page's command box once did). Skipped only
when Chromium is missing and CI is unset, as tests/test_browser_forms.py. Set
RAWHTTP_SCREENSHOTS=DIR to keep the screenshots and look at them.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_browser_forms import browser

import rawhttp
from rawhttp.server import Server, sample_site

WIDTH, HEIGHT = 1200, 900
SITE_PAGES = sorted(path.name for path in sample_site().glob("*.html"))


class Page(HTMLParser):
    """What the tests read from a dumped DOM: title, h1, links, table rows, forms."""

    def __init__(self, text: str):
        super().__init__()
        self.title = self.h1 = ""
        self.links: list[str] = []
        self.sources: list[str] = []
        self.rows: list[dict] = []
        self.forms: list[str] = []
        self.has_style = False
        self._in: str | None = None
        self._in_row = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs) -> None:
        attrs = dict(attrs)
        if tag in ("title", "h1"):
            self._in = tag
        elif tag == "style":
            self.has_style = True
        elif tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
            if self._in_row:
                self.rows[-1]["href"] = attrs["href"]
        elif tag in ("img", "script", "link") and (attrs.get("src") or attrs.get("href")):
            self.sources.append(attrs.get("src") or attrs["href"])
        elif tag == "tr":
            self.rows.append({"class": attrs.get("class", ""), "cells": [], "href": None})
            self._in_row = True
        elif tag in ("td", "th") and self.rows:
            self.rows[-1]["cells"].append("")
            self._in = "cell"
        elif tag == "form":
            self.forms.append(attrs.get("id", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "h1", "td", "th"):
            self._in = None
        self._in_row = self._in_row and tag != "tr"

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1 += data
        elif self._in == "cell":
            self.rows[-1]["cells"][-1] += data


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def load(urls: dict[str, str], folder: Path) -> dict[str, str]:
    """Chromium on each URL at once (one process per page): its DOM, and NAME.png beside."""
    command = browser()
    processes = {}
    with tempfile.TemporaryDirectory() as profiles:
        for name, url in urls.items():
            processes[name] = subprocess.Popen(
                [
                    command,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--hide-scrollbars",
                    f"--user-data-dir={profiles}/{name}",
                    f"--window-size={WIDTH},{HEIGHT}",
                    "--virtual-time-budget=5000",
                    f"--screenshot={folder / name}.png",
                    "--dump-dom",
                    url,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        doms = {}
        for name, process in processes.items():
            try:
                doms[name], _ = process.communicate(timeout=90)
            finally:
                process.kill()
    return doms


# The layout check: each page in an iframe as wide as the window, measured once loaded.
MEASURE = """<!DOCTYPE html><meta charset="utf-8"><title>measure</title>
<pre id="result"></pre><script>
const pages = %s, found = {};
for (const page of pages) {
  const frame = document.createElement("iframe");
  frame.style.cssText = "width:%dpx;height:%dpx;border:0";
  frame.onload = () => {
    const doc = frame.contentDocument;
    found[page] = {
      page: doc.documentElement.scrollWidth,
      boxes: [...doc.querySelectorAll("pre, table")]
        .filter((box) => box.scrollWidth > box.clientWidth + 1 || box.scrollWidth > %d)
        .map((box) => box.tagName + ": " + box.textContent.slice(0, 40)),
    };
    document.getElementById("result").textContent = JSON.stringify(found);
  };
  frame.src = page;
  document.body.append(frame);
}
</script>"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Every page loaded once: (DOMs by name, the screenshots' folder, the layout measures)."""
    browser()
    base = tmp_path_factory.mktemp("pages")
    root = base / "root"
    shutil.copytree(sample_site(), root / "site")
    odd = root / "odd"
    (odd / "sub").mkdir(parents=True)
    (odd / "b.txt").write_bytes(b"x" * 1234)
    (odd / "A.txt").write_bytes(b"hello")
    (odd / "a\\b.txt").write_bytes(b"x")  # a backslash: no URL of ours names it
    (odd / "out").symlink_to(base / "secret.txt")  # leads outside the served folder
    (base / "secret.txt").write_bytes(b"secret")
    (odd / "to-sub").symlink_to("sub")
    os.mkfifo(odd / "fifo")
    (root / "blank.html").write_text("<!DOCTYPE html><title>blank</title>")
    targets = [f"site/{page}" for page in SITE_PAGES] + ["odd/", "nope"]
    (root / "measure.html").write_text(
        MEASURE % (json.dumps([f"/{target}" for target in targets]), WIDTH, HEIGHT, WIDTH)
    )
    shots = Path(os.environ.get("RAWHTTP_SCREENSHOTS") or base / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with Server(root, log=lambda line: None) as server:
        names = {target: target.replace("/", "_").strip("_") for target in targets}
        urls = {names[target]: f"{server.url}/{target}" for target in targets}
        urls["blank"] = f"{server.url}/blank.html"
        urls["measure"] = f"{server.url}/measure.html"
        doms = load(urls, shots)
        links_answer = {
            target: [check_link(server.url, target, href) for href in links_of(doms[names[target]])]
            for target in targets
        }
    measured = json.loads(measure_result(doms["measure"]))
    return {
        "doms": {target: doms[names[target]] for target in targets},
        "shots": {target: shots / f"{names[target]}.png" for target in targets},
        "blank": shots / "blank.png",
        "measured": measured,
        "links": links_answer,
    }


def measure_result(dom: str) -> str:
    """The JSON the measure page wrote into its one <pre>."""
    start = dom.index('<pre id="result">') + len('<pre id="result">')
    return dom[start : dom.index("</pre>", start)].replace("&amp;", "&").replace("&lt;", "<")


def links_of(dom: str) -> list[str]:
    page = Page(dom)
    return [href for href in page.links + page.sources if "://" not in href]


def check_link(base: str, target: str, href: str) -> tuple[str, int]:
    """(href, the status our server answers it with), resolved against the page's URL."""
    from urllib.parse import urljoin

    url = urljoin(f"{base}/{target}", href.split("#")[0])
    return href, rawhttp.get(url, timeout=5).status


def test_screenshots_have_the_window_size_and_are_not_blank(pages):
    blank = pages["blank"].stat().st_size
    assert png_size(pages["blank"]) == (WIDTH, HEIGHT)
    for target, shot in pages["shots"].items():
        assert png_size(shot) == (WIDTH, HEIGHT), target
        assert shot.stat().st_size > 1.5 * blank, f"{target} looks blank: {shot}"


@pytest.mark.parametrize("name", SITE_PAGES)
def test_sample_pages_have_their_heading_and_working_links(pages, name):
    target = f"site/{name}"
    page = Page(pages["doms"][target])
    assert page.h1.strip() and page.title.strip(), target
    assert {"index.html", "request.html", "response.html", "files.html", "forms.html"} <= set(
        page.links
    )
    assert "style.css" in page.sources
    broken = [(href, status) for href, status in pages["links"][target] if status != 200]
    assert not broken, broken


def test_the_forms_page_has_its_three_forms(pages):
    assert Page(pages["doms"]["site/forms.html"]).forms == ["get", "urlencoded", "multipart"]


def test_nothing_needs_horizontal_scrolling_at_1200_px(pages):
    measured = pages["measured"]
    assert set(measured) == {f"/{target}" for target in pages["doms"]}, measured
    for page, found in measured.items():
        assert found["page"] <= WIDTH, (page, found)
        assert not found["boxes"], (page, found)


def test_the_listing_rows(pages):
    page = Page(pages["doms"]["odd/"])
    assert page.has_style and page.h1 == "Index of /odd/"
    header, *rows = page.rows
    assert header["cells"] == ["Name", "Size (bytes)", "Modified (UTC)"]
    names = [row["cells"][0].split(" (")[0] for row in rows]
    # The parent first, folders next (a link to one too), then the rest sorted by name.
    assert names == ["../", "sub/", "to-sub/", "A.txt", "a\\b.txt", "b.txt", "fifo", "out"]
    served = {row["cells"][0]: row for row in rows if row["href"]}
    assert [row["href"] for row in served.values()] == ["../", "sub/", "to-sub/", "A.txt", "b.txt"]
    assert served["b.txt"]["cells"][1] == "1,234" and served["A.txt"]["cells"][1] == "5"
    assert served["sub/"]["cells"][1] == ""  # a folder has no size
    assert all(row["cells"][2].startswith("20") for row in rows[1:] if row["href"])
    unserved = {row["cells"][0] for row in rows if row["class"] == "unserved"}
    assert unserved == {
        "a\\b.txt (not served: a backslash in the name: no URL names it)",
        "fifo (not served: a FIFO, not a file)",
        "out (not served: a symlink out of the served folder)",
    }
    assert all(status == 200 for _, status in pages["links"]["odd/"])


def test_the_error_page(pages):
    page = Page(pages["doms"]["nope"])
    assert page.has_style
    assert page.title == page.h1 == "404 Not Found"
    assert "nothing at /nope" in pages["doms"]["nope"]
    assert "/" in page.links  # a way back to the start page
