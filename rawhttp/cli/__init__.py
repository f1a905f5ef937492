"""The command line: `rawhttp get|send|serve|demo|lesson`, also run as `python -m rawhttp`.

`main` is a click group whose commands live in their own modules and are imported only when
called, so a plain `rawhttp get` starts without loading the server, the lessons or the views it
does not use.
"""

from __future__ import annotations

import importlib

import click

from rawhttp.cli.common import short_usage
from rawhttp.version import __version__

COMMANDS = {
    "get": ("rawhttp.cli.get", "get_command"),
    "send": ("rawhttp.cli.send", "send_command"),
    "serve": ("rawhttp.cli.serve", "serve_command"),
    "demo": ("rawhttp.cli.serve", "demo_command"),
    "lesson": ("rawhttp.cli.lesson", "lesson_group"),
}


class LazyGroup(click.Group):
    """A group that imports a command's module when the command is asked for, and turns
    click's usage errors (its own and its commands') into two short lines."""

    def make_context(self, *args, **kwargs) -> click.Context:
        with short_usage():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context):
        with short_usage():
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rawhttp")
def main() -> None:
    """rawhttp: HTTP/1.1 over a plain TCP socket, every byte visible."""
