"""`serve --compress`: gzip negotiated by Accept-Encoding (RFC 9110 section 12.5.3): the choice
as a table, then the server's answers (streamed, chunked, Vary, a coded ETag, HEAD like GET,
never for a Range), checked with raw requests, curl --compressed and http.client."""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import subprocess

import pytest
from conftest import ask_server

from rawhttp.server import Server
from rawhttp.server.compress import PIECE, GzipPieces, choose_coding, qualities
from rawhttp.server.site import SiteOptions

TIMEOUT = 5.0
TEXT = b"".join(b"line %d of a text file\n" % n for n in range(20_000))  # ~470 KiB, many pieces


@pytest.mark.parametrize(
    ("accept", "gzip_offered", "expected"),
    [
        (None, True, "identity"),  # no field: nothing was asked for
        ("", True, "identity"),
        ("gzip", True, "gzip"),
        ("x-gzip", True, "gzip"),
        ("GZIP;q=0.5", True, "gzip"),
        ("gzip;q=0", True, "identity"),
        ("gzip;q=0.5, identity", True, "identity"),  # the client prefers identity
        ("gzip, identity;q=0.5", True, "gzip"),
        ("*", True, "gzip"),
        ("br", True, "identity"),
        ("identity;q=0", True, None),  # gzip is not named either, and there is no *
        ("gzip, identity;q=0", True, "gzip"),
        ("identity;q=0", False, None),  # 406: only identity is offered, and it is refused
        ("*;q=0", True, None),
        ("*;q=0, identity", True, "identity"),
        ("gzip;q=0, *;q=0", True, None),
        ("gzip;q=2", True, "identity"),  # an invalid qvalue: the member is skipped
        ("gzip", False, "identity"),
    ],
)
def test_choose_coding(accept, gzip_offered, expected):
    assert choose_coding(accept, gzip_offered) == expected


def test_qualities_parse_spaces_and_case():
    assert qualities(" gzip ; Q=0.3 ,deflate") == {"gzip": 0.3, "deflate": 1.0}


def test_gzip_pieces_stream_a_file_in_pieces_and_close_it(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(TEXT)
    fd = os.open(path, os.O_RDONLY)
    pieces = list(GzipPieces(fd, len(TEXT), chunked=False))
    assert len(pieces) > 1 and gzip.decompress(b"".join(pieces)) == TEXT
    with pytest.raises(OSError):
        os.fstat(fd)  # closed at the end
    unstarted = GzipPieces(os.open(path, os.O_RDONLY), len(TEXT), chunked=True)
    unstarted.close()  # dropped before its first piece: the descriptor is still freed
    assert unstarted.fd is None and len(TEXT) > PIECE


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "big.txt").write_bytes(TEXT)
    (root / "image.png").write_bytes(b"\x89PNG" + bytes(1000))
    return root


@pytest.fixture
def server(site, server_model):
    with Server(site, site=SiteOptions(compress=True), log=[].append) as running:
        yield running


def get(server, *fields: str, method: str = "GET", target: str = "/big.txt", version="1.1"):
    extra = "".join(f"{field}\r\n" for field in fields)
    request = f"{method} {target} HTTP/{version}\r\nHost: t\r\n{extra}\r\n".encode()
    return ask_server(server, request, method=method)


def test_gzip_when_asked_streamed_chunked_with_vary_and_its_own_etag(server):
    plain, body = get(server)
    assert plain.headers.get("Content-Encoding") is None and body == TEXT
    assert plain.headers["Vary"] == "Accept-Encoding"
    coded, data = get(server, "Accept-Encoding: gzip")
    assert coded.headers["Content-Encoding"] == "gzip"
    assert coded.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in coded.headers
    assert coded.headers["Vary"] == "Accept-Encoding"
    assert coded.headers["ETag"] == plain.headers["ETag"][:-1] + '-gzip"'
    assert gzip.decompress(data) == TEXT and len(data) < len(TEXT) / 4


def test_head_says_what_get_says(server):
    get_head, _ = get(server, "Accept-Encoding: gzip")
    head_head, body = get(server, "Accept-Encoding: gzip", method="HEAD")
    assert body == b""
    for name in ("Content-Encoding", "Transfer-Encoding", "Vary", "ETag", "Content-Type"):
        assert head_head.headers[name] == get_head.headers[name]


def test_the_coded_etag_revalidates_the_coded_form(server):
    etag = get(server, "Accept-Encoding: gzip")[0].headers["ETag"]
    again = get(server, "Accept-Encoding: gzip", f"If-None-Match: {etag}")[0]
    assert again.status == 304 and again.headers["ETag"] == etag
    assert get(server, f"If-None-Match: {etag}")[0].status == 200  # not the plain form's


def test_never_for_a_range_nor_for_binary_types(server):
    head, body = get(server, "Accept-Encoding: gzip", "Range: bytes=0-9")
    assert head.status == 206 and body == TEXT[:10] and "Content-Encoding" not in head.headers
    head, _ = get(server, "Accept-Encoding: gzip", target="/image.png")
    assert "Content-Encoding" not in head.headers


def test_nothing_acceptable_is_406(server):
    assert get(server, "Accept-Encoding: identity;q=0", target="/image.png")[0].status == 406
    assert get(server, "Accept-Encoding: *;q=0")[0].status == 406


def test_http_1_0_gets_gzip_ended_by_the_close(server):
    head, data = get(server, "Accept-Encoding: gzip", version="1.0")
    assert "Transfer-Encoding" not in head.headers and gzip.decompress(data) == TEXT


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_compressed(server):
    done = subprocess.run(
        ["curl", "-s", "--compressed", "-D", "-", f"{server.url}/big.txt"],
        capture_output=True,
        timeout=TIMEOUT,
    )
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    assert b"Content-Encoding: gzip" in head and body == TEXT


def test_http_client_reads_the_chunked_gzip(server):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT)
    try:
        connection.request("GET", "/big.txt", headers={"Accept-Encoding": "gzip"})
        answer = connection.getresponse()
        assert answer.getheader("Content-Encoding") == "gzip"
        assert gzip.decompress(answer.read()) == TEXT
        connection.request("GET", "/big.txt")  # the same connection: the framing held
        assert connection.getresponse().read() == TEXT
    finally:
        connection.close()
