"""What every command shares: the one-line error report, the short usage error, and the exit
codes they use.

The CLI is a package of small modules, one per command, loaded only when that command runs
(`rawhttp get` does not import the server or the lessons). They are the only modules that
import click, and each is thin over the Python API.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import TypeVar

import click

from rawhttp.errors import OutputError, RawHTTPError

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a program stopped by Ctrl-C

T = TypeVar("T")


def report(error: RawHTTPError) -> None:
    """The one line a failure gets: `rawhttp: error: <layer>: <what happened>`."""
    line = f"rawhttp: error: {error.layer}: {error}"
    from rawhttp.show.color import Palette, is_terminal

    if is_terminal(sys.stderr):  # a reason phrase or a name from the server: shown, not obeyed
        line = Palette(visible=True).shown(line)
    click.echo(line, err=True)
    if isinstance(error, OutputError):
        # stdout may be a closed pipe: point it at /dev/null so the exit-time flush is quiet.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class ShortUsageError(click.ClickException):
    """A usage error told in two lines instead of click's four-line block (usage, hint, blank,
    error): `rawhttp: error: usage: <what>`, then where help is. Exit 2, as click's."""

    exit_code = 2

    def __init__(self, error: click.UsageError):
        super().__init__(error.format_message())
        self.command = error.ctx.command_path if error.ctx is not None else "rawhttp"

    def show(self, file=None) -> None:
        click.echo(f"rawhttp: error: usage: {self.message}", err=True)
        click.echo(f"Try '{self.command} --help'.", err=True)


@contextlib.contextmanager
def short_usage():
    """Inside: any click usage error is a ShortUsageError (cli's group wraps every command)."""
    try:
        yield
    except click.UsageError as error:
        raise ShortUsageError(error) from None


def run_reporting(function: Callable[..., T], *args, **kwargs) -> T:
    """Call `function`; a RawHTTPError becomes the one error line and its exit code, Ctrl-C
    exit 130."""
    try:
        return function(*args, **kwargs)
    except RawHTTPError as error:
        report(error)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("rawhttp: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
