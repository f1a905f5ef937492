"""`rawhttp serve --echo`: answer a request with the exact bytes it arrived as.

For a browser, an HTML page in the server's style (pages.py): the request line, the header
fields in a table, the form fields it carried (a query, an urlencoded or a multipart body), and
below them every byte received, line by line with its offset and its CR LF made visible. For
`Accept: text/plain` or curl and rawhttp (whose users are in a terminal), the same as plain
text. Lessons use it to show what a
form submission or a request body looks like on the wire.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qsl

from rawhttp.server.exchange import Exchange
from rawhttp.server.pages import html_page
from rawhttp.wire import Headers

# The largest request body the echo keeps (it is shown whole, so it is kept in memory).
MAX_ECHO_BODY = 1024 * 1024
TERMINAL_AGENTS = ("curl/", "rawhttp/", "Wget/", "HTTPie/")


class BodyInMemory:
    """Where the echo keeps a request body: a bytearray (the body is at most MAX_ECHO_BODY)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, piece: bytes | memoryview) -> None:
        self.data += piece

    def discard(self) -> None:
        self.data = bytearray()


class Echo:
    """The handler: any method, any path, answered 200 with what was received."""

    keeps_request = True

    def body_limit(self, exchange: Exchange) -> int:
        return MAX_ECHO_BODY

    def open_body(self, exchange: Exchange) -> BodyInMemory:
        return BodyInMemory()

    def __call__(self, exchange: Exchange) -> None:
        assert exchange.request is not None
        body = bytes(exchange.sink.data) if exchange.sink is not None else b""
        if wants_text(exchange.request.headers):
            page, kind = plain_echo(exchange.raw), "text/plain; charset=utf-8"
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


def show_bytes(data: bytes) -> str:
    out = []
    for byte in data:
        if byte == 0x0D:
            out.append("\\r")
        elif byte == 0x0A:
            out.append("\\n")
        elif 0x20 <= byte < 0x7F and byte != 0x5C:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def plain_echo(raw: bytes) -> bytes:
    width = len(str(len(raw)))
    lines = [f"{offset:>{width}}  {text}" for offset, text in visible_lines(raw)]
    summary = f"rawhttp echo: the {len(raw)} bytes of your request, as received"
    return (summary + "\n\n" + "\n".join(lines) + "\n").encode()


def form_fields(exchange: Exchange, body: bytes) -> list[tuple[str, str]]:
    """What a form sent: the query, an urlencoded body, or a multipart body's parts."""
    assert exchange.request is not None
    fields = parse_qsl(exchange.request.target.partition("?")[2], keep_blank_values=True)
    kind = (exchange.request.headers.get("Content-Type") or "").lower()
    if kind.startswith("application/x-www-form-urlencoded"):
        fields += parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    elif kind.startswith("multipart/form-data"):
        fields += multipart_fields(exchange.request.headers["Content-Type"], body)
    return fields


def multipart_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """Each part as (name, value), a file part as (name, "filename (N bytes, type)")."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    fields = []
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition") or "?"
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            value = f"{filename} ({len(data)} bytes, {part.get_content_type()})"
        else:
            value = data.decode("utf-8", "replace")
        fields.append((str(name), value))
    return fields


def table(pairs) -> str:
    rows = (f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in pairs)
    return "<table>" + "".join(rows) + "</table>"


def html_line(offset: int, text: str) -> str:
    """One received line: its offset, its text, and its line end marked in colour."""
    end = next((end for end in ("\\r\\n", "\\n") if text.endswith(end)), "")
    shown = html.escape(text[: len(text) - len(end)])
    return f'<span class="off">{offset:>6}</span>  {shown}<span class="eol">{end}</span>'


def html_echo(exchange: Exchange, body: bytes) -> bytes:
    request = exchange.request
    assert request is not None
    escape = html.escape
    fields = form_fields(exchange, body)
    lines = "\n".join(html_line(offset, text) for offset, text in visible_lines(exchange.raw))
    parts = [
        f"<p><code>{escape(request.method)} {escape(request.target)} "
        f"{escape(request.http_version)}</code>: {len(exchange.raw)} bytes received, "
        f"{len(request.raw)} of head and {len(exchange.raw) - len(request.raw)} after it.</p>",
        f"<h2>Header fields</h2>\n{table(request.headers)}",
    ]
    if fields:
        parts.append(f"<h2>Form fields</h2>\n{table(fields)}")
    parts.append(f"<h2>The bytes, as received</h2>\n<pre>{lines}</pre>")
    return html_page(f"Echo: {request.method} {request.target}", "\n".join(parts), wide=True)
