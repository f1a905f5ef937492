"""curl's URL globbing in `rawhttp get`: the patterns as a table (the same URLs curl makes of
them, checked by running curl against a recording server), -o's #N, -g, and each error and
limit with its exit code."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading

import pytest
from click.testing import CliRunner

from rawhttp.cli import main
from rawhttp.errors import InvalidURL
from rawhttp.fetch.globbing import MAX_GLOB_URLS, MAX_GLOBS, expand, fill


def cli(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--color", "never"])


PATTERNS = [
    ("h/img[1-3].png", ["h/img1.png", "h/img2.png", "h/img3.png"]),
    ("h/p[08-11]", ["h/p08", "h/p09", "h/p10", "h/p11"]),
    ("h/p[001-003].html", ["h/p001.html", "h/p002.html", "h/p003.html"]),
    ("h/[a-c]", ["h/a", "h/b", "h/c"]),
    ("h/[X-Z]", ["h/X", "h/Y", "h/Z"]),
    ("h/[1-9:4]", ["h/1", "h/5", "h/9"]),
    ("h/[a-e:2]", ["h/a", "h/c", "h/e"]),
    ("h/{index,about}.html", ["h/index.html", "h/about.html"]),
    ("h/{a,,b}", ["h/a", "h/", "h/b"]),
    ("h/[1-2]/{x,y}", ["h/1/x", "h/1/y", "h/2/x", "h/2/y"]),
    ("h/[5-5]", ["h/5"]),
    (r"h/\[1-2\]\{a\,b\}", ["h/[1-2]{a,b}"]),
    ("http://[::1]:8000/", ["http://[::1]:8000/"]),
    ("http://[::1]:8000/[1-2]", ["http://[::1]:8000/1", "http://[::1]:8000/2"]),
    ("http://[fe80::1%25eth0]/", ["http://[fe80::1%25eth0]/"]),
    ("h/plain", ["h/plain"]),
]


@pytest.mark.parametrize(("pattern", "urls"), PATTERNS)
def test_patterns(pattern, urls):
    assert [one.url for one in expand(pattern)] == urls


def test_values_for_output_names():
    expanded = expand("h/[1-2]/{x,y}")
    assert [one.values for one in expanded] == [("1", "x"), ("1", "y"), ("2", "x"), ("2", "y")]
    assert fill("f_#2_#1.txt", ("1", "x")) == "f_x_1.txt"
    assert fill("f_#3_#0.txt", ("1", "x")) == "f_#3_#0.txt"  # past the globs: kept, as curl


@pytest.mark.parametrize(
    "pattern",
    ["h/[1-", "h/{a", "h/]", "h/}", "h/[z-a]", "h/[9-1]", "h/[1-a]", "h/[]", "h/[1-3:0]",
     "h/{a,[1-2]}", "h/[a-zz]"],
)  # fmt: skip
def test_bad_globs_are_invalid_urls(pattern):
    with pytest.raises(InvalidURL, match=r"glob|URLs"):
        expand(pattern)


def test_the_limits_are_named_and_checked():
    with pytest.raises(InvalidURL, match=f"{MAX_GLOB_URLS:,}"):
        expand(f"h/[1-{MAX_GLOB_URLS + 1}]")
    with pytest.raises(InvalidURL, match=f"{MAX_GLOB_URLS:,}"):
        expand("h/" + "[1-10]" * 6)  # each small, a million together
    with pytest.raises(InvalidURL, match=f"more than {MAX_GLOBS} globs"):
        expand("h/" + "{a}" * (MAX_GLOBS + 1))
    assert len(expand(f"h/[1-{MAX_GLOB_URLS}]")) == MAX_GLOB_URLS


class Recorder:
    """Answers every request 200 with its path as the body, recording the request lines."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.paths: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                if not head:
                    continue
                path = head.split(b" ")[1]
                self.paths.append(path.decode())
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                    % (len(path), path)
                )

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


def test_get_fetches_every_url_of_a_glob_in_order(recorder):
    result = cli(f"127.0.0.1:{recorder.port}/p[1-2]/{{a,b}}", "--body-only")
    assert result.exit_code == 0, result.output
    assert recorder.paths == ["/p1/a", "/p1/b", "/p2/a", "/p2/b"]
    assert result.stdout == "/p1/a/p1/b/p2/a/p2/b"


def test_output_names_take_the_glob_values(recorder, tmp_path):
    template = str(tmp_path / "page_#1.txt")
    result = cli(f"127.0.0.1:{recorder.port}/[01-03]", "-o", template)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "page_01.txt",
        "page_02.txt",
        "page_03.txt",
    ]
    assert (tmp_path / "page_02.txt").read_text() == "/02"


def test_globoff_sends_the_brackets_as_they_are(recorder):
    result = cli("-g", f"127.0.0.1:{recorder.port}/a[1-2]", "--body-only")
    assert result.exit_code == 0, result.output
    assert len(recorder.paths) == 1 and recorder.paths[0] in ("/a[1-2]", "/a%5B1-2%5D")


def test_a_bad_glob_is_exit_3_and_one_line(recorder):
    result = cli(f"127.0.0.1:{recorder.port}/[1-")
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "unmatched '['" in result.stderr
    assert recorder.paths == []  # nothing was sent


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(
    "glob", ["/img[1-3].png", "/p[001-003]", "/[a-c]", "/{x,y}/[1-2]", "/[1-9:4]"]
)
def test_the_same_urls_as_curl(glob):
    """curl and rawhttp expand the same pattern into the same requests, in the same order."""
    requested = {}
    for tool in ("curl", "rawhttp"):
        server = Recorder()
        try:
            url = f"http://127.0.0.1:{server.port}{glob}"
            if tool == "curl":
                subprocess.run(["curl", "-s", "-o", "/dev/null", url], timeout=20, check=True)
            else:
                assert cli(url, "--body-only").exit_code == 0
        finally:
            server.close()
        requested[tool] = server.paths
    assert requested["rawhttp"] == requested["curl"]
