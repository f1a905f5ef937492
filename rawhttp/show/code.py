"""`--show-code`: the transfer's request as a short Python program that uses only `socket`.

The seed of a student's own client: the exact bytes rawhttp sent, sent again with
`create_connection` and `sendall` (with `ssl` for https, as -k and --cacert asked), then the
response read the way HTTP/1.1 frames it: the head up to its empty line, 1xx heads skipped,
and the body by Content-Length, by chunks, or until the server closes (RFC 9112 section 6.3).
The program handles all three; a comment says which one rawhttp's response used. When the
request offered codings (--compressed sends Accept-Encoding), the program undoes the body's
Content-Encoding (gzip, deflate) with zlib, as rawhttp does, so it shows the same bytes. It prints
the head and the body, or saves the body's exact bytes to the file named on its command line.
Through a proxy it connects to the proxy, and for a tunnel sends the CONNECT first.
"""

from __future__ import annotations

import os

from rawhttp import events
from rawhttp.url import URL, parse_url

TEMPLATE = '''\
#!/usr/bin/env python3
"""{method} {url} with nothing but a socket (written by rawhttp --show-code).

python3 this.py        prints the response head, then the body as text
python3 this.py FILE   prints the head and saves the body's exact bytes in FILE
"""
import socket
import sys{ssl_import}

HOST, PORT = {host!r}, {port}
METHOD = {method!r}
REQUEST = (
{request_lines}
)


def receive(sock, buffer):
    """One more recv() added to `buffer`; the server closing here cuts the response short."""
    data = sock.recv(65536)  # at most 64 KiB; TCP decides how much arrives per call
    if not data:
        sys.exit("the server closed the connection before the response was complete")
    return buffer + data


def read_head(sock, buffer):
    """Receive until the empty line that ends a head: (head, the bytes after it)."""
    while b"\\r\\n\\r\\n" not in buffer:
        buffer = receive(sock, buffer)
    head, _, rest = buffer.partition(b"\\r\\n\\r\\n")
    return head.decode("latin-1"), rest


def header_fields(head):
    """The head's fields as a dict, names lower-cased (a repeated field keeps its last value)."""
    fields = {{}}
    for line in head.split("\\r\\n")[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return fields


def read_length(sock, buffer, length):
    """Content-Length: exactly `length` bytes."""
    while len(buffer) < length:
        buffer = receive(sock, buffer)
    return buffer[:length]


def read_chunked(sock, buffer):
    """Transfer-Encoding: chunked: a size line in hex, that many bytes and CRLF, again and
    again; a size of 0 ends the body, then trailer fields until an empty line."""
    body = b""
    while True:
        while b"\\r\\n" not in buffer:
            buffer = receive(sock, buffer)
        line, _, buffer = buffer.partition(b"\\r\\n")
        size = int(line.split(b";")[0], 16)  # after ";" come chunk extensions
        if size == 0:
            break
        while len(buffer) < size + 2:
            buffer = receive(sock, buffer)
        body, buffer = body + buffer[:size], buffer[size + 2 :]
    while True:  # trailer fields, a line each, until an empty line
        while b"\\r\\n" not in buffer:
            buffer = receive(sock, buffer)
        line, _, buffer = buffer.partition(b"\\r\\n")
        if not line:
            return body


def read_until_close(sock, buffer):
    """No length and not chunked: the body is everything until the server closes."""
    while True:
        data = sock.recv(65536)
        if not data:  # 0 bytes: the server closed its side
            return buffer
        buffer += data


{decode_function}with socket.create_connection((HOST, PORT), timeout=10) as sock:{tunnel}{ssl_wrap}
    sock.sendall(REQUEST)  # the request head (and body), byte for byte
    head, rest = read_head(sock, b"")
    status = int(head.split(" ")[1])
    while 100 <= status < 200:  # 1xx interim answers: the final one follows
        head, rest = read_head(sock, rest)
        status = int(head.split(" ")[1])
    fields = header_fields(head)
    # rawhttp's response was framed by {framing}.
    if METHOD == "HEAD" or status in (204, 304):
        body = b""  # these responses never have a body
    elif "chunked" in fields.get("transfer-encoding", "").lower():
        body = read_chunked(sock, rest)
    elif "content-length" in fields:
        body = read_length(sock, rest, int(fields["content-length"]))
    else:
        body = read_until_close(sock, rest){decode_call}

print(head)
print()
if len(sys.argv) > 1:
    with open(sys.argv[1], "wb") as file:
        file.write(body)
else:
    print(body.decode("utf-8", "replace"))
'''

# With --compressed: Content-Encoding undone as rawhttp's sinks do (the last coding first).
DECODE_FUNCTION = '''def decode(body, codings):
    """Content-Encoding: gzip or deflate (zlib-wrapped, or raw as some servers send it),
    undone in the reverse of the order they were applied."""
    import zlib

    for coding in reversed([c.strip().lower() for c in codings.split(",") if c.strip()]):
        if coding in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            try:
                body = zlib.decompress(body)
            except zlib.error:
                body = zlib.decompress(body, -zlib.MAX_WBITS)
        elif coding != "identity":
            sys.exit("cannot undo the content coding " + coding)
    return body


'''
DECODE_CALL = """
    body = decode(body, fields.get("content-encoding", ""))  # --compressed: as rawhttp does"""

SSL_IMPORT = "\nimport ssl"
SSL_WRAP = "\n    context = ssl.create_default_context({cafile})"
SSL_INSECURE = (
    "\n    context.check_hostname = False  # -k: the certificate is not checked"
    "\n    context.verify_mode = ssl.CERT_NONE"
)
SSL_SOCKET = "\n    sock = context.wrap_socket(sock, server_hostname={origin!r})"
# Through a tunnel: the CONNECT first, and its answer's head (a 2xx has no body).
TUNNEL = """
    sock.sendall({connect!r})  # ask the proxy for a tunnel
    answer, _ = read_head(sock, b"")
    if not answer.split(" ")[1].startswith("2"):
        sys.exit("the proxy refused the tunnel: " + answer.split("\\r\\n")[0])"""

# How each framing is named in the program's comment.
FRAMINGS = {
    "none": "none (no body)",
    "length": "Content-Length",
    "chunked": "chunked transfer coding",
    "close": "the server's close",
}

# The most request bytes (head and body) a program embeds; a larger body is cut there.
MAX_EMBEDDED = 1024 * 1024


class ShowCode:
    """A listener that keeps the first request sent, head and body, and the framing of its
    answer; `program()` writes them out, with the TLS options given (-k, --cacert)."""

    def __init__(self, insecure: bool = False, cafile: str | None = None) -> None:
        self.insecure = insecure
        self.cafile = os.path.abspath(cafile) if cafile else None
        self.url: URL | None = None
        self.method = "GET"
        self.request: bytes | None = None
        self.framing = "close"
        self._requests = 0
        self.proxy: tuple[str, int] | None = None  # where the program connects instead
        self.connect: bytes | None = None  # the CONNECT request of a tunnel

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.RequestStarted):
            self._requests += 1
            if self.url is None:
                self.url, self.method = parse_url(event.url), event.method
        elif isinstance(event, events.ProxyChosen) and self._requests == 1:
            host, _, port = event.proxy.rpartition(":")
            self.proxy = (host.strip("[]"), int(port))
        elif isinstance(event, events.TunnelRequestSent) and self._requests == 1:
            self.connect = bytes(event.data)
        elif isinstance(event, events.Sent) and self._requests == 1:
            kept = self.request or b""
            self.request = (kept + bytes(event.data))[:MAX_EMBEDDED]
        elif isinstance(event, events.FramingDecided):
            self.framing = event.framing.kind

    def finish(self) -> None:
        """After the transfer: the program on stdout (where the response would have gone)."""
        import sys

        from rawhttp.sinks import write_stream

        write_stream(sys.stdout.buffer, self.program().encode())

    def program(self) -> str:
        if self.url is None or self.request is None:
            return "# rawhttp --show-code: no request was sent, so there is no program to show\n"
        with_close = self.request.replace(b"Connection: keep-alive\r\n", b"Connection: close\r\n")
        lines = [f"    {line!r}" for line in with_close.splitlines(keepends=True)]
        host, port = self.proxy or (self.url.host, self.url.port)
        return TEMPLATE.format(
            method=self.method,
            url=self.url,
            host=host,
            port=port,
            tunnel=TUNNEL.format(connect=self.connect) if self.connect else "",
            request_lines="\n".join(lines),
            framing=FRAMINGS.get(self.framing, self.framing),
            ssl_import=SSL_IMPORT if self.url.scheme == "https" else "",
            decode_function=DECODE_FUNCTION if self._offered_codings() else "",
            decode_call=DECODE_CALL if self._offered_codings() else "",
            ssl_wrap=self._tls_lines() if self.url.scheme == "https" else "",
        )

    def _offered_codings(self) -> bool:
        """Whether the request sent Accept-Encoding (--compressed): rawhttp decodes then."""
        head = (self.request or b"").partition(b"\r\n\r\n")[0].lower()
        return b"\r\naccept-encoding:" in head

    def _tls_lines(self) -> str:
        cafile = f"cafile={self.cafile!r}" if self.cafile else ""
        lines = SSL_WRAP.format(cafile=cafile)
        if self.insecure:
            lines += SSL_INSECURE
        return lines + SSL_SOCKET.format(origin=self.url.host)
