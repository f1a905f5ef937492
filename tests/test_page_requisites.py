"""`get --page-requisites` (fetch/requisites.py finds, fetch/page.py fetches and saves): the
finder on tables of markup, the file layout, then whole pages from our server (a second one
for a cross-origin object), nginx, and the offline copy opened in headless Chromium with the
servers stopped. Every limit is exercised, and hostile pages (huge, unclosed, loops) end."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_nginx import nginx  # noqa: F401 (the fixture, used as an argument)

from rawhttp.cli import main
from rawhttp.fetch import page as page_module
from rawhttp.fetch import requisites
from rawhttp.fetch.page import Document, Fetched, PageFetch, PageOptions, convert, local_path
from rawhttp.fetch.requisites import find, find_css, scan_css, scan_html, srcset_spans
from rawhttp.server import Server, sample_site
from rawhttp.url import parse_url

BASE = parse_url("http://h/dir/page.html")


def targets(urls) -> list[str]:
    return [str(url) for url in urls]


# --- the finder -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "found"),
    [
        ('<img src="a.png">', ["http://h/dir/a.png"]),
        ("<img src=a.png>", ["http://h/dir/a.png"]),
        ("<IMG SRC='../b.png'/>", ["http://h/b.png"]),
        ('<img src="/c.png#frag">', ["http://h/c.png"]),
        ('<img src="http://h/abs.png">', ["http://h/abs.png"]),
        ('<img src=" spaced name.png ">', ["http://h/dir/spaced%20name.png"]),
        ('<img srcset="a.png 1x, b.png 2x,c.png">', [f"http://h/dir/{n}.png" for n in "abc"]),
        (
            '<img src="a.png" srcset="a.png 1x, d.png 480w">',
            ["http://h/dir/a.png", "http://h/dir/d.png"],
        ),
        (
            '<picture><source srcset="p.webp"><img src="p.png"></picture>',
            ["http://h/dir/p.webp", "http://h/dir/p.png"],
        ),
        ('<link rel="stylesheet" href="s.css">', ["http://h/dir/s.css"]),
        ('<link rel="alternate stylesheet" href="alt.css">', ["http://h/dir/alt.css"]),
        ('<link rel="shortcut icon" href="/favicon.ico">', ["http://h/favicon.ico"]),
        ('<link rel=preload as=font href="f.woff2">', ["http://h/dir/f.woff2"]),
        ('<link rel="next" href="2.html"><a href="x.html">x</a>', []),
        ('<script src="app.js"></script>', ["http://h/dir/app.js"]),
        ("<script>var x = '<img src=no.png>'</script>", []),
        ('<div style="background: url(bg.png)">', ["http://h/dir/bg.png"]),
        ('<div style="background: url(&quot;q.png&quot;)">', ["http://h/dir/q.png"]),
        (
            "<style>a{b:url('s.png')} /* url(no.png) */ p{content:'url(no2.png)'}</style>",
            ["http://h/dir/s.png"],
        ),
        (
            '<style>@import "i.css"; @import url(j.css);</style>',
            ["http://h/dir/i.css", "http://h/dir/j.css"],
        ),
        ('<base href="/other/"><img src="a.png">', ["http://h/other/a.png"]),
        (
            '<img src="a.png"><base href="http://h/late/">',
            ["http://h/late/a.png"],
        ),  # whole document
        ('<base href="/one/"><base href="/two/"><img src="a.png">', ["http://h/one/a.png"]),
        ('<img src="data:image/png;base64,AAAA"><img src="javascript:x"><img src="">', []),
        ('<img src="a.png"><img src="./a.png"><img src="a.png#x">', ["http://h/dir/a.png"]),
        ('<img src="http://[::1">', []),  # malformed: left out, never an error
    ],
)
def test_find(markup, found):
    assert targets(find(markup.encode(), BASE, span_hosts=True)) == found


def test_other_origins_only_with_span_hosts():
    markup = b'<img src="a.png"><img src="//cdn.example/b.png"><img src="https://h/c.png">'
    assert targets(find(markup, BASE)) == ["http://h/dir/a.png"]
    assert targets(find(markup, BASE, span_hosts=True)) == [
        "http://h/dir/a.png",
        "http://cdn.example/b.png",
        "https://h/c.png",
    ]
    assert targets(find(markup, BASE, span_hosts=True, limit=2))[-1] == "http://cdn.example/b.png"


@pytest.mark.parametrize(
    ("css", "found"),
    [
        ("a{background:url(x.png)}", ["http://h/dir/x.png"]),
        ('a{background:url( "y.png" )}', ["http://h/dir/y.png"]),
        ("@import 'i.css';", ["http://h/dir/i.css"]),
        ('@import url("j.css") screen;', ["http://h/dir/j.css"]),
        ("/* @import 'no.css'; url(no.png) */ b{c:d}", []),
        ('a{content:"url(no.png)"} b{x:myurl(no.png)}', []),
        ("a{b:url(data:image/png;base64,AAAA)}", []),
        ("/* unclosed comment url(no.png)", []),
    ],
)
def test_find_css(css, found):
    assert targets(find_css(css.encode(), BASE)) == found


def test_kinds_and_spans_let_the_text_be_rewritten():
    page = '<base href="/b/"><img srcset="a.png 2x, c.png"><a href="x.html">x</a><style>@import "i.css";</style>'
    found = scan_html(page, BASE)
    assert [(ref.kind, page[ref.start : ref.end]) for ref in found] == [
        ("base", "/b/"),
        ("image", "a.png"),
        ("image", "c.png"),
        ("link", "x.html"),
        ("import", "i.css"),
    ]
    assert [ref.requisite for ref in found] == [False, True, True, False, True]
    assert scan_css("x{y:url(z.png)}", BASE, offset=10)[0][1:3] == (18, 23)


def test_srcset_spans():
    value = "a.png 1x,b.png 2x, c(1).png 480w , d.png,"
    assert [value[s:e] for s, e in srcset_spans(value)] == ["a.png", "b.png", "c(1).png", "d.png"]


# --- hostile documents end cleanly ------------------------------------------------------------


@pytest.mark.parametrize(
    "markup",
    [
        '<img src="a.png',  # unclosed tag at the end
        '<img src="a.png"><style>x{y:url(s.png)}',  # unclosed <style>
        "<" * 200_000 + '<img src="a.png">',
        "<!--" + "x" * 100_000,  # unclosed comment
        '<img src="a.png"' + ' x="' * 50_000,
        "<script>" + "<img src=no.png>" * 10_000,  # unclosed script: all text
        "\x00\xff<img src=a.png>\ud800",
    ],
)
def test_hostile_markup_ends_cleanly(markup):
    started = time.monotonic()
    find(markup.encode("utf-8", "surrogatepass"), BASE)
    assert time.monotonic() - started < 10


def test_a_huge_page_is_searched_up_to_max_parse_bytes():
    filler = b"<p>" + b"x" * requisites.MAX_PARSE_BYTES
    page = b'<img src="first.png">' + filler + b'<img src="late.png">'
    started = time.monotonic()
    assert targets(find(page, BASE)) == ["http://h/dir/first.png"]
    assert time.monotonic() - started < 20
    assert requisites.parse_limit(page)[1] and not requisites.parse_limit(b"small")[1]


def test_max_references(monkeypatch):
    monkeypatch.setattr(requisites, "MAX_REFERENCES", 3)
    tags = b"".join(b'<img src="%d.png">' % n for n in range(5))
    assert targets(find(tags, BASE)) == [f"http://h/dir/{n}.png" for n in range(3)]
    block = b"<style>" + b"".join(b"a{b:url(%d.png)}" % n for n in range(5)) + b"</style>"
    assert targets(find(block, BASE)) == [f"http://h/dir/{n}.png" for n in range(3)]
    assert len(find_css(block[7:-8], BASE)) == 3


def test_a_flood_of_references_ends_in_time():
    size = requisites.MAX_PARSE_BYTES
    tags = b"".join(b"<img src=%d.png>" % n for n in range(size // 16))
    block = b"<style>" + b"".join(b"a{b:url(%d.png)}" % n for n in range(size // 20))
    for page in (tags, block):
        started = time.monotonic()
        assert len(find(page, BASE)) == requisites.MAX_FOUND
        assert time.monotonic() - started < 5


# --- where files go, and links rewritten ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("http://h/", "D/h/index.html"),
        ("http://h/a/", "D/h/a/index.html"),
        ("http://h:8080/a/b.png", "D/h:8080/a/b.png"),
        ("https://h/x.css?v=2", "D/h/x.css?v=2"),
        ("http://h/a%20b/c%2Fd.png", "D/h/a b/c_d.png"),
        ("http://h/../../etc/passwd", "D/h/etc/passwd"),
        ("http://h/a/%2e%2e/b", "D/h/a/_../b"),
        ("http://[::1]:81/z", "D/[::1]:81/z"),
    ],
)
def test_local_path(url, path):
    assert local_path(parse_url(url), "D") == path


def test_convert_points_at_saved_files_and_absolute_urls(tmp_path):
    text = '<base href="/s/"><img src="a.png#top"><a href="b.html?x=1&amp;y=2">b</a><div style="background:url(&quot;a.png&quot;)">'
    document = Document(str(tmp_path / "h/dir/page.html"), text, scan_html(text, BASE))
    saved = {parse_url("http://h/s/a.png"): str(tmp_path / "h/s/a.png")}
    assert convert(document, saved) == (
        '<base href="page.html"><img src="../s/a.png#top">'
        '<a href="http://h/s/b.html?x=1&amp;y=2">b</a>'
        '<div style="background:url(&quot;../s/a.png&quot;)">'
    )


# --- PageFetch with a fake transfer: limits and loops -----------------------------------------


class FakeSite:
    """Transfers served from a dict path -> bytes (a 404 for anything else), recorded."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.asked: list[str] = []

    def __call__(self, url, path: str) -> Fetched:
        self.asked.append(url.target)
        body = self.files.get(url.target)
        Path(path).write_bytes(body if body is not None else b"not found")
        kind = "text/css" if url.target.endswith(".css") else "text/html"
        return Fetched(0, url, 200 if body is not None else 404, kind)


def run_fake(tmp_path, files, **options) -> tuple[FakeSite, list[str], int]:
    site, warnings = FakeSite(files), []
    code = PageFetch(
        parse_url("http://h/"), site, PageOptions(str(tmp_path), **options), warnings.append
    ).run()
    return site, warnings, code


def test_a_loop_of_links_and_imports_fetches_each_once(tmp_path):
    files = {
        "/": b'<img src="/"><img src="index.html"><link rel=stylesheet href=a.css><img src=a.css>',
        "/index.html": b"same page, other name",
        "/a.css": b"@import 'b.css'; @import 'a.css'; x{y:url(/)}",
        "/b.css": b"@import 'a.css'; @import url(b.css);",
    }
    site, warnings, code = run_fake(tmp_path, files)
    assert site.asked == ["/", "/index.html", "/a.css", "/b.css"]
    assert (code, warnings) == (0, [])


def test_max_page_objects(tmp_path, monkeypatch):
    monkeypatch.setattr(page_module, "MAX_PAGE_OBJECTS", 3)
    files = {"/": b"".join(b'<img src="%d.png">' % n for n in range(10))}
    site, warnings, _ = run_fake(tmp_path, files)
    assert site.asked == ["/", "/0.png", "/1.png", "/2.png"]
    assert warnings == [
        "page requisites stopped: the page has more than MAX_PAGE_OBJECTS=3 objects"
    ]


def test_max_depth_ends_an_import_chain(tmp_path):
    depth = page_module.MAX_DEPTH
    files = {"/": b'<link rel="stylesheet" href="1.css">'}
    files.update({f"/{n}.css": f"@import '{n + 1}.css';".encode() for n in range(1, depth + 3)})
    site, warnings, _ = run_fake(tmp_path, files)
    assert site.asked == ["/"] + [f"/{n}.css" for n in range(1, depth + 1)]
    assert warnings == [
        f"page requisites stopped: http://h/{depth + 1}.css is {depth + 1} links deep "
        f"(MAX_DEPTH={depth})"
    ]


def test_max_page_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(page_module, "MAX_PAGE_BYTES", 2500)
    files = {"/": b'<img src="a"><img src="b"><img src="c">' + b" " * 100}
    files.update({f"/{name}": b"x" * 1000 for name in "abc"})
    site, warnings, _ = run_fake(tmp_path, files)
    assert site.asked == ["/", "/a", "/b", "/c"]  # 140 + 2000 bytes: not past the limit yet
    monkeypatch.setattr(page_module, "MAX_PAGE_BYTES", 1500)
    site, warnings, _ = run_fake(tmp_path / "again", files)
    assert site.asked == ["/", "/a", "/b"]
    assert warnings == ["page requisites stopped: the page passed MAX_PAGE_BYTES=1,500 bytes saved"]


def test_only_max_parse_bytes_of_a_page_are_searched(tmp_path, monkeypatch):
    monkeypatch.setattr(requisites, "MAX_PARSE_BYTES", 100)
    files = {"/": b'<img src="early.png">' + b" " * 100 + b'<img src="late.png">'}
    site, warnings, _ = run_fake(tmp_path, files)
    assert site.asked == ["/", "/early.png"]
    assert warnings == [
        "http://h/: only the first 100 bytes are searched for links (MAX_PARSE_BYTES)"
    ]


def test_max_references_is_said(tmp_path, monkeypatch):
    monkeypatch.setattr(requisites, "MAX_REFERENCES", 2)
    site, warnings, _ = run_fake(tmp_path, {"/": b'<img src="a"><img src="b"><img src="c">'})
    assert site.asked == ["/", "/a", "/b"]
    assert warnings == ["http://h/: only its first 2 references are read (MAX_REFERENCES)"]


def test_a_page_that_is_not_html_has_no_requisites(tmp_path):
    site, warnings = FakeSite({"/": b'<img src="a.png">'}), []
    fetch = lambda url, path: site(url, path)._replace(content_type="image/png")  # noqa: E731
    PageFetch(parse_url("http://h/"), fetch, PageOptions(str(tmp_path)), warnings.append).run()
    assert site.asked == ["/"]
    assert warnings == ["http://h/ is image/png, not HTML: no requisites to fetch"]


# --- whole pages from our server --------------------------------------------------------------


def png(size: int) -> bytes:
    """A grey square PNG of `size` pixels (a srcset's 2x candidate of 1 px is 0 px wide)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress((b"\x00" + b"\x80" * size) * size)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = png(8)


def build_site(root: Path, other: str) -> None:
    """A page using every kind of reference; `other` is the second server's URL."""
    (root / "sub" / "img").mkdir(parents=True)
    (root / "css").mkdir()
    for name in ("a.png", "b.png", "c.png", "bg.png", "deep.png", "inline.png", "base.png"):
        (root / "sub" / "img" / name).write_bytes(PNG)
    (root / "logo.png").write_bytes(PNG)
    (root / "css" / "main.css").write_text(
        '@import "more.css";\nbody { background: url("../sub/img/bg.png") }\n'
    )
    (root / "css" / "more.css").write_text(
        "h1 { background: url(/sub/img/deep.png) } @import 'main.css';"
    )
    (root / "app.js").write_text("document.title += ' (scripted)';\n")
    (root / "sub" / "page.html").write_text(
        f"""<!DOCTYPE html><html><head><title>t</title>
<link rel="stylesheet" href="../css/main.css"><link rel="icon" href="/logo.png">
<script src="/app.js"></script>
<style>p {{ background: url(img/inline.png) }}</style></head><body>
<img src="img/a.png" alt=a>
<img src="http://{{host}}/sub/img/b.png" alt=b>
<img srcset="img/c.png 1x, img/a.png 2x" alt=c>
<img src="{other}/far.png" alt=far>
<a href="../elsewhere.html">elsewhere</a>
</body></html>"""
    )
    (root / "sub" / "based.html").write_text(
        '<base href="/sub/img/"><img src="base.png"><img src="base.png">'
    )


@pytest.fixture
def two_servers(tmp_path):
    """Our server on a tmp site, and a second one (another origin) serving far.png."""
    (tmp_path / "far").mkdir()
    (tmp_path / "far" / "far.png").write_bytes(PNG)
    logs: dict[str, list[str]] = {"site": [], "far": []}
    with Server(tmp_path / "far", log=logs["far"].append) as far:
        root = tmp_path / "site"
        build_site(root, far.url)
        page = root / "sub" / "page.html"
        with Server(root, log=logs["site"].append) as site:
            page.write_text(page.read_text().replace("{host}", site.url.split("//")[1]))
            yield site, far, logs


def get(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--timeout", "5", "--body-only"])


def requested(log: list[str], count: int = 0) -> list[str]:
    """The targets the server's log lines name, once it has `count` (a line is written just
    after its response, so the last one may come a moment after the client is done)."""
    deadline = time.monotonic() + 3
    while len(log) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return [match[1] for line in log if (match := re.search(r'"GET (\S+) HTTP', line))]


def saved_files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def test_a_page_and_its_requisites_from_our_server(two_servers, tmp_path):
    site, far, logs = two_servers
    out = tmp_path / "out"
    result = get("--page-requisites", "--output-dir", str(out), site.url + "/sub/page.html")
    assert result.exit_code == 0, result.output
    host = site.url.split("//")[1]
    expected = {
        "sub/page.html",
        "css/main.css",
        "logo.png",
        "app.js",
        "sub/img/inline.png",
        "sub/img/a.png",
        "sub/img/b.png",
        "sub/img/c.png",
        "css/more.css",
        "sub/img/bg.png",
        "sub/img/deep.png",
    }
    assert saved_files(out) == {f"{host}/{name}" for name in expected}
    # The page first, then its own references in document order, then the stylesheets'.
    assert requested(logs["site"], 11) == [
        "/sub/page.html",
        "/css/main.css",
        "/logo.png",
        "/app.js",
        "/sub/img/inline.png",
        "/sub/img/a.png",
        "/sub/img/b.png",
        "/sub/img/c.png",
        "/css/more.css",
        "/sub/img/bg.png",
        "/sub/img/deep.png",
    ]
    assert site.accepted == 1  # one kept-alive connection for the whole page
    assert requested(logs["far"]) == []
    assert (
        f"rawhttp: warning: not fetched: {far.url}/far.png on {far.url}, another host "
        "(--span-hosts fetches them)"
    ) in result.stderr
    for name in expected - {"sub/page.html", "css/main.css", "css/more.css", "app.js"}:
        assert (out / host / name).read_bytes() == PNG


def test_span_hosts_fetches_the_other_origin(two_servers, tmp_path):
    site, far, logs = two_servers
    out = tmp_path / "out"
    result = get(
        "--page-requisites", "--span-hosts", "--output-dir", str(out), site.url + "/sub/page.html"
    )
    assert result.exit_code == 0, result.output
    far_host = far.url.split("//")[1]
    assert (out / far_host / "far.png").read_bytes() == PNG
    assert requested(logs["far"], 1) == ["/far.png"]
    assert "another host" not in result.stderr
    assert (site.accepted, far.accepted) == (2, 1)  # back to the first origin: a new connection


def test_base_href(two_servers, tmp_path):
    site, _, logs = two_servers
    result = get(
        "--page-requisites", "--output-dir", str(tmp_path / "o"), site.url + "/sub/based.html"
    )
    assert result.exit_code == 0, result.output
    assert requested(logs["site"], 2) == ["/sub/based.html", "/sub/img/base.png"]


def test_convert_links_makes_an_offline_copy(two_servers, tmp_path):
    site, far, _ = two_servers
    out = tmp_path / "out"
    result = get(
        "--page-requisites",
        "--convert-links",
        "--output-dir",
        str(out),
        site.url + "/sub/page.html",
    )
    assert result.exit_code == 0, result.output
    host = site.url.split("//")[1]
    page = (out / host / "sub" / "page.html").read_text()
    for local in (
        "../css/main.css",
        "../logo.png",
        "../app.js",
        "img/inline.png",
        "img/a.png",
        "img/b.png",
        "img/c.png 1x, img/a.png 2x",
    ):
        assert f'"{local}' in page or f"({local})" in page, local
    assert f'src="{far.url}/far.png"' in page  # not fetched: absolute
    assert f'href="{site.url}/elsewhere.html"' in page
    main_css = (out / host / "css" / "main.css").read_text()
    assert '@import "more.css"' in main_css and 'url("../sub/img/bg.png")' in main_css
    assert "url(../sub/img/deep.png)" in (out / host / "css" / "more.css").read_text()


def test_an_object_that_fails_does_not_stop_the_page(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text('<img src="gone.png"><img src="here.png">')
    (root / "here.png").write_bytes(PNG)
    with Server(root, log=lambda line: None) as server:
        out = tmp_path / "out"
        result = get("--page-requisites", "--output-dir", str(out), server.url + "/")
        assert result.exit_code == 0, result.output
        host = server.url.split("//")[1]
        assert (out / host / "here.png").read_bytes() == PNG
        result = get("--page-requisites", "--fail", "--output-dir", str(out), server.url + "/")
        assert result.exit_code == 22
        assert "404" in result.stderr


def test_a_page_that_cannot_be_fetched_is_its_exit_code(refused_port, tmp_path):
    result = get(
        "--page-requisites", "--output-dir", str(tmp_path), f"http://127.0.0.1:{refused_port}/"
    )
    assert result.exit_code == 7
    assert list(tmp_path.rglob("*.html")) == []


def test_other_hosts_are_one_warning_each(tmp_path):
    page = b"".join(b'<img src="//cdn.example/%d.png">' % n for n in range(5))
    site, warnings, _ = run_fake(tmp_path, {"/": page + b'<img src="https://h/x.png">'})
    assert site.asked == ["/"]
    assert warnings == [
        "not fetched: http://cdn.example/0.png and 4 more on http://cdn.example, another host "
        "(--span-hosts fetches them)",
        "not fetched: https://h/x.png on https://h, another host (--span-hosts fetches them)",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--span-hosts"], "--span-hosts and --convert-links need --page-requisites"),
        (["--convert-links"], "--span-hosts and --convert-links need --page-requisites"),
        (["--page-requisites", "-o", "x"], "no -o, -O or -C"),
        (["--page-requisites", "-O"], "no -o, -O or -C"),
        (["--page-requisites", "-d", "a=1"], "fetches pages with GET"),
    ],
)
def test_usage_errors(args, message):
    result = get(*args, "http://127.0.0.1:9/")
    assert result.exit_code == 2
    assert message in result.output


# --- the sample gallery, from nginx and opened offline in Chromium ----------------------------

GALLERY_OBJECTS = {
    "gallery.html",
    "style.css",
    "gallery/gallery.css",
    "logo.svg",
    *(f"gallery/{n:02d}.png" for n in range(1, 11)),
}


@pytest.mark.slow
def test_the_gallery_from_nginx(nginx, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    result = get("--page-requisites", "--output-dir", str(out), nginx + "/gallery.html")
    assert result.exit_code == 0, result.output
    host = nginx.split("//")[1]
    assert saved_files(out) == {f"{host}/{name}" for name in GALLERY_OBJECTS}
    for name in GALLERY_OBJECTS:
        assert (out / host / name).read_bytes() == (sample_site() / name).read_bytes(), name


# A page that loads saved copies in frames and writes, once all have loaded, what it found in
# each: every image's naturalWidth (0 for one that did not load) and the stylesheets applied.
CHECK = """<!DOCTYPE html><meta charset="utf-8"><title>check</title><pre id="result"></pre>
<script>
const pages = %s, found = {};
for (const page of pages) {
  const frame = document.createElement("iframe");
  frame.style.cssText = "width:1000px;height:800px";
  frame.onload = () => {
    const doc = frame.contentDocument, grid = doc.querySelector(".gallery");
    found[page] = {
      images: [...doc.images].map((img) => [img.getAttribute("src"), img.naturalWidth]),
      sheets: doc.styleSheets.length,
      columns: grid && doc.defaultView.getComputedStyle(grid).gridTemplateColumns,
    };
    if (Object.keys(found).length === pages.length)
      document.getElementById("result").textContent = JSON.stringify(found);
  };
  frame.src = page;
  document.body.append(frame);
}
</script>"""


def offline(folder: Path, pages: list[str]) -> dict:
    """Chromium opens the saved pages from disk, with any network request failing."""
    import json

    from test_browser_forms import browser

    check = folder / "check.html"
    check.write_text(CHECK % json.dumps(pages))
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run(
            [
                browser(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--allow-file-access-from-files",
                f"--user-data-dir={profile}",
                "--proxy-server=127.0.0.1:9",  # no request leaves the machine (nor finds a server)
                "--virtual-time-budget=5000",
                "--dump-dom",
                check.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    dom = run.stdout
    start = dom.index('<pre id="result">') + len('<pre id="result">')
    return json.loads(dom[start : dom.index("</pre>", start)].replace("&amp;", "&"))


@pytest.mark.slow
def test_the_offline_copy_opens_in_chromium_with_every_image(two_servers, tmp_path):
    site, far, _ = two_servers
    out = tmp_path / "out"
    with Server(sample_site(), log=lambda line: None) as gallery:
        for url in (gallery.url + "/gallery.html", site.url + "/sub/page.html"):
            result = get(
                "--page-requisites",
                "--convert-links",
                "--span-hosts",
                "--output-dir",
                str(out),
                url,
            )
            assert result.exit_code == 0, result.output
    site.close()  # the servers are stopped: whatever loads now comes from the disk
    far.close()
    pages = [
        f"{gallery.url.split('//')[1]}/gallery.html",
        f"{site.url.split('//')[1]}/sub/page.html",
    ]
    found = offline(out, pages)
    copy, test_page = found[pages[0]], found[pages[1]]
    assert len(copy["images"]) == 11  # the logo and ten pictures
    assert all(width > 0 for _, width in copy["images"]), copy["images"]
    assert copy["sheets"] == 2
    assert copy["columns"] == " ".join(["96px"] * 5)  # gallery.css applied
    # Root-relative, absolute and other-origin references, and a srcset: all local now.
    assert len(test_page["images"]) == 4
    assert all(width > 0 for _, width in test_page["images"]), test_page["images"]
