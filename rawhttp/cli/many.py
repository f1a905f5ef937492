"""`rawhttp get --connections ...`, `-Z`, `--timeline`: many URLs by one of the strategies.

`get.py` hands its URLs here when one of those options is given; this module turns the flags
into a `fetch.strategies` call, writes each answer where it goes (its -o file, or stdout when
it is complete: with -Z answers finish in any order, as with curl), reports failures, and
draws the timeline. The per-transfer views (--trace, --timing...) belong to the one-at-a-time
road and are refused here, by name.
"""

from __future__ import annotations

import contextlib
import sys

import click

from rawhttp.cli.common import EXIT_INTERRUPTED, report
from rawhttp.errors import HTTPStatusError, RawHTTPError
from rawhttp.fetch.conversation import Fetch, MemorySink
from rawhttp.sinks import FileSink, write_stream
from rawhttp.url import URL

# Flags of the one-at-a-time road this one does not have, and the words that name them.
NOT_HERE = {
    "resume": "-C",
    "follow": "-L",
    "trace": "--trace",
    "explain": "--explain",
    "timing": "--timing",
    "show_code": "--show-code",
    "tcp_info": "--tcp-info",
    "pcap": "--pcap",
    "write_out": "-w",
    "dump_header": "-D",
    "compressed": "--compressed",
}


def check(flags: dict, options) -> None:
    """A usage error for what cannot combine with the strategies."""
    refused = [word for name, word in NOT_HERE.items() if flags.get(name)]
    if flags.get("retry"):
        refused.append("--retry")
    if options.plan.body is not None:
        refused.append("a request body")
    if refused:
        raise click.UsageError(
            f"{', '.join(refused)} cannot be used with --connections, -Z or --timeline "
            "(they fetch with GET or HEAD)"
        )
    if flags["packets"] and not flags["timeline"]:
        raise click.UsageError("with --connections or -Z, --packets goes into --timeline FILE")


class PrintSink(MemorySink):
    """A body for stdout, printed with its head once complete (so answers never interleave);
    then its memory is freed."""

    def __init__(self, body_only: bool):
        super().__init__()
        self.body_only = body_only
        self.fetch: Fetch | None = None

    def attach(self, fetch: Fetch) -> None:
        self.fetch = fetch

    def finish(self) -> None:
        out = sys.stdout.buffer
        if self.fetch is not None and self.fetch.head is not None and not self.body_only:
            write_stream(out, self.fetch.head.raw, flush=False)
        write_stream(out, self.body)
        self.body = bytearray()


def run(urls: list[URL], targets: list[str | None], options, flags: dict) -> int:
    """Fetch `urls` as the flags say; the exit code."""
    from rawhttp.cli.curl import curl_headers
    from rawhttp.fetch import PARALLEL_MAX
    from rawhttp.fetch.strategies import fetch_urls

    check(flags, options)
    strategy = flags["connections"] or "persistent"
    parallel = (flags["parallel_max"] or PARALLEL_MAX) if flags["parallel"] else 0

    def sink_for(index: int, url: URL):
        if targets[index] is not None:
            return FileSink(targets[index])
        return PrintSink(flags["body_only"])

    headers = [*options.plan.headers, *curl_headers(options.curl), *options.headers]

    with _capture(flags, urls) as frames:
        try:
            report_ = fetch_urls(
                urls,
                strategy,
                parallel,
                method=options.plan.method,
                headers=headers,
                options=options.connection,
                sink_for=sink_for,
            )
        except RawHTTPError as error:
            report(error)
            return error.exit_code
        except KeyboardInterrupt:
            click.echo("rawhttp: interrupted", err=True)
            return EXIT_INTERRUPTED
    if flags["verbose"]:
        _summary(report_)
    if flags["timeline"]:
        from rawhttp.show.timeline import write_timeline

        try:
            write_timeline(flags["timeline"], report_, frames, title=_title(urls))
        except RawHTTPError as error:
            report(error)
            return error.exit_code
    return _exit_code(report_.fetches, options)


def _title(urls: list[URL]) -> str:
    more = f" and {len(urls) - 1} more URL(s)" if len(urls) > 1 else ""
    return f"{urls[0]}{more}"


def _exit_code(fetches: list[Fetch], options) -> int:
    code = 0
    for fetch in fetches:
        error = fetch.error
        if error is None and options.fail and fetch.head and fetch.head.status >= 400:
            error = HTTPStatusError(f"{fetch.url}: the server answered {fetch.head.status}")
        if error is not None:
            if not options.silent or options.show_error:
                report(error)
            code = code or error.exit_code
    return code


def _summary(result) -> None:
    """-v: a line per fetch (its connection, status, size, times) and per connection."""
    start = result.started
    for fetch in result.fetches:
        if fetch.ok and fetch.head is not None:
            took = (fetch.done_at - fetch.sent_at) * 1000
            what = f"{fetch.head.status} {fetch.head.reason}, {fetch.body_size} bytes"
            when = f"sent at {(fetch.sent_at - start) * 1000:.1f} ms, answered in {took:.1f} ms"
            click.echo(f"* {fetch.url.target} on connection {fetch.lane}: {what}, {when}", err=True)
    for lane in result.lanes:
        count = len(lane.fetches)
        click.echo(f"* connection {lane.number} to {lane.server}: {count} request(s)", err=True)
    click.echo(
        f"* {len(result.fetches)} URL(s) on {len(result.lanes)} connection(s) in "
        f"{result.elapsed * 1000:.1f} ms",
        err=True,
    )


@contextlib.contextmanager
def _capture(flags: dict, urls: list[URL]):
    """--packets with --timeline: the TCP segments of the first URL's server port."""
    if not flags["packets"]:
        yield None
        return
    from rawhttp.tcp.capture import Capture, interface_for

    try:
        capture = Capture(interface_for(urls[0].host), urls[0].port)
    except RawHTTPError as error:
        report(error)
        sys.exit(2)
    frames: list = []
    try:
        yield frames
    finally:
        capture.stop()
        capture.join()
        frames.extend(capture.frames)
