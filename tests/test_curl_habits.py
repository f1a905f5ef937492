"""A curl user's reflexes on `rawhttp get`: the letters curl uses mean what they mean in curl
(-b cookies, -C - resume, -i, -s/-S, -A, -e, -u, -D, -r, --retry, -w), curl options rawhttp
does not have get a line on what to use instead, and a surplus -o is warned about."""

from __future__ import annotations

import base64

import pytest
from click.testing import CliRunner

from rawhttp.cli import main

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
OK = OK_HEAD + b"hello"
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy"


def run(*args: str):
    return CliRunner().invoke(main, ["get", *args, "--timeout", "2", "--connect-timeout", "2"])


def sent_fields(server) -> str:
    return server.requests[0].decode("latin-1")


def test_cookie_value_user_agent_referer_range(raw_server):
    server = raw_server([OK])
    result = run(
        server.url + "/p", "-b", "a=1; b=2", "-A", "tester/1", "-e", "http://x/", "-r", "0-4"
    )
    assert result.exit_code == 0
    fields = sent_fields(server)
    for line in [
        "Cookie: a=1; b=2",
        "User-Agent: tester/1",
        "Referer: http://x/",
        "Range: bytes=0-4",
    ]:
        assert f"\r\n{line}\r\n" in fields


def test_cookie_file_in_curls_format_sends_the_matching_cookies(raw_server, tmp_path):
    jar = tmp_path / "jar.txt"
    jar.write_text(
        "# Netscape HTTP Cookie File\n"
        "127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc\n"
        "#HttpOnly_127.0.0.1\tFALSE\t/p\tFALSE\t0\tsecret\txyz\n"
        "other.test\tFALSE\t/\tFALSE\t0\tnope\t1\n"
    )
    server = raw_server([OK])
    assert run(server.url + "/p/q", "-b", str(jar)).exit_code == 0
    # RFC 6265 5.4: the longer path first (curl's order too)
    assert "\r\nCookie: secret=xyz; session=abc\r\n" in sent_fields(server)
    assert server.accepted == 1  # jar.txt was not taken as a second URL


def test_user_sends_basic_credentials_shown_in_verbose(raw_server):
    server = raw_server([OK])
    result = run(server.url, "-u", "ada:s3cret", "-v")
    token = base64.b64encode(b"ada:s3cret").decode()
    assert f"\r\nAuthorization: Basic {token}\r\n" in sent_fields(server)
    assert f"> Authorization: Basic {token}" in result.stderr
    assert run(server.url, "-u", "ada").exit_code == 2  # no prompting: give USER:PASSWORD


def test_continue_dash_resumes_from_the_files_size(raw_server, tmp_path):
    target = tmp_path / "f.txt"
    target.with_name("f.txt.part").write_bytes(b"hel")
    rest = (
        b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 3-4/5\r\nContent-Length: 2\r\n\r\nlo"
    )
    server = raw_server([rest])
    result = run(server.url, "-C", "-", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "\r\nRange: bytes=3-\r\n" in sent_fields(server)
    assert target.read_bytes() == b"hello"


def test_include_is_accepted_and_silent_hides_errors_unless_show_error(raw_server, refused_port):
    server = raw_server([OK])
    assert run(server.url, "-i").stdout_bytes == OK
    url = f"http://127.0.0.1:{refused_port}/"
    silent = run(url, "-s")
    assert (silent.exit_code, silent.stderr) == (7, "")
    shown = run(url, "-sS")
    assert shown.exit_code == 7 and shown.stderr.startswith("rawhttp: error: tcp:")


def test_dump_header_writes_every_head(raw_server, tmp_path):
    server = raw_server([b"HTTP/1.1 100 Continue\r\n\r\n" + OK])
    heads = tmp_path / "heads.txt"
    result = run(server.url, "-D", str(heads), "--body-only")
    assert result.stdout_bytes == b"hello"
    assert heads.read_bytes() == b"HTTP/1.1 100 Continue\r\n\r\n" + OK_HEAD


def test_write_out_prints_curls_variables(raw_server):
    server = raw_server([OK])
    result = run(server.url + "/x", "-w", r"%{http_code} %{size_download} %{url_effective}\n")
    assert result.exit_code == 0
    assert result.stdout.endswith(f"hello200 5 {server.url}/x\n")
    timed = run(server.url, "--body-only", "-w", "%{time_total} %{time_connect} %{num_redirects}")
    total, connect, redirects = timed.stdout.removeprefix("hello").split()
    assert float(total) >= float(connect) > 0 and redirects == "0"


def test_retry_tries_again_after_a_503(raw_server):
    server = raw_server([BUSY], [OK])
    result = run(server.url, "--retry", "2", "--body-only")
    assert (result.exit_code, result.stdout) == (0, "busyhello")
    assert "rawhttp: warning: status 503: trying again in 1 s (2 left)" in result.stderr
    assert server.accepted == 2


def test_retry_never_repeats_a_post(raw_server):
    server = raw_server([BUSY], [OK])
    result = run(server.url, "--retry", "2", "-d", "x=1", "--body-only")
    assert result.stdout == "busy" and server.accepted == 1


@pytest.mark.parametrize(
    ("option", "hint"),
    [
        ("--http3", "HTTP/1.1"),
        ("--http2", "HTTP/1.1"),
        ("--data-raw", "--data-binary"),
    ],
)
def test_curl_options_rawhttp_lacks_say_what_to_use(option, hint):
    result = run("http://127.0.0.1:9/", option, "v")
    assert result.exit_code == 2
    assert "No such option" in result.stderr and hint in result.stderr


def test_a_surplus_output_is_warned_about(raw_server, tmp_path):
    server = raw_server([OK])
    result = run(server.url, "-o", str(tmp_path / "a"), "-o", str(tmp_path / "b"))
    assert result.exit_code == 0
    assert "rawhttp: warning: 2 -o for 1 URL(s)" in result.stderr


def test_help_says_output_dir_creates_folders():
    text = " ".join(CliRunner().invoke(main, ["get", "--help"]).output.split())
    assert "created (with its parents) when missing" in text


def test_trace_and_timing_before_the_url_take_their_default(raw_server):
    server = raw_server([OK])
    result = run("--trace", server.url, "--body-only")
    assert result.exit_code == 0 and "send() ->" in result.stderr
    result = run("--timing", server.url, "--body-only")
    assert result.exit_code == 0 and "total" in result.stderr
