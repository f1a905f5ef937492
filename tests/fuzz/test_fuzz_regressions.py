"""Every input the fuzzer (or a property test) ever crashed rawhttp.wire with, and the seeds,
replayed through the fuzz target: each must now pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import wire_target

HERE = Path(__file__).parent
INPUTS = sorted([*HERE.glob("crashes/*"), *HERE.glob("seeds/*")])


def test_there_are_inputs():
    assert any(path.parent.name == "crashes" for path in INPUTS)


@pytest.mark.parametrize("path", INPUTS, ids=[f"{p.parent.name}/{p.name}" for p in INPUTS])
def test_saved_input(path):
    wire_target.check(path.read_bytes())
