"""Never lose what arrived (issue 20): a failed -o transfer keeps FILE.part and says how to
resume; a 206 without a total is never called complete; response heads as large as curl takes;
br and zstd with the `compression` extra (and exit 61 without it); trailers in -v and -D as
curl writes them. curl runs beside rawhttp against the same scripted servers."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import brotli
import pytest
import zstandard
from conftest import HANG

from rawhttp import download
from rawhttp.errors import DecodingError
from rawhttp.wire import MAX_HEADERS, MAX_RESPONSE_FIELDS, MAX_RESPONSE_HEAD_SIZE

BODY = bytes(range(256)) * 40  # 10240 bytes


def rawhttp(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rawhttp", "get", *args],
        capture_output=True,
        timeout=30,
        cwd=cwd,
        env=env,
    )


def curl(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=30, cwd=cwd)


def head(length: int, *fields: bytes) -> bytes:
    extra = b"".join(field + b"\r\n" for field in fields)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (length, extra)


# --- a failed transfer keeps FILE.part -------------------------------------------------------


def test_a_cut_transfer_keeps_the_part_and_says_how_to_resume(raw_server, serve_dir, tmp_path):
    """Cut after 4000 bytes: once FILE.part was deleted, so -C - started over. Now it stays
    (never named FILE), the error line names it and -C -, and -C - finishes the file.
    curl keeps its bytes too, but in FILE itself: rawhttp's FILE only ever appears whole."""
    cut = raw_server([head(len(BODY)) + BODY[:4000]])
    ours = rawhttp(cut.url + "/data.bin", "-o", "data.bin", cwd=tmp_path)
    assert ours.returncode == 18, ours.stderr
    assert os.listdir(tmp_path) == ["data.bin.part"]
    assert (tmp_path / "data.bin.part").read_bytes() == BODY[:4000]
    line = ours.stderr.decode()
    assert line.count("\n") == 1 and "4000 bytes received are kept in data.bin.part" in line
    assert "-C - resumes" in line
    theirs = curl(cut.url + "/data.bin", "-o", "curl.bin", cwd=tmp_path)
    assert theirs.returncode == 18 and (tmp_path / "curl.bin").stat().st_size == 4000

    site = tmp_path / "site"
    site.mkdir()
    (site / "data.bin").write_bytes(BODY)
    server = serve_dir(site)
    done = rawhttp(server.url + "/data.bin", "-o", "data.bin", "-C", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data.bin").read_bytes() == BODY
    assert not (tmp_path / "data.bin.part").exists()


def test_an_empty_part_is_not_kept(raw_server, tmp_path):
    """Nothing of the body arrived: nothing to resume, no file left."""
    server = raw_server([head(len(BODY))])
    result = rawhttp(server.url, "-o", "f", cwd=tmp_path)
    assert result.returncode == 18 and os.listdir(tmp_path) == []
    assert b"kept in" not in result.stderr


def test_a_decoded_body_cut_short_keeps_no_part(raw_server, tmp_path):
    """--compressed: the part would hold decoded bytes, which a Range of the coded ones
    cannot continue; it is removed rather than resumed wrongly."""
    coded = gzip.compress(BODY)
    server = raw_server([head(len(coded), b"Content-Encoding: gzip") + coded[:200]])
    result = rawhttp(server.url, "-o", "f", "--compressed", cwd=tmp_path)
    assert result.returncode == 18 and os.listdir(tmp_path) == []


@pytest.mark.parametrize("total", [b"*", b"abc", b"-1"])
def test_a_206_without_a_numeric_total_is_never_called_complete(raw_server, tmp_path, total):
    """Once renamed into place as complete whatever came; now FILE appears only when the
    bytes on disk match a total the server gave."""
    (tmp_path / "f.part").write_bytes(BODY[:5000])
    rest = BODY[5000:]
    answer = (
        b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5000-10239/%s\r\n"
        b"Content-Length: %d\r\n\r\n" % (total, len(rest))
    ) + rest
    server = raw_server([answer])
    result = rawhttp(server.url, "-o", "f", "-C", "-", cwd=tmp_path)
    assert result.returncode == 18, result.stderr
    assert os.listdir(tmp_path) == ["f.part"]
    assert (tmp_path / "f.part").read_bytes() == BODY
    assert b"gives no total size" in result.stderr and b"kept in f.part" in result.stderr


# --- response heads as large as curl takes ----------------------------------------------------


def test_big_response_heads_are_taken_as_curl_takes_them(raw_server):
    """200 fields and 100 KiB of head (httpbin's /response-headers can send them): once
    exit 8; curl takes them, and so does rawhttp now."""
    fields = [b"X-Field-%d: %s" % (number, b"v" * 480) for number in range(200)]
    server = raw_server([head(2, *fields) + b"ok"], [head(2, *fields) + b"ok"])
    theirs = curl(server.url, "-o", os.devnull)
    ours = rawhttp(server.url, "--body-only")
    assert theirs.returncode == 0
    assert ours.returncode == 0 and ours.stdout == b"ok", ours.stderr


def test_response_limits_are_curls_and_named(raw_server):
    too_many = [b"X-%d: 1" % number for number in range(MAX_RESPONSE_FIELDS + 1)]
    line = b"X-Pad: " + b"a" * 1000
    too_big = [line] * (MAX_RESPONSE_HEAD_SIZE // len(line) + 1)
    server = raw_server([head(0, *too_many)], [head(0, *too_big), HANG])
    many = rawhttp(server.url)
    assert many.returncode == 8 and b"MAX_RESPONSE_FIELDS" in many.stderr
    big = rawhttp(server.url)
    assert big.returncode == 8 and b"MAX_RESPONSE_HEAD_SIZE" in big.stderr
    assert b"Traceback" not in many.stderr + big.stderr


def test_the_servers_request_limits_are_unchanged(site_server):
    """Raising the client's limits must not raise the server's: 101 fields is still 431."""
    import socket

    fields = b"".join(b"X-%d: 1\r\n" % number for number in range(MAX_HEADERS + 1))
    with socket.create_connection(("127.0.0.1", site_server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 431 ")


# --- br and zstd (the `compression` extra) ----------------------------------------------------

CODED = {"br": brotli.compress(BODY), "zstd": zstandard.ZstdCompressor().compress(BODY)}


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_br_and_zstd_are_offered_and_decoded_as_curl_does(raw_server, coding):
    data = CODED[coding]
    answer = head(len(data), b"Content-Encoding: " + coding.encode()) + data
    server = raw_server([answer], [answer])
    theirs = curl("--compressed", server.url)
    ours = rawhttp(server.url, "--compressed", "--body-only")
    assert theirs.returncode == 0 and theirs.stdout == BODY
    assert ours.returncode == 0 and ours.stdout == BODY, ours.stderr
    curl_offer, our_offer = (
        request.split(b"Accept-Encoding: ")[1].split(b"\r\n")[0] for request in server.requests
    )
    assert set(our_offer.split(b", ")) == set(curl_offer.split(b", ")) >= {b"br", b"zstd"}


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_corrupt_or_cut_br_and_zstd_are_exit_61(raw_server, coding):
    data = CODED[coding]
    cut = raw_server(
        [head(len(data) // 2, b"Content-Encoding: " + coding.encode()) + data[: len(data) // 2]]
    )
    assert rawhttp(cut.url, "--compressed").returncode == 61
    junk = raw_server([head(50, b"Content-Encoding: " + coding.encode()) + b"\xff" * 50])
    result = rawhttp(junk.url, "--compressed")
    assert result.returncode == 61 and b"Traceback" not in result.stderr


def without_packages(tmp_path) -> dict:
    """An environment where importing brotli and zstandard fails, as without the extra."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("brotli", "zstandard"):
        (stubs / f"{name}.py").write_text("raise ImportError('not installed (test stub)')\n")
    path = os.pathsep.join([str(stubs), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def test_without_the_extra_br_is_not_offered_and_is_exit_61_naming_it(raw_server, tmp_path):
    """curl without brotli says "Unrecognized content encoding type" (exit 61); rawhttp once
    said exit 0 and saved the coded bytes. It now names the coding and the extra."""
    data = CODED["br"]
    server = raw_server([head(len(data), b"Content-Encoding: br") + data])
    result = rawhttp(
        server.url, "--compressed", "-o", "f", cwd=tmp_path, env=without_packages(tmp_path)
    )
    assert result.returncode == 61, result.stderr
    assert b"Accept-Encoding: gzip, deflate\r\n" in server.requests[0]
    line = result.stderr.decode()
    assert "Content-Encoding br" in line and "rawhttp[compression]" in line
    assert not (tmp_path / "f").exists()


def test_without_the_extra_in_process(monkeypatch):
    """The same rule without a subprocess: the import made to fail with monkeypatch."""
    monkeypatch.setitem(sys.modules, "brotli", None)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    assert download.accept_encoding() == "gzip, deflate"
    with pytest.raises(DecodingError, match="zstandard package is not installed") as info:
        download._decoder(None, "zstd")
    assert info.value.exit_code == 61


def test_an_unknown_coding_is_exit_61_not_the_coded_bytes(raw_server):
    server = raw_server([head(5, b"Content-Encoding: compress") + b"xxxxx"])
    result = rawhttp(server.url, "--compressed")
    assert result.returncode == 61 and b"Content-Encoding compress" in result.stderr


# --- trailers ------------------------------------------------------------------------------------

TRAILED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
    b"5\r\nhello\r\n0\r\nX-Checksum: abc123\r\nX-Other:  two \r\n\r\n"
)


def test_trailers_in_dump_header_as_curl_writes_them(raw_server, tmp_path):
    """curl's -D writes the trailer lines after the head, as received, no empty line."""
    server = raw_server([TRAILED], [TRAILED])
    assert curl(server.url, "-D", str(tmp_path / "curl"), "-o", os.devnull).returncode == 0
    assert rawhttp(server.url, "-D", str(tmp_path / "ours")).returncode == 0
    expected = TRAILED.split(b"5\r\n")[0] + b"X-Checksum: abc123\r\nX-Other:  two \r\n"
    assert (tmp_path / "curl").read_bytes() == expected
    assert (tmp_path / "ours").read_bytes() == expected


def test_trailers_in_verbose(raw_server):
    """-v shows them as `< ` lines (curl 7.88's -v leaves them out: rawhttp shows all that
    arrived, on purpose)."""
    server = raw_server([TRAILED])
    result = rawhttp(server.url, "-v")
    lines = result.stderr.decode().splitlines()
    assert "< X-Checksum: abc123" in lines and "< X-Other:  two " in lines
    assert lines.index("< X-Checksum: abc123") < next(
        index for index, line in enumerate(lines) if line.startswith("* Body complete")
    )
