"""`rawhttp get --page-requisites`: a page and what it needs to be shown, saved for offline
reading, as `wget -p -k` does.

The page is fetched first; its requisites (`fetch.requisites`) are fetched one after another,
each once, stylesheets searched in turn for their `url()` and `@import`. Each transfer is the
caller's (`Fetch`: `rawhttp get` runs its usual transfer, with its views, sinks and retries, on
one `client.Session`, so objects of one origin share a kept-alive connection); this module
decides what to fetch, where each body goes, when to stop, and rewrites the saved documents.

Where files go: `DIR/HOST[:PORT]/PATH` (wget's layout, the port only when not the default),
`index.html` for a path that ends in `/`, the query kept in the name (`style.css?v=2`).
Percent-escapes are decoded, and `.`, `..` and empty segments never leave the host's folder.

`--convert-links` rewrites the saved page and stylesheets once everything is fetched: a
reference to something saved becomes the relative path to its file (so the copy opens from
disk, with no network), any other becomes its absolute URL, and `<base href>` points at the
file itself, so no relative URL is resolved against the old base.

Limits, each checked before the next object is fetched (the page ends cleanly, with one
warning saying which limit stopped it): MAX_PAGE_OBJECTS, MAX_DEPTH, MAX_PAGE_BYTES; and
`requisites.MAX_PARSE_BYTES` of each document searched. Loops (a page that needs itself, a
stylesheet importing itself or its importer) end because no URL is fetched twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import quote, unquote

from rawhttp.errors import OutputError
from rawhttp.fetch import requisites
from rawhttp.fetch.requisites import Reference
from rawhttp.url import URL

# Objects fetched for one page, the page not counted. wget has no limit; the HTTP Archive's
# 90th-percentile page makes about 200 requests, and a hostile page of a million <img> tags
# should stop here rather than run for hours.
MAX_PAGE_OBJECTS = 300
# How far references are followed: the page's own are at depth 1, a stylesheet's url() and
# @import at 2, an imported sheet's at 3... wget's -p follows one level past the page (and
# its -l default is 5); browsers follow @import chains without end.
MAX_DEPTH = 5
# Bytes saved for one page and its objects; no new object is started past this. (No client
# we copy has one: a page of many large images should not fill the disk unasked.)
MAX_PAGE_BYTES = 200 * 1024 * 1024
# Content types searched as HTML (the page) and as CSS (besides what a <link rel=stylesheet>
# or @import names, which is searched whatever its type says, as wget does).
HTML_TYPES = ("text/html", "application/xhtml+xml")
CSS_TYPES = ("text/css",)


class Fetched(NamedTuple):
    """What one transfer did: its exit code (0 for a whole response, any status), the URL the
    body finally came from (after redirects), its status and Content-Type (None, "" when no
    response came)."""

    code: int
    url: URL
    status: int | None = None
    content_type: str = ""


# fetch(url, path) -> Fetched: GET url, save its body to path (the folders exist).
Fetch = Callable[[URL, str], Fetched]


class PageOptions(NamedTuple):
    output_dir: str = "."
    span_hosts: bool = False  # --span-hosts: objects on other origins too
    convert_links: bool = False  # --convert-links: rewrite saved documents for offline use


class Document(NamedTuple):
    """A saved HTML page or stylesheet, and the references found in it."""

    path: str
    text: str
    references: list[Reference]


def local_path(url: URL, root: str) -> str:
    """Where `url`'s body is saved under `root`: root/host[:port]/path, index.html for a
    folder, the query kept in the name; never outside root/host[:port]."""
    path, _, query = url.target.partition("?")
    *folders, name = path.split("/")[1:] or [""]
    parts = [url.authority.replace("/", "_")]
    parts += [_segment(folder) for folder in folders if folder not in ("", ".", "..")]
    name = _segment(name) if name not in ("", ".", "..") else "index.html"
    if query:
        name += "?" + query.replace("/", "%2F")
    return os.path.join(root, *parts, name)


def _segment(text: str) -> str:
    """One path segment as a file name: decoded, with no separator or NUL left in it."""
    name = unquote(text, errors="surrogateescape").replace("/", "_").replace("\x00", "_")
    return name if name not in (".", "..") else "_" + name


def link_to(path: str, document: str) -> str:
    """The relative URL that leads from the saved `document` to the saved `path`."""
    relative = os.path.relpath(path, os.path.dirname(document) or ".")
    return quote(relative.replace(os.sep, "/"), safe="/", errors="surrogateescape")


class PageFetch:
    """One page and its requisites: `run()` fetches them and returns the exit code (the
    page's if it failed, else the last failing object's, else 0)."""

    def __init__(
        self,
        url: URL,
        fetch: Fetch,
        options: PageOptions | None = None,
        warn: Callable[[str], None] = lambda message: None,
    ):
        self.url = url
        self.fetch = fetch
        self.options = options or PageOptions()
        self.warn = warn
        self.saved: dict[URL, str] = {}  # every URL fetched whole -> its file
        self.tried: set[URL] = {url}  # every URL chosen once, fetched or not
        self.elsewhere: dict[str, list[URL]] = {}  # other origins' objects, not fetched
        self.documents: list[Document] = []
        self.objects = 0
        self.bytes = 0
        self.stopped: str | None = None  # the limit that stopped the page, if one did
        self.code = 0

    def run(self) -> int:
        page = self._get(self.url)
        if page.code:
            return page.code
        path = self.saved.get(self.url)
        if path is None:
            return 0  # an error status without --fail: nothing to read requisites from
        if page.content_type and not page.content_type.startswith(HTML_TYPES):
            self.warn(f"{self.url} is {page.content_type}, not HTML: no requisites to fetch")
            return 0
        queue = self._read(path, page.url, html=True)
        depth = 1
        while queue and not self.stopped:
            queue = self._fetch_level(queue, depth)
            depth += 1
        for origin, urls in self.elsewhere.items():
            more = f" and {len(urls) - 1} more" if len(urls) > 1 else ""
            self.warn(
                f"not fetched: {urls[0]}{more} on {origin}, another host "
                "(--span-hosts fetches them)"
            )
        if self.options.convert_links:
            self._convert()
        return self.code

    def _fetch_level(self, references: list[Reference], depth: int) -> list[Reference]:
        """Fetch one depth's objects; the references the stylesheets among them hold."""
        following: list[Reference] = []
        for reference in self._choose(references):
            if depth > MAX_DEPTH:
                self._stop(f"{reference.url} is {depth} links deep (MAX_DEPTH={MAX_DEPTH})")
            elif self.objects >= MAX_PAGE_OBJECTS:
                self._stop(f"the page has more than MAX_PAGE_OBJECTS={MAX_PAGE_OBJECTS} objects")
            elif self.bytes > MAX_PAGE_BYTES:
                self._stop(f"the page passed MAX_PAGE_BYTES={MAX_PAGE_BYTES:,} bytes saved")
            if self.stopped:
                break
            assert reference.url is not None
            self.objects += 1
            fetched = self._get(reference.url)
            path = self.saved.get(reference.url)
            if fetched.code:
                self.code = fetched.code
            elif path is not None and _is_css(reference, fetched):
                following += self._read(path, fetched.url, html=False)
        return following

    def _choose(self, references: list[Reference]) -> list[Reference]:
        """The requisites not fetched yet (each once), other origins only with --span-hosts."""
        chosen = requisites.requisites(references, self.url, span_hosts=True)
        wanted = []
        for reference in chosen:
            url = reference.url
            if url in self.saved or url in self.tried:
                continue
            self.tried.add(url)
            if not self.options.span_hosts and url.origin != self.url.origin:
                self.elsewhere.setdefault(f"{url.scheme}://{url.authority}", []).append(url)
                continue
            wanted.append(reference)
        return wanted

    def _get(self, url: URL) -> Fetched:
        """One transfer into the file its URL maps to; counted and remembered if whole."""
        path = local_path(url, self.options.output_dir)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError as error:
            self.warn(f"cannot save {url}: cannot create {os.path.dirname(path)}: {error.strerror}")
            return Fetched(OutputError.exit_code, url)
        fetched = self.fetch(url, path)
        if fetched.code == 0 and fetched.status is not None and fetched.status < 400:
            self.saved[url] = self.saved[fetched.url] = path
            self.bytes += _size(path)
        return fetched

    def _read(self, path: str, url: URL, html: bool) -> list[Reference]:
        """The references of a saved page or stylesheet (its first MAX_PARSE_BYTES), kept
        for --convert-links."""
        try:
            with open(path, "rb") as file:
                data = file.read(requisites.MAX_PARSE_BYTES + 1)
        except OSError as error:
            self.warn(f"cannot read {path} back: {error.strerror}")
            return []
        data, cut = requisites.parse_limit(data)
        if cut:
            self.warn(
                f"{url}: only the first {requisites.MAX_PARSE_BYTES:,} bytes are searched "
                "for links (MAX_PARSE_BYTES)"
            )
        text = requisites.decode(data)
        scan = requisites.scan_html if html else requisites.scan_css
        references = scan(text, url)
        if len(references) >= requisites.MAX_REFERENCES:
            self.warn(
                f"{url}: only its first {requisites.MAX_REFERENCES:,} references are read "
                "(MAX_REFERENCES)"
            )
        self.documents.append(Document(path, text, references))
        return references

    def _stop(self, why: str) -> None:
        if not self.stopped:
            self.stopped = why
            self.warn(f"page requisites stopped: {why}")

    def _convert(self) -> None:
        """--convert-links: each saved document rewritten, its references made local."""
        for document in self.documents:
            rewritten = convert(document, self.saved)
            if rewritten != document.text:
                _replace_file(document.path, requisites.encode(rewritten), self.warn)


def convert(document: Document, saved: dict[URL, str]) -> str:
    """A document's text with each reference pointing at its saved file (relative), or, if
    it was not saved, at its absolute URL; a fragment (`#top`) is kept."""
    pieces, last = [], 0
    for reference in sorted(document.references, key=lambda ref: ref.start):
        if reference.url is None or reference.start < last:
            continue
        fragment = "#" + reference.text.split("#", 1)[1] if "#" in reference.text else ""
        if reference.kind == "base":
            new = link_to(document.path, document.path)
        elif reference.url in saved:
            new = link_to(saved[reference.url], document.path) + fragment
        else:
            new = _safe(str(reference.url)) + fragment
        if reference.attribute:
            new = new.replace("&", "&amp;")
        pieces += [document.text[last : reference.start], new]
        last = reference.end
    pieces.append(document.text[last:])
    return "".join(pieces)


def _safe(url: str) -> str:
    """A URL that may stand in any context a reference can be in: bare in url(...), quoted
    either way: quotes, parentheses, spaces and angle brackets percent-encoded."""
    return quote(url, safe="/:?#[]@!$&*+,;=%~-._")


def _is_css(reference: Reference, fetched: Fetched) -> bool:
    return reference.kind in requisites.STYLESHEETS or fetched.content_type.startswith(CSS_TYPES)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _replace_file(path: str, data: bytes, warn: Callable[[str], None]) -> None:
    """Write `data` over `path` atomically (a `.part` beside it, then renamed)."""
    part = path + ".part"
    try:
        with open(part, "wb") as file:
            file.write(data)
        os.replace(part, path)
    except OSError as error:
        warn(f"cannot rewrite the links of {path}: {error.strerror}")


def fetch_page(
    url: URL,
    fetch: Fetch,
    options: PageOptions | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> int:
    """Fetch the page at `url` and its requisites with `fetch`, saved under
    options.output_dir; the exit code (see `PageFetch.run`)."""
    return PageFetch(url, fetch, options, warn).run()
