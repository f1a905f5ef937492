"""`rawhttp serve --echo`: answer a request with the exact bytes it arrived as.

For a browser, an HTML page in the server's style (pages.py): the request line, the header
fields in a table, the form fields it carried (a query, an urlencoded or a multipart body), and
below them every byte received, line by line with its offset and its CR LF made visible. For
`Accept: text/plain` or curl and rawhttp (whose users are in a terminal), the same as plain
text. Lessons use it to show what a
form submission or a request body looks like on the wire.

The page is bounded whatever the request: its first ECHO_SHOWN bytes are shown (the page says
so when there were more), the form table parses at most ECHO_FORM_BODY bytes of the body and
lists ECHO_FIELDS fields, and multipart bodies are split one level deep by hand (the `email`
parser recursed into nested parts: 5,000 levels were a RecursionError). Before these bounds a
1 MiB body of line feeds made a 65 MB page, built in 1.8 s with the event loop blocked.
"""

from __future__ import annotations

import html
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from rawhttp.server.exchange import Exchange
from rawhttp.server.handler import Handler
from rawhttp.server.pages import html_page
from rawhttp.wire import Headers

# The largest request body the echo takes (413 past it, as for any body read and dropped).
MAX_ECHO_BODY = 1024 * 1024
# Bytes of a request shown on the page, head included: each byte may become 4 characters and
# each line a row of markup, so this bounds the page (under 1 MiB at worst) and the time it
# takes to build (under 10 ms for 8 KiB of line feeds, the worst case).
ECHO_SHOWN = 8 * 1024
# Bytes of the body kept to list its form fields (freed once the page is made), and the fields
# listed, each value cut at ECHO_VALUE characters.
ECHO_FORM_BODY = 256 * 1024
ECHO_FIELDS = 200
ECHO_VALUE = 1000
TERMINAL_AGENTS = ("curl/", "rawhttp/", "Wget/", "HTTPie/")


class BodyInMemory:
    """Where the echo keeps a request body: its first ECHO_FORM_BODY bytes, and their count."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.size = 0

    def write(self, piece: bytes | memoryview) -> None:
        room = ECHO_FORM_BODY - len(self.data)
        if room > 0:
            self.data += piece[:room]
        self.size += len(piece)

    def discard(self) -> None:
        self.data = bytearray()


class Echo(Handler):
    """The handler: any method, any path, answered 200 with what was received."""

    keeps_request = ECHO_SHOWN

    def body_limit(self, exchange: Exchange) -> int:
        return MAX_ECHO_BODY

    def open_body(self, exchange: Exchange) -> BodyInMemory:
        return BodyInMemory()

    def __call__(self, exchange: Exchange) -> None:
        body = bytes(exchange.sink.data) if exchange.sink is not None else b""
        exchange.sink = None  # the body is not kept while the page is sent
        if wants_text(exchange.request.headers):
            page = plain_echo(exchange.raw, exchange.raw_size)
            kind = "text/plain; charset=utf-8"
        else:
            page, kind = html_echo(exchange, body), "text/html; charset=utf-8"
        fields = Headers([("Content-Type", kind), ("Content-Length", str(len(page)))])
        fields.add("Cache-Control", "no-store")
        exchange.send_head(200, fields)
        exchange.send_body(page)


def wants_text(headers: Headers) -> bool:
    """Plain text for terminals: asked for by Accept, or a command-line client's User-Agent."""
    accept = headers.get("Accept") or ""
    if "text/plain" in accept and "text/html" not in accept:
        return True
    return (headers.get("User-Agent") or "").startswith(TERMINAL_AGENTS) and "html" not in accept


def visible_lines(raw: bytes) -> list[tuple[int, str]]:
    """(offset, text) per line of `raw`, CR and LF shown as \\r and \\n, other control bytes
    and non-ASCII as \\xNN, so every byte can be counted."""
    lines, offset = [], 0
    for line in raw.splitlines(keepends=True):
        lines.append((offset, show_bytes(line)))
        offset += len(line)
    return lines


def _shown(byte: int) -> str:
    if byte == 0x0D:
        return "\\r"
    if byte == 0x0A:
        return "\\n"
    return chr(byte) if 0x20 <= byte < 0x7F and byte != 0x5C else f"\\x{byte:02x}"


# How each byte value is shown, looked up rather than worked out byte by byte (5x faster).
_SHOWN = [_shown(byte) for byte in range(256)]


def show_bytes(data: bytes) -> str:
    return "".join(map(_SHOWN.__getitem__, data))


def cut_note(shown: int, size: int) -> str:
    """What the page says when it shows only the start of a request ("" when all of it)."""
    if size <= shown:
        return ""
    return f" (of {size} bytes received, the first {ECHO_SHOWN} bytes are shown)"


def plain_echo(raw: bytes, size: int | None = None) -> bytes:
    size = len(raw) if size is None else size
    width = len(str(len(raw)))
    lines = [f"{offset:>{width}}  {text}" for offset, text in visible_lines(raw)]
    summary = f"rawhttp echo: the {size} bytes of your request, as received"
    summary += cut_note(len(raw), size)
    return (summary + "\n\n" + "\n".join(lines) + "\n").encode()


def form_fields(exchange: Exchange, body: bytes) -> list[tuple[str, str]]:
    """What a form sent: the query, an urlencoded body, or a multipart body's parts."""
    fields = first_pairs(exchange.request.target.partition("?")[2])
    kind = (exchange.request.headers.get("Content-Type") or "").lower()
    if kind.startswith("application/x-www-form-urlencoded"):
        fields += first_pairs(body.decode("latin-1"))
    elif kind.startswith("multipart/form-data"):
        fields += multipart_fields(exchange.request.headers["Content-Type"], body)
    return fields


def first_pairs(query: str) -> list[tuple[str, str]]:
    """The first ECHO_FIELDS name=value pairs of a query (the rest is never parsed)."""
    return parse_qsl("&".join(query.split("&", ECHO_FIELDS)[:ECHO_FIELDS]), keep_blank_values=True)


def multipart_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """Each part as (name, value), a file part as (name, "filename (N bytes, type)"): the body
    split on its boundary one level deep (RFC 7578), never recursing into a nested multipart."""
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        return []
    fields = []
    for part in body.split(b"--" + boundary.encode("latin-1"))[1 : ECHO_FIELDS + 1]:
        if part.startswith(b"--"):
            break  # the close delimiter
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        fields_of = BytesHeaderParser(policy=HTTP).parsebytes(head + b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        name = fields_of.get_param("name", header="content-disposition") or "?"
        filename = fields_of.get_filename()
        if filename is not None:
            value = f"{filename} ({len(data)} bytes, {fields_of.get_content_type()})"
        else:
            value = data.decode("utf-8", "replace")
        fields.append((str(name), value))
    return fields


def table(pairs) -> str:
    rows = (
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_cut(v))}</td></tr>"
        for k, v in list(pairs)[:ECHO_FIELDS]
    )
    return "<table>" + "".join(rows) + "</table>"


def _cut(value: str) -> str:
    return value if len(value) <= ECHO_VALUE else value[:ECHO_VALUE] + "\u2026 (cut)"


def html_line(offset: int, text: str) -> str:
    """One received line: its offset, its text, and its line end marked in colour."""
    end = "\\r\\n" if text.endswith("\\r\\n") else "\\n" if text.endswith("\\n") else ""
    shown = html.escape(text[: len(text) - len(end)], quote=False)
    return f'<span class="off">{offset:>6}</span>  {shown}<span class="eol">{end}</span>'


def html_echo(exchange: Exchange, body: bytes) -> bytes:
    request = exchange.request
    escape = html.escape
    fields = form_fields(exchange, body)
    lines = "\n".join(html_line(offset, text) for offset, text in visible_lines(exchange.raw))
    parts = [
        f"<p><code>{escape(request.method)} {escape(request.target)} "
        f"{escape(request.http_version)}</code>: {exchange.raw_size} bytes received, "
        f"{len(request.raw)} of head and {exchange.raw_size - len(request.raw)} after it"
        f"{cut_note(len(exchange.raw), exchange.raw_size)}.</p>",
        f"<h2>Header fields</h2>\n{table(request.headers)}",
    ]
    if fields:
        parts.append(f"<h2>Form fields</h2>\n{table(fields)}")
    parts.append(f"<h2>The bytes, as received</h2>\n<pre>{lines}</pre>")
    return html_page(f"Echo: {request.method} {request.target}", "\n".join(parts), wide=True)
