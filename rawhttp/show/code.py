"""`--show-code`: the transfer's request as a short Python program that uses only `socket`.

The seed of a student's own client: the exact bytes rawhttp sent, sent again with
`create_connection` and `sendall`, and the classic `recv` loop until the server closes
(the request says `Connection: close`, so the close marks the end of the response).
"""

from __future__ import annotations

from rawhttp import events
from rawhttp.url import URL, parse_url

TEMPLATE = '''\
#!/usr/bin/env python3
"""{method} {url} with nothing but a socket (written by rawhttp --show-code)."""
import socket{ssl_import}

HOST, PORT = {host!r}, {port}
REQUEST = (
{request_lines}
)

with socket.create_connection((HOST, PORT), timeout=10) as sock:{ssl_wrap}
    sock.sendall(REQUEST)  # the request head (and body), byte for byte
    chunks = []
    while True:
        data = sock.recv(65536)  # at most 64 KiB; TCP decides how much arrives per call
        if not data:  # 0 bytes: the server closed, so (Connection: close) the reply is whole
            break
        chunks.append(data)

response = b"".join(chunks)
head, _, body = response.partition(b"\\r\\n\\r\\n")  # the first empty line ends the head
print(head.decode("latin-1"))
print()
print(body.decode("utf-8", "replace"))
'''

SSL_IMPORT = "\nimport ssl"
SSL_WRAP = "\n    sock = ssl.create_default_context().wrap_socket(sock, server_hostname=HOST)"


# The most request bytes (head and body) a program embeds; a larger body is cut there.
MAX_EMBEDDED = 1024 * 1024


class ShowCode:
    """A listener that keeps the first request sent, head and body; `program()` writes it out."""

    def __init__(self) -> None:
        self.url: URL | None = None
        self.method = "GET"
        self.request: bytes | None = None
        self._requests = 0

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.RequestStarted):
            self._requests += 1
            if self.url is None:
                self.url, self.method = parse_url(event.url), event.method
        elif isinstance(event, events.Sent) and self._requests == 1:
            kept = self.request or b""
            self.request = (kept + bytes(event.data))[:MAX_EMBEDDED]

    def finish(self) -> None:
        """After the transfer: the program on stdout (where the response would have gone)."""
        import sys

        from rawhttp.sinks import write_stream

        write_stream(sys.stdout.buffer, self.program().encode())

    def program(self) -> str:
        assert self.url is not None and self.request is not None, "no request was sent"
        with_close = self.request.replace(b"Connection: keep-alive\r\n", b"Connection: close\r\n")
        lines = [f"    {line!r}" for line in with_close.splitlines(keepends=True)]
        https = self.url.scheme == "https"
        return TEMPLATE.format(
            method=self.method,
            url=self.url,
            host=self.url.host,
            port=self.url.port,
            request_lines="\n".join(lines),
            ssl_import=SSL_IMPORT if https else "",
            ssl_wrap=SSL_WRAP if https else "",
        )
