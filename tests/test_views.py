"""The lesson views of a transfer (--trace, --explain, --show-code) and `rawhttp send`."""

from __future__ import annotations

import re
import subprocess
import sys

from click.testing import CliRunner

from rawhttp.cli import main
from rawhttp.cli.send import to_crlf
from rawhttp.show.trace import hex_lines, text_lines

HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
OK = HEAD + b"hello"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Custom-Thing: 1\r\n\r\n"
    b"3\r\nabc\r\n2;note=x\r\nde\r\n0\r\n\r\n"
)


def get(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--timeout", "5"])


def test_trace_one_byte_reads_and_split(raw_server):
    server = raw_server([OK])
    result = get(server.url, "--trace", "--bufsize", "1", "--body-only")
    assert result.exit_code == 0, result.output
    calls = re.findall(r"\] (send|recv)\(\) -> (\d+) bytes(?: at offset (\d+))?", result.stderr)
    recvs = [(int(count), offset) for name, count, offset in calls if name == "recv"]
    # Content-Length says when to stop: one recv per byte, and no extra recv after the last.
    assert recvs == [(1, str(offset)) for offset in range(len(OK))]
    lines = result.stderr.splitlines()
    marker = lines.index(
        f"    ---- end of head at offset {len(HEAD)}; what follows is the body ----"
    )
    assert lines[marker - 2].endswith(f"at offset {len(HEAD) - 1}")
    assert lines[marker - 1] == "    \\n"
    assert lines[marker + 1].endswith(f"recv() -> 1 bytes at offset {len(HEAD)}")


def test_trace_split_inside_a_read(raw_server):
    server = raw_server([OK])
    result = get(server.url, "--trace", "--body-only")
    lines = result.stderr.splitlines()
    marker = lines.index(
        f"    ---- end of head at offset {len(HEAD)}; what follows is the body ----"
    )
    assert lines[marker - 1] == "    \\r\\n"
    assert lines[marker + 1] == "    hello"
    assert "    GET / HTTP/1.1\\r\\n" in lines


def test_trace_hex(raw_server):
    server = raw_server([OK])
    result = get(server.url, "--trace=hex", "--body-only")
    assert (
        "000000  48 54 54 50 2f 31 2e 31 20 32 30 30 20 4f 4b 0d  HTTP/1.1 200 OK." in result.stderr
    )
    assert f"{len(HEAD):06x}  68 65 6c 6c 6f" in result.stderr


def test_text_and_hex_lines():
    assert text_lines(b"a\r\nb\x00\\") == ["a\\r\\n", "b\\x00\\\\"]
    [line] = hex_lines(b"AB", 16)
    assert line.startswith("000010  41 42 ") and line.endswith(" AB")


def test_explain_chunked(raw_server):
    server = raw_server([CHUNKED])
    result = get(server.url + "/p?q=1", "--explain", "--body-only", "-H", "Accept: text/plain")
    assert result.exit_code == 0
    text = result.stderr
    assert "socket(AF_INET, SOCK_STREAM)" in text
    assert f"connect(('127.0.0.1', {server.port}))" in text
    assert "target  /p?q=1" in text
    assert re.search(r"Accept: text/plain\n\s+added by you \(-H\)", text)
    assert re.search(r"User-Agent: rawhttp/\S+\n\s+added by rawhttp", text)
    assert "200 is 2xx, success" in text
    assert "framing: chunked." in text
    assert "body: 5 bytes in 2 chunk(s)" in text
    assert "the read loop stopped: last chunk received" in text
    assert "X-Custom-Thing: 1\n    (not in rawhttp's table" in text
    assert re.search(r"recv\(\) was called \d+ time\(s\) in all", text)
    assert "rawhttp called close()" in text


def test_explain_counts_recv_calls(raw_server):
    server = raw_server([OK])
    result = get(server.url, "--explain", "--bufsize", "4", "--body-only")
    assert f"recv() was called {len(OK) // 4 + 1} time(s) in all" in result.stderr


def test_explain_close_delimited(raw_server):
    server = raw_server([b"HTTP/1.0 200 OK\r\n\r\nuntil close"])
    text = get(server.url, "--explain", "--body-only").stderr
    assert "framing: close. no length given" in text
    assert "recv() returned 0 bytes: the server closed its side" in text
    assert "recv() was called 2 time(s) in all" in text  # the data, then the 0-byte end


def test_explain_error(refused_port):
    result = get(f"127.0.0.1:{refused_port}", "--explain")
    assert result.exit_code == 7
    assert "failed at the TCP layer (ECONNREFUSED)" in result.stderr
    assert "nothing listens on that port" in result.stderr


def test_show_code_program_runs(raw_server, tmp_path):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"])
    result = get(server.url + "/page", "--show-code")
    assert result.exit_code == 0
    program = result.stdout
    assert program.startswith("#!/usr/bin/env python3")
    assert "import socket" in program
    assert "import rawhttp" not in program and "from rawhttp" not in program
    compile(program, "shown.py", "exec")
    (tmp_path / "shown.py").write_text(program)
    done = subprocess.run(
        [sys.executable, "shown.py"], capture_output=True, timeout=30, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().endswith("\nhello world\n")
    assert server.requests[1] == server.requests[0]  # the program sent the very same bytes


# --- rawhttp send -------------------------------------------------------------------------------


def send(*args: str, data: bytes):
    return CliRunner().invoke(main, ["send", *args, "--timeout", "5"], input=data)


def test_send_lf_becomes_crlf(raw_server):
    server = raw_server([OK])
    result = send(f"127.0.0.1:{server.port}", data=b"GET /x HTTP/1.1\nHost: a\n")
    assert result.exit_code == 0, result.output
    assert server.requests[0] == b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    assert "    hello" in result.stdout
    assert "* 1 response(s): 200 OK" in result.stderr


def test_send_raw_keeps_bytes(raw_server):
    server = raw_server([OK])
    send("--raw", f"127.0.0.1:{server.port}", data=b"GET / HTTP/1.1\nHost: a\n\n\r\n\r\n")
    assert server.requests[0] == b"GET / HTTP/1.1\nHost: a\n\n\r\n\r\n"


def test_send_pipelined_pair(raw_server):
    second = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope"
    server = raw_server([OK + second])
    result = send(
        f"127.0.0.1:{server.port}",
        data=b"GET /a HTTP/1.1\nHost: a\n\nGET /b HTTP/1.1\nHost: a\n\n",
    )
    assert "* 2 response(s): 200 OK, 404 Not Found" in result.stderr


def test_send_head_response_has_no_body(raw_server):
    server = raw_server([HEAD + OK])
    result = send(
        f"127.0.0.1:{server.port}", data=b"HEAD / HTTP/1.1\nHost: a\n\nGET / HTTP/1.1\nHost: a\n\n"
    )
    assert "* 2 response(s): 200 OK, 200 OK" in result.stderr


def test_send_server_closes_early(raw_server):
    server = raw_server(
        [b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"]
    )
    result = send(f"127.0.0.1:{server.port}", data=b"GARBAGE\n\nGET / HTTP/1.1\nHost: a\n\n")
    assert result.exit_code == 0
    assert "* 1 response(s): 400 Bad Request" in result.stderr


def test_send_refused(refused_port):
    result = send(f"127.0.0.1:{refused_port}", data=b"GET / HTTP/1.1\n\n")
    assert result.exit_code == 7
    assert result.stderr.startswith("rawhttp: error: tcp: could not connect")


def test_to_crlf():
    assert to_crlf(b"GET / HTTP/1.1\nHost: a\n") == b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert to_crlf(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
