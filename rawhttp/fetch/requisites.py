"""A page's requisites: the URLs an HTML page or a stylesheet needs to be shown, as wget's
`-p` finds them. Pure: fed a document's bytes and its URL, returns values; no I/O.

    >>> from rawhttp.url import parse_url
    >>> find(b'<img src="a.png"><link rel=stylesheet href="/s.css">', parse_url("h/p/"))
    [URL(scheme='http', host='h', port=80, target='/p/a.png'), URL(..., target='/s.css')]

What counts (the elements a browser fetches to draw a page, not the ones a person follows):
`<img src>` and `srcset`, `<source srcset>`, `<link href>` whose `rel` holds stylesheet, icon
or preload, `<script src>`, and `url(...)` in `style` attributes and `<style>` blocks; in a
stylesheet, `url(...)` and `@import`. `<base href>` changes what relative URLs resolve
against (once, for the whole document, as the HTML standard says). Relative URLs resolve as
`urllib.parse.urljoin` does (`url.resolve_location`), into `rawhttp.url.URL` values; a
`data:`, `javascript:` or malformed one is left out, and so is the fragment.

`scan_html` and `scan_css` give every reference with where its text sits in the document
(`Reference.start/end`), so `fetch.page` can rewrite them (--convert-links); `<a href>`
links are there too, marked as not requisites. `find` and `find_css` are the short API:
the requisites' URLs, each once, in document order, same origin only unless `span_hosts`.

Hostile documents end cleanly: only the first MAX_PARSE_BYTES are searched (`parse_limit`),
and of those only up to MAX_REFERENCES references are read; html.parser never raises on
broken markup (an unclosed tag or `<style>` is read to the end); `find` stops at `limit` URLs.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import NamedTuple

from rawhttp.errors import InvalidURL
from rawhttp.url import URL, resolve_location

# Bytes of one HTML page or stylesheet searched for links; the rest is saved but not read.
# wget and browsers have no such limit; 5 MiB is over 100 times the median page's HTML
# (HTTP Archive: ~30 KiB) and keeps html.parser's time on hostile input to a second or two.
MAX_PARSE_BYTES = 5 * 1024 * 1024
# URLs `find` returns by default: a page's objects are capped again by fetch.page.
MAX_FOUND = 1000
# References read from one document (links included); the rest of it is not searched. Resolving
# each costs ~15 us: a hostile 5 MiB page of <img> tags (350,000) would take 10 s, this 1 s.
MAX_REFERENCES = 10_000

# What each `rel` token of a <link> makes of its href (the first that matches wins).
LINK_RELS = {"stylesheet": "stylesheet", "icon": "icon", "preload": "preload"}
# Kinds that are not requisites: links a person follows, and the base itself.
NOT_REQUISITES = frozenset({"link", "base"})
# Kinds whose body is a stylesheet, searched in turn (`scan_css`).
STYLESHEETS = frozenset({"stylesheet", "import"})

# An attribute in a start tag's text, as html.parser's own (tolerant) rule finds them.
_ATTRIBUTE_RE = re.compile(
    r"""((?<=['"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*('[^']*'|"[^"]*"|(?!['"])[^>\s]*))?(?:\s|/(?!>))*"""
)
_TAG_NAME_RE = re.compile(r"<[a-zA-Z][^\t\n\r\f />\x00]*(?:\s|/(?!>))*")
# CSS (Syntax Level 3, simplified): comments and strings are skipped whole, so a url( inside
# either is text; url(...) quoted or bare, and @import with a string.
_CSS_RE = re.compile(
    r"""
    /\*.*?(?:\*/|\Z)
  | (?P<at>@import\s*)?(?<![\w-])url\(\s*
        (?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^"'()\s]*))\s*\)
  | @import\s*(?:"(?P<idq>[^"\n]*)"|'(?P<isq>[^'\n]*)')
  | "(?:[^"\\\n]|\\.)*" | '(?:[^'\\\n]|\\.)*'
    """,
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_URL_GROUPS = ("dq", "sq", "bare", "idq", "isq")
# A bare url(...) in a style attribute whose quotes are written as character references.
_ENTITY_QUOTED_RE = re.compile(r"(&quot;|&#0*34;|&#x0*22;|&apos;|&#0*39;|&#x0*27;)(.*)\1", re.I)


class Reference(NamedTuple):
    """One URL as a document writes it: `text` (entities decoded) at `start:end` of the
    document's text, what it is (`kind`: image, stylesheet, icon, preload, script, import,
    css, or link and base, which are not requisites), and its absolute URL (None when it is
    not an http(s) URL). `attribute`: it sits in an HTML attribute, where `&` is `&amp;`."""

    text: str
    start: int
    end: int
    kind: str
    url: URL | None = None
    attribute: bool = True

    @property
    def requisite(self) -> bool:
        return self.kind not in NOT_REQUISITES and self.url is not None


def decode(data: bytes) -> str:
    """A document's text; every byte survives the way back (`encode`), whatever the charset:
    URLs and markup are ASCII, and other bytes are only carried."""
    return data.decode("utf-8", errors="surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def parse_limit(data: bytes) -> tuple[bytes, bool]:
    """The part of a document that is searched, and whether it was cut (MAX_PARSE_BYTES)."""
    return data[:MAX_PARSE_BYTES], len(data) > MAX_PARSE_BYTES


def resolve(base: URL, text: str) -> URL | None:
    """`text` made absolute against `base`, or None for an empty, non-http(s) or bad URL.
    HTML strips ASCII whitespace around a URL and drops tabs and newlines inside it."""
    cleaned = re.sub(r"[\t\n\r]", "", text.strip(" \t\n\r\f")).replace(" ", "%20")
    if not cleaned or cleaned.startswith("#"):
        return None
    try:
        return resolve_location(base, cleaned)
    except (InvalidURL, UnicodeError, ValueError):
        return None


def scan_css(
    text: str, base: URL, offset: int = 0, attribute: bool = False, resolved: dict | None = None
) -> list[Reference]:
    """The url(...) and @import references of a stylesheet's text (or of a <style> block or
    style attribute starting at `offset` in a page), resolved against `base`; at most
    MAX_REFERENCES. `resolved` caches resolutions across calls (one page's blocks)."""
    found: list[Reference] = []
    resolved = {} if resolved is None else resolved
    for match in _CSS_RE.finditer(text):
        if len(found) >= MAX_REFERENCES:
            break
        name = next((group for group in _URL_GROUPS if match.group(group) is not None), None)
        if name is None:
            continue  # a comment or a string
        is_import = name in ("idq", "isq") or match.group("at") is not None
        raw = match.group(name)
        start, end = match.span(name)
        quoted = _ENTITY_QUOTED_RE.fullmatch(raw) if attribute and name == "bare" else None
        if quoted is not None:  # style="background: url(&quot;a.png&quot;)"
            raw = quoted.group(2)
            start, end = start + quoted.start(2), start + quoted.end(2)
        value = html.unescape(raw) if attribute else raw
        kind = "import" if is_import else "css"
        url = _resolved(resolved, base, value)
        found.append(Reference(value, offset + start, offset + end, kind, url, attribute))
    return found


def _resolved(cache: dict, base: URL, text: str) -> URL | None:
    """`resolve`, remembered: a page names the same URL many times."""
    if (base, text) not in cache:
        cache[base, text] = resolve(base, text)
    return cache[base, text]


def srcset_spans(value: str) -> list[tuple[int, int]]:
    """Where each candidate's URL sits in a srcset value (HTML's "parse a srcset attribute":
    URLs separated by commas, each maybe followed by a descriptor such as `2x` or `480w`)."""
    spans, index, size = [], 0, len(value)
    while index < size:
        while index < size and (value[index].isspace() or value[index] == ","):
            index += 1
        start = index
        while index < size and not value[index].isspace():
            index += 1
        end = index
        while end > start and value[end - 1] == ",":
            end -= 1  # "a.png," : the comma ends the candidate
        if end > start:
            spans.append((start, end))
        if end == index:  # descriptors follow, up to the next comma outside parentheses
            depth = 0
            while index < size and (value[index] != "," or depth):
                depth += {"(": 1, ")": -1}.get(value[index], 0)
                index += 1
    return spans


class _Enough(Exception):
    """MAX_REFERENCES found: the scan stops."""


class _Scanner(HTMLParser):
    """Collects the raw references of one page; resolved at the end, against the base."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.text = text
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", text)]
        self.raw: list[tuple[str, int, int, str, bool]] = []  # text, start, end, kind, attr
        self.base: str | None = None
        self.style_from: int | None = None

    def position(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs) -> None:
        raw_tag = self.get_starttag_text() or ""
        at = self.position()
        values = _attributes(raw_tag, at)
        for name, (value, start, end) in values.items():
            if name == "style":
                self.raw.append((value, start, end, "style", True))
        wanted = _wanted(tag, {name: value for name, (value, _, _) in values.items()})
        for name, kind in wanted:
            if name not in values:
                continue
            value, start, end = values[name]
            if kind == "srcset":
                for first, last in srcset_spans(self.text[start:end]):
                    raw = self.text[start + first : start + last]
                    self.raw.append(
                        (html.unescape(raw), start + first, start + last, "image", True)
                    )
            elif kind == "base":
                if self.base is None:
                    self.base = value
                    self.raw.append((value, start, end, "base", True))
            else:
                self.raw.append((value, start, end, kind, True))
        if tag == "style":
            self.style_from = at + len(raw_tag)
        if len(self.raw) >= MAX_REFERENCES:
            raise _Enough

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self.style_from is not None:
            self._style_block(self.style_from, self.position())

    def close(self) -> None:
        super().close()
        if self.style_from is not None:  # an unclosed <style>: read to the end
            self._style_block(self.style_from, len(self.text))

    def _style_block(self, start: int, end: int) -> None:
        self.raw.append((self.text[start:end], start, end, "block", False))
        self.style_from = None


def _attributes(raw_tag: str, at: int) -> dict[str, tuple[str, int, int]]:
    """A start tag's attributes: name -> (value, start, end of the raw value in the page).
    The first of a repeated name counts, as in browsers."""
    found: dict[str, tuple[str, int, int]] = {}
    name_match = _TAG_NAME_RE.match(raw_tag)
    position = name_match.end() if name_match else 1
    while True:
        match = _ATTRIBUTE_RE.match(raw_tag, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        name = match.group(1).lower()
        if match.group(3) is None or name in found:
            continue
        start, end = match.span(3)
        if match.group(3)[:1] in ("'", '"'):
            start, end = start + 1, end - 1
        found[name] = (html.unescape(raw_tag[start:end]), at + start, at + end)
    return found


def _wanted(tag: str, values: dict[str, str]) -> list[tuple[str, str]]:
    """(attribute, kind) pairs of a start tag that hold URLs."""
    if tag == "img":
        return [("src", "image"), ("srcset", "srcset")]
    if tag == "source":
        return [("srcset", "srcset")]
    if tag == "script":
        return [("src", "script")]
    if tag == "base":
        return [("href", "base")]
    if tag in ("a", "area"):
        return [("href", "link")]
    if tag == "link":
        rels = values.get("rel", "").lower().split()
        kind = next((LINK_RELS[rel] for rel in rels if rel in LINK_RELS), "link")
        return [("href", kind)]
    return []


def scan_html(text: str, url: URL) -> list[Reference]:
    """Every URL reference of a page's text, in document order, resolved against its base
    (the first `<base href>`, itself resolved against `url`)."""
    scanner = _Scanner(text)
    try:
        scanner.feed(text)
        scanner.close()
    except _Enough:
        del scanner.raw[MAX_REFERENCES:]
    base = url
    if scanner.base is not None:
        base = resolve(url, scanner.base) or url
    found: list[Reference] = []
    resolved: dict = {}
    for value, start, end, kind, attribute in scanner.raw:
        if kind in ("style", "block"):
            # Both are CSS inside the page: a style attribute's value is entity-decoded text
            # (offsets are the raw value's), a <style> block is raw text.
            raw = text[start:end]
            found.extend(scan_css(raw, base, start, attribute, resolved))
        else:
            target = url if kind == "base" else base
            found.append(
                Reference(value, start, end, kind, _resolved(resolved, target, value), attribute)
            )
        if len(found) >= MAX_REFERENCES:
            break
    found.sort(key=lambda reference: reference.start)
    return found[:MAX_REFERENCES]


def requisites(
    references: list[Reference], origin: URL, span_hosts: bool = False, limit: int = MAX_FOUND
) -> list[Reference]:
    """The references a page needs fetched: requisites, each URL once, of `origin`'s origin
    unless `span_hosts`; at most `limit`."""
    chosen, seen = [], set()
    for reference in references:
        url = reference.url
        if not reference.requisite or url is None or url in seen:
            continue
        if not span_hosts and url.origin != origin.origin:
            continue
        seen.add(url)
        chosen.append(reference)
        if len(chosen) >= limit:
            break
    return chosen


def find(
    html_bytes: bytes, base_url: URL, *, span_hosts: bool = False, limit: int = MAX_FOUND
) -> list[URL]:
    """The requisites of an HTML page fetched from `base_url`: each URL once, in document
    order, same origin unless `span_hosts`, at most `limit`; only the first MAX_PARSE_BYTES
    are searched."""
    text = decode(parse_limit(html_bytes)[0])
    found = requisites(scan_html(text, base_url), base_url, span_hosts, limit)
    return [reference.url for reference in found if reference.url is not None]


def find_css(
    css_bytes: bytes, base_url: URL, *, span_hosts: bool = False, limit: int = MAX_FOUND
) -> list[URL]:
    """The url(...) and @import URLs of a stylesheet fetched from `base_url`, as `find`."""
    text = decode(parse_limit(css_bytes)[0])
    found = requisites(scan_css(text, base_url), base_url, span_hosts, limit)
    return [reference.url for reference in found if reference.url is not None]
