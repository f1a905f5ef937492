"""What every command shares: the one-line error report and the exit codes it uses.

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
    click.echo(f"rawhttp: error: {error.layer}: {error}", err=True)
    if isinstance(error, OutputError):
        # stdout may be a closed pipe: point it at /dev/null so the exit-time flush is quiet.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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
