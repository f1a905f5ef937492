"""Request bodies the way curl builds them from its options, written out by hand so a student
can read what goes on the wire: `-d` (form-urlencoded), `--data-urlencode`, `--json`, and
`-F` (multipart/form-data, RFC 7578: boundary, parts, file names, content types).

Each builder returns bytes and the Content-Type they need; reading `@file` and `@-` is done
by the caller through `read_source`, so the builders stay pure. Argument text is sent as the
bytes it was typed as (`arg_bytes`), as curl does: not UTF-8 ones too.
"""

from __future__ import annotations

import os
from collections.abc import Callable

URLENCODED = "application/x-www-form-urlencoded"
JSON = "application/json"

Reader = Callable[[str], bytes]  # "@file" or "@-" -> its bytes


def arg_bytes(text: str) -> bytes:
    """A command-line argument's bytes as they were given. Python hands arguments over as
    text, with bytes that are not UTF-8 kept as surrogate escapes (PEP 383); `os.fsencode`
    turns them back, so `-d $'\\xff'` sends the byte 0xFF, as curl does."""
    return os.fsencode(text)


def read_source(spec: str, read_stdin: Callable[[int], bytes], limit: int = -1) -> bytes:
    """The bytes `@name` stands for: a file, or standard input for `@-`; at most `limit`."""
    name = spec[1:]
    if name == "-":
        return read_stdin(limit)
    with open(name, "rb") as file:
        return file.read(limit)


def data_part(value: str, read: Reader, binary: bool) -> bytes:
    """One `-d`/`--data-binary` value: `@file` reads the file; `-d @file` drops its CR and LF
    (curl's rule for -d, so a file of lines becomes one field string); else the text itself."""
    if not value.startswith("@"):
        return arg_bytes(value)
    data = read(value)
    return data if binary else data.replace(b"\r", b"").replace(b"\n", b"")


def urlencode_part(value: str, read: Reader) -> bytes:
    """One `--data-urlencode` value, in curl's forms: `content`, `=content`, `name=content`,
    `@file`, `name@file`; the content's bytes are percent-encoded, the name is kept as given."""
    from urllib.parse import quote_plus

    name, content = "", arg_bytes(value)
    if "=" in value and "@" not in value.partition("=")[0]:
        name, _, text = value.partition("=")
        content = arg_bytes(text)
    elif "@" in value:
        name, _, path = value.partition("@")
        content = read("@" + path)
    encoded = quote_plus(content, safe="").encode("ascii")
    return arg_bytes(name) + b"=" + encoded if name else encoded


def joined(parts: list[bytes]) -> bytes:
    """Several -d values make one body joined with `&`, as curl does."""
    return b"&".join(parts)


class FormField:
    """One `-F` value: `name=text`, or `name=@path` for a file (`;type=` and `;filename=` may
    follow, as in curl)."""

    def __init__(self, spec: str):
        name, eq, rest = spec.partition("=")
        if not eq or not name:
            raise ValueError(f"{spec!r} is not NAME=VALUE or NAME=@FILE")
        self.name = name
        value, *params = rest.split(";")
        options = dict(param.partition("=")[::2] for param in params if "=" in param)
        self.path = value[1:] if value.startswith("@") else None
        self.value = None if self.path is not None else rest
        if self.path is None:
            return
        import mimetypes  # here: a plain `rawhttp get` does not pay for its tables

        self.filename = options.get("filename") or os.path.basename(self.path)
        guessed = mimetypes.guess_type(self.filename)[0]
        self.content_type = options.get("type") or guessed or "application/octet-stream"


def multipart(fields: list[FormField], read: Reader, boundary: str | None = None) -> tuple:
    """(body, Content-Type) for `-F` fields: each part is its boundary line, its headers, an
    empty line and its bytes; the body ends with the boundary and `--` (RFC 7578, RFC 2046)."""
    import secrets

    boundary = boundary or "------------------------" + secrets.token_hex(8)
    out = bytearray()
    for field in fields:
        out += f"--{boundary}\r\n".encode()
        disposition = f'Content-Disposition: form-data; name="{_quoted(field.name)}"'
        if field.path is None:
            out += arg_bytes(f"{disposition}\r\n\r\n{field.value}")
        else:
            out += arg_bytes(f'{disposition}; filename="{_quoted(field.filename)}"\r\n')
            out += arg_bytes(f"Content-Type: {field.content_type}\r\n\r\n")
            out += read("@" + field.path)
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _quoted(text: str) -> str:
    """A name inside a quoted-string: quote, CR and LF percent-encoded, as browsers do
    (RFC 7578 section 4.2); the part's headers are then sent as typed (UTF-8, or the bytes
    given)."""
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
