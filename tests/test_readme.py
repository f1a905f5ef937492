"""The README's console examples, run again as a reader would (tests/worksheets.py's runner):
each `$ rawhttp ...` against local servers on free ports, its output compared with the pasted
one except for what varies between runs (worksheets.VARIES: dates, ports, times, rates, which
loopback address is tried first). A line ending in `(exit N)` is the exit status it must end
with. What cannot run here is skipped by a `<!-- worksheet: skip: WHY -->` comment that says
why (a terminal, the HTTPS test server, the internet); `make ...` and the proxy example, which
reaches example.com, are never run.

Also the Performance paragraph: its figures must be bench/RESULTS.md's.
"""

from __future__ import annotations

import re

import pytest
from worksheets import ROOT, STOP_WITHIN, Runner

README = ROOT / "README.md"


class ReadmeRunner(Runner):
    def _runnable(self, step) -> bool:
        if step.text.startswith("make ") or "example.com" in step.text:
            return False  # a fresh venv (minutes), the internet
        return super()._runnable(step)


@pytest.mark.slow
def test_readme_examples_print_what_the_readme_says(tmp_path):
    runner = ReadmeRunner(README, tmp_path)
    runner.run()
    assert not runner.failures, "\n".join(runner.failures)
    assert all(took < STOP_WITHIN for took in runner.stop_times), runner.stop_times


def test_readme_names_no_developers_folder():
    text = README.read_text()
    assert not re.search(r"/(?:work|home|Users)/\w+", text), "a developer's absolute path"


def _results() -> str:
    return (ROOT / "bench" / "RESULTS.md").read_text()


def test_performance_paragraph_agrees_with_bench_results():
    """Every ratio the README's Performance paragraph states (0.83x, 4.18x...) is one that
    bench/RESULTS.md, the committed run, holds (to the digits the README gives)."""
    text = README.read_text()
    section = text[text.index("## Performance") :]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    stated = re.findall(r"(\d+\.\d+)x", section)
    assert stated, "the Performance paragraph states its ratios as 1.23x"
    results = _results()
    found = [float(x) for x in re.findall(r"(?<![\d.])(\d+\.\d+)(?![\d.])", results)]
    for ratio in stated:
        digits = len(ratio.split(".")[1])
        assert any(round(value, digits) == float(ratio) for value in found), (
            f"{ratio}x is not in bench/RESULTS.md"
        )
