"""Help that tells the truth: every option of every command has a description and a row in the
README's option tables (and every option named there exists), `get --help` lists every exit
code the errors can give, and the README's exit-code table agrees with errors.py."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import rawhttp.request  # noqa: F401 (errors.py's classes, and this one's CannotReplayBody)
from rawhttp.cli import main
from rawhttp.cli.common import EXIT_INTERRUPTED
from rawhttp.errors import RawHTTPError

README = Path(__file__).resolve().parents[1] / "README.md"
LESSONS = ("list", "tcp-server", "tcp-client", "udp-server", "udp-client")
# An option's names in a table cell: -o, --output-dir, --http1.0, --progress/--no-progress.
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][\w.-]*)")


def command(path: str) -> click.Command:
    """`get`, `lesson tcp-server`: the click command object."""
    found: click.Command = main
    ctx = click.Context(main)
    for name in path.split():
        found = found.get_command(ctx, name)  # type: ignore[attr-defined]
        assert found is not None, path
    return found


def options(path: str) -> dict[str, click.Option]:
    """Each visible option of a command by its names (help itself left out)."""
    found = {}
    for param in command(path).params:
        if isinstance(param, click.Option) and not param.hidden:
            for name in [*param.opts, *param.secondary_opts]:
                found[name] = param
    return found


def commands() -> list[str]:
    return ["get", "send", "serve", "demo", *(f"lesson {name}" for name in LESSONS)]


def readme_sections() -> dict[str, str]:
    """README text by the command its heading names (`## \\`rawhttp get\\`` -> "get")."""
    sections: dict[str, str] = {}
    current = ""
    for line in README.read_text().splitlines():
        heading = re.match(r"#+ .*`rawhttp (\w+)", line)
        if heading:
            current = heading[1]
        elif line.startswith("## "):
            current = ""
        sections[current] = sections.get(current, "") + line + "\n"
    return sections


def table_rows(text: str, header: str) -> list[list[str]]:
    """The rows (cells) of every table in `text` whose first header cell is `header`."""
    rows, inside = [], False
    for line in text.splitlines():
        if not line.startswith("|"):
            inside = False
            continue
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if cells[0] == header:
            inside = True
        elif inside and not set(cells[0]) <= {"-"}:
            rows.append(cells)
    return rows


def documented(path: str) -> set[str]:
    """The option names the README's table gives a command: the first column of the `option`
    tables in its section, or for a lesson its row of the `command | options` table."""
    sections = readme_sections()
    if path.startswith("lesson "):
        rows = table_rows(sections.get("lesson", ""), "command")
        cells = [row[1] for row in rows if row[0].strip("`") == path.split()[1]]
        assert cells, f"README: no row for `{path}` in the lesson table"
    else:
        cells = [row[0] for row in table_rows(sections.get(path, ""), "option")]
    return {name for cell in cells for name in OPTION.findall(cell)}


@pytest.mark.parametrize("path", commands())
def test_every_option_has_a_description(path):
    missing = sorted({opts.opts[0] for opts in options(path).values() if not opts.help})
    assert not missing, f"{path}: no help for {missing}"


@pytest.mark.parametrize("path", commands())
def test_the_readme_documents_every_option_and_no_other(path):
    names = options(path)
    in_readme = documented(path)
    undocumented = sorted(
        {
            param.opts[0]
            for param in names.values()
            if not in_readme & {*param.opts, *param.secondary_opts}
        }
        - {"--help"}
    )
    assert not undocumented, f"{path}: options missing from the README's table: {undocumented}"
    stale = sorted(in_readme - set(names))
    assert not stale, f"{path}: the README's table names options that do not exist: {stale}"


def exit_codes() -> set[int]:
    """Every exit code a RawHTTPError can carry, usage errors (2) and Ctrl-C (130)."""
    codes, pending = set(), list(RawHTTPError.__subclasses__())
    while pending:
        error = pending.pop()
        codes.add(error.exit_code)
        pending.extend(error.__subclasses__())
    return codes | {2, EXIT_INTERRUPTED}


def test_get_help_lists_every_exit_code():
    text = " ".join(CliRunner().invoke(main, ["get", "--help"]).output.split())
    listed = text[text.index("Exit codes") :]
    missing = sorted(code for code in exit_codes() if not re.search(rf"\b{code}\b", listed))
    assert not missing, f"get --help does not list exit codes {missing}"
    for code in (2, 26, 65, 130):
        assert str(code) in listed


def test_the_readme_exit_code_table_matches_the_errors():
    text = README.read_text()
    table = text[text.index("### Errors and exit codes") :]
    rows = table_rows(table[: table.index("\n## ")], "code")
    assert {int(row[0]) for row in rows} == exit_codes() | {0}


def test_header_forms_are_in_get_help():
    text = " ".join(CliRunner().invoke(main, ["get", "--help"]).output.split())
    assert "'NAME;' sends it empty" in text and "'NAME:' removes" in text
