"""A real browser submits the sample site's forms to the echo page (`serve --echo`), and the
bytes the server received are checked: the query of a GET, an urlencoded body, and a multipart
body with a file. Headless Chromium from Debian's package; skipped only when it is missing and
CI is unset (`.ci/run` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from rawhttp.server import Server, sample_site
from rawhttp.server.echo import Echo
from rawhttp.wire import RequestReader

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run should have installed it")
        pytest.skip("chromium is not installed")
    return found


class RecordingEcho(Echo):
    """The echo, keeping every request's bytes for the test to read."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []

    def __call__(self, exchange) -> None:
        self.requests.append(exchange.raw)
        super().__call__(exchange)


def submitted(form: str) -> RequestReader:
    """Chromium loads forms.html?submit=FORM, whose script submits that form to /echo."""
    command = browser()
    with Server(sample_site(), echo=True, log=lambda line: None) as server:
        server.handler.echo = recorder = RecordingEcho()
        with tempfile.TemporaryDirectory() as profile:
            process = subprocess.Popen(
                [
                    command,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    f"--user-data-dir={profile}",
                    "--virtual-time-budget=3000",
                    "--dump-dom",
                    f"{server.url}/forms.html?submit={form}",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + 30
                while not recorder.requests and time.monotonic() < deadline:
                    time.sleep(0.05)
            finally:
                process.kill()
                process.communicate(timeout=10)
    assert recorder.requests, "the browser never submitted the form"
    reader = RequestReader()
    reader.feed(recorder.requests[0])
    assert reader.done
    reader.body_bytes = recorder.requests[0][len(reader.head.raw) :]
    return reader


def test_a_get_form_puts_the_fields_in_the_query():
    request = submitted("get")
    assert request.head.method == "GET"
    assert request.head.target == "/echo?name=Ada+Lovelace&note=1+%2B+1+%3D+2+%26+more"


def test_an_urlencoded_form_sends_the_same_fields_as_a_body():
    request = submitted("urlencoded")
    headers = request.head.headers
    assert (request.head.method, headers["Content-Type"]) == (
        "POST",
        "application/x-www-form-urlencoded",
    )
    assert request.body_bytes == b"name=Ada+Lovelace&note=1+%2B+1+%3D+2+%26+more"
    assert headers["Content-Length"] == str(len(request.body_bytes))


def test_a_multipart_form_sends_parts_and_the_file():
    request = submitted("multipart")
    kind = request.head.headers["Content-Type"]
    assert kind.startswith("multipart/form-data; boundary=")
    boundary = kind.split("boundary=", 1)[1].encode()
    body = request.body_bytes
    assert body.startswith(b"--" + boundary + b"\r\n")
    assert body.endswith(b"--" + boundary + b"--\r\n")
    assert b'Content-Disposition: form-data; name="name"\r\n\r\nAda Lovelace\r\n' in body
    assert (
        b'Content-Disposition: form-data; name="upload"; filename="hello.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello from the browser\n\r\n"
    ) in body
