"""Every input the fuzzer (or a property test) ever crashed rawhttp.wire with, and the seeds,
replayed through the fuzz targets (the parsers, and `rawhttp get` with each flag set): each
must now pass."""

from __future__ import annotations

from pathlib import Path

import cli_target
import pytest
import wire_target

HERE = Path(__file__).parent
INPUTS = sorted([*HERE.glob("crashes/*"), *HERE.glob("seeds/*")])


def test_there_are_inputs():
    assert any(path.parent.name == "crashes" for path in INPUTS)


@pytest.mark.parametrize("path", INPUTS, ids=[f"{p.parent.name}/{p.name}" for p in INPUTS])
def test_saved_input(path):
    wire_target.check(path.read_bytes())


@pytest.mark.parametrize("path", INPUTS, ids=[f"{p.parent.name}/{p.name}" for p in INPUTS])
def test_saved_input_through_the_cli(path):
    """The same bytes as a server's reply to `rawhttp get`, with every flag set: no traceback."""
    data = path.read_bytes()
    for flags in cli_target.FLAG_SETS:
        cli_target.assert_no_traceback(cli_target.run_cli(data, flags))


# URLs the property tests found a traceback with (tests/test_properties.py generates URLs).
URLS = ["HTTPS://.", "https://a..b/"]


@pytest.mark.parametrize("url", URLS)
def test_saved_url_through_the_cli(url):
    """`HTTPS://.` reached the TLS layer, whose ssl could not put '.' in the SNI: exit 35 in
    one line now, never a UnicodeError."""
    result = cli_target.run_cli(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", [], urls=[url])
    cli_target.assert_no_traceback(result)
    assert result.exit_code != 0
