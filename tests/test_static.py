"""Static files (rawhttp/server/static.py), mostly without a server: path rules, symlinks,
listings, dates, ranges and types are checked by calling the module's functions, or its handler
on an `Exchange`, over a tmp_path tree. A few end-to-end tests ask a running server over a raw
socket.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from email.utils import formatdate
from urllib.parse import urljoin

import pytest

from rawhttp.server import preconditions, running, static
from rawhttp.server.actions import Send, SendFile
from rawhttp.server.exchange import Exchange, StatusPage
from rawhttp.server.pages import STYLE
from rawhttp.wire import Headers, RequestHead

TIMEOUT = 5.0


@pytest.fixture
def root(tmp_path):
    """A served folder with a text file and a subfolder, and a secret beside it."""
    served = tmp_path / "root"
    (served / "files").mkdir(parents=True)
    (served / "hello.txt").write_bytes(b"hello\n")
    (served / "files" / "a.txt").write_bytes(b"a\n")
    (tmp_path / "secret.txt").write_bytes(b"SECRET\n")
    return served


def answer(folder, target: str, *fields: tuple[str, str], method: str = "GET"):
    """(status, headers, body) of the static handler's answer, read from its actions: a
    StatusPage it raises stands for the error page the connection would send."""
    headers = Headers([("Host", "x"), *fields])
    exchange = Exchange(RequestHead(method, target, "HTTP/1.1", headers, b""))
    try:
        static.StaticFiles(folder)(exchange)
    except StatusPage as page:
        return page.status, dict(page.headers), page.detail.encode()
    data = b""
    for action in exchange.actions:
        if isinstance(action, Send):
            data += action.data
        elif isinstance(action, SendFile):
            data += os.pread(action.fd, action.count, action.offset)
            action.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return int(lines[0].split()[1]), dict(line.split(": ", 1) for line in lines[1:]), body


def ask(base_url: str, target: str, *fields: str) -> tuple[int, dict[str, str], bytes]:
    """One request over a raw socket (with a timeout), read to the close."""
    host, port = base_url.removeprefix("http://").split(":")
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    request += "".join(f"{field}\r\n" for field in fields) + "\r\n"
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(request.encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return int(lines[0].split()[1]), dict(line.split(": ", 1) for line in lines[1:]), body


# --- dates and ranges: hostile values are ignored, never a 500 ------------------------------


def range_of(value: str, size: int = 100) -> tuple[int, int] | None:
    return static.requested_range(Headers([("Range", value)]), size)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("bytes=0-" + "9" * 5000, (0, 99)),  # a last position past the end is the end
        ("bytes=-" + "9" * 5000, (0, 99)),  # a suffix longer than the file is all of it
        ("bytes=" + "0" * 5000 + "5-9", (5, 9)),  # leading zeros are still a number
        ("bytes=" + "9" * 5000 + "-5", None),  # first after last: invalid, so ignored
    ],
)
def test_a_range_with_thousands_of_digits_is_understood(value, expected):
    assert range_of(value) == expected


def test_a_range_starting_thousands_of_digits_in_is_416():
    with pytest.raises(StatusPage) as info:
        range_of("bytes=" + "9" * 5000 + "-")
    assert info.value.status == 416
    assert ("Content-Range", "bytes */100") in info.value.headers


def not_modified(value: str, mtime: int = 1_000_000_000) -> bool:
    current = preconditions.Validators('"x"', mtime)
    fields = Headers([("If-Modified-Since", value)])
    return preconditions.evaluate("GET", fields, current, time.time()) == 304


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 09 Sep 12345678901234567890 01:46:40 GMT",  # a 20-digit year
        "Sun, 09 Sep 2001 01:46:40 +99999999999999999999",  # a 20-digit zone
        "Sun, 09 Sep 99999 01:46:40 GMT",
        "Sun, 31 Feb 2001 01:46:40 GMT",
    ],
)
def test_an_if_modified_since_out_of_range_is_ignored(value):
    assert not_modified(value) is False


def test_an_if_modified_since_in_the_future_is_ignored():
    """RFC 9110 section 13.1.3: a date later than the server's clock is invalid."""
    assert not_modified(formatdate(time.time() + 3600, usegmt=True)) is False
    assert not_modified(formatdate(1_500_000_000, usegmt=True), mtime=1) is True  # unchanged


def test_hostile_range_and_date_fields_are_answered_200_by_the_handler(root):
    long_range = ("Range", "bytes=0-" + "9" * 5000)
    assert answer(root, "/hello.txt", long_range)[0] == 206
    far_year = ("If-Modified-Since", "Sun, 09 Sep 12345678901234567890 01:46:40 GMT")
    assert answer(root, "/hello.txt", far_year)[0] == 200


def test_a_server_answers_hostile_range_and_date_fields(root):
    """End to end: may fail while the server loop is being rewritten (not static.py's fault)."""
    with running(root) as base_url:
        status, _, body = ask(base_url, "/hello.txt", "Range: bytes=" + "9" * 5000 + "-")
        assert status == 416
        future = formatdate(time.time() + 86400, usegmt=True)
        status, _, body = ask(base_url, "/hello.txt", f"If-Modified-Since: {future}")
        assert (status, body) == (200, b"hello\n")


# --- a folder's redirect never names another host ------------------------------------------


@pytest.mark.parametrize(
    "target, location",
    [
        ("/files", "/files/"),
        ("/files?x=1", "/files/?x=1"),
        ("//files", "/files/"),
        ("///files", "/files/"),
        ("//example.com", "/example.com/"),
        ("http://h//example.com?q", "/example.com/?q"),
    ],
)
def test_a_folder_without_its_slash_redirects_to_a_path_not_a_host(root, target, location):
    """`Location: //example.com/` is a network-path reference: a browser goes to that host
    (CVE-2021-28861 in http.server). Leading slashes are collapsed to one."""
    (root / "example.com").mkdir()
    with pytest.raises(StatusPage) as info:
        static.StaticFiles(root).find(target)
    assert (info.value.status, dict(info.value.headers)) == (301, {"Location": location})


@pytest.mark.parametrize("target", ["//example.com/..%2f", "//example.com/%2f%2e%2e", "/\\evil"])
def test_targets_that_would_redirect_off_site_are_refused(root, target):
    (root / "example.com").mkdir()
    with pytest.raises(StatusPage) as info:
        static.StaticFiles(root).find(target)
    assert info.value.status == 400


def test_a_server_redirects_a_double_slash_folder_to_a_path(root):
    """End to end: may fail while the server loop is being rewritten (not static.py's fault)."""
    with running(root) as base_url:
        status, headers, _ = ask(base_url, "//files")
    assert (status, headers["Location"]) == (301, "/files/")


# --- symlinks: a file is opened first and the opened file checked --------------------------


@pytest.fixture
def swapped(tmp_path, root):
    """`root/swap` keeps turning from a real folder into a symlink to a folder outside and
    back, and `root/flip` from a symlink to an inside file into one to an outside file; both
    hold or lead to `file.txt`, "inside" or SECRET. A name checked and then opened leaks."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file.txt").write_bytes(b"SECRET\n")
    (root / "swap").mkdir()
    (root / "swap" / "file.txt").write_bytes(b"inside\n")
    (root / "swap.link").symlink_to(outside)
    (root / "file.txt").write_bytes(b"inside\n")
    (root / "flip").symlink_to("file.txt")
    stop = threading.Event()
    thread = threading.Thread(target=swap_until, args=(root, outside, stop))
    thread.start()
    yield root
    stop.set()
    thread.join(TIMEOUT)


def swap_until(root, outside, stop: threading.Event) -> None:
    while not stop.is_set():
        os.rename(root / "swap", root / "swap.dir")
        os.rename(root / "swap.link", root / "swap")
        os.symlink(outside / "file.txt", root / "flip.new")
        os.replace(root / "flip.new", root / "flip")
        os.rename(root / "swap", root / "swap.link")
        os.rename(root / "swap.dir", root / "swap")
        os.symlink("file.txt", root / "flip.new")
        os.replace(root / "flip.new", root / "flip")


def race(read, rounds: int = 3000, seconds: float = 3.0) -> set[bytes]:
    """What `read()` returned over many rounds against the swapper (a status page's status as
    bytes); stops at the first secret."""
    seen: set[bytes] = set()
    deadline = time.monotonic() + seconds
    for _ in range(rounds):
        try:
            seen.add(read())
        except StatusPage as page:
            seen.add(str(page.status).encode())
        if b"SECRET\n" in seen or time.monotonic() > deadline:
            break
    return seen


def read_found(files: static.StaticFiles, target: str) -> bytes:
    """As the scenarios read a file: find its path, then open it by that path."""
    with static.open_regular(files.find(target)) as file:
        return file.read()


@pytest.mark.parametrize("target", ["/swap/file.txt", "/flip"])
def test_a_symlink_swapped_in_while_finding_and_opening_never_leads_out(swapped, target):
    files = static.StaticFiles(swapped)
    seen = race(lambda: read_found(files, target))
    assert b"SECRET\n" not in seen
    assert b"inside\n" in seen  # the race ran: the inside file was served meanwhile


@pytest.mark.parametrize("target", ["/swap/file.txt", "/flip"])
def test_a_symlink_swapped_in_while_answering_never_leads_out(swapped, target):
    seen = race(lambda: answer(swapped, target)[2])
    assert b"SECRET\n" not in seen
    assert b"inside\n" in seen


def test_a_server_never_follows_a_swapped_symlink_out(swapped):
    """End to end: may fail while the server loop is being rewritten (not static.py's fault)."""
    with running(swapped) as base_url:
        seen = race(lambda: ask(base_url, "/swap/file.txt")[2], rounds=300)
    assert b"SECRET\n" not in seen


@pytest.fixture
def linked(tmp_path, root):
    """Symlinks of each kind inside `root`: ones that stay inside, and ones that do not."""
    (root / "files" / "up.txt").symlink_to("../hello.txt")
    (root / "absolute.txt").symlink_to(root / "files" / "a.txt")
    (root / "folder").symlink_to("files")
    (root / "chain.txt").symlink_to("folder/up.txt")
    (root / "out.txt").symlink_to(tmp_path / "secret.txt")
    (root / "out-relative.txt").symlink_to("../secret.txt")
    (root / "out-dotdot.txt").symlink_to("files/../../secret.txt")
    (root / "loop").symlink_to("loop")
    (root / "dangling").symlink_to("nothing-here")
    return root


@pytest.mark.parametrize(
    "target, body",
    [
        ("/files/up.txt", b"hello\n"),
        ("/absolute.txt", b"a\n"),
        ("/folder/a.txt", b"a\n"),
        ("/chain.txt", b"hello\n"),
    ],
)
def test_symlinks_that_stay_inside_the_root_are_served(linked, target, body):
    assert answer(linked, target)[::2] == (200, body)


@pytest.mark.parametrize(
    "target, status",
    [
        ("/out.txt", 403),
        ("/out-relative.txt", 403),
        ("/out-dotdot.txt", 403),
        ("/loop", 403),
        ("/dangling", 404),
    ],
)
def test_symlinks_that_leave_the_root_loop_or_dangle_are_refused(linked, target, status):
    assert answer(linked, target)[0] == status


@pytest.mark.parametrize("target", ["/", "/files/parent/", "/files/root/"])
def test_a_folder_reached_by_dot_dot_or_a_link_to_the_root_is_listed(linked, target):
    """The walk ends on a folder it only passed through: it is opened again to be read."""
    (linked / "files" / "parent").symlink_to("..")
    (linked / "files" / "root").symlink_to(linked)
    status, _, page = answer(linked, target)
    assert status == 200 and '<a href="hello.txt">hello.txt</a>' in items(page)


def test_find_gives_the_real_path_and_open_regular_refuses_a_path_through_a_symlink(linked):
    files = static.StaticFiles(linked)
    assert files.find("/folder/up.txt") == str(linked / "hello.txt")
    with pytest.raises(StatusPage) as info:
        static.open_regular(str(linked / "folder" / "a.txt"))
    assert info.value.status == 403


# --- listings: every entry shown, only what can be served linked ---------------------------


@pytest.fixture
def odd_folder(tmp_path, root):
    """A folder whose entries are each awkward in their own way."""
    folder = root / "files"
    (folder / "sub").mkdir()
    (folder / "<b>&'\"x.txt").write_bytes(b"x")
    (folder / "a\\b.txt").write_bytes(b"x")  # a backslash: no URL of ours names it
    (folder / os.fsdecode(b"\xff.txt")).write_bytes(b"x")  # not UTF-8
    (folder / "loop").symlink_to("loop")
    (folder / "out").symlink_to(tmp_path / "secret.txt")
    (folder / "dangling").symlink_to("nothing-here")
    (folder / "to-sub").symlink_to("sub")
    (folder / "up.txt").symlink_to("../hello.txt")
    os.mkfifo(folder / "fifo")
    return folder


def items(page: bytes) -> list[str]:
    """The name cell of each entry's row (the parent folder's row left out), without the
    note saying why an entry is not served."""
    cells = re.findall(r'<tr class="(?:folder|file|unserved)"><td>(.*?)</td>', page.decode())
    return [re.sub(r' <span class="muted">\(not served: .*?\)</span>$', "", cell) for cell in cells]


def test_a_listing_shows_every_entry_and_links_only_what_can_be_served(odd_folder):
    status, _, page = answer(odd_folder.parent, "/files/")
    assert status == 200
    assert items(page) == [
        '<a href="sub/">sub/</a>',
        '<a href="to-sub/">to-sub/</a>',
        '<a href="%3Cb%3E%26%27%22x.txt">&lt;b&gt;&amp;&#x27;&quot;x.txt</a>',
        '<a href="a.txt">a.txt</a>',
        "a\\b.txt",
        "dangling",
        "fifo",
        "loop",
        "out",
        '<a href="up.txt">up.txt</a>',
        "\\xff.txt",  # bytes that are not UTF-8, shown escaped
    ]


def test_a_listing_says_why_an_entry_is_not_served_and_gives_sizes_and_times(odd_folder):
    (odd_folder / "a.txt").write_bytes(b"x" * 1234)
    os.utime(odd_folder / "a.txt", (0, 86400 * 365))
    _, _, page = answer(odd_folder.parent, "/files/", ("Accept", "text/html,*/*;q=0.8"))
    text = page.decode()
    assert "<style>" in text and "<title>Index of /files/</title>" in text
    _, _, for_curl = answer(odd_folder.parent, "/files/", ("Accept", "*/*"))
    assert b"<style>" not in for_curl and for_curl == page.replace(
        f"\n<style>{STYLE}</style>".encode(), b""
    )
    assert '<tr class="parent"><td><a href="../">../</a> (parent folder)</td>' in text
    assert (
        '<tr class="file"><td><a href="a.txt">a.txt</a></td><td class="size">1,234</td>'
        '<td class="time"><time datetime="1971-01-01T00:00:00Z">1971-01-01 00:00</time></td>'
    ) in text
    for name, why in [
        ("a\\b.txt", "a backslash in the name: no URL names it"),
        ("\\xff.txt", "the name is not UTF-8: no URL names it"),
        ("dangling", "a symlink to nothing"),
        ("fifo", "a FIFO, not a file"),
        ("loop", "a symlink loop"),
        ("out", "a symlink out of the served folder"),
    ]:
        assert f'<td>{name} <span class="muted">(not served: {why})</span></td>' in text, name
    _, _, root = answer(odd_folder.parent, "/")
    assert b'class="parent"' not in root  # the root has no parent folder


def test_an_empty_folder_is_listed_as_such(tmp_path):
    (tmp_path / "empty").mkdir()
    _, _, page = answer(tmp_path, "/empty/")
    assert b"(an empty folder)" in page and b'href="../"' in page


def test_every_link_in_a_listing_is_answered(odd_folder):
    _, _, page = answer(odd_folder.parent, "/files/")
    for href in re.findall(r'href="([^"]*)"', page.decode()):
        target = urljoin("/files/", href)  # as a browser resolves it: ../ is /
        assert answer(odd_folder.parent, target)[0] == 200, href


def test_a_server_lists_a_folder_with_an_undecodable_name_and_a_loop(odd_folder):
    """End to end: may fail while the server loop is being rewritten (not static.py's fault)."""
    with running(odd_folder.parent) as base_url:
        status, _, page = ask(base_url, "/files/")
    assert status == 200 and "\\xff.txt" in items(page) and "loop" in items(page)


# --- text types say their charset when the file is UTF-8 -----------------------------------

SNIFF = 64 * 1024


def type_of(path) -> str:
    with open(path, "rb") as file:
        return static.content_type(str(path), file.fileno())


@pytest.mark.parametrize(
    "name, data, expected",
    [
        ("a.txt", "héllo\n".encode(), "text/plain; charset=utf-8"),
        ("a.md", b"# title\n", "text/markdown; charset=utf-8"),
        ("a.csv", b"a,b\n1,2\n", "text/csv; charset=utf-8"),
        ("a.html", b"<p>hi</p>\n", "text/html; charset=utf-8"),
        ("empty.txt", b"", "text/plain; charset=utf-8"),
        ("latin.txt", "héllo\n".encode("latin-1"), "text/plain"),
        ("cut.txt", "é".encode()[:1], "text/plain"),  # the file ends inside a character
        ("a.png", b"\x89PNG\r\n", "image/png"),
        ("a.bin", b"hello", "application/octet-stream"),
    ],
)
def test_text_types_get_charset_utf_8_when_the_file_is_utf_8(tmp_path, name, data, expected):
    (tmp_path / name).write_bytes(data)
    assert type_of(tmp_path / name) == expected


def test_only_the_start_of_a_big_text_file_is_read(tmp_path):
    """A character cut at the end of the bounded read still counts as UTF-8, an invalid byte
    after it goes unseen, and a huge (sparse) file costs no more than a small one."""
    cut = tmp_path / "cut.txt"
    cut.write_bytes(b"x" * (SNIFF - 1) + "é".encode() + b"\xff")
    assert type_of(cut) == "text/plain; charset=utf-8"
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as file:
        file.truncate(1 << 40)  # a terabyte of zeros, and no disk space used
    started = time.monotonic()
    assert type_of(huge) == "text/plain; charset=utf-8"
    assert time.monotonic() - started < 1


def test_a_file_as_long_as_the_read_ending_inside_a_character_is_not_utf_8(tmp_path):
    path = tmp_path / "edge.txt"
    path.write_bytes(b"x" * (SNIFF - 1) + "é".encode()[:1])
    assert type_of(path) == "text/plain"


def test_the_handler_says_the_charset_for_get_and_head(root):
    for method in ("GET", "HEAD"):
        headers = answer(root, "/hello.txt", method=method)[1]
        assert headers["Content-Type"] == "text/plain; charset=utf-8"


def test_a_server_says_the_charset_of_a_utf_8_text_file(root):
    """End to end: may fail while the server loop is being rewritten (not static.py's fault)."""
    with running(root) as base_url:
        _, headers, _ = ask(base_url, "/hello.txt")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("accept, styled", [("text/html,*/*;q=0.8", True), ("*/*", False)])
def test_error_pages_carry_the_style_for_browsers_only(accept, styled):
    exchange = Exchange(RequestHead("GET", "/x", "HTTP/1.1", Headers([("Accept", accept)]), b""))
    exchange.fail(StatusPage(404, "nothing at /x"))
    data = b"".join(action.data for action in exchange.actions if isinstance(action, Send))
    assert (b"<style>" in data) is styled
    assert b"<title>404 Not Found</title>" in data and b"<p>nothing at /x</p>" in data
