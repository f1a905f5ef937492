"""The HTTP lab's options of `rawhttp serve`: --auth (Basic, RFC 7617), --cache-control and
--cors, checked with raw requests, curl -u and the command line."""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from conftest import ask_server

from rawhttp.cli import main
from rawhttp.server import Server
from rawhttp.server.auth import BasicAuth, credentials_of
from rawhttp.server.site import SiteOptions

TIMEOUT = 5.0
pytestmark = pytest.mark.usefixtures("server_model")


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "page.txt").write_bytes(b"secret page\n")
    return root


def get(server, *fields: str, method: str = "GET", target: str = "/page.txt"):
    extra = "".join(f"{field}\r\n" for field in fields)
    return ask_server(server, f"{method} {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode())


@pytest.fixture
def guarded(site):
    options = SiteOptions(auth=BasicAuth(["alice:s3cret", "bob:pa:ss"]))
    with Server(site, site=options, log=[].append) as server:
        yield server


def basic(pair: str) -> str:
    return "Authorization: Basic " + base64.b64encode(pair.encode()).decode()


def test_without_credentials_401_with_a_challenge_and_a_page_saying_what_to_send(guarded):
    head, page = get(guarded)
    assert head.status == 401
    assert head.headers["WWW-Authenticate"] == 'Basic realm="rawhttp", charset="UTF-8"'
    assert b"Authorization: Basic" in page and b"base64" in page and b"https" in page


@pytest.mark.parametrize(
    ("field", "status"),
    [
        (basic("alice:s3cret"), 200),
        (basic("bob:pa:ss"), 200),  # a colon in the password is part of it
        (basic("alice:wrong"), 401),
        (basic("alice"), 401),
        ("Authorization: Basic !!!", 401),
        ("Authorization: Bearer abc", 401),
    ],
)
def test_credentials(guarded, field, status):
    assert get(guarded, field)[0].status == status


def test_credentials_of():
    assert credentials_of("basic YWxpY2U6c2VjcmV0") == b"alice:secret"
    assert credentials_of(None) is None and credentials_of("Basic ===") is None


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_u_gets_in(guarded):
    def curl(*args: str) -> str:
        command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
        return done.stdout

    assert curl(f"{guarded.url}/page.txt") == "401"
    assert curl("-u", "alice:s3cret", f"{guarded.url}/page.txt") == "200"


def test_cache_control_on_files_only(site):
    with Server(site, site=SiteOptions(cache_control="max-age=60"), log=[].append) as server:
        assert get(server)[0].headers["Cache-Control"] == "max-age=60"
        assert get(server, target="/missing")[0].headers.get("Cache-Control") is None


def test_cors_preflight_and_allow_origin(site):
    options = SiteOptions(cors="http://localhost:9000", auth=BasicAuth(["a:b"]))
    with Server(site, site=options, log=[].append) as server:
        head, _ = get(
            server,
            "Origin: http://localhost:9000",
            "Access-Control-Request-Method: PUT",
            "Access-Control-Request-Headers: content-type",
            method="OPTIONS",
        )
        assert head.status == 204  # no credentials needed for a preflight
        assert head.headers["Access-Control-Allow-Origin"] == "http://localhost:9000"
        assert "PUT" in head.headers["Access-Control-Allow-Methods"]
        assert head.headers["Access-Control-Allow-Headers"] == "content-type"
        assert int(head.headers["Access-Control-Max-Age"]) > 0
        answer = get(server, basic("a:b"), "Origin: http://localhost:9000")[0]
        assert answer.status == 200
        assert answer.headers["Access-Control-Allow-Origin"] == "http://localhost:9000"
        assert get(server)[0].headers["Access-Control-Allow-Origin"] == "http://localhost:9000"


def test_auth_without_a_colon_is_a_usage_error(site):
    result = CliRunner().invoke(main, ["serve", str(site), "--auth", "alice"])
    assert result.exit_code == 2 and "USER:PASSWORD" in result.output


def test_the_lab_options_are_for_a_folder_not_a_scenario(site):
    result = CliRunner().invoke(main, ["serve", "--scenario", "drip", "--cors", "*"])
    assert result.exit_code == 2


# --- the access log: --log-format, --log, --quiet ----------------------------------------------


@pytest.mark.parametrize("style", ["common", "combined", "json"])
def test_log_formats(site, style):
    import json

    lines: list[str] = []
    with Server(site, log=lines.append, log_format=style) as server:
        get(server, 'Referer: http://a/"x"', "User-Agent: lab/1")
    line = lines[-1]
    if style == "json":
        entry = json.loads(line)
        assert entry["status"] == 200 and entry["bytes"] == len(b"secret page\n")
        assert entry["request"] == "GET /page.txt HTTP/1.1" and entry["user_agent"] == "lab/1"
        assert entry["referer"] == 'http://a/"x"' and entry["client"] == "127.0.0.1"
    else:
        assert line.startswith("127.0.0.1 - - [") and '"GET /page.txt HTTP/1.1" 200 12' in line
        combined = line.endswith('"http://a/\\x22x\\x22" "lab/1"')  # a quote cannot end a field
        assert combined == (style == "combined")


def test_log_file_and_quiet_from_the_command_line(site, tmp_path):
    import signal

    from test_server_model import start_serve

    log = tmp_path / "access.log"
    for options, where in [
        (["--log", str(log), "--log-format", "json"], "file"),
        (["--quiet"], ""),
    ]:
        process, port, _ = start_serve(site, *options)
        try:
            server = type("Address", (), {"host": "127.0.0.1", "port": int(port)})
            assert get(server)[0].status == 200
            process.send_signal(signal.SIGTERM)
            _, errors = process.communicate(timeout=TIMEOUT)
        finally:
            process.kill()
            process.communicate()
        assert "GET /page.txt" not in errors  # not on stderr
        if where == "file":
            assert '"request": "GET /page.txt HTTP/1.1"' in log.read_text()
