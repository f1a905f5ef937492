"""The pages the server writes itself: folder listings, error pages, the echo, a scenario's
notes. They share one look, the sample site's (samples/site/style.css: its colours, fonts and
column), so a learner moving from a sample page to a listing or a 404 sees one site.

The stylesheet is embedded in each page (`<style>`), never linked: a page the server makes must
not depend on a file in the folder it serves (which may have no style.css, or another one), and
it costs no second request. It goes only to clients that say they take HTML (`takes_html`:
browsers do): curl and rawhttp ask for `*/*`, and a learner reading an error page in a terminal
(`rawhttp get --body-only`, `rawhttp send`) gets the same page without a long line of CSS.
"""

from __future__ import annotations

import html
from http import HTTPStatus

from rawhttp.version import __version__
from rawhttp.wire import Headers

SERVER = f"rawhttp/{__version__}"
# RFC 9110 section 15 names these differently from Python's http.HTTPStatus (RFC 7231's).
REASONS = {413: "Content Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable"}

# samples/site/style.css, condensed, plus what listings (tables) and the echo (.off, .eol) use.
STYLE = (
    "body{font-family:system-ui,sans-serif;line-height:1.5;max-width:44rem;margin:2rem auto;"
    "padding:0 1rem;color:#1d2330;background:#fbfaf7}body.wide{max-width:72rem}"
    "header{border-bottom:2px solid #2b6f77;margin-bottom:1.5rem}"
    "h1{margin:0 0 .5rem;color:#2b6f77;overflow-wrap:anywhere}a{color:#2b6f77}"
    "pre,code{font-family:ui-monospace,monospace;font-size:.92em}"
    "pre{background:#eef2f2;padding:.75rem 1rem;overflow-x:auto;border-radius:4px}"
    "table{border-collapse:collapse}th{white-space:nowrap}th,td{text-align:left;vertical-align:top;"
    "padding:.2rem 1.5rem .2rem 0;border-bottom:1px solid #dde3e3}td{overflow-wrap:anywhere}"
    ".size{text-align:right;font-variant-numeric:tabular-nums}.time{white-space:nowrap}"
    ".muted,.off{color:#5b6472}td .muted{font-size:.9em}.eol{color:#b3261e}"
    "footer{margin-top:2rem;font-size:.9em;color:#5b6472}"
)


# Every phrase by its status, looked up once (calling HTTPStatus costs an enum look-up).
_PHRASES = {status.value: status.phrase for status in HTTPStatus} | REASONS


def reason_phrase(status: int) -> str:
    """RFC 9110's reason phrase for `status` ("" for a code it does not name)."""
    return _PHRASES.get(status, "")


def takes_html(headers: Headers | None) -> bool:
    """Whether a request's Accept names HTML, as a browser's does (curl's `*/*` does not)."""
    return headers is not None and "text/html" in (headers.get("Accept") or "")


def html_page(title: str, body: str, *, wide: bool = False, styled: bool = True) -> bytes:
    """A UTF-8 HTML document in the site's style (`styled`); `title` is escaped here, `body`
    must already be HTML. `wide` gives a page of long lines (the echo's bytes) more room."""
    title = html.escape(title)
    body_tag = '<body class="wide">' if wide else "<body>"
    style = f"\n<style>{STYLE}</style>" if styled else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title>{style}</head>\n"
        f"{body_tag}\n<header><h1>{title}</h1></header>\n<main>\n{body}\n</main>\n"
        f'<footer><a href="/">Start page</a> &middot; {SERVER}</footer>\n</body></html>\n'
    ).encode()


def error_page(status: int, detail: str, *, styled: bool = True) -> bytes:
    """The page of an error answer: its status, and what exactly was wrong."""
    body = f"<p>{html.escape(detail, quote=False)}</p>"
    return html_page(f"{status} {reason_phrase(status)}", body, styled=styled)
