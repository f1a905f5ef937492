"""Whole transfers against rawhttp's own server: resume (-C), several URLs on one connection."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from rawhttp.cli import main

DATA = bytes(range(256)) * 400  # 100 KiB


def cli(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--timeout", "5"])


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "data.bin").write_bytes(DATA)
    (root / "a.txt").write_text("first")
    (root / "b.txt").write_text("second")
    (root / "c.txt").write_text("third")
    out = tmp_path / "out"
    out.mkdir()
    return root, out


def test_resume_from_part(serve_dir, files):
    root, out = files
    server = serve_dir(root)
    (out / "data.bin.part").write_bytes(DATA[:30000])
    result = cli(server.url + "/data.bin", "-C", "-o", str(out / "data.bin"))
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"HTTP/1.1 206 Partial Content\r\n")
    assert f"Content-Range: bytes 30000-{len(DATA) - 1}/{len(DATA)}" in result.stdout
    assert (out / "data.bin").read_bytes() == DATA
    assert os.listdir(out) == ["data.bin"]


def test_resume_sends_range(raw_server, files):
    _, out = files
    server = raw_server(
        [
            b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 3-5/6\r\nContent-Length: 3\r\n\r\ndef"
        ]
    )
    (out / "f.part").write_bytes(b"abc")
    assert cli(server.url, "-C", "-o", str(out / "f")).exit_code == 0
    assert b"\r\nRange: bytes=3-\r\n" in server.requests[0]
    assert (out / "f").read_bytes() == b"abcdef"


def test_resume_of_a_complete_file_is_416_and_success(serve_dir, files):
    root, out = files
    server = serve_dir(root)
    (out / "data.bin").write_bytes(DATA)
    result = cli(server.url + "/data.bin", "-C", "-o", str(out / "data.bin"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("HTTP/1.1 416 ")
    assert (out / "data.bin").read_bytes() == DATA
    assert os.listdir(out) == ["data.bin"]


def test_resume_against_ignore_range_restarts_the_file(serve_dir, files):
    root, out = files
    server = serve_dir(root, scenario="ignore-range")
    (out / "data.bin.part").write_bytes(b"X" * 5000)  # stale bytes that must not survive
    result = cli(server.url + "/data.bin", "-C", "-o", str(out / "data.bin"))
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"HTTP/1.1 200 OK\r\n")
    assert (out / "data.bin").read_bytes() == DATA


def test_failed_resume_keeps_the_part(serve_dir, files):
    root, out = files
    server = serve_dir(root, scenario="wrong-length")
    result = cli(server.url + "/data.bin", "-C", "-o", str(out / "data.bin"))
    assert result.exit_code == 18
    assert os.listdir(out) == ["data.bin.part"]
    assert (out / "data.bin.part").read_bytes() == DATA


def test_three_urls_one_connection(serve_dir, files):
    root, _ = files
    server = serve_dir(root)
    urls = [server.url + name for name in ("/a.txt", "/b.txt", "/c.txt")]
    result = cli(*urls, "-v", "--body-only")
    assert result.exit_code == 0, result.output
    assert result.stdout == "firstsecondthird"
    assert server.accepted == 1
    assert result.stderr.count("* Reusing connection to 127.0.0.1:") == 2
    assert result.stderr.count("> Connection: keep-alive") == 2
    assert result.stderr.count("> Connection: close") == 1


def test_two_urls_with_outputs(serve_dir, files):
    root, out = files
    server = serve_dir(root)
    result = cli(
        server.url + "/a.txt", server.url + "/b.txt", "-o", str(out / "1"), "-o", str(out / "2")
    )
    assert result.exit_code == 0
    assert (out / "1").read_text() == "first" and (out / "2").read_text() == "second"
    assert server.accepted == 1


def test_remote_names_for_several_urls(serve_dir, files):
    root, out = files
    server = serve_dir(root)
    result = cli(
        server.url + "/a.txt", server.url + "/b.txt", "-O", "--output-dir", str(out), "--body-only"
    )
    assert result.exit_code == 0
    assert sorted(os.listdir(out)) == ["a.txt", "b.txt"]


def test_other_origin_gets_its_own_connection(serve_dir, files):
    root, _ = files
    first, second = serve_dir(root), serve_dir(root)
    result = cli(first.url + "/a.txt", second.url + "/b.txt", first.url + "/c.txt", "--body-only")
    assert result.stdout == "firstsecondthird"
    assert (first.accepted, second.accepted) == (2, 1)


def test_server_closing_between_requests_is_survived(serve_dir, files):
    root, _ = files
    server = serve_dir(root, idle_timeout=0.2)
    import time

    from rawhttp.client import Options, Session

    with Session(Options(read_timeout=5)) as session:
        with session.stream(server.url + "/a.txt", keep_alive=True) as response:
            assert response.read() == b"first"
        time.sleep(0.6)  # the server's idle timeout closes the kept connection
        with session.stream(server.url + "/b.txt") as response:
            assert response.read() == b"second"
    assert server.accepted == 2


def test_failure_in_one_url_does_not_stop_the_next(serve_dir, files, refused_port):
    root, _ = files
    server = serve_dir(root)
    result = cli(f"127.0.0.1:{refused_port}/", server.url + "/a.txt", "--body-only")
    assert result.exit_code == 7
    assert result.stdout == "first"
