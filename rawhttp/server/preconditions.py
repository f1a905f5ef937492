"""Conditional requests (RFC 9110 section 13): a file's validators, and what its preconditions
decide, as pure functions of the request's fields and the file's validators (no I/O, no clock
but the one passed in), so a table test can hold every case.

`evaluate` follows RFC 9110 section 13.2.2's order exactly: If-Match (strong comparison, `*`
matching any current file), else If-Unmodified-Since; then If-None-Match (weak comparison,
`*` too), else If-Modified-Since (GET and HEAD only). A false If-Match or If-Unmodified-Since
is 412; a true If-None-Match or a false If-Modified-Since is 304 for GET and HEAD, 412 for any
other method. `range_applies` is If-Range (section 13.1.5): an entity-tag compared strongly, or
a date equal to Last-Modified.

What was taken from others: nginx's ngx_http_not_modified_filter_module.c applies the same
order (If-Unmodified-Since and If-Match first, 412; then If-Modified-Since / If-None-Match,
304), compares If-None-Match weakly and If-Match strongly, lets `*` match any current entity,
and builds its ETag as "mtime-size" in hex; ours hashes the inode with the mtime in
nanoseconds, so two versions written within one second still differ, and a file replaced by
another of the same size and second (a rename over it) does too. An unparsable date is
ignored, as nginx and RFC 9110 section 13.1.3 say, and so is a date later than our clock.
waitress's task.py has no validators (they are the application's job in WSGI); from it comes
only the rule a 304's head follows: no body, no Content-Length of a body not sent.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import NamedTuple

from rawhttp.wire import Headers

# Bytes of the ETag's fingerprint of inode and mtime (16 hex digits): a 64-bit hash, so two
# versions of one file collide with odds of 1 in 2^64.
FINGERPRINT_BYTES = 8
# RFC 9110 section 8.8.3: entity-tag = [ weak ] opaque-tag; opaque-tag = DQUOTE *etagc DQUOTE
# (etagc: "!" and %x23-7E and obs-text, so no DQUOTE, no space, no control byte).
_ENTITY_TAG_RE = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


class Validators(NamedTuple):
    """What identifies one version of a file: a strong ETag and its modification second."""

    etag: str  # with its quotes: '"1a2b-17c3f2e1d2a3b4c5-400"'
    modified: int  # whole seconds since the epoch, as Last-Modified says


def file_validators(info: os.stat_result) -> Validators:
    """The validators of a file from its stat: the ETag is a fingerprint of its inode and
    mtime (ns), then its size in hex, `"6f1c0a9e2b7d4c31-433"`. The fingerprint has a fixed
    width, so a head's length (which lessons count byte by byte) does not depend on how many
    digits an inode number happens to have."""
    when = struct.pack("<QQ", info.st_ino & 0xFFFF_FFFF_FFFF_FFFF, info.st_mtime_ns)
    tag = f'"{hashlib.blake2b(when, digest_size=FINGERPRINT_BYTES).hexdigest()}-{info.st_size:x}"'
    return Validators(tag, int(info.st_mtime))


def entity_tags(value: str) -> list[tuple[bool, str]] | None:
    """The (weak, opaque-tag) pairs of an If-Match / If-None-Match list; None if malformed."""
    tags, position = [], 0
    value = value.strip()
    while position < len(value):
        match = _ENTITY_TAG_RE.match(value, position)
        if match is None or match.end() == position:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    return tags or None


def matches(value: str, current: Validators | None, *, weak: bool) -> bool:
    """Whether an If-Match / If-None-Match field matches the current file (none: `current`
    None). Strong comparison (`weak` False) never matches a weak tag (section 8.8.3.2)."""
    if value.strip() == "*":
        return current is not None
    tags = entity_tags(value)
    if current is None or tags is None:
        return False
    return any(tag == current.etag and (weak or not is_weak) for is_weak, tag in tags)


def http_date(value: str | None, now: float) -> int | None:
    """An HTTP date as epoch seconds; None if absent, unparsable or later than `now`."""
    if value is None:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # Overflow: a 20-digit year or zone
        return None
    if when.tzinfo is None:  # "-0000" parses as naive; HTTP dates are always GMT
        when = when.replace(tzinfo=timezone.utc)
    seconds = when.timestamp()
    return None if seconds > now else int(seconds)


def evaluate(method: str, fields: Headers, current: Validators | None, now: float) -> int | None:
    """RFC 9110 section 13.2.2: None to go on with the request, else 304 or 412.

    `current` is None when there is no file (a PUT creating one): `If-Match` then fails and
    `If-None-Match: *` holds."""
    if_match = _joined(fields, "If-Match")
    if if_match is not None:
        if not matches(if_match, current, weak=False):
            return 412
    elif current is not None:
        since = http_date(fields.get("If-Unmodified-Since"), now)
        if since is not None and current.modified > since:
            return 412
    reading = method in ("GET", "HEAD")
    if_none_match = _joined(fields, "If-None-Match")
    if if_none_match is not None:
        if matches(if_none_match, current, weak=True):
            return 304 if reading else 412
    elif reading and current is not None:
        since = http_date(fields.get("If-Modified-Since"), now)
        if since is not None and current.modified <= since:
            return 304
    return None


def _joined(fields: Headers, name: str) -> str | None:
    """A list field's repeats as one value (RFC 9110 section 5.3), None if absent."""
    first = fields.get(name)  # (no list is copied in the usual case: the field is absent)
    return first if first is None else ", ".join(fields.get_all(name))


def range_applies(fields: Headers, current: Validators, last_modified: str) -> bool:
    """If-Range (section 13.1.5): Range is honoured only when the client's copy is this one:
    a strong entity-tag equal to ours, or a date equal to our Last-Modified (absent: yes)."""
    value = fields.get("If-Range")
    if value is None:
        return True
    value = value.strip()
    if value.startswith('"'):
        return value == current.etag
    return value == last_modified
