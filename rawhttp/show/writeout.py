"""`-w/--write-out FORMAT`: curl's variables about the finished transfer, on stdout.

Scripts written for curl read these, so the names, the formats and the JSON keys are curl's
(docs/cmdline-opts/write-out.md, checked against curl 7.88 in tests/test_writeout.py):
`%{http_code}` as three digits, times as seconds with six decimals counted from the start of
the transfer (redirect hops included), `%{json}` with every variable and `%{header_json}` with
the last response's fields, `%header{name}` (its first value, as curl), `%output{FILE}`
(`%output{>>FILE}` appends) and `%{stderr}`/`%{stdout}` to move what follows,
`\\n \\r \\t \\\\` and `%%`. An unknown variable is left out with a warning, as curl does.
The format is printed after the transfer, on success or failure (then with `%{exitcode}` and
`%{errormsg}`). `-w @FILE` reads the format from FILE (`@-`: stdin), bounded by
MAX_FORMAT_BYTES. With -o or -O, stdout is the format's alone (show.head_to_stdout).

Where rawhttp differs on purpose: `%{json}` has no `curl_version` (this is not libcurl) and
leaves out the FTP, certificate-count and proxy fields rawhttp has no value for.
The figures are read off the same events as every view.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import BinaryIO

from rawhttp import events
from rawhttp.errors import InputError, OutputError, RawHTTPError

# -w @FILE: a format is a line or a page; curl reads any size, but `-w @/dev/zero` must not
# fill memory, so past this many bytes the format is refused (exit 26).
MAX_FORMAT_BYTES = 1024 * 1024

# %{name}, %header{name}, %output{file}, %%, and the backslash escapes, as curl's tokenizer.
_TOKEN_RE = re.compile(r"%\{([^}]*)\}|%(header|output)\{([^}]*)\}|%%|\\[nrt\\]")
_ESCAPES = {"\\n": "\n", "\\r": "\r", "\\t": "\t", "\\\\": "\\", "%%": "%"}
_TIMES = (
    "time_namelookup",
    "time_connect",
    "time_appconnect",
    "time_pretransfer",
    "time_redirect",
    "time_starttransfer",
    "time_total",
)


def read_format(spec: str) -> str:
    """`-w` as given, or the text of `@FILE` (`@-`: stdin), at most MAX_FORMAT_BYTES."""
    if not spec.startswith("@"):
        return spec
    path = spec[1:]
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_FORMAT_BYTES + 1)
        else:
            with open(path, "rb") as file:
                data = file.read(MAX_FORMAT_BYTES + 1)
    except OSError as error:
        raise InputError(f"cannot read the -w format from {path}: {error.strerror}") from None
    if len(data) > MAX_FORMAT_BYTES:
        raise InputError(f"the -w format in {path} is over {MAX_FORMAT_BYTES} bytes")
    return data.decode("utf-8", "surrogateescape")


class WriteOut:
    """A listener that keeps the figures of one URL's transfer (all its hops); `finish()` or
    `error()` prints the format."""

    def __init__(self, form: str, target: str | None = None) -> None:
        self.form = form
        self.target = target
        self.start: float | None = None
        self.url = ""
        self.url_effective = ""
        self.method = "GET"
        self.at: dict[str, float] = {}
        self.head = None
        self.local: tuple = ("", 0)
        self.remote: tuple = ("", 0)
        self.scheme: str | None = None
        self.counts = {"num_connects": 0, "num_redirects": 0, "size_header": 0}
        self.counts |= {"size_request": 0, "size_upload": 0, "size_download": 0}
        self.exitcode = 0
        self.errormsg: str | None = None

    def __call__(self, event: events.Event) -> None:
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is not None:
            handler(event)

    def _on_RequestStarted(self, event: events.RequestStarted) -> None:
        if self.start is None:
            self.start, self.url = event.at, event.url
        else:  # a redirect hop: what came before it is time_redirect
            self.at = {"time_redirect": event.at}
        self.url_effective, self.method = event.url, event.method
        self.scheme = event.url.partition("://")[0].upper() or None

    def _on_Resolved(self, event: events.Resolved) -> None:
        self.at["time_namelookup"] = event.at

    def _on_Connected(self, event: events.Connected) -> None:
        self.at["time_connect"] = event.at
        self.local, self.remote = event.local, event.remote
        self.counts["num_connects"] += 1

    def _on_Reused(self, event: events.Reused) -> None:
        self.remote = event.remote

    def _on_TLSEstablished(self, event: events.TLSEstablished) -> None:
        self.at["time_appconnect"] = event.at

    def _on_RequestHeadSent(self, event: events.RequestHeadSent) -> None:
        self.at.setdefault("time_pretransfer", event.at)
        self.counts["size_request"] += len(event.data)

    def _on_RequestBodySent(self, event: events.RequestBodySent) -> None:
        self.counts["size_upload"] += len(event.data)

    def _on_Received(self, event: events.Received) -> None:
        self.at.setdefault("time_starttransfer", event.at)

    def _on_HeadReceived(self, event: events.HeadReceived) -> None:
        self.head = event.head
        self.counts["size_header"] += len(event.head.raw)

    def _on_Redirecting(self, event: events.Redirecting) -> None:
        self.counts["num_redirects"] += 1

    def _on_BodyDone(self, event: events.BodyDone) -> None:
        self.counts["size_download"] = event.received
        self.at["time_total"] = event.at

    def variables(self) -> dict[str, object]:
        """Every variable rawhttp has, by curl's name (None: curl's null)."""
        values: dict[str, object] = dict(self.counts)
        values.update(self._times())
        head = self.head
        code = head.status if head is not None else 0
        values.update(
            http_code=code,
            response_code=code,
            http_version=_version(head.http_version) if head is not None else "0",
            content_type=head.headers.get("Content-Type") if head is not None else None,
            num_headers=len(head.headers.items()) if head is not None else 0,
            redirect_url=self._redirect_url(),
            url=self.url,
            url_effective=self.url_effective,
            method=self.method,
            scheme=self.scheme,
            filename_effective=self.target,
            local_ip=self.local[0],
            local_port=self.local[1],
            remote_ip=self.remote[0],
            remote_port=self.remote[1],
            exitcode=self.exitcode,
            errormsg=self.errormsg,
            speed_upload=0,
        )
        total = values["time_total"]
        values["speed_download"] = int(self.counts["size_download"] / total) if total else 0
        values["speed_upload"] = int(self.counts["size_upload"] / total) if total else 0
        return values

    def _times(self) -> dict[str, float]:
        """Seconds from the start to each step; after a response, a step not taken (no DNS
        for an address, a reused connection) takes no time, so the times never go back."""
        start = self.start if self.start is not None else time.perf_counter()
        times = {name: max(0.0, self.at[name] - start) for name in _TIMES if name in self.at}
        times.setdefault("time_total", max(0.0, time.perf_counter() - start))
        before = 0.0
        for name in ("time_namelookup", "time_connect", "time_pretransfer", "time_starttransfer"):
            times.setdefault(name, before if self.head is not None else 0.0)
            before = max(before, times[name])
        return {name: times.get(name, 0.0) for name in _TIMES}

    def _redirect_url(self) -> str | None:
        head = self.head
        location = head.headers.get("Location") if head is not None else None
        if location is None or not 300 <= head.status < 400:
            return None
        from rawhttp.url import parse_url, resolve_location

        try:
            return str(resolve_location(parse_url(self.url_effective), location))
        except RawHTTPError:
            return None

    def header_json(self) -> str:
        """`%{header_json}`: the last response's fields, names lowercased, values in lists."""
        fields: dict[str, list[str]] = {}
        for name, value in self.head.headers.items() if self.head is not None else ():
            fields.setdefault(name.lower(), []).append(value)
        body = ",\n".join(
            f"{json.dumps(name)}:{json.dumps(values)}" for name, values in fields.items()
        )
        return "{" + body + "\n}"

    def json(self) -> str:
        """`%{json}`: every variable as one JSON object, keys sorted as curl writes them."""
        values = self.variables()
        return "{" + ",".join(f"{json.dumps(k)}:{_json(values[k])}" for k in sorted(values)) + "}"

    def render(self) -> list[tuple[str, str]]:
        """The format, expanded: (destination, text) pieces; a destination is "stdout",
        "stderr" or ">FILE"/">>FILE" (curl's %output)."""
        values = self.variables()
        pieces: list[tuple[str, str]] = []
        where = "stdout"
        position = 0
        for match in _TOKEN_RE.finditer(self.form):
            pieces.append((where, self.form[position : match.start()]))
            position = match.end()
            text, name = match.group(0), match.group(1)
            if text in _ESCAPES:
                pieces.append((where, _ESCAPES[text]))
            elif match.group(2) == "output":
                file = match.group(3)
                where = file if file.startswith(">>") else ">" + file
            elif match.group(2) == "header":
                found = self.head.headers.get_all(match.group(3)) if self.head else []
                pieces.append((where, found[0] if found else ""))  # the first, as curl
            elif name in ("stdout", "stderr"):
                where = name
            else:
                pieces.append((where, self._variable(name, values)))
        pieces.append((where, self.form[position:]))
        return [piece for piece in pieces if piece[1]]

    def _variable(self, name: str, values: dict[str, object]) -> str:
        if name == "json":
            return self.json()
        if name == "header_json":
            return self.header_json()
        if name not in values:
            print(f"rawhttp: warning: unknown --write-out variable: {name!r}", file=sys.stderr)
            return ""
        value = values[name]
        if name in ("http_code", "response_code"):
            return f"{value:03d}"
        return _text(value)

    def finish(self) -> None:
        self._print()

    def error(self, error: RawHTTPError) -> None:
        self.exitcode, self.errormsg = error.exit_code, str(error)
        self._print()

    def _print(self) -> None:
        files: dict[str, BinaryIO] = {}
        try:
            for where, text in self.render():
                _write(_stream(where, files), text.encode("utf-8", "surrogateescape"))
        finally:
            for file in files.values():
                file.close()
        self.__init__(self.form, self.target)


def _stream(where: str, files: dict[str, BinaryIO]) -> BinaryIO:
    if where == "stdout":
        return sys.stdout.buffer
    if where == "stderr":
        return sys.stderr.buffer
    if where not in files:
        path = where.lstrip(">")
        try:
            files[where] = open(path, "ab" if where.startswith(">>") else "wb")  # noqa: SIM115
        except OSError as error:
            raise OutputError(f"cannot write -w's %output to {path}: {error.strerror}") from None
    return files[where]


def _write(stream: BinaryIO, data: bytes) -> None:
    from rawhttp.sinks import write_stream

    write_stream(stream, data)


def _version(http_version: str) -> str:
    """HTTP/1.1 -> "1.1", HTTP/1.0 -> "1" (curl's %{http_version})."""
    number = http_version.partition("/")[2]
    return "1" if number == "1.0" else number


def _text(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def _json(value: object) -> str:
    return f"{value:.6f}" if isinstance(value, float) else json.dumps(value)
