"""`rawhttp lesson page-load`: Kurose and Ross's page-load exercise, measured.

A base HTML page references N objects. With a round-trip time RTT and transmission times
neglected, the textbook (chapter 2) predicts the time to fetch it all:

    non-persistent          2 RTT per object: 2 + 2N          (handshake + request, each time)
    persistent              1 RTT per object: 2 + N           (the handshake once)
    pipelined               about 1 RTT for all: 2 + 1
    parallel non-persistent P connections at once: 2 + 2 * ceil(N / P)
    parallel persistent     the page's connection is reused at once, P - 1 more need a
                            handshake first: 2 + 1 + ceil((N - 1) / P)

This module fetches `samples/site/pageload/` (ten images, two stylesheets) with each strategy
(`fetch/strategies.py`) across an emulated round-trip time, and sets the measured time, in
RTTs, beside the prediction. The RTT is real when run as root: client and server in network
namespaces joined by a delay line (`delayline.py`), the kernel's TCP on both ends. Otherwise
`serve --latency` holds each answer back on the server's side: an approximation, which the
lesson says it used.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

from rawhttp.dial import Options
from rawhttp.errors import LessonUnavailable, NamespaceUnavailable
from rawhttp.fetch.strategies import Report, fetch_page
from rawhttp.url import URL, parse_url

# The round-trip time emulated when --rtt is not given: a continent away.
DEFAULT_RTT_MS = 50.0
# Connections a browser opens to one host at once (Chrome, Firefox and Safari: 6).
PARALLEL = 6
# The lesson's page, under samples/site.
SAMPLE_FOLDER = "pageload"
# The server inside its namespace listens on this port (the namespace is the lesson's own).
SERVER_PORT = 80
# Seconds the server is given to print its start-up line.
SERVER_START = 15.0
# TCP's initial congestion window (RFC 6928: 10 segments), in bytes for 1,448-byte segments:
# an answer larger than this needs more than one round trip to arrive (slow start).
INITIAL_WINDOW = 10 * 1448
# A measured count further than this from the textbook's is explained (the target).
TOLERANCE = 0.25


class Strategy(NamedTuple):
    label: str
    strategy: str
    parallel: int


STRATEGY_ROWS = [
    Strategy("non-persistent", "non-persistent", 0),
    Strategy("persistent", "persistent", 0),
    Strategy("pipelined", "pipelined", 0),
    Strategy(f"parallel x{PARALLEL}, non-persistent", "non-persistent", PARALLEL),
    Strategy(f"parallel x{PARALLEL}, persistent", "persistent", PARALLEL),
]


def predicted(strategy: str, parallel: int, n: int) -> tuple[float, str]:
    """The textbook's round trips for a page with `n` objects, and the formula."""
    if parallel and strategy == "non-persistent":
        return 2 + 2 * math.ceil(n / parallel), "2+2*ceil(N/P)"
    if parallel and strategy == "persistent":
        return 3 + math.ceil((n - 1) / parallel), "3+ceil((N-1)/P)"
    if strategy == "non-persistent":
        return 2 + 2 * n, "2+2N"
    if strategy == "persistent":
        return 2 + n, "2+N"
    return 3, "2+1"


class Row(NamedTuple):
    label: str
    objects: int
    connections: int
    predicted: float
    formula: str
    measured: float  # round trips: the whole time divided by the RTT
    elapsed: float  # seconds
    failed: int
    largest: int  # bytes of the largest answer body


def row(choice: Strategy, report: Report, rtt: float) -> Row:
    n = len(report.fetches) - 1
    expected, formula = predicted(choice.strategy, choice.parallel, n)
    return Row(
        choice.label,
        n,
        sum(1 for lane in report.lanes if lane.connected_at is not None),
        expected,
        formula,
        report.elapsed / rtt,
        report.elapsed,
        len(report.failed),
        max((fetch.body_size for fetch in report.fetches), default=0),
    )


def sample_objects(root: str) -> list[str]:
    """The page's objects: every file in the lesson's folder but the page itself, sorted."""
    folder = os.path.join(root, SAMPLE_FOLDER)
    return sorted(name for name in os.listdir(folder) if name != "index.html")


def measure(
    page: URL,
    objects: list[URL] | Callable[[bytes, URL], list[URL]],
    rtt: float,
    choices: list[Strategy] = STRATEGY_ROWS,
    options: Options | None = None,
) -> list[Row]:
    """Fetch the page with each strategy in turn; one Row each."""
    rows = []
    for choice in choices:
        report = fetch_page(page, objects, choice.strategy, choice.parallel, options=options)
        rows.append(row(choice, report, rtt))
    return rows


def table(rows: list[Row], parallel: int = PARALLEL) -> list[str]:
    """The lesson's table, one line per strategy."""
    head = (
        f"{'strategy':<30} {'objects':>7} {'conns':>5}  {'textbook RTTs':<20} "
        f"{'measured RTTs':>13} {'total ms':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        book = f"{r.formula} = {r.predicted:g}"
        failed = f"  ({r.failed} failed)" if r.failed else ""
        lines.append(
            f"{r.label:<30} {'1+' + str(r.objects):>7} {r.connections:>5}  {book:<20} "
            f"{r.measured:>13.1f} {r.elapsed * 1000:>9.0f}{failed}"
        )
    lines.append(f"(N = {rows[0].objects} objects besides the page, P = {parallel} connections)")
    return lines


def differences(rows: list[Row], rtt: float, how: str) -> list[str]:
    """Where measured and textbook differ by more than TOLERANCE, and the usual reasons."""
    lines = []
    for r in rows:
        off = (r.measured - r.predicted) / r.predicted
        if abs(off) > TOLERANCE:
            lines.append(f"{r.label}: {r.measured:.1f} RTTs, {off:+.0%} from the textbook's")
    if not lines:
        lines.append(f"Every strategy is within {TOLERANCE:.0%} of the textbook's count.")
    extra = [(r.elapsed - r.predicted * rtt) / (r.objects + 1) for r in rows]
    per_request = sum(extra) / len(extra) * 1000
    largest = max(r.largest for r in rows)
    lines += [
        "Why measured and textbook differ:",
        f"- The textbook counts round trips only. Each request also costs the client's and the "
        f"server's own time: here about {per_request:.1f} ms per request on average "
        "((total - textbook x RTT) / requests).",
        f"- Slow start: an answer larger than TCP's initial window (10 segments, about "
        f"{INITIAL_WINDOW // 1000} KB) needs more round trips. The largest object here is "
        f"{largest} bytes: "
        + ("none needs more than one." if largest <= INITIAL_WINDOW else "it does."),
        "- Nagle's algorithm: rawhttp sets TCP_NODELAY and sends each request in one write, so "
        "no small segment waits for the server's delayed ACK (up to 40 ms on Linux); a client "
        "writing its head in two pieces without TCP_NODELAY can lose that much per request.",
    ]
    if "latency" in how:
        lines.append(
            "- serve --latency only holds answers back on the server: handshakes cost no "
            "time of their own (the server adds one RTT to a connection's first answer "
            "instead) and no segment is delayed, so slow start cannot show."
        )
    return lines


# --- the emulated network ---------------------------------------------------------------------


@contextlib.contextmanager
def emulated(root: str, rtt: float, allow_namespaces: bool = True) -> Iterator[tuple]:
    """A server for `root` across an emulated `rtt`: yields (base URL, how it is emulated,
    a context manager to run the client in). Namespaces and a delay line when it can, else
    `serve --latency` in this process (and `how` says why)."""
    why = "--server-latency asked for"
    if allow_namespaces:
        from rawhttp.lessons.delayline import DelayLine

        try:
            with DelayLine(rtt) as line, _namespace_server(line, root) as url:
                how = (
                    f"network namespaces and a delay line (every packet waits "
                    f"{rtt * 500:g} ms each way)"
                )
                yield url, how, line.client
            return
        except NamespaceUnavailable as error:
            why = f"no network namespaces here: {error}"
    from rawhttp.server import Server

    with Server(root, latency=rtt, log=lambda line: None) as server:
        how = f"serve --latency {rtt * 1000:g} (an approximation; {why})"
        yield server.url, how, contextlib.nullcontext


@contextlib.contextmanager
def _namespace_server(line, root: str) -> Iterator[str]:
    """`rawhttp serve ROOT` inside the server's namespace, until the block ends."""
    from rawhttp.lessons.delayline import SERVER_ADDRESS

    args = ["serve", root, "--host", SERVER_ADDRESS, "--port", str(SERVER_PORT)]
    server = subprocess.Popen(
        line.server_command(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        ready, _, _ = select.select([server.stdout], [], [], SERVER_START)
        if not ready or not server.stdout.readline().startswith("Serving"):
            raise NamespaceUnavailable("the server did not start inside its namespace")
        yield f"http://{SERVER_ADDRESS}:{SERVER_PORT}"
    finally:
        server.terminate()
        try:
            server.wait(SERVER_START)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()


def measured_rtt(url: URL, tries: int = 3) -> float:
    """A real page's RTT: the fastest of a few TCP handshakes (one round trip each)."""
    import socket

    from rawhttp.dial import resolve

    family, sockaddr = resolve(url, Options(), lambda event: None)[0]
    best = math.inf
    for _ in range(tries):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            started = time.perf_counter()
            sock.connect(sockaddr)
            best = min(best, time.perf_counter() - started)
    return best


def find_objects() -> Callable[[bytes, URL], list[URL]]:
    """The page-requisites finder, for a page given by URL."""
    try:
        from rawhttp.fetch.requisites import find
    except ImportError:
        raise LessonUnavailable(
            "finding a page's objects needs rawhttp/fetch/requisites.py (page requisites); "
            "without a URL the lesson fetches its own sample page"
        ) from None
    return find


def run_sample(root: str, rtt: float, echo: Callable[[str], None], namespaces: bool = True):
    """The whole lesson on the sample page: emulate, measure, print; the rows."""
    names = sample_objects(root)
    with emulated(root, rtt, namespaces) as (base, how, client):
        echo(f"page-load: a {rtt * 1000:g} ms round-trip time, emulated by {how}")
        page = parse_url(f"{base}/{SAMPLE_FOLDER}/index.html")
        objects = [parse_url(f"{base}/{SAMPLE_FOLDER}/{name}") for name in names]
        echo(f"page: {page} and its {len(objects)} objects ({', '.join(names)})")
        with client():
            rows = measure(page, objects, rtt)
    _print(rows, rtt, how, echo)
    return rows


def run_url(url: URL, echo: Callable[[str], None]) -> list[Row]:
    """The lesson on any page: its real RTT (a handshake's time), its objects as found."""
    find = find_objects()
    rtt = measured_rtt(url)
    how = "the real network (RTT: the fastest of 3 TCP handshakes)"
    echo(f"page-load: {url}, round-trip time {rtt * 1000:.2f} ms, measured by {how}")
    rows = measure(url, find, rtt)
    _print(rows, rtt, how, echo)
    return rows


def _print(rows: list[Row], rtt: float, how: str, echo: Callable[[str], None]) -> None:
    echo("")
    for line in table(rows):
        echo(line)
    echo("")
    for line in differences(rows, rtt, how):
        echo(line)
