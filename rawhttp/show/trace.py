"""`--trace`: every `send` and `recv` call in order, with its bytes made visible.

Each call is one line (the call, byte count, offset in its direction's stream, time since the
request started), then its bytes: as text with `\\r` and `\\n` shown (`--trace`), or as a hex
dump (`--trace=hex`). Where a head ends inside a read, a marker line is drawn at that exact
offset: TCP delivers a byte stream, and reads do not line up with messages. On a terminal
(`--color`) the offsets, the written-out CR and LF, other escaped bytes and that marker stand out.

Over TLS the socket carries records: each is a line (direction, size, offset in the TLS bytes
that send() wrote or recv() read), its 5-byte header split out and named, then what an
observer can read in it (the handshake messages of a plaintext record, the hellos' fields) or
only "N bytes encrypted" (and its first bytes, with `--trace=hex`). The messages OpenSSL
decrypted are lines of their own, and the HTTP bytes are the `tls write()` and `tls read()`
lines, labelled decrypted: what went into OpenSSL and came out of it (`TLSLines` below).

Through a proxy's tunnel the CONNECT exchange comes first, labelled as the proxy's: plain
`send()` and `recv()` on the socket, readable by the proxy even for https://; a marker shows
where its answer ends and the tunnel begins, and what follows is the origin's (TLS records
counted from offset 0 again: they are the TLS stream's bytes, after the CONNECT's).
"""

from __future__ import annotations

import sys
from typing import TextIO

from rawhttp import events
from rawhttp.show.color import OFF, Palette

HEX_WIDTH = 16
# What the HTTP lines of a TLS connection are: OpenSSL's side of the records, not the socket's.
DECRYPTED = {
    "tls write": "(decrypted: the HTTP that the TLS record above carries)",
    "tls read": "(decrypted: the HTTP that the TLS records above carried)",
}
# The CONNECT exchange: plaintext on the socket, whatever the URL's scheme.
TO_PROXY = {
    "send": "(to the proxy: CONNECT, in plaintext, which the proxy reads)",
    "recv": "(from the proxy: its answer to CONNECT, in plaintext)",
}


class Trace:
    """A listener. A read is printed when the next event arrives, so a head ending inside it
    (reported just after the read) can be marked at its offset."""

    def __init__(self, out: TextIO | None = None, style: str = "text", palette: Palette = OFF):
        self.out = out or sys.stderr
        self.style = style
        self.palette = palette
        self.start: float | None = None
        self.reads = 0
        self._pending: tuple[float, bytes, int] | None = None
        self.tls: TLSLines | None = None  # the TLS lines of the connection, once it has any
        self.https = False  # the request goes over TLS: its bytes are shown decrypted
        self.connecting = False  # between a CONNECT sent and the proxy's answer

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.HeadReceived) and self._pending is not None:
            self._flush(split=event.end)
            return
        if isinstance(event, events.TunnelAnswered):
            self._tunnel_open(event)
            return
        self._flush()
        if isinstance(event, events.TunnelRequestSent):
            self.connecting = True
        if isinstance(event, events.RequestStarted):
            self.start = event.at if self.start is None else self.start
            self.https = event.url.startswith("https:")
        elif isinstance(event, events.Sent):
            self._call("send", event.at, len(event.data), event.offset)
            self._dump(bytes(event.data), event.offset)
        elif isinstance(event, events.Received):
            self.reads += 1
            self._pending = (event.at, bytes(event.data), event.offset)
        elif isinstance(event, events.Closed) and event.by == "server":
            self.reads += 1
            note = "(0 bytes: the server closed its side of the connection)"
            if not self.https:
                self._call("recv", event.at, 0, None)
            else:
                self._line(event.at, self.palette.paint("call", "tls read()") + " -> 0 bytes")
                note = "(0 bytes: the server's close_notify ended the TLS stream)"
            self._write("    " + self.palette.paint("note", note))
        elif isinstance(event, events.Connecting):
            self.tls = None
        elif isinstance(event, (events.TLSRecord, events.TLSMessage, events.TLSEstablished)):
            self._tls(event)

    def _tunnel_open(self, event: events.TunnelAnswered) -> None:
        """The proxy's answer is in: mark where it ends (a 2xx: the tunnel starts there)."""
        end = len(event.head.raw)
        if 200 <= event.head.status < 300:
            marker = f"---- end of the proxy's answer at offset {end}; the tunnel starts ----"
            self._flush(split=end, marker=marker)
            note = "the tunnel is open: the proxy copies what follows without reading it"
            self._write("    " + self.palette.paint("note", note))
        else:
            self._flush(split=end)
        self.connecting = False

    def _tls(self, event: events.Event) -> None:
        if self.tls is None:
            self.tls = TLSLines(hex=self.style == "hex", palette=self.palette)
        for at, head, lines in self.tls.lines(event):
            self._line(at, head)
            for line in lines:
                self._write("    " + line)

    def _flush(self, split: int | None = None, marker: str | None = None) -> None:
        if self._pending is None:
            return
        at, data, offset = self._pending
        self._pending = None
        self._call("recv", at, len(data), offset)
        if split is None or not offset <= split <= offset + len(data):
            self._dump(data, offset)
            return
        cut = split - offset
        self._dump(data[:cut], offset)
        marker = marker or f"---- end of head at offset {split}; what follows is the body ----"
        self._write("    " + self.palette.paint("split", marker))
        if data[cut:]:
            self._dump(data[cut:], split)

    def _call(self, name: str, at: float, count: int, offset: int | None) -> None:
        paint = self.palette.paint
        where = f" at offset {paint('offset', str(offset))}" if offset is not None else ""
        if self.connecting and offset is not None:
            where += " " + paint("note", TO_PROXY[name])
        elif self.https and offset is not None:
            name = "tls write" if name == "send" else "tls read"
            where += " " + paint("note", DECRYPTED[name])
        self._line(at, f"{paint('call', name + '()')} -> {count} bytes{where}")

    def _line(self, at: float, text: str) -> None:
        elapsed = (at - self.start) * 1000 if self.start is not None else 0.0
        self._write(f"{self.palette.paint('time', f'[{elapsed:9.3f} ms]')} {text}")

    def _dump(self, data: bytes, offset: int) -> None:
        if self.style == "hex":
            lines = hex_lines(data, offset, self.palette)
        else:
            lines = text_lines(data, self.palette)
        for line in lines:
            self._write("    " + line)

    def _write(self, line: str) -> None:
        print(line, file=self.out)


class TLSLines:
    """The trace's lines for TLS events: (time, call line, lines under it) for each."""

    def __init__(self, hex: bool = False, palette: Palette = OFF):
        from rawhttp.show.tlsrecords import Secrecy

        self.hex = hex
        self.palette = palette
        self.secrecy = Secrecy()

    def lines(self, event: events.Event) -> list[tuple[float, str, list[str]]]:
        if isinstance(event, events.TLSRecord):
            self.secrecy.record(event)
            return [self._record(event)]
        if isinstance(event, events.TLSMessage) and self.secrecy.encrypted(event):
            return [self._decrypted(event)]
        if isinstance(event, events.TLSEstablished):
            note = "the HTTP bytes go inside application data records from here"
            return [(event.at, f"TLS handshake done: {event.version}, {event.cipher}; {note}", [])]
        return []

    def _record(self, e: events.TLSRecord) -> tuple[float, str, list[str]]:
        from rawhttp.show.tlsrecords import hello_summary, message_title

        record, paint = e.seen.record, self.palette.paint
        size = len(record.header) + record.length
        how = "send() wrote" if e.direction == "OUT" else "recv() read"
        where = f"at offset {paint('offset', str(e.offset))} of the TLS bytes {how}"
        head = f"{paint('call', 'TLS record ' + e.direction.lower())} {size} bytes {where}"
        fields = (
            f"type {record.content_type} {record.type_name}, "
            f"version {record.version:#06x} {record.version_name}, length {record.length}"
        )
        lines = [f"header {record.header.hex(' ')} = {fields}"]
        if e.seen.encrypted:
            lines.append(self._ciphertext(record.length, e.excerpt))
        elif e.seen.alert is not None:
            lines.append(f"alert: {e.seen.alert}")
        for message in e.seen.messages:
            length = len(message.body) + 4
            text = f"{message_title(message.msg_type, message.fields)} ({message.msg_type})"
            lines.append(f"handshake message {text}, {length} bytes")
            if message.msg_type in (1, 2) and message.fields is not None:
                lines.append(f"  {hello_summary(message.fields)}")
        if self.hex and record.payload:
            lines += hex_lines(record.payload, e.offset + len(record.header), self.palette)
        return e.at, head, lines

    def _ciphertext(self, length: int, excerpt: bytes) -> str:
        text = self.palette.paint("note", f"{length} bytes encrypted")
        if self.hex and excerpt:
            more = " ..." if len(excerpt) < length else ""
            text += f": {excerpt.hex(' ')}{more}"
        return text

    def _decrypted(self, e: events.TLSMessage) -> tuple[float, str, list[str]]:
        from rawhttp.show.tlsrecords import message_name

        did = "encrypted" if e.direction == "OUT" else "decrypted"
        where = "the next record out" if e.direction == "OUT" else "the records above"
        head = f"{self.palette.paint('call', 'OpenSSL ' + did)} {message_name(e)}"
        return e.at, f"{head}, {len(e.data)} bytes ({e.version}, in {where})", []


def text_lines(data: bytes, palette: Palette = OFF) -> list[str]:
    """Bytes as text, one line per LF: CR and LF written out, other non-text bytes as \\xNN."""
    lines, current = [], []
    eol = {0x0A: palette.paint("eol", "\\n"), 0x0D: palette.paint("eol", "\\r")}
    for byte in data:
        if byte in eol:
            current.append(eol[byte])
            if byte == 0x0A:
                lines.append("".join(current))
                current = []
        elif 0x20 <= byte < 0x7F and byte != 0x5C:
            current.append(chr(byte))
        else:
            current.append(palette.paint("escape", _escaped(byte)))
    if current:
        lines.append("".join(current))
    if palette.on:  # one colour run for each CR LF, not two
        crlf = palette.paint("eol", "\\r\\n")
        lines = [line.replace(eol[0x0D] + eol[0x0A], crlf) for line in lines]
    return lines


def _escaped(byte: int) -> str:
    return "\\\\" if byte == 0x5C else f"\\x{byte:02x}"


def hex_lines(data: bytes, offset: int = 0, palette: Palette = OFF) -> list[str]:
    """A classic hex dump: stream offset, 16 bytes in hex, the same bytes as ASCII."""
    lines = []
    for start in range(0, len(data), HEX_WIDTH):
        row = data[start : start + HEX_WIDTH]
        hexes = [f"{byte:02x}" for byte in row]
        pad = " " * (HEX_WIDTH * 3 - len(" ".join(hexes)))
        hexes = [palette.paint("eol", h) if h in ("0d", "0a") else h for h in hexes]
        text = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in row)
        where = palette.paint("offset", f"{offset + start:06x}")
        lines.append(f"{where}  {' '.join(hexes)}{pad} {text}")
    return lines
