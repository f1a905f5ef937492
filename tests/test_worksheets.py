"""Every command of every worksheet (samples/lessons/*.md), run as a learner would, against
servers started on free loopback ports (tests/worksheets.py): what it prints must be what the
sheet says, except for what varies between runs (worksheets.VARIES, which the sheets explain),
and every server the sheet starts stops within a second of Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import pytest
from worksheets import ROOT, STOP_WITHIN, Runner, matches, normalized, parse

SHEETS = sorted((ROOT / "samples" / "lessons").glob("*.md"))


@pytest.mark.parametrize("sheet", SHEETS, ids=[sheet.stem for sheet in SHEETS])
def test_worksheet(sheet: Path, tmp_path: Path):
    runner = Runner(sheet, tmp_path)
    runner.run()
    assert not runner.failures, "\n".join(runner.failures)
    assert all(took < STOP_WITHIN for took in runner.stop_times), runner.stop_times


def test_every_worksheet_has_commands():
    for sheet in SHEETS:
        assert parse(sheet), sheet.name


# --- the comparison itself ---------------------------------------------------------------------

ONE_READ = """\
[    1.000 ms] send() -> 18 bytes at offset 0
    GET / HTTP/1.1\\r\\n
    \\r\\n
[    2.000 ms] recv() -> 44 bytes at offset 0
    HTTP/1.1 200 OK\\r\\n
    Content-Length: 5\\r\\n
    \\r\\n
    ---- end of head at offset 39; what follows is the body ----
    hello
"""
THREE_READS = """\
[    1.100 ms] send() -> 18 bytes at offset 0
    GET / HTTP/1.1\\r\\n
    \\r\\n
[    2.100 ms] recv() -> 10 bytes at offset 0
    HTTP/1.1 2
[    2.200 ms] recv() -> 29 bytes at offset 10
    00 OK\\r\\n
    Content-Length: 5\\r\\n
    \\r\\n
    ---- end of head at offset 39; what follows is the body ----
[    2.300 ms] recv() -> 5 bytes at offset 39
    hello
"""


def test_reads_cut_anywhere_give_the_same_bytes():
    assert normalized(ONE_READ) == normalized(THREE_READS)
    assert matches(ONE_READ, THREE_READS) and matches(THREE_READS, ONE_READ)
    assert not matches(ONE_READ, THREE_READS.replace("hello", "hellO"))
    assert not matches(ONE_READ, THREE_READS.replace("18 bytes", "19 bytes"))  # sends count


def test_an_ellipsis_stands_for_any_text_even_inside_a_line():
    documented = (
        "...\n[    9.000 ms] recv() -> 64 bytes at offset 0\n    ...\n    00 OK\\r\\n\n...\n"
    )
    assert matches(documented, THREE_READS)
    assert matches("a\n...\nz\n", "a\nb\nc\nz\n")
    assert not matches("a\n...\nz\n", "a\nb\n")


def test_what_varies_is_masked():
    assert matches(
        "Date: Sun, 22 Nov 2026 01:20:02 GMT\nConnected 127.0.0.1:60710 -> x in 8.8 ms\n",
        "Date: Wed, 02 Dec 2026 13:23:00 GMT\nConnected 127.0.0.1:41234 -> x in 0.5 ms\n",
    )
    assert matches("Serving .../samples/site on", "Serving /tmp/x/samples/site on")
    assert not matches("Content-Length: 299\n", "Content-Length: 298\n")
