"""Faults on the client's side: the server or the machine fails mid-transfer, and `rawhttp get`
must end with the right exit code, one error line, in bounded time, leaving no file behind.

Covered elsewhere, so not repeated: reset mid-body (exit 56) and a hang mid-body (28) leave no
-o file (test_cli.py); empty reply is 52, read timeout and --max-time through the API
(test_client.py); stdout on /dev/full is 23 (test_cli.py).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest import HANG, RESET

from rawhttp.cli import main

BODY_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"


def get(*args: str):
    return CliRunner().invoke(main, ["get", *args])


def assert_failed(result, code: int, words: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rawhttp: error: "), lines
    assert words in lines[0]


# --- the connection fails -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "code", "words"),
    [
        ([b"HTTP/1.1 200 OK\r\nContent-Le", RESET], 56, "connection reset"),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", RESET], 56, "reset"),
        ([b""], 52, "empty reply"),
        ([b"HTTP/1.1 200 OK\r\nContent-Le"], 8, "middle of the response head"),
    ],
    ids=["reset mid-head", "reset mid-chunk", "closed before any byte", "closed mid-head"],
)
def test_a_dying_connection_leaves_no_file(raw_server, tmp_path, script, code, words):
    server = raw_server(script)
    result = get(server.url, "-o", str(tmp_path / "f"), "--timeout", "2")
    assert_failed(result, code, words)
    # Never FILE; what arrived stays in f.part (issue 20), and the error line says so.
    assert set(os.listdir(tmp_path)) <= {"f.part"}
    assert ("f.part" in os.listdir(tmp_path)) == ("kept in" in result.stderr)


@pytest.fixture
def unanswered_port():
    """A port whose listen queue is full: the kernel drops further SYNs, so a connect to it
    neither succeeds nor is refused (loopback only, nothing ever accepted)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    held = []
    try:
        for _ in range(8):  # the queue holds backlog + 1; stop at the first that waits
            sock = socket.socket()
            sock.settimeout(0.2)
            try:
                sock.connect(("127.0.0.1", port))
            except TimeoutError:
                sock.close()
                break
            held.append(sock)
        else:
            pytest.skip("this kernel accepts connections past the listen backlog")
        yield port
    finally:
        for sock in held:
            sock.close()
        listener.close()


def test_connect_timeout_fires(unanswered_port):
    started = time.monotonic()
    result = get(f"127.0.0.1:{unanswered_port}", "--connect-timeout", "0.3")
    assert_failed(result, 28, "connect to 127.0.0.1 port")
    assert "timed out after 0.3 s" in result.stderr
    assert time.monotonic() - started < 3


def test_idle_read_timeout_fires_mid_head(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\n", HANG])
    started = time.monotonic()
    assert_failed(get(server.url, "--timeout", "0.3"), 28, "read timeout")
    assert time.monotonic() - started < 3


def test_max_time_fires_while_bytes_keep_coming(raw_server, tmp_path):
    """The server never pauses long enough for the read timeout; only --max-time stops it."""
    server = raw_server([BODY_HEAD % 1000, *[b"x"] * 200])  # one byte per 20 ms: 4 s in all
    started = time.monotonic()
    result = get(server.url, "-o", str(tmp_path / "f"), "--timeout", "2", "-m", "0.5")
    assert_failed(result, 28, "max-time 0.5 s")
    assert 0.4 < time.monotonic() - started < 2.5
    assert os.listdir(tmp_path) == ["f.part"]  # the bytes that came, kept to resume


# --- the output cannot be written ---------------------------------------------------------------


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KiB tmpfs mounted for the test (needs root and a sandbox that allows mounting)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        timeout=10,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=10)


def test_a_full_filesystem_is_23_and_leaves_nothing(raw_server, tiny_tmpfs):
    body = bytes(range(256)) * 1024  # 256 KiB into 64 KiB
    server = raw_server([BODY_HEAD % len(body) + body])
    result = get(server.url, "-o", str(tiny_tmpfs / "big.bin"))
    assert_failed(result, 23, "file: cannot write")
    assert "No space left on device" in result.stderr
    assert set(os.listdir(tiny_tmpfs)) <= {"big.bin.part"}  # what fitted is kept


def test_a_filesystem_full_at_the_last_flush_is_23_and_leaves_nothing(raw_server, tiny_tmpfs):
    """The body fits Python's write buffer, so the disk says no only when the file is closed."""
    filler = tiny_tmpfs / "filler"
    with contextlib.suppress(OSError), open(filler, "wb") as file:
        file.write(b"\0" * 64 * 1024)  # fill it to the last block
    server = raw_server([BODY_HEAD % 4000 + b"y" * 4000])
    result = get(server.url, "-o", str(tiny_tmpfs / "small.txt"))
    assert_failed(result, 23, "file:")
    assert os.listdir(tiny_tmpfs) == ["filler"]


def _limit_file_size() -> None:
    # Past RLIMIT_FSIZE, write() fails with EFBIG instead of the process being killed by
    # SIGXFSZ: a disk that is full for this process only, without root or a mount.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


@pytest.mark.parametrize("resume", [[], ["-C"]])
def test_a_file_size_limit_is_23_and_keeps_the_part(raw_server, tmp_path, resume):
    """The same guarantee where mounting is not allowed: EFBIG from RLIMIT_FSIZE. With -C the
    .part stays (all that was written), to be continued later."""
    body = b"z" * 256 * 1024
    server = raw_server([BODY_HEAD % len(body) + body])
    done = subprocess.run(
        [sys.executable, "-m", "rawhttp", "get", server.url, "-o", "f", *resume],
        cwd=tmp_path,
        capture_output=True,
        timeout=30,
        preexec_fn=_limit_file_size,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 23, done.stderr
    assert done.stderr.startswith(b"rawhttp: error: file: cannot write f.part: File too large")
    # With or without -C, what was written stays in f.part to be continued (issue 20).
    assert os.listdir(tmp_path) == ["f.part"]
    assert (tmp_path / "f.part").read_bytes() == body[: 64 * 1024]


# --- Ctrl-C --------------------------------------------------------------------------------------


def _interrupt_download(server_url: str, cwd, *flags: str) -> subprocess.CompletedProcess:
    """Start `rawhttp get URL -o f`, wait until the body has started (f.part exists), send
    SIGINT, and return how the process ended."""
    command = [sys.executable, "-m", "rawhttp", "get", server_url, "-o", "f", *flags]
    with subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        try:
            deadline = time.monotonic() + 10
            while not (cwd / "f.part").exists() and time.monotonic() < deadline:
                assert process.poll() is None, process.stderr.read()
                time.sleep(0.02)
            assert (cwd / "f.part").exists(), "the body never started"
            time.sleep(0.1)  # inside the next recv, waiting for bytes that do not come
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=10)
        finally:
            process.kill()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_ctrl_c_during_a_download_is_130_and_keeps_the_part(raw_server, tmp_path):
    server = raw_server([BODY_HEAD % 1000 + b"0123456789", HANG])
    done = _interrupt_download(server.url, tmp_path)
    assert done.returncode == 130, done.stderr
    assert done.stderr == (
        b"rawhttp: interrupted (10 bytes received are kept in f.part: the same command with "
        b"-C - resumes)\n"
    )
    assert os.listdir(tmp_path) == ["f.part"]


def test_ctrl_c_with_c_keeps_the_part_to_resume(raw_server, tmp_path):
    server = raw_server([BODY_HEAD % 1000 + b"0123456789", HANG])
    done = _interrupt_download(server.url, tmp_path, "-C")
    assert done.returncode == 130, done.stderr
    assert os.listdir(tmp_path) == ["f.part"]
    assert (tmp_path / "f.part").read_bytes() == b"0123456789"
