"""Folder listings: the HTML table a folder without an index.html is answered with.

Every entry is shown, its name escaped; folders first, each with its size and modification
time; only what a request can be answered with is a link (each entry is opened the way a
request would open it, `paths.open_under`), the others say why they are not served. One odd
entry never fails the page.
"""

from __future__ import annotations

import html
import os
import stat
import time
from urllib.parse import quote

from rawhttp.server.exchange import StatusPage
from rawhttp.server.pages import html_page
from rawhttp.server.static.paths import LEADS_OUT, PRIVATE_PREFIX, Found, open_under


def listing_page(root: str, url_path: str, folder: Found, styled: bool = True) -> bytes:
    """An HTML table of the opened folder's entries: a link to the parent folder, then
    folders (marked with a slash) before files, each sorted by name, with their size and
    modification time. Every entry is shown, its name escaped (bytes that are not UTF-8 as
    `\\xff`), and one odd entry never fails the page; only those a request can be answered
    with are links, the others say they are not served."""
    try:
        with os.scandir(folder.fd) as entries:
            items = sorted(
                _listing_item(root, folder.names, entry)
                for entry in entries
                if not entry.name.startswith(PRIVATE_PREFIX)
            )
    except OSError as exc:
        raise StatusPage(403, f"cannot list this folder: {exc.strerror}") from None
    rows = [row for *_, row in items] or [EMPTY_ROW]
    if url_path.strip("/"):  # the root has no parent to go to
        rows.insert(0, PARENT_ROW)
    return html_page(f"Index of {url_path}", listing_table(rows), styled=styled)


def _listing_item(root: str, names: tuple[str, ...], entry: os.DirEntry) -> tuple[bool, str, str]:
    """(not a folder, name, the table row) of one entry, in the order they are listed."""
    info = _served(root, names, entry)
    is_folder = not isinstance(info, str) and stat.S_ISDIR(info.st_mode)
    name = entry.name + ("/" if is_folder else "")
    return not is_folder, entry.name, listing_row(name, info)


def _served(root: str, names: tuple[str, ...], entry: os.DirEntry) -> os.stat_result | str:
    """What a request for `entry` is answered with (a folder or a regular file: its stat),
    or why none can be: a name no URL of ours names (with a backslash, or not UTF-8), a
    symlink that loops, dangles or leads out, anything but a folder or a regular file."""
    unnameable = _unnameable(entry.name)
    if unnameable:
        return unnameable
    try:
        if not entry.is_symlink():
            info = entry.stat(follow_symlinks=False)
            return info if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode) else _kind(info)
        found = open_under(root, (*names, entry.name), entry.name)
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    except StatusPage as refused:
        return _link_refused(refused)
    try:
        return os.fstat(found.fd)
    finally:
        os.close(found.fd)


PARENT_ROW = (
    '<tr class="parent"><td><a href="../">../</a> (parent folder)</td><td></td><td></td></tr>'
)
EMPTY_ROW = '<tr><td class="muted">(an empty folder)</td><td></td><td></td></tr>'


def listing_row(name: str, info: os.stat_result | str) -> str:
    """One entry's row: its name (a link if it is served, else why not), its size in bytes,
    when it was modified."""
    shown = html.escape(os.fsencode(name).decode("utf-8", "backslashreplace"))
    if isinstance(info, str):
        why = f'<span class="muted">(not served: {html.escape(info)})</span>'
        return f'<tr class="unserved"><td>{shown} {why}</td><td></td><td></td></tr>'
    is_folder = stat.S_ISDIR(info.st_mode)
    link = f'<a href="{html.escape(quote(name))}">{shown}</a>'
    size = "" if is_folder else f"{info.st_size:,}"
    cells = f'<td class="size">{size}</td><td class="time">{modified(info.st_mtime)}</td>'
    return f'<tr class="{"folder" if is_folder else "file"}"><td>{link}</td>{cells}</tr>'


def modified(mtime: float) -> str:
    """A modification time for a listing, in UTC to the minute (the full time in `datetime`)."""
    when = time.gmtime(mtime)
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", when)
    return f'<time datetime="{iso}">{time.strftime("%Y-%m-%d %H:%M", when)}</time>'


def listing_table(rows: list[str]) -> str:
    """The listing's table: name, size in bytes, last modification (UTC), one row each."""
    head = '<tr><th>Name</th><th class="size">Size (bytes)</th><th>Modified (UTC)</th></tr>'
    note = '<p class="muted">This folder has no index.html, so the server lists it.</p>'
    body = "\n".join(rows)
    return f"{note}\n<table>\n<thead>{head}</thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _unnameable(name: str) -> str:
    """Why no request target can name a file called `name` ("" if one can): `path_segments`
    refuses a backslash, and percent-decodes to UTF-8 only, while a file name that is not UTF-8
    comes from the file system holding surrogates (surrogateescape)."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return "the name is not UTF-8: no URL names it"
    return "a backslash in the name: no URL names it" if "\\" in name else ""


def _kind(info: os.stat_result) -> str:
    """What an entry that is neither a folder nor a regular file is."""
    if stat.S_ISFIFO(info.st_mode):
        return "a FIFO, not a file"
    if stat.S_ISSOCK(info.st_mode):
        return "a socket, not a file"
    return "a device, not a file"


def _link_refused(refused: StatusPage) -> str:
    """Why a symlink in a listing cannot be followed, from the page a request for it gets."""
    if refused.status == 404:
        return "a symlink to nothing"
    if refused.detail == LEADS_OUT:
        return "a symlink out of the served folder"
    if refused.detail == "too many symlinks":
        return "a symlink loop"
    return f"a symlink to what cannot be served ({refused.detail})"
