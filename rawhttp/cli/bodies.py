"""`rawhttp get`'s body options, with curl's names and meanings, turned into what a request
sends: its method, its body (`rawhttp.request`), the fields the body needs (Content-Type,
Accept for --json) and, for -G, the query the data goes into instead.

| option | body | method | Content-Type |
| --- | --- | --- | --- |
| `-d/--data` (`@file` drops CR/LF, `@-` stdin) | values joined with `&` | POST | form-urlencoded |
| `--data-binary` (`@file` kept byte for byte) | same | POST | form-urlencoded |
| `--data-urlencode` (`n=text`, `n@file`) | percent-encoded, joined | POST | form-urlencoded |
| `--json` | the values, joined | POST | application/json (and Accept) |
| `-F/--form name=value`, `name=@file` | multipart/form-data built by hand | POST | multipart |
| `-T/--upload-file FILE` (`-` stdin, chunked) | streamed from the file | PUT | none |
| `-G/--get` | none: the data goes in the query | GET | none |
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

import click

from rawhttp import forms
from rawhttp.errors import InputError
from rawhttp.request import Body, BytesBody, StreamBody, file_body
from rawhttp.url import URL

DATA_OPTIONS = ("data", "data_binary", "data_urlencode", "json")
# The most an `@file` or `@-` of -d, --data-binary, --data-urlencode, --json or -F may hold: its
# bytes are held in memory to be sent (curl holds them too), so `-d @/dev/zero` must stop.
# A larger body streams from disk with -T FILE, at any size.
MAX_DATA = 64 * 1024 * 1024


class Plan(NamedTuple):
    """What the body options make of one request."""

    method: str
    body: Body | None
    headers: list[tuple[str, str]]  # sent before the user's -H, which may replace them
    query: str  # -G: appended to each URL's query

    @property
    def idempotent(self) -> bool:
        """Whether --retry may send it again (RFC 9110 section 9.2.2)."""
        from rawhttp.request import IDEMPOTENT

        return self.method in IDEMPOTENT and (self.body is None or self.body.replayable)


def plan(flags: dict) -> Plan:
    """The method, body and fields the flags describe (a usage error for conflicts)."""
    check_conflicts(flags)
    data, kind = data_body(flags)
    method = "HEAD" if flags["head_only"] else "GET"
    body: Body | None = None
    headers: list[tuple[str, str]] = []
    query = ""
    if data is not None and flags["get"]:
        query = data.decode("latin-1")
    elif data is not None:
        method, body = "POST", BytesBody(data, f"{len(data)} bytes of {kind}")
        headers.append(("Content-Type", kind))
        if flags["json"]:
            headers.append(("Accept", forms.JSON))
    elif flags["form"]:
        method, body, kind = ("POST", *form_body(flags["form"]))
        headers.append(("Content-Type", kind))
    elif flags["upload_file"]:
        method, body = "PUT", upload_body(flags["upload_file"])
    return Plan(flags["request"] or method, body, headers, query)


def check_conflicts(flags: dict) -> None:
    has_data = any(flags[name] for name in DATA_OPTIONS)
    has_body = has_data or flags["form"] or flags["upload_file"]
    if flags["head_only"] and has_body:
        raise click.UsageError("-I/--head sends no body: drop -d, -F or -T")
    if has_data and flags["form"]:
        raise click.UsageError("-d (form-urlencoded) and -F (multipart) cannot be mixed")
    if flags["upload_file"] and (has_data or flags["form"]):
        raise click.UsageError("-T uploads a file as the whole body: drop -d and -F")
    if flags["json"] and any(flags[name] for name in ("data", "data_binary", "data_urlencode")):
        raise click.UsageError("--json cannot be mixed with -d, --data-binary or --data-urlencode")
    if flags["get"] and (flags["form"] or flags["upload_file"]):
        raise click.UsageError("-G puts -d data in the query: it does not go with -F or -T")


def read(spec: str) -> bytes:
    """`@file` or `@-`, for the builders in rawhttp.forms, at most MAX_DATA bytes; a missing
    file, or one past the limit, is exit 26."""
    name = "standard input" if spec == "@-" else spec[1:]
    try:
        data = forms.read_source(spec, sys.stdin.buffer.read, MAX_DATA + 1)
    except OSError as error:
        raise InputError(f"cannot read {name}: {error.strerror or error}") from None
    if len(data) > MAX_DATA:
        raise InputError(
            f"{name} holds more than {MAX_DATA // (1024 * 1024)} MiB (MAX_DATA), more than a "
            "body kept in memory may: send a file that large with -T FILE (streamed)"
        )
    return data


def data_body(flags: dict) -> tuple[bytes | None, str]:
    """The -d/--data-binary/--data-urlencode/--json values as one body, in curl's order."""
    if flags["json"]:
        return b"".join(forms.data_part(v, read, binary=True) for v in flags["json"]), forms.JSON
    parts = [forms.data_part(v, read, binary=False) for v in flags["data"]]
    parts += [forms.data_part(v, read, binary=True) for v in flags["data_binary"]]
    parts += [forms.urlencode_part(v, read) for v in flags["data_urlencode"]]
    return (forms.joined(parts) if parts else None), forms.URLENCODED


def form_body(specs: tuple[str, ...]) -> tuple[Body, str]:
    try:
        fields = [forms.FormField(spec) for spec in specs]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'-F'") from None
    data, kind = forms.multipart(fields, read)
    return BytesBody(data, f"a {len(data)}-byte multipart form"), kind


def upload_body(path: str) -> Body:
    if path == "-":
        return StreamBody(sys.stdin.buffer)
    try:
        return file_body(path)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None


def with_query(url: URL, query: str, upload: str | None) -> URL:
    """-G's data appended to the URL's query; -T FILE to a URL ending in / names the file
    (curl's rules)."""
    target = url.target
    if upload and upload != "-" and target.split("?")[0].endswith("/"):
        path, sep, rest = target.partition("?")
        target = path + os.path.basename(upload) + sep + rest
    if query:
        from urllib.parse import quote

        # Data is sent as given (already encoded, as -d assumes), but a space or a control
        # character cannot stand in a request line: those are percent-encoded.
        target += ("&" if "?" in target else "?") + quote(query, safe="!$&'()*+,;=:@/?%-._~")
    return url._replace(target=target)
