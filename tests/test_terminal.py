"""What reaches a terminal (show/color.py): a server's control bytes are shown, never obeyed.

A header value holding `ESC ]0;...BEL` (set the window title), `ESC [2J` (clear the screen) or
OSC 52 (write the clipboard), or a reason phrase holding C1's CSI (a C0 control there is
refused by wire.py, exit 8) must reach a terminal as the text `\\x1b...`,
in the colour of --trace's CR LF markers, whether colour is on or off; a pipe or a file gets the
exact bytes. Each case runs the real command on a pseudo-terminal (test_color.on_a_terminal).
Also -O's file name: `%1b`, `%0a`, `%0d` stay escaped, as curl keeps them (curl runs beside).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys

from test_color import on_a_terminal

from rawhttp.show.color import STYLES

TITLE = b"\x1b]0;pwned\x07"  # OSC 0: set the window title
CLEAR = b"\x1b[2J"  # ED 2: clear the screen
CLIPBOARD = b"\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: write the clipboard
BODY = b"hello"
CSI = b"\x9b2J"  # C1 CSI (an 8-bit terminal's ESC [): obs-text, so a reason phrase may hold it
HOSTILE = (
    b"HTTP/1.1 200 OK" + CSI + b"\r\n"
    b"X-Title: " + TITLE + b"\r\n"
    b"X-Evil: a" + CLEAR + b"b\r\n"
    b"X-Clip: " + CLIPBOARD + b"\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n" + BODY
)
SGR_RE = re.compile(r"\x1b\[[0-9;]*m")


def obeyed(shown: str) -> list[str]:
    """The control characters that would act on the terminal: all but our own colour codes
    (SGR) and the line ends (a pty turns \\n into \\r\\n)."""
    return re.findall(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]", SGR_RE.sub("", shown))


def test_head_on_a_terminal_shows_control_bytes_as_text(raw_server):
    server = raw_server([HOSTILE])
    shown, _ = on_a_terminal(["get", server.url, "--color=never"])
    assert obeyed(shown) == []
    assert "200 OK\\x9b2J" in shown  # the reason phrase
    assert "X-Title: \\x1b]0;pwned\\x07" in shown
    assert "X-Evil: a\\x1b[2Jb" in shown
    assert "X-Clip: \\x1b]52;c;cm0gLXJmIH4=\\x07" in shown


def test_coloured_head_paints_escapes_as_line_end_markers(raw_server):
    server = raw_server([HOSTILE])
    shown, _ = on_a_terminal(["get", server.url, "--color=always"])
    assert obeyed(shown) == []
    marker = f"\x1b[{STYLES['eol']}m\\x1b\x1b[0m"  # --trace's colour for \r and \n
    assert shown.count(marker) >= 3
    assert f"\x1b[{STYLES['eol']}m\\x9b\x1b[0m" in shown


def test_a_pipe_gets_the_exact_bytes(raw_server):
    server = raw_server([HOSTILE])
    done = subprocess.run(
        [sys.executable, "-m", "rawhttp", "get", server.url],
        capture_output=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0
    assert done.stdout == HOSTILE


def test_explain_and_verbose_on_a_terminal_show_control_bytes(raw_server):
    server = raw_server([HOSTILE])
    shown, _ = on_a_terminal(["get", server.url, "--explain", "-v", "--color=never"])
    assert obeyed(shown) == []
    assert "status line: HTTP/1.1 200 OK\\x9b2J" in shown  # --explain
    assert "X-Title: \\x1b]0;pwned\\x07" in shown
    assert "head: 200 OK\\x9b2J" in shown  # -v's "* Received final head"


def test_dump_header_to_a_terminal_and_to_a_file(raw_server, tmp_path):
    server = raw_server([HOSTILE])
    saved = tmp_path / "head.txt"
    shown, _ = on_a_terminal(["get", server.url, "--body-only", "-D", "-", "--color=never"])
    assert obeyed(shown) == []
    assert "X-Clip: \\x1b]52;c;" in shown
    subprocess.run(
        [sys.executable, "-m", "rawhttp", "get", server.url, "-D", str(saved), "--body-only"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert saved.read_bytes() == HOSTILE[: -len(BODY)]  # a file: every byte as it came


def test_remote_name_keeps_control_escapes_as_curl_does(raw_server, tmp_path):
    """`-O` of `/a%1bb%0ac%0d.txt`: the file is named `a%1bb%0ac%0d.txt` by both tools.
    On purpose rawhttp still decodes printable escapes (`caf%C3%A9` is `café`), which curl
    keeps as written."""
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + BODY])
    path = "/a%1bb%0ac%0d.txt"
    for tool, command in {
        "rawhttp": [sys.executable, "-m", "rawhttp", "get", "-s", "-O", server.url + path],
        "curl": ["curl", "-s", "-O", server.url + path],
    }.items():
        folder = tmp_path / tool
        folder.mkdir()
        subprocess.run(command, cwd=folder, capture_output=True, timeout=30, check=True)
        assert os.listdir(folder) == ["a%1bb%0ac%0d.txt"], tool
        assert (folder / "a%1bb%0ac%0d.txt").read_bytes() == BODY


def test_remote_name_decodes_printable_escapes_only():
    from rawhttp.sinks import remote_name

    assert remote_name("/caf%C3%A9.txt") == "café.txt"
    assert remote_name("/x%c2%9b1m%7f") == "x%c2%9b1m%7f"  # C1 CSI in UTF-8, and DEL


def test_the_error_line_on_a_terminal_shows_control_bytes(raw_server):
    """--fail's line quotes the reason phrase: on a terminal its C1 CSI is written out."""
    server = raw_server([b"HTTP/1.1 404 Gone" + CSI + b"\r\nContent-Length: 0\r\n\r\n"])
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rawhttp", "get", server.url, "--fail", "--body-only"],
            stdout=subprocess.DEVNULL,
            stderr=follower,
            timeout=30,
            env={**os.environ, "NO_COLOR": "1"},
        )
        os.close(follower)
        shown = b""
        while select.select([leader], [], [], 0.5)[0]:
            try:
                piece = os.read(leader, 65536)
            except OSError:
                break
            if not piece:
                break
            shown += piece
    finally:
        os.close(leader)
    assert done.returncode == 22
    text = shown.decode("utf-8", "replace")
    assert "404 Gone\\x9b2J" in text
    assert obeyed(text) == []
