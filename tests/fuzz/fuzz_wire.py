"""Coverage-guided fuzzing of rawhttp.wire's parsers with atheris (libFuzzer): `make fuzz`.

    make fuzz                       # FUZZ_SECONDS (60) of fuzzing, from tests/fuzz/seeds
    .venv/bin/python tests/fuzz/fuzz_wire.py -max_total_time=600 .fuzz-corpus tests/fuzz/seeds

Each input is checked by wire_target (the parsers) and by cli_target (the whole `rawhttp get`
against a server sending those bytes: no traceback). A crash is written to tests/fuzz/crashes/
(-artifact_prefix); keep it there and test_fuzz_regressions.py replays it in every `make test`
from then on.
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

with atheris.instrument_imports(include=["rawhttp", "wire_target", "cli_target"]):
    import cli_target
    import wire_target


def test_one_input(data: bytes) -> None:
    wire_target.check(data)
    cli_target.check(data)  # the same bytes as a server's reply to `rawhttp get`: no traceback


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
