"""Colour (show/color.py): the head, -v and --trace painted on a terminal, plain anywhere else.

Coloured output must be the plain output plus escape codes and nothing else, so every check
strips the codes and compares with the plain run. The pty tests run the real command on a
pseudo-terminal (what a person's terminal is to a program) to check that `auto` colours there
and only there.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from rawhttp.cli import main
from rawhttp.show.color import STYLES, Palette, wanted
from rawhttp.show.trace import hex_lines, text_lines

HEAD = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-Odd:no-space  \r\n"
    b"Content-Length: 5\r\n\r\n"
)
RESPONSE = HEAD + b"nope!"
SGR = re.compile(r"\x1b\[[0-9;]*m")
ON = Palette(True)


def plain(text: str) -> str:
    return SGR.sub("", text)


def opened(kind: str, text: str) -> str:
    """The start of `text` painted as `kind` (the colour code, then text that goes on)."""
    return f"\x1b[{STYLES[kind]}m{text}"


def get(*args: str, env: dict | None = None):
    return CliRunner(env=env).invoke(main, ["get", *args, "--timeout", "5"])


# --- the palette ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, kind", [(101, "1xx"), (200, "2xx"), (304, "3xx"), (404, "4xx"), (503, "5xx")]
)
def test_status_painted_by_class(code: int, kind: str):
    line = ON.status_line(f"HTTP/1.1 {code} Reason Words\r\n")
    assert plain(line) == f"HTTP/1.1 {code} Reason Words\r\n"
    painted = ON.paint("version", "HTTP/1.1") + " " + ON.paint(kind, f"{code} Reason Words")
    assert line == painted + "\r\n"
    assert line.endswith("\x1b[0m\r\n")  # the line end stays outside the colour


def test_head_keeps_every_byte():
    painted = ON.head(HEAD)
    assert painted != HEAD
    assert SGR.sub("", painted.decode("latin-1")).encode("latin-1") == HEAD
    text = painted.decode("latin-1")
    assert ON.paint("name", "Content-Type") + ": " + ON.paint("value", "text/plain") in text
    assert ON.paint("name", "X-Odd") + ":" + ON.paint("value", "no-space  ") in text


def test_head_odd_lines_left_alone():
    odd = b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nnocolon\r\n\r\n"
    painted = ON.head(odd).decode("latin-1")
    assert "\r\n folded\r\nnocolon\r\n\r\n" in painted
    assert Palette(False).head(odd) is odd
    assert ON.head(b"garbage\r\n\r\n") == b"garbage\r\n\r\n"


def test_request_line():
    line = ON.request_line("GET /a?b=1 HTTP/1.1")
    assert plain(line) == "GET /a?b=1 HTTP/1.1"
    assert line.startswith(ON.paint("method", "GET"))


def test_trace_markers_painted():
    [crlf_line, escapes] = text_lines(b"GET / HTTP/1.1\r\n\x00\\", ON)
    assert crlf_line == "GET / HTTP/1.1" + ON.paint("eol", "\\r\\n")
    assert escapes == ON.paint("escape", "\\x00") + ON.paint("escape", "\\\\")
    [row] = hex_lines(b"ab\r\n", 32, ON)
    assert row.startswith(ON.paint("offset", "000020"))
    assert plain(row) == hex_lines(b"ab\r\n", 32)[0]
    assert ON.paint("eol", "0d") in row


def test_wanted(monkeypatch):
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert wanted("auto", Tty())
    assert not wanted("auto", open(os.devnull, "w"))  # noqa: SIM115 (closed at exit)
    assert not wanted("never", Tty())
    assert wanted("always", open(os.devnull, "w"))  # noqa: SIM115
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wanted("auto", Tty())
    assert wanted("always", Tty())  # an explicit flag wins over the environment
    monkeypatch.setenv("NO_COLOR", "")  # empty: as if unset
    assert wanted("auto", Tty())
    monkeypatch.setenv("TERM", "dumb")
    assert not wanted("auto", Tty())


# --- the commands ----------------------------------------------------------------------------


def test_get_always_colours_head_verbose_and_trace(raw_server):
    server = raw_server([RESPONSE], [RESPONSE])
    coloured = get(server.url, "-v", "--trace", "--color=always")
    uncoloured = get(server.url, "-v", "--trace")
    assert coloured.exit_code == uncoloured.exit_code == 0
    assert SGR.search(coloured.stdout) and SGR.search(coloured.stderr)
    assert not SGR.search(uncoloured.stdout + uncoloured.stderr)
    # The body is never painted; the head's bytes are the received ones.
    assert coloured.stdout_bytes.endswith(b"\r\n\r\nnope!")
    assert plain(coloured.stdout_bytes.decode("latin-1")).encode("latin-1") == RESPONSE
    assert uncoloured.stdout_bytes == RESPONSE

    def timeless(text: str) -> str:
        return re.sub(r"\[ *[\d.]+ ms\]|from 127\.0\.0\.1:\d+", "", plain(text))

    assert timeless(coloured.stderr) == timeless(uncoloured.stderr)
    assert ON.paint("4xx", "404 Not Found") in coloured.stdout
    assert ON.paint("marker", ">") + " " + ON.paint("method", "GET") in coloured.stderr
    assert ON.paint("note", "* Body framing: length 5") in coloured.stderr
    assert "---- end of head at offset" in plain(coloured.stderr)
    assert opened("split", f"---- end of head at offset {len(HEAD)};") in coloured.stderr


def test_get_never_and_no_color(raw_server):
    server = raw_server([RESPONSE])
    for args, env in ((["--color=never"], None), ([], {"NO_COLOR": "1"})):
        result = get(server.url, "-v", "--trace", *args, env=env)
        assert result.stdout_bytes == RESPONSE
        assert not SGR.search(result.stderr)
    assert get(server.url, "--color=sometimes").exit_code == 2


def test_send_colours_its_trace(raw_server):
    server = raw_server([RESPONSE])
    runner = CliRunner()
    args = ["send", f"127.0.0.1:{server.port}", "-", "--timeout", "5"]
    coloured = runner.invoke(main, [*args, "--color=always"], input="GET / HTTP/1.1\nHost: x\n")
    assert coloured.exit_code == 0, coloured.output
    assert ON.paint("eol", "\\r\\n") in coloured.stdout
    assert "404 Not Found" in plain(coloured.stdout)
    piped = runner.invoke(main, args, input="GET / HTTP/1.1\nHost: x\n")
    assert not SGR.search(piped.stdout)


# --- on a real terminal ----------------------------------------------------------------------


def on_a_terminal(args: list[str], env: dict | None = None, stdout=None) -> tuple[str, str]:
    """Run `python -m rawhttp ARGS` with stderr (and stdout unless given) on a pty: returns
    (what the terminal showed, what went to `stdout` if it was a pipe)."""
    leader, follower = pty.openpty()
    environment = {**os.environ, "TERM": "xterm"}
    environment.pop("NO_COLOR", None)
    environment.update(env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "rawhttp", *args],
        stdin=subprocess.DEVNULL,
        stdout=stdout if stdout is not None else follower,
        stderr=follower,
        env=environment,
    )
    os.close(follower)
    shown = bytearray()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                piece = os.read(leader, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not piece:
                break
            shown += piece
        elif process.poll() is not None:
            break
    os.close(leader)
    piped = process.stdout.read().decode("latin-1") if process.stdout else ""
    assert process.wait(5) == 0
    return shown.decode("latin-1"), piped


def test_auto_colours_on_a_terminal_only(raw_server):
    server = raw_server([RESPONSE])
    shown, _ = on_a_terminal(["get", server.url, "-v", "--trace"])
    assert ON.paint("4xx", "404 Not Found") in shown  # the head, on stdout: the terminal
    assert ON.paint("marker", ">") in shown  # -v on stderr: the terminal
    assert opened("split", "---- end of head") in shown
    # stdout to a pipe: the head is plain there, though stderr (the terminal) is coloured.
    shown, piped = on_a_terminal(["get", server.url, "-v"], stdout=subprocess.PIPE)
    assert piped.encode("latin-1") == RESPONSE
    assert ON.paint("marker", ">") in shown


def test_no_color_on_a_terminal(raw_server):
    server = raw_server([RESPONSE])
    shown, _ = on_a_terminal(["get", server.url, "-v"], env={"NO_COLOR": "1"})
    assert "404 Not Found" in shown
    assert "\x1b[" not in shown
