"""`--timeline FILE.html`: many transfers on one clock, as one self-contained HTML page.

Each connection is a lane: a thin line from connect() to close, its handshake shaded. Each
request is a bar on its connection's lane, from the moment it was sent: the light part is the
wait for the first byte of the answer, the dark part the answer arriving. Under each bar, the
bytes each way; a click on a bar shows the request and response heads, exactly as sent and
received. With `--packets`, the TCP segments of each connection are ticks under its lane, on
the same axis (SYN, FIN, RST, data each way, bare ACKs, retransmissions outlined).

The page has no external file and makes no request: styles, the little script and the data are
inline, every text escaped. It is drawn here, in Python, from a `fetch.strategies.Report` (and
the capture's `Frame`s); the script only shows the heads of the bar clicked.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable

from rawhttp.errors import OutputError
from rawhttp.tcp.segments import ACK, FIN, RST, SYN

# Lanes (connections) drawn; past it the page says how many were left out. A browser stays
# responsive with a few thousand positioned elements; -Z non-persistent over 1,000 URLs would
# make 1,000 lanes.
MAX_LANES = 300
# Pixels of one row of a lane: a bar (BAR_HEIGHT) and, under it, its bytes each way.
ROW_HEIGHT, BAR_HEIGHT = 34, 18
# Ticks wanted on the time axis (the step is rounded to 1, 2 or 5 times a power of ten).
AXIS_TICKS = 10

STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; background: #fff; }
h1 { font-size: 18px; margin: 0 0 4px; }
.summary { color: #555; margin: 0 0 12px; }
.chart { position: relative; margin-left: 230px; margin-right: 40px; }
.axis { position: relative; height: 22px; border-bottom: 1px solid #999; }
.tick { position: absolute; top: 0; font-size: 11px; color: #555; transform: translateX(-50%);
  white-space: nowrap; }
.tick::after { content: ""; position: absolute; left: 50%; top: 16px; height: 6px;
  border-left: 1px solid #999; }
.lane { position: relative; border-bottom: 1px solid #eee; }
.lane-label { position: absolute; left: -230px; width: 222px; top: 4px; font-size: 12px;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.lane-label small { display: block; color: #777; }
.track { position: relative; }
.wire { position: absolute; top: 9px; height: 2px; background: #bbb; }
.handshake { position: absolute; top: 5px; height: 10px; background: #ddd; border-radius: 2px; }
.bar { position: absolute; height: 18px; min-width: 3px; cursor: pointer;
  display: flex; border-radius: 3px; overflow: hidden; box-shadow: 0 0 0 1px #fff; }
.bar .wait { background: #9ec5f0; }
.bar .recv { background: #2f6fb5; flex: 1; }
.bar.failed .recv, .bar.failed .wait { background: #d9534f; }
.bar:hover, .bar.chosen { box-shadow: 0 0 0 2px #f0a020; }
.bar span.name { position: absolute; left: 4px; top: 1px; font-size: 11px; color: #0b2545;
  white-space: nowrap; pointer-events: none; }
.bytes { position: absolute; font-size: 10px; line-height: 12px; color: #666;
  white-space: nowrap; }
.segments { position: relative; height: 16px; }
.seg { position: absolute; top: 2px; width: 2px; height: 12px; background: #999; }
.seg.out { top: 1px; height: 6px; } .seg.in { top: 8px; height: 6px; }
.seg.data.out { background: #e08a1e; } .seg.data.in { background: #2f6fb5; }
.seg.syn { background: #3a9a3a; height: 14px; top: 1px; }
.seg.fin { background: #c0392b; height: 14px; top: 1px; }
.seg.rst { background: #000; height: 14px; top: 1px; width: 3px; }
.seg.retransmission { outline: 2px solid #d00; }
.legend { margin: 12px 0; color: #555; font-size: 12px; }
.legend i { display: inline-block; width: 14px; height: 10px; margin: 0 4px 0 12px;
  vertical-align: middle; }
#detail { margin-top: 16px; border-top: 1px solid #ccc; padding-top: 8px; }
#detail pre:empty { display: none; }
#detail pre { background: #f6f6f6; padding: 8px; overflow: auto; max-height: 40vh;
  white-space: pre-wrap; word-break: break-all; }
.heads { display: none; }
"""

SCRIPT = """
document.querySelectorAll('.bar').forEach(function (bar) {
  bar.addEventListener('click', function () {
    document.querySelectorAll('.bar.chosen').forEach(function (b) {
      b.classList.remove('chosen');
    });
    bar.classList.add('chosen');
    var heads = document.getElementById('heads-' + bar.dataset.fetch);
    document.getElementById('detail-title').textContent = bar.title;
    document.getElementById('detail-text').textContent = heads ? heads.textContent : '';
  });
});
"""


def _nice_step(span: float) -> float:
    """An axis step of 1, 2 or 5 times a power of ten giving about AXIS_TICKS ticks."""
    raw = max(span, 1e-6) / AXIS_TICKS
    power = 10 ** math.floor(math.log10(raw))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= raw)


def _size(count: int) -> str:
    return f"{count} B" if count < 10_000 else f"{count / 1024:.0f} KiB"


class _Clock:
    """Seconds on perf_counter's clock -> a percentage across the page's axis."""

    def __init__(self, start: float, end: float):
        self.start = start
        self.span = max(end - start, 1e-6)

    def x(self, at: float) -> float:
        return 100 * (at - self.start) / self.span

    def box(self, start: float, end: float) -> str:
        left = self.x(start)
        return f"left:{left:.3f}%;width:{max(self.x(end) - left, 0):.3f}%"


def render(report, frames: Iterable | None = None, title: str = "") -> str:
    """The whole page, as text."""
    frames = list(frames or [])
    lanes = report.lanes[:MAX_LANES]
    left_out = len(report.lanes) - len(lanes)
    times = [report.started, report.ended, *(frame.at for frame in frames)]
    clock = _Clock(min(times), max(times))
    fetches = {fetch.index: fetch for fetch in report.fetches}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>rawhttp timeline {html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>rawhttp timeline</h1>",
        f'<p class="summary">{html.escape(_summary(report, title))}</p>',
        '<div class="chart">',
        _axis(clock),
    ]
    for lane in lanes:
        mine = [fetches[index] for index in lane.fetches if index in fetches]
        parts.append(_lane(lane, mine, clock, _lane_frames(lane, frames)))
    parts.append("</div>")
    if left_out:
        parts.append(f"<p>{left_out} more connections not drawn (MAX_LANES = {MAX_LANES}).</p>")
    parts.append(_legend(bool(frames)))
    parts.append(
        '<div id="detail"><strong id="detail-title">Click a bar to see its request and '
        'response heads.</strong><pre id="detail-text"></pre></div>'
    )
    for fetch in report.fetches:
        parts.append(_heads(fetch))
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _summary(report, title: str) -> str:
    failed = len(report.failed)
    text = (
        f"{len(report.fetches)} request(s) on {len(report.lanes)} connection(s) in "
        f"{report.elapsed * 1000:.1f} ms" + (f", {failed} failed" if failed else "")
    )
    return f"{text}: {title}" if title else text


def _axis(clock: _Clock) -> str:
    span_ms = clock.span * 1000
    step = _nice_step(span_ms)
    ticks = []
    count = int(span_ms / step) + 1
    for n in range(count):
        ms = n * step
        label = f"{ms:g} ms"
        ticks.append(f'<span class="tick" style="left:{100 * ms / span_ms:.3f}%">{label}</span>')
    return f'<div class="axis">{"".join(ticks)}</div>'


def _lane(lane, fetches: list, clock: _Clock, frames: list) -> str:
    end = lane.closed_at or max((f.done_at or f.sent_at or 0 for f in fetches), default=0)
    end = max(end, lane.opened_at)
    ends = f"{_address(lane.local)} → {_address(lane.remote)}" if lane.local else lane.server
    label = (
        f'<div class="lane-label">connection {lane.number}, {len(fetches)} request(s)'
        f"<small>{html.escape(ends)}</small></div>"
    )
    track = [f'<div class="wire" style="{clock.box(lane.opened_at, end)}"></div>']
    if lane.connected_at is not None:
        track.append(
            f'<div class="handshake" title="TCP handshake" '
            f'style="{clock.box(lane.opened_at, lane.connected_at)}"></div>'
        )
    placed = _stack([fetch for fetch in fetches if fetch.sent_at is not None])
    for fetch, row in placed:
        track.append(_bar(fetch, clock, row))
        answer = _size(len(fetch.head.raw) + fetch.body_size) if fetch.head else "-"
        track.append(
            f'<span class="bytes" style="left:{clock.x(fetch.sent_at):.3f}%;'
            f'top:{row * ROW_HEIGHT + BAR_HEIGHT + 2}px">'
            f"↑{_size(len(fetch.request))} ↓{answer}</span>"
        )
    height = max(1, 1 + max((row for _, row in placed), default=0)) * ROW_HEIGHT
    rows = [label, f'<div class="track" style="height:{height}px">{"".join(track)}</div>']
    if frames:
        rows.append(_segments(lane, frames, clock))
    return f'<section class="lane" data-lane="{lane.number}">{"".join(rows)}</section>'


def _stack(fetches: list) -> list[tuple]:
    """(fetch, row): each bar on the first row of its lane free when it starts, so requests
    in flight together (pipelined) stand one under the other, as browsers draw them."""
    ends: list[float] = []
    placed = []
    for fetch in sorted(fetches, key=lambda fetch: fetch.sent_at):
        end = fetch.done_at or fetch.first_byte_at or fetch.sent_at
        row = next((n for n, last in enumerate(ends) if fetch.sent_at >= last), len(ends))
        if row == len(ends):
            ends.append(end)
        ends[row] = end
        placed.append((fetch, row))
    return placed


def _bar(fetch, clock: _Clock, row: int = 0) -> str:
    first = fetch.first_byte_at or fetch.done_at or fetch.sent_at
    done = fetch.done_at or first
    status = f"{fetch.head.status} {fetch.head.reason}" if fetch.head else str(fetch.error)
    took = (done - fetch.sent_at) * 1000
    name = fetch.url.target.rsplit("/", 1)[-1] or fetch.url.target
    tip = f"{fetch.method} {fetch.url.target} → {status} ({took:.1f} ms)"
    total = max(done - fetch.sent_at, 1e-9)
    wait = 100 * (first - fetch.sent_at) / total
    failed = " failed" if not fetch.ok else ""
    return (
        f'<div class="bar{failed}" data-fetch="{fetch.index}" title="{html.escape(tip)}" '
        f'style="{clock.box(fetch.sent_at, done)};top:{row * ROW_HEIGHT + 2}px">'
        f'<div class="wait" style="width:{wait:.1f}%"></div><div class="recv"></div>'
        f'<span class="name">{html.escape(name)}</span></div>'
    )


def _heads(fetch) -> str:
    request = fetch.request.decode("latin-1")
    answer = fetch.head.raw.decode("latin-1") if fetch.head else f"(no answer: {fetch.error})"
    text = f"{request}{answer}"
    return f'<pre class="heads" id="heads-{fetch.index}">{html.escape(text)}</pre>'


def _address(address) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _lane_frames(lane, frames: list) -> list:
    if lane.local is None:
        return []
    local = (lane.local[0], lane.local[1])
    return [
        frame
        for frame in frames
        if (frame.segment.src, frame.segment.sport) == local
        or (frame.segment.dst, frame.segment.dport) == local
    ]


def _segments(lane, frames: list, clock: _Clock) -> str:
    """A tick per segment: above the middle from the client, below from the server."""
    seen: set[tuple[str, int, int]] = set()
    ticks = []
    for frame in frames:
        s = frame.segment
        out = (s.src, s.sport) == (lane.local[0], lane.local[1])
        kind = _kind(s)
        key = (s.src, s.seq, s.payload)
        again = s.payload > 0 and key in seen
        seen.add(key)
        classes = f"seg {'out' if out else 'in'} {kind}" + (" retransmission" if again else "")
        tip = f"{'>' if out else '<'} {s.flag_names} len {s.payload}" + (
            " (retransmission)" if again else ""
        )
        ticks.append(
            f'<div class="{classes}" title="{html.escape(tip)}" '
            f'style="left:{clock.x(frame.at):.3f}%"></div>'
        )
    return f'<div class="segments">{"".join(ticks)}</div>'


def _kind(segment) -> str:
    if segment.flags & RST:
        return "rst"
    if segment.flags & SYN:
        return "syn"
    if segment.flags & FIN:
        return "fin"
    if segment.payload:
        return "data"
    return "ack" if segment.flags & ACK else "other"


def _legend(with_segments: bool) -> str:
    items = [
        ("#ddd", "TCP handshake"),
        ("#9ec5f0", "waiting for the first byte"),
        ("#2f6fb5", "answer arriving"),
        ("#d9534f", "failed"),
    ]
    if with_segments:
        items += [
            ("#3a9a3a", "SYN"),
            ("#e08a1e", "data to the server (upper ticks)"),
            ("#2f6fb5", "data to the client (lower ticks)"),
            ("#999", "bare ACK"),
            ("#c0392b", "FIN"),
        ]
    legend = "".join(f'<i style="background:{color}"></i>{text}' for color, text in items)
    return f'<p class="legend">{legend}. ↑ request bytes, ↓ answer bytes (head and body).</p>'


def write_timeline(path: str, report, frames: Iterable | None = None, title: str = "") -> None:
    """Write the page to `path` (OutputError if it cannot be written)."""
    page = render(report, frames, title)
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(page)
    except OSError as exc:
        raise OutputError(f"cannot write the timeline to {path}: {exc.strerror}") from None
