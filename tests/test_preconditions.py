"""Validators and preconditions (RFC 9110 sections 8.8 and 13): the pure evaluation as a table,
then the server's answers, checked with raw requests, curl (-z, --etag-compare) and
http.client, and the atomic conditional PUT of --upload."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import threading
import time
from email.utils import formatdate

import pytest
from conftest import ask_server

from rawhttp.server import Server
from rawhttp.server.preconditions import Validators, entity_tags, evaluate, file_validators
from rawhttp.wire import Headers

TIMEOUT = 5.0
NOW = 2_000_000_000.0
FILE = Validators('"abc"', 1_000_000_000)
EARLIER = formatdate(999_999_999, usegmt=True)
SAME = formatdate(1_000_000_000, usegmt=True)
LATER = formatdate(1_000_000_001, usegmt=True)
FUTURE = formatdate(NOW + 10, usegmt=True)


@pytest.mark.parametrize(
    ("method", "fields", "current", "expected"),
    [
        ("GET", [], FILE, None),
        # step 1: If-Match, strong comparison; * matches any current file
        ("GET", [("If-Match", '"abc"')], FILE, None),
        ("GET", [("If-Match", '"x"')], FILE, 412),
        ("GET", [("If-Match", 'W/"abc"')], FILE, 412),  # weak never matches strongly
        ("GET", [("If-Match", '"x", "abc"')], FILE, None),
        ("GET", [("If-Match", '"x"'), ("If-Match", '"abc"')], FILE, None),  # repeats join
        ("GET", [("If-Match", "*")], FILE, None),
        ("PUT", [("If-Match", "*")], None, 412),  # no file: nothing matches
        ("GET", [("If-Match", "abc")], FILE, 412),  # malformed: no match
        # step 2: If-Unmodified-Since, only without If-Match
        ("GET", [("If-Unmodified-Since", EARLIER)], FILE, 412),
        ("GET", [("If-Unmodified-Since", SAME)], FILE, None),
        ("GET", [("If-Unmodified-Since", "yesterday")], FILE, None),  # unparsable: ignored
        ("GET", [("If-Match", '"abc"'), ("If-Unmodified-Since", EARLIER)], FILE, None),
        # step 3: If-None-Match, weak comparison; 304 for GET/HEAD, 412 otherwise
        ("GET", [("If-None-Match", '"abc"')], FILE, 304),
        ("HEAD", [("If-None-Match", 'W/"abc"')], FILE, 304),
        ("GET", [("If-None-Match", '"x"')], FILE, None),
        ("GET", [("If-None-Match", "*")], FILE, 304),
        ("PUT", [("If-None-Match", "*")], FILE, 412),
        ("PUT", [("If-None-Match", "*")], None, None),  # create-only, nothing there
        ("DELETE", [("If-None-Match", '"abc"')], FILE, 412),
        # step 4: If-Modified-Since, GET/HEAD only, ignored beside If-None-Match
        ("GET", [("If-Modified-Since", SAME)], FILE, 304),
        ("GET", [("If-Modified-Since", LATER)], FILE, 304),
        ("GET", [("If-Modified-Since", EARLIER)], FILE, None),
        ("GET", [("If-Modified-Since", FUTURE)], FILE, None),  # later than our clock
        ("POST", [("If-Modified-Since", SAME)], FILE, None),
        ("GET", [("If-None-Match", '"x"'), ("If-Modified-Since", SAME)], FILE, None),
        # the order: a failed If-Match wins over a true If-None-Match
        ("GET", [("If-Match", '"x"'), ("If-None-Match", '"abc"')], FILE, 412),
    ],
)
def test_preconditions_in_rfc_9110_order(method, fields, current, expected):
    assert evaluate(method, Headers(fields), current, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"a", W/"b"', [(False, '"a"'), (True, '"b"')]),
        ('"a" ,"b"', [(False, '"a"'), (False, '"b"')]),
        ('"a', None),
        ('"a" "b"', None),
        ("", None),
    ],
)
def test_entity_tag_lists(value, expected):
    assert entity_tags(value) == expected


def test_the_etag_changes_with_size_mtime_and_inode(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"one")
    first = file_validators(os.stat(path))
    os.utime(path, ns=(0, os.stat(path).st_mtime_ns + 1))  # one nanosecond later
    second = file_validators(os.stat(path))
    assert first.etag != second.etag and first.etag.startswith('"')


# --- the server ------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "page.txt").write_bytes(b"0123456789")
    return root


@pytest.fixture
def server(site, server_model):
    with Server(site, log=[].append) as running:
        yield running


def get(server, *fields: str, method: str = "GET", target: str = "/page.txt"):
    extra = "".join(f"{field}\r\n" for field in fields)
    request = f"{method} {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()
    return ask_server(server, request, method=method)


def test_every_file_has_a_strong_etag_and_304_carries_it(server):
    head, _ = get(server)
    etag = head.headers["ETag"]
    assert etag.startswith('"') and head.headers["Last-Modified"]
    again, body = get(server, f"If-None-Match: {etag}")
    assert again.status == 304 and body == b"" and again.headers["ETag"] == etag


@pytest.mark.parametrize(
    ("field", "status"),
    [
        ("If-None-Match: *", 304),  # was 200
        ('If-Match: "x"', 412),  # was 200
        ("If-Match: *", 200),
        ("If-Unmodified-Since: Thu, 01 Jan 1998 00:00:00 GMT", 412),
    ],
)
def test_preconditions_on_a_file(server, field, status):
    assert get(server, field)[0].status == status


def test_if_range_with_the_etag_gets_the_range_and_a_stale_one_the_whole_file(server):
    etag = get(server)[0].headers["ETag"]
    head, body = get(server, "Range: bytes=2-4", f"If-Range: {etag}")
    assert (head.status, body) == (206, b"234")
    head, body = get(server, "Range: bytes=2-4", 'If-Range: "old"')
    assert (head.status, body) == (200, b"0123456789")


def test_http_client_revalidates(server):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT)
    try:
        connection.request("GET", "/page.txt")
        first = connection.getresponse()
        first.read()
        connection.request("GET", "/page.txt", headers={"If-None-Match": first.getheader("ETag")})
        second = connection.getresponse()
        assert second.status == 304 and second.read() == b""
    finally:
        connection.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_etag_save_and_compare_and_z(server, tmp_path):
    url = f"{server.url}/page.txt"
    etag_file = tmp_path / "etag"

    def curl(*args: str) -> str:
        done = subprocess.run(
            ["curl", "-s", "-o", os.devnull, "-w", "%{http_code}", *args, url],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        return done.stdout

    assert curl("--etag-save", str(etag_file)) == "200"
    assert etag_file.read_text().strip().startswith('"')
    assert curl("--etag-compare", str(etag_file)) == "304"
    assert curl("-z", formatdate(time.time(), usegmt=True)) == "304"
    assert curl("-z", "Thu, 01 Jan 1998 00:00:00 GMT") == "200"


# --- conditional PUT (--upload) ---------------------------------------------------------------


@pytest.fixture
def uploads(site, tmp_path, server_model):
    folder = tmp_path / "uploads"
    folder.mkdir()
    with Server(site, upload=folder, log=[].append) as running:
        yield running, folder


def put(server, target: str, body: bytes, *fields: str):
    extra = "".join(f"{field}\r\n" for field in fields)
    head = f"PUT {target} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return ask_server(server, head.encode() + body)[0]


def test_if_none_match_star_creates_only(uploads):
    server, folder = uploads
    assert put(server, "/a.txt", b"first", "If-None-Match: *").status == 201
    assert put(server, "/a.txt", b"second", "If-None-Match: *").status == 412  # was 204
    assert (folder / "a.txt").read_bytes() == b"first"


def test_if_match_updates_only_that_version(uploads):
    server, folder = uploads
    created = put(server, "/a.txt", b"first")
    assert created.status == 201
    etag = created.headers["ETag"]
    assert put(server, "/a.txt", b"second", f"If-Match: {etag}").status == 204
    assert put(server, "/a.txt", b"third", f"If-Match: {etag}").status == 412  # stale now
    assert (folder / "a.txt").read_bytes() == b"second"
    assert put(server, "/new.txt", b"x", "If-Match: *").status == 412  # nothing to update


def test_concurrent_create_only_puts_make_exactly_one_file(uploads):
    server, folder = uploads
    statuses: list[int] = []

    def one(number: int) -> None:
        statuses.append(put(server, "/race.txt", b"%d" % number, "If-None-Match: *").status)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert sorted(statuses) == [201] + [412] * 7
    assert (folder / "race.txt").read_bytes() in {b"%d" % n for n in range(8)}
