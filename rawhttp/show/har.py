"""`--har FILE`: everything one command fetched as an HTTP Archive (HAR 1.2, the JSON that
browsers' network panels export and import, and HAR viewers and mitmproxy read).

One entry per request sent (a redirect hop too, with its `redirectURL`), in the order sent;
with `--page-requisites` one page per page, each entry pointing at its own (`pageref`).
Per entry: `startedDateTime` (ISO 8601, UTC, milliseconds), the request and response heads
with their fields in the order they were on the wire (`headersSize` the bytes of each head),
the body sizes, the content (text when it decodes as UTF-8 or its charset, else base64;
gzip and deflate undone, as the spec asks), `timings` in milliseconds (`blocked`, `dns`,
`connect` (which includes `ssl`, as HAR says), `ssl`, `send`, `wait`, `receive`; -1 for a
step that did not happen, such as DNS and connect on a kept connection), `serverIPAddress`,
and `connection`: the connection's number in the command (1, 2...), shared by the requests
that rode it. The figures come from `show.exchanges`, as the waterfall's do.

The HAR 1.2 spec: "HTTP Archive 1.2" by Jan Odvarko (softwareishard.com), mirrored in
ahmadnassri/har-spec; `tests/har-1.2.schema.json` is a JSON Schema written from it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

from rawhttp.errors import OutputError
from rawhttp.show.exchanges import Exchange, Exchanges
from rawhttp.version import __version__
from rawhttp.wire import parse_request_head

# Body bytes kept per entry for `content.text`: a larger body is recorded by size only (the
# spec makes text optional). Browsers keep whole bodies; this bounds the HAR's memory and size.
MAX_HAR_BODY = 16 * 1024 * 1024
# Timings' precision: HAR's are milliseconds; microseconds tell loopback requests apart.
DIGITS = 3


class Har:
    """A listener for the whole command; `page(url)` starts a page (its later requests are
    its entries), `close()` writes the file."""

    def __init__(self, path: str):
        self.path = path
        self.exchanges = Exchanges(keep_body=MAX_HAR_BODY)
        self.pages: list[tuple[str, str, int]] = []  # (id, url, index of its first entry)

    def __call__(self, event) -> None:
        self.exchanges(event)

    def error(self, error: Exception) -> None:
        self.exchanges.error(error)

    def page(self, url: object) -> None:
        """The requests from now on belong to the page at `url`."""
        self.pages.append((f"page_{len(self.pages) + 1}", str(url), len(self.exchanges.list)))

    def log(self) -> dict:
        """The HAR document, as a dict for json."""
        entries = [
            self._entry(index, exchange) for index, exchange in enumerate(self.exchanges.list)
        ]
        log: dict = {"version": "1.2", "creator": {"name": "rawhttp", "version": __version__}}
        if self.pages:
            log["pages"] = [self._page(number, entries) for number in range(len(self.pages))]
        log["entries"] = entries
        return {"log": log}

    def close(self) -> None:
        """Write the file (atomically: a `.part` renamed into place)."""
        part = self.path + ".part"
        try:
            with open(part, "w", encoding="utf-8") as file:
                json.dump(self.log(), file, indent=1, ensure_ascii=False)
                file.write("\n")
            os.replace(part, self.path)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(part)
            raise OutputError(f"cannot write the HAR to {self.path}: {error.strerror}") from None

    def _pageref(self, index: int) -> str | None:
        owner = None
        for page_id, _, first in self.pages:
            if first <= index:
                owner = page_id
        return owner

    def _page(self, number: int, entries: list[dict]) -> dict:
        page_id, url, first = self.pages[number]
        following = self.pages[number + 1][2] if number + 1 < len(self.pages) else len(entries)
        own = self.exchanges.list[first:following]
        start = own[0].start if own else None
        on_load = _ms(max(exchange.end for exchange in own) - start) if own else -1
        started = entries[first]["startedDateTime"] if own else _iso(datetime.now().timestamp())
        return {
            "startedDateTime": started,
            "id": page_id,
            "title": url,
            "pageTimings": {"onContentLoad": -1, "onLoad": on_load},
        }

    def _entry(self, index: int, exchange: Exchange) -> dict:
        timings = _timings(exchange)
        entry: dict = {}
        pageref = self._pageref(index)
        if pageref is not None:
            entry["pageref"] = pageref
        entry.update(
            startedDateTime=_iso(self.exchanges.wall_time(exchange.start)),
            time=round(
                sum(value for key, value in timings.items() if key != "ssl" and value > 0), DIGITS
            ),
            request=_request(exchange),
            response=_response(exchange),
            cache={},
            timings=timings,
        )
        if exchange.remote is not None:
            entry["serverIPAddress"] = exchange.remote[0]
        if exchange.connection is not None:
            entry["connection"] = str(exchange.connection)
        if exchange.error is not None:
            entry["comment"] = f"failed: {exchange.error}"
        return entry


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="milliseconds")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, DIGITS)


def _timings(exchange: Exchange) -> dict:
    """HAR's timings: each phase in ms, -1 where it did not happen; `connect` includes `ssl`."""
    spans = {name: _ms(end - start) for name, start, end in exchange.phases()}
    timings = {
        "blocked": spans.get("blocked", -1),
        "dns": spans.get("dns", -1),
        "connect": -1,
        "send": spans.get("send", 0.0),
        "wait": spans.get("wait", 0.0),
        "receive": spans.get("receive", 0.0),
        "ssl": spans.get("tls", -1),
    }
    if "connect" in spans:
        timings["connect"] = round(spans["connect"] + max(timings["ssl"], 0), DIGITS)
    return timings


def _pairs(headers) -> list[dict]:
    return [{"name": name, "value": value} for name, value in headers]


def _request(exchange: Exchange) -> dict:
    version, headers, size = "HTTP/1.1", [], -1
    if exchange.request_head:
        with contextlib.suppress(Exception):  # the client built it: it parses
            head = parse_request_head(exchange.request_head)
            version, headers, size = head.http_version, _pairs(head.headers), len(head.raw)
    query = urlsplit(exchange.url).query
    return {
        "method": exchange.method,
        "url": exchange.url,
        "httpVersion": version,
        "cookies": [],
        "headers": headers,
        "queryString": [
            {"name": k, "value": v} for k, v in parse_qsl(query, keep_blank_values=True)
        ],
        "headersSize": size,
        "bodySize": exchange.request_body_size if exchange.request_head else -1,
    }


def _response(exchange: Exchange) -> dict:
    head = exchange.head
    if head is None:  # no answer (a refused connection, a timeout): HAR still wants one
        return {
            "status": 0,
            "statusText": "",
            "httpVersion": "",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "_error": exchange.error or "no response",
        }
    return {
        "status": head.status,
        "statusText": head.reason,
        "httpVersion": head.http_version,
        "cookies": [],
        "headers": _pairs(head.headers),
        "content": _content(exchange),
        "redirectURL": head.headers.get("Location", "") or "",
        "headersSize": len(head.raw),
        "bodySize": exchange.body_size if exchange.body_size is not None else -1,
    }


def _content(exchange: Exchange) -> dict:
    """content: the body decoded (gzip, deflate), as text if it reads as such, else base64."""
    assert exchange.head is not None
    mime = exchange.head.headers.get("Content-Type", "") or "x-unknown"
    body = bytes(exchange.body or b"")
    content: dict = {"size": len(body), "mimeType": mime}
    if exchange.body is None:
        return content
    if exchange.body_cut:
        content["size"] = exchange.body_size or len(body)
        content["comment"] = f"body not kept: larger than MAX_HAR_BODY ({MAX_HAR_BODY} bytes)"
        return content
    decoded, note = _decoded(body, exchange.head.headers.get_list("Content-Encoding"))
    content["size"] = len(decoded)
    if len(decoded) != len(body):
        content["compression"] = len(decoded) - len(body)
    text = _as_text(decoded, mime)
    if text is None:
        content["text"], content["encoding"] = base64.b64encode(decoded).decode("ascii"), "base64"
    else:
        content["text"] = text
    if note:
        content["comment"] = note
    return content


def _decoded(body: bytes, codings: list[str]) -> tuple[bytes, str]:
    """The body with its Content-Encoding undone (the last applied first); a coding that
    cannot be undone leaves it as it came, with a note."""
    import zlib

    for coding in reversed([coding.lower() for coding in codings if coding.lower() != "identity"]):
        try:
            if coding in ("gzip", "x-gzip"):
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            elif coding == "deflate":
                try:
                    body = zlib.decompress(body)
                except zlib.error:
                    body = zlib.decompress(body, -zlib.MAX_WBITS)
            else:
                return body, f"Content-Encoding {coding} not undone: the bytes as received"
        except zlib.error:
            return body, f"corrupt {coding} body: the bytes as received"
    return body, ""


def _as_text(body: bytes, mime: str) -> str | None:
    """The body as text when its type is textual and it decodes (charset, else UTF-8)."""
    kind = mime.split(";")[0].strip().lower()
    textual = (
        kind.startswith("text/")
        or kind.endswith(("+xml", "+json", "/json", "/xml"))
        or kind
        in (
            "application/javascript",
            "application/x-www-form-urlencoded",
        )
    )
    if not textual:
        return None
    from rawhttp.wire import media_charset

    try:
        return body.decode(media_charset(mime))
    except (LookupError, UnicodeDecodeError):
        return None
