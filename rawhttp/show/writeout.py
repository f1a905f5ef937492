"""`-w/--write-out FORMAT`: curl's variables about the finished transfer, on stdout.

`%{http_code}`, `%{size_download}`, `%{time_total}`, `%{time_connect}`, `%{url_effective}`,
`%{num_redirects}` (and `%{size_header}`, `%{remote_ip}`, `%{remote_port}`), with `\\n`, `\\t`
and `%%` as in curl; read off the same events as every view.
"""

from __future__ import annotations

import re
import sys

from rawhttp import events

_VARIABLE_RE = re.compile(r"%\{([a-z_]+)\}|%%|\\[nrt\\]")
_ESCAPES = {"\\n": "\n", "\\r": "\r", "\\t": "\t", "\\\\": "\\", "%%": "%"}


class WriteOut:
    """A listener that keeps the figures of the last request; `finish()` prints the format."""

    def __init__(self, form: str) -> None:
        self.form = form
        self.values: dict[str, object] = {"num_redirects": 0}
        self.start: float | None = None

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.RequestStarted):
            self.start = self.start if self.start is not None else event.at
            self.values["url_effective"] = event.url
        elif isinstance(event, events.Connected):
            self.values["time_connect"] = event.at - (self.start or event.at)
            self.values["remote_ip"], self.values["remote_port"] = event.remote
        elif isinstance(event, events.HeadReceived):
            self.values["http_code"] = event.head.status
            self._add("size_header", len(event.head.raw))
        elif isinstance(event, events.Redirecting):
            self._add("num_redirects", 1)
        elif isinstance(event, events.BodyDone):
            self.values["size_download"] = event.received
            self.values["time_total"] = event.at - (self.start or event.at)

    def _add(self, name: str, count: int) -> None:
        self.values[name] = int(self.values.get(name, 0)) + count  # type: ignore[call-overload]

    def render(self) -> str:
        def value(match: re.Match) -> str:
            text = match.group(0)
            if text in _ESCAPES:
                return _ESCAPES[text]
            found = self.values.get(match.group(1), 0 if match.group(1) != "url_effective" else "")
            return f"{found:.6f}" if isinstance(found, float) else str(found)

        return _VARIABLE_RE.sub(value, self.form)

    def finish(self) -> None:
        from rawhttp.sinks import write_stream

        write_stream(sys.stdout.buffer, self.render().encode())
        self.__init__(self.form)
