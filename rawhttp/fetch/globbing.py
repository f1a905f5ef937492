"""curl's URL globbing: one argument, many URLs.

    http://localhost:8000/img[1-3].png        img1.png, img2.png, img3.png
    http://localhost:8000/page[001-100].html  page001.html ... page100.html (zero-padded)
    http://localhost:8000/[a-c].txt           a.txt, b.txt, c.txt
    http://localhost:8000/{index,about}.html  index.html, about.html
    http://localhost:8000/[1-9:2].bin         1, 3, 5, 7, 9 (a step)

Several globs in one URL give every combination, the last one varying fastest (as curl does).
`-o 'file_#1_#2.png'` names each file from the values (#1 is the first glob's). A bracket
holding an IPv6 address (`http://[::1]:8000/`) is the address, not a range; `\\[`, `\\]`,
`\\{`, `\\}` and `\\,` are the characters themselves; `-g/--globoff` turns all of it off.
Mirrors curl's src/tool_urlglob.c; the limits below are curl's or smaller, and named.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from typing import NamedTuple

from rawhttp.errors import InvalidURL

# curl's GLOB_PATTERN_NUM: at most this many globs in one URL.
MAX_GLOBS = 100
# URLs one argument may expand to: curl only stops at an overflow; a class exercise needs a
# few hundred, and a typo like [1-100000000] should fail at once instead of running for days.
MAX_GLOB_URLS = 100_000
# Elements in one {a,b,...} set (curl has no limit; this bounds memory like MAX_GLOB_URLS).
MAX_SET_ELEMENTS = 10_000

_RANGE_RE = re.compile(r"^(?:(\d+)-(\d+)|([a-z])-([a-z])|([A-Z])-([A-Z]))(?::(\d+))?$")
_ESCAPABLE = "[]{},"
_OUTPUT_VALUE_RE = re.compile(r"#(\d+)")


class Expanded(NamedTuple):
    """One URL a pattern stands for, and the value each glob took for it (for -o's #N)."""

    url: str
    values: tuple[str, ...]


def expand(pattern: str) -> list[Expanded]:
    """Every URL `pattern` stands for, in curl's order; InvalidURL (exit 3) for a bad glob."""
    parts = _parse(pattern)
    globs = [part for part in parts if isinstance(part, list)]
    count = 1
    for glob in globs:
        count *= len(glob)
    if count > MAX_GLOB_URLS:
        raise InvalidURL(f"{pattern!r} stands for {count:,} URLs: more than {MAX_GLOB_URLS:,}")
    expanded = []
    for values in itertools.product(*globs):
        chosen = iter(values)
        url = "".join(part if isinstance(part, str) else next(chosen) for part in parts)
        expanded.append(Expanded(url, values))
    return expanded


def fill(template: str, values: tuple[str, ...]) -> str:
    """-o's name for one URL: `#N` replaced by the Nth glob's value (left as is past the
    last glob, as curl does)."""

    def value(match: re.Match) -> str:
        number = int(match.group(1))
        return values[number - 1] if 1 <= number <= len(values) else match.group(0)

    return _OUTPUT_VALUE_RE.sub(value, template)


def _parse(pattern: str) -> list[str | list[str]]:
    """Literal text and globs (each the list of its values), in order."""
    parts: list[str | list[str]] = []
    literal: list[str] = []
    pos = 0
    while pos < len(pattern):
        char = pattern[pos]
        if char == "\\" and pattern[pos + 1 : pos + 2] in tuple(_ESCAPABLE):
            literal.append(pattern[pos + 1])
            pos += 2
        elif char == "[" and _ipv6_at(pattern, pos):
            end = pattern.index("]", pos)
            literal.append(pattern[pos : end + 1])
            pos = end + 1
        elif char in "[{":
            parts.append("".join(literal))
            literal = []
            glob, pos = (_range if char == "[" else _set)(pattern, pos)
            parts.append(glob)
            if sum(isinstance(part, list) for part in parts) > MAX_GLOBS:
                raise InvalidURL(f"{pattern!r} has more than {MAX_GLOBS} globs")
        elif char in "]}":
            raise _bad(pattern, pos, f"unmatched {char!r}")
        else:
            literal.append(char)
            pos += 1
    parts.append("".join(literal))
    return parts


def _ipv6_at(pattern: str, pos: int) -> bool:
    """A bracket right after `scheme://` (or at the start) holding an IPv6 address."""
    before = pattern[:pos]
    if before and not before.endswith("://"):
        return False
    end = pattern.find("]", pos)
    if end < 0:
        return False
    address = pattern[pos + 1 : end].replace("%25", "%").split("%")[0]
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def _set(pattern: str, pos: int) -> tuple[list[str], int]:
    """`{a,b,c}` from `pos` (at the brace): its elements, and where the text goes on."""
    elements, current = [], []
    index = pos + 1
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and pattern[index + 1 : index + 2] in tuple(_ESCAPABLE):
            current.append(pattern[index + 1])
            index += 2
            continue
        if char in "{[":
            raise _bad(pattern, index, "nested globs are not supported")
        if char in ",}":
            elements.append("".join(current))
            current = []
            if len(elements) > MAX_SET_ELEMENTS:
                raise _bad(pattern, pos, f"more than {MAX_SET_ELEMENTS:,} elements in a set")
            if char == "}":
                return elements, index + 1
        else:
            current.append(char)
        index += 1
    raise _bad(pattern, pos, "unmatched '{'")


def _range(pattern: str, pos: int) -> tuple[list[str], int]:
    """`[1-10]`, `[001-100]`, `[a-z]`, with an optional `:step`, from `pos` (at the bracket)."""
    end = pattern.find("]", pos)
    if end < 0:
        raise _bad(pattern, pos, "unmatched '['")
    body = pattern[pos + 1 : end]
    match = _RANGE_RE.match(body)
    if not match:
        raise _bad(pattern, pos, f"bad range [{body}] (use [1-9], [01-99], [a-z] or [A-Z])")
    low_n, high_n, low_a, high_a, low_b, high_b, step_text = match.groups()
    step = int(step_text) if step_text else 1
    if step < 1:
        raise _bad(pattern, pos, f"bad step in [{body}]")
    if low_n is not None:
        low, high = int(low_n), int(high_n)
        if high < low:
            raise _bad(pattern, pos, f"bad range [{body}]: it goes down")
        if (high - low) // step + 1 > MAX_GLOB_URLS:
            raise InvalidURL(f"[{body}] stands for more than {MAX_GLOB_URLS:,} URLs")
        width = len(low_n) if low_n.startswith("0") else 1
        return [str(n).zfill(width) for n in range(low, high + 1, step)], end + 1
    low_c, high_c = (low_a, high_a) if low_a else (low_b, high_b)
    if high_c < low_c:
        raise _bad(pattern, pos, f"bad range [{body}]: it goes down")
    return [chr(c) for c in range(ord(low_c), ord(high_c) + 1, step)], end + 1


def _bad(pattern: str, pos: int, why: str) -> InvalidURL:
    return InvalidURL(
        f"bad URL glob in {pattern!r} at column {pos + 1}: {why} (-g turns globbing off)"
    )
