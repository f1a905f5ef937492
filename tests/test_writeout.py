"""`-w/--write-out` (show/writeout.py) as scripts written for curl use it, curl run beside.

Each test runs curl and rawhttp with the same format against the same local server and compares
what must not vary (names, codes, sizes, JSON keys and types); times are checked for their
order only. Where rawhttp differs on purpose it says so: `%{json}` has no `curl_version` and none
of the FTP, certificate-count and proxy fields; `%{http_version}` of an HTTP/1.0 answer is "1"
in both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

CURL = shutil.which("curl")
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Twice: a\r\nX-Twice: b\r\n"
    b"Content-Length: 5\r\n\r\nhello"
)
TIMES = (
    "time_namelookup",
    "time_connect",
    "time_pretransfer",
    "time_starttransfer",
    "time_total",
)


def rawhttp(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rawhttp", "get", *args],
        capture_output=True,
        timeout=30,
        input=stdin,
        env={**os.environ, "NO_COLOR": "1"},
    )


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CURL, *args], capture_output=True, timeout=30)


def both(*args: str) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    return rawhttp(*args), curl(*args)


@pytest.fixture
def server(raw_server):
    return raw_server([RESPONSE])


def test_the_http_code_idiom_prints_only_the_code(server):
    ours, theirs = both("-s", "-o", os.devnull, "-w", "%{http_code}", server.url + "/")
    assert theirs.stdout == b"200"
    assert ours.stdout == b"200", ours.stdout[:200]
    assert ours.returncode == theirs.returncode == 0


def test_without_o_the_head_still_goes_to_stdout(server):
    """The first promise: without -o, stdout shows the head as received, then the body, then
    the figures (curl, without -i, prints the body and the figures only)."""
    done = rawhttp("-s", "-w", "%{http_code}", server.url + "/")
    assert done.stdout == RESPONSE + b"200"


def test_include_brings_the_head_back_with_w_and_o(server):
    done = rawhttp("-s", "-i", "-o", os.devnull, "-w", "%{http_code}", server.url + "/")
    assert done.stdout == RESPONSE[: RESPONSE.index(b"hello")] + b"200"


def test_variables_agree_with_curl(server):
    form = (
        "%{http_code}|%{response_code}|%{size_download}|%{size_header}|%{content_type}|"
        "%{http_version}|%{scheme}|%{num_connects}|%{num_redirects}|%{remote_ip}|"
        "%{remote_port}|%{local_ip}|%{exitcode}|%{errormsg}|%{size_upload}|%{method}|"
        "%header{x-twice}|%header{content-type}|%{url_effective}\\n"
    )
    ours, theirs = both("-s", "-o", os.devnull, "-w", form, server.url + "/x")
    assert ours.stdout == theirs.stdout
    assert ours.stdout.startswith(b"200|200|5|")


def test_times_are_numbers_in_order(server):
    form = "|".join(f"%{{{name}}}" for name in (*TIMES, "time_appconnect", "time_redirect"))
    done = rawhttp("-s", "-o", os.devnull, "-w", form, server.url + "/")
    values = [float(text) for text in done.stdout.decode().split("|")]
    assert all(value > 0 for value in values[:5])
    assert values[:5] == sorted(values[:5])
    assert values[5:] == [0.0, 0.0]  # no TLS, no redirect


def test_json_has_curls_keys_and_types(server):
    ours, theirs = both("-s", "-o", os.devnull, "-w", "%{json}", server.url + "/")
    mine, curls = json.loads(ours.stdout), json.loads(theirs.stdout)
    left_out = {key for key in curls if key not in mine}
    # on purpose: rawhttp is not libcurl, and has no FTP, certificate count or proxy figures
    assert left_out <= {
        "curl_version",
        "certs",
        "ftp_entry_path",
        "http_connect",
        "num_certs",
        "proxy_ssl_verify_result",
        "ssl_verify_result",
        "referer",
        "urlnum",
    }
    assert list(mine) == sorted(mine)
    for key, value in mine.items():
        if key in curls and curls[key] is not None and value is not None:
            assert type(value) is type(curls[key]), key
    for key in ("http_code", "size_download", "size_header", "content_type", "remote_ip"):
        assert mine[key] == curls[key], key
    assert mine["errormsg"] is None and mine["exitcode"] == 0


def test_header_json_as_curl_writes_it(server):
    ours, theirs = both("-s", "-o", os.devnull, "-w", "%{header_json}", server.url + "/")
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    assert json.loads(ours.stdout)["x-twice"] == ["a", "b"]


def test_unknown_variable_is_warned_about_as_curl_does(server):
    ours, theirs = both("-s", "-o", os.devnull, "-w", "[%{nonsense}]", server.url + "/")
    assert ours.stdout == theirs.stdout == b"[]"
    assert b"unknown --write-out variable: 'nonsense'" in theirs.stderr
    assert b"unknown --write-out variable: 'nonsense'" in ours.stderr


def test_failure_still_prints_exitcode_and_errormsg(refused_port):
    url = f"http://127.0.0.1:{refused_port}/"
    ours, theirs = both("-s", "-o", os.devnull, "-w", "%{http_code} %{exitcode}", url)
    assert ours.stdout == theirs.stdout == b"000 7"
    done = rawhttp("-s", "-w", "%{errormsg}", url)
    assert b"Connection refused" in done.stdout


def test_stderr_and_output_move_what_follows(server, tmp_path):
    form = "out%{stderr}err%{stdout}OUT"
    ours, theirs = both("-s", "-o", os.devnull, "-w", form, server.url + "/")
    assert ours.stdout == theirs.stdout == b"outOUT"
    assert ours.stderr == theirs.stderr == b"err"
    # %output{FILE} came with curl 8.3 (the curl here is older): rawhttp's alone
    saved = tmp_path / "figures.txt"
    form = f"out%output{{{saved}}}file %{{http_code}}%output{{>>{saved}}}+more"
    done = rawhttp("-s", "-o", os.devnull, "-w", form, server.url + "/")
    assert done.stdout == b"out"
    assert saved.read_bytes() == b"file 200+more"


def test_format_from_a_file_and_its_bound(server, tmp_path):
    form = tmp_path / "format.txt"
    form.write_text("code=%{http_code}\\n")
    ours, theirs = both("-s", "-o", os.devnull, "-w", f"@{form}", server.url + "/")
    assert ours.stdout == theirs.stdout == b"code=200\n"
    endless = rawhttp("-s", "-S", "-o", os.devnull, "-w", "@/dev/zero", server.url + "/")
    assert endless.returncode == 26
    assert b"Traceback" not in endless.stderr
    assert endless.stderr.count(b"\n") == 1


def test_non_utf8_format_bytes_are_written_as_given(server):
    done = subprocess.run(
        [
            os.fsencode(sys.executable),
            b"-m",
            b"rawhttp",
            b"get",
            b"-s",
            b"-o",
            os.fsencode(os.devnull),
            b"-w",
            b"\xff%{http_code}",
            server.url.encode() + b"/",
        ],
        capture_output=True,
        timeout=30,
    )
    assert done.stdout == b"\xff200"
    assert b"Traceback" not in done.stderr


@pytest.mark.slow
def test_httpstat_draws_its_waterfall_from_rawhttp(server, tmp_path):
    """httpstat runs `curl -w FORMAT -D FILE -o FILE -s -S URL` and parses stdout as JSON;
    with HTTPSTAT_CURL_BIN pointing at a two-line wrapper, rawhttp answers it."""
    httpstat = shutil.which("httpstat", path=os.path.dirname(sys.executable))
    assert httpstat, "httpstat is in the test extra"
    wrapper = tmp_path / "curl-is-rawhttp"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m rawhttp get "$@"\n')
    wrapper.chmod(0o755)
    done = subprocess.run(
        [httpstat, server.url + "/"],
        capture_output=True,
        timeout=60,
        env={**os.environ, "HTTPSTAT_CURL_BIN": str(wrapper)},
    )
    out = done.stdout.decode(errors="replace")
    assert done.returncode == 0, out + done.stderr.decode(errors="replace")
    assert "Could not decode json" not in out
    for step in ("DNS Lookup", "TCP Connection", "Server Processing", "Content Transfer"):
        assert step in out
    assert "HTTP/1.1 200 OK" in out  # the head, from -D's file
