"""`rawhttp get` through click's CliRunner and through a real subprocess."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import HANG, RESET

from rawhttp.cli import main
from rawhttp.sinks import StdoutSink

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
OK = OK_HEAD + b"hello"
SHORT = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"


def run(*args: str):
    result = CliRunner().invoke(main, ["get", *args, "--timeout", "2", "--connect-timeout", "2"])
    return result


def assert_one_error_line(result, code: int, words: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("rawhttp: error: ")
    assert words in lines[0]
    assert "Traceback" not in result.output


def test_head_then_body(raw_server):
    server = raw_server([OK])
    result = run(server.url)
    assert result.exit_code == 0
    assert result.stdout_bytes == OK


def test_body_only(raw_server):
    server = raw_server([OK])
    result = run(server.url, "--body-only")
    assert result.stdout_bytes == b"hello"


def test_head_only_sends_head(raw_server):
    server = raw_server([OK_HEAD, HANG])
    result = run(server.url, "-I")
    assert result.exit_code == 0
    assert result.stdout_bytes == OK_HEAD
    assert server.requests[0].startswith(b"HEAD / HTTP/1.1\r\n")


def test_output_file(raw_server, tmp_path):
    server = raw_server([OK])
    target = tmp_path / "page.txt"
    result = run(server.url, "-o", str(target))
    assert result.exit_code == 0
    assert result.stdout_bytes == OK_HEAD
    assert target.read_bytes() == b"hello"
    assert os.listdir(tmp_path) == ["page.txt"]


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ([SHORT], 18),
        ([SHORT, RESET], 56),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab", HANG], 28),
    ],
)
def test_failed_output_leaves_no_file_but_the_part(raw_server, tmp_path, script, code):
    server = raw_server(script)
    target = tmp_path / "page.txt"
    result = CliRunner().invoke(main, ["get", server.url, "-o", str(target), "--timeout", "0.3"])
    assert result.exit_code == code
    assert os.listdir(tmp_path) == ["page.txt.part"]  # never FILE; what came, kept to resume


def test_failed_output_keeps_existing_file(raw_server, tmp_path):
    server = raw_server([SHORT])
    target = tmp_path / "page.txt"
    target.write_bytes(b"previous, complete")
    assert run(server.url, "-o", str(target)).exit_code == 18
    assert target.read_bytes() == b"previous, complete"


def test_output_to_dev_null_is_not_replaced(raw_server):
    server = raw_server([OK])
    result = run(server.url, "-o", os.devnull)
    assert result.exit_code == 0
    assert not os.path.isfile(os.devnull)


def test_output_dash_is_stdout(raw_server):
    server = raw_server([OK])
    assert run(server.url, "-o", "-").stdout_bytes == OK


def test_output_unwritable(raw_server, tmp_path):
    server = raw_server([OK])
    result = run(server.url, "-o", str(tmp_path / "missing" / "page.txt"))
    assert_one_error_line(result, 23, "file: cannot write")  # checked before connecting
    assert server.accepted == 0 and ".part" not in result.stderr


def test_headers_option(raw_server):
    server = raw_server([OK])
    result = run(server.url, "-H", "Accept: text/html", "-H", "User-Agent:", "-H", "X-Empty;")
    assert result.exit_code == 0
    request = server.requests[0]
    assert b"Accept: text/html\r\n" in request
    assert b"User-Agent" not in request
    assert b"X-Empty: \r\n" in request


@pytest.mark.parametrize("spec", ["Bad Name: x", "X: a\r\nInjected: 1", "X: a\x00", "NoColon"])
def test_bad_header_refused(raw_server, spec):
    server = raw_server([OK])
    result = run(server.url, "-H", spec)
    assert result.exit_code == 2
    assert server.requests == []


def test_verbose(raw_server):
    server = raw_server([OK])
    result = run(server.url + "/x", "-v")
    assert result.exit_code == 0
    err = result.stderr
    assert "*   Trying 127.0.0.1:" in err
    assert "> GET /x HTTP/1.1\n" in err
    assert f"> Host: 127.0.0.1:{server.port}\n" in err
    assert "* Body framing: length 5" in err
    assert result.stdout_bytes == OK


def test_location_prints_each_hop(raw_server):
    final = raw_server([OK])
    hop = b"HTTP/1.1 301 Moved Permanently\r\nLocation: %s/next\r\nContent-Length: 0\r\n\r\n" % (
        final.url.encode()
    )
    first = raw_server([hop])
    result = run(first.url, "-L")
    assert result.exit_code == 0
    assert result.stdout_bytes == hop + OK
    assert final.requests[0].startswith(b"GET /next HTTP/1.1")


def test_max_redirs(raw_server):
    server = raw_server([b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n"])
    result = run(server.url, "-L", "--max-redirs", "2")
    assert_one_error_line(result, 47, "more than 2 redirects")
    assert server.accepted == 3


def test_fail_flag_keeps_body(raw_server):
    server = raw_server([b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope"])
    result = run(server.url, "--fail", "--body-only")
    assert result.stdout_bytes == b"nope"
    assert_one_error_line(result, 22, "404 Not Found")


@pytest.mark.parametrize(
    ("script", "code", "words"),
    [
        ([b""], 52, "http: empty reply"),
        ([SHORT], 18, "http: connection closed after 3 of 10 body bytes"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"], 8, "conflicting"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", RESET], 56, "tcp: connection reset"),
    ],
)
def test_error_lines(raw_server, script, code, words):
    server = raw_server(script)
    assert_one_error_line(run(server.url), code, words)


def test_connect_error_line(refused_port):
    assert_one_error_line(run(f"127.0.0.1:{refused_port}"), 7, "tcp: could not connect")


def test_url_error_line():
    assert_one_error_line(run("http://a.test:99999/"), 3, "url: invalid URL")


def test_timeout_error_line(raw_server):
    server = raw_server([HANG])
    result = CliRunner().invoke(main, ["get", server.url, "--timeout", "0.3"])
    assert_one_error_line(result, 28, "read timeout")


def test_binary_body_not_dumped_on_terminal(capsys):
    out = io.BytesIO()
    sink = StdoutSink(out, is_terminal=True)
    sink.write(b"\x89PNG\r\n\x1a\n\x00\x00")
    sink.write(b"more")
    sink.finish()
    assert out.getvalue() == b""
    assert "binary body of 14 bytes" in capsys.readouterr().err


def test_text_body_shown_on_terminal():
    out = io.BytesIO()
    sink = StdoutSink(out, is_terminal=True)
    sink.write(b"<html>")
    sink.finish()
    assert out.getvalue() == b"<html>"


# --- a real process, as a user runs it ---------------------------------------------------------


def rawhttp_process(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rawhttp", *args], capture_output=True, timeout=30, **kwargs
    )


def test_subprocess_get_to_file(raw_server, tmp_path):
    server = raw_server([OK])
    done = rawhttp_process("get", server.url + "/", "-o", "page.txt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == OK_HEAD
    assert (tmp_path / "page.txt").read_bytes() == b"hello"


def test_subprocess_error_is_one_line(refused_port):
    done = rawhttp_process("get", f"127.0.0.1:{refused_port}")
    assert done.returncode == 7
    assert done.stderr.decode().count("\n") == 1
    assert done.stderr.startswith(b"rawhttp: error: tcp: could not connect to 127.0.0.1 port")


@pytest.mark.parametrize("only_body", [[], ["--body-only"]])
def test_subprocess_stdout_full(raw_server, only_body):
    server = raw_server([OK])
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "rawhttp", "get", server.url, *only_body],
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=30,
        )
    assert done.returncode == 23
    assert done.stderr.startswith(b"rawhttp: error: file: cannot write to standard output")
    assert b"Traceback" not in done.stderr


def test_help_and_version():
    assert "rawhttp get" in rawhttp_process("get", "--help").stdout.decode()
    assert rawhttp_process("--version").stdout.decode().startswith("rawhttp, version ")
