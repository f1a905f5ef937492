"""curl's habits on `rawhttp get`: the forms of its options that click cannot parse alone
(`-C -`), a helpful line for the curl options rawhttp does not have, and the small
translations some options need (`-u` to Basic credentials, `-b NAME=VALUE` to a Cookie field,
`-b FILE` and `-c FILE` to the cookie engine of `rawhttp.cookies`).

curl is what most users type first, so a letter curl uses means what it means in curl.
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING, NamedTuple

import click

if TYPE_CHECKING:
    from rawhttp.cookies import CookieJar

# curl options rawhttp does not have, and what to use instead (one line each).
CURL_HINTS = {
    "--http2": "rawhttp speaks HTTP/1.1 (and --http1.0) only",
    "--http3": "rawhttp speaks HTTP/1.1 (and --http1.0) only",
    "--data-raw": "use --data-binary (sent as given), or -d",
    "--limit-rate": "no rate limit; --bufsize N changes how much each recv asks for",
    "--trace-ascii": "use --trace (text) or --trace=hex",
    "--netrc": "use -u USER:PASSWORD",
    "-n": "use -u USER:PASSWORD",
    "--config": "rawhttp has no config file: give the options on the command line",
    "-K": "rawhttp has no config file: give the options on the command line",
    "--create-dirs": "--output-dir DIR creates DIR (and its parents) when missing",
    "--retry-delay": "--retry waits 1 s, then twice as long each time (at most 10 s)",
    "--progress-bar": "the progress bar is on by default on a terminal (--no-progress)",
    "-#": "the progress bar is on by default on a terminal (--no-progress)",
}


class GetCommand(click.Command):
    """`rawhttp get`, parsing curl's `-C -` and explaining curl options it does not have."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, curl_forms(args))
        except click.NoSuchOption as error:
            hint = CURL_HINTS.get(error.option_name)
            if hint:
                error.message = f"{error.message} (a curl option: {hint})"
            raise


# Options whose value may be left out (`--trace` means `--trace=text`): followed by anything
# but one of these values, the next word is the option's neighbour (a URL), not its value.
OPTIONAL_VALUES = {"--trace": ("text", "hex"), "--timing": ("text", "json")}


def curl_forms(args: list[str]) -> list[str]:
    """`-C -` and `--continue-at -` (curl's "resume from the file's size") become `-C`;
    `--trace URL` is `--trace=text URL`, not a trace style named URL."""
    out: list[str] = []
    skip = False
    for index, arg in enumerate(args):
        following = args[index + 1 : index + 2]
        if skip:
            skip = False
        elif arg in ("-C", "--continue-at", "--continue") and following == ["-"]:
            out.append("-C")
            skip = True
        elif arg == "--continue-at":
            out.append("-C")
        elif arg in OPTIONAL_VALUES and following and following[0] not in OPTIONAL_VALUES[arg]:
            out.append(f"{arg}={OPTIONAL_VALUES[arg][0]}")
        else:
            out.append(arg)
    return out


def basic_credentials(user: str) -> str:
    """-u USER:PASSWORD as the Authorization field's value (RFC 7617: base64 of the pair, its
    bytes as typed, as curl sends them)."""
    if ":" not in user:
        raise click.BadParameter("give USER:PASSWORD (rawhttp does not prompt)", param_hint="'-u'")
    return "Basic " + base64.b64encode(os.fsencode(user)).decode("ascii")


def as_typed(text: str) -> str:
    """An argument meant for a header field, as the bytes it was typed as: the head is encoded
    as Latin-1, one byte per character, so these are the bytes sent (UTF-8 or not), as curl
    sends them. (Python holds arguments as text, bytes that are not UTF-8 as surrogates.)"""
    return os.fsencode(text).decode("latin-1")


class CurlFields(NamedTuple):
    """curl's options that stand for a header field (-A, -e, -u, -b, -r), and -c."""

    user_agent: str | None = None
    referer: str | None = None
    user: str | None = None
    cookie: str | None = None  # NAME=VALUE[; ...] is sent as given; else a cookie file
    byte_range: str | None = None
    cookie_jar: str | None = None  # -c FILE: the cookies written there at the end


def curl_headers(curl: CurlFields) -> list[tuple[str, str]]:
    """The fields curl's own options stand for (-A, -e, -u, -b NAME=VALUE, -r), before the -H
    ones, which may replace them. (`-b FILE` is the cookie engine's: `cookie_engine`.)"""
    headers = []
    if curl.user_agent:
        headers.append(("User-Agent", as_typed(curl.user_agent)))
    if curl.referer:
        headers.append(("Referer", as_typed(curl.referer)))
    if curl.user:
        headers.append(("Authorization", basic_credentials(curl.user)))
    if curl.cookie and "=" in curl.cookie:
        headers.append(("Cookie", as_typed(curl.cookie)))
    if curl.byte_range:
        headers.append(("Range", f"bytes={curl.byte_range}"))
    return headers


def cookie_engine(curl: CurlFields) -> CookieJar | None:
    """curl's cookie engine, on with `-b FILE` or `-c FILE`: a jar with the file's cookies,
    which then keeps every Set-Cookie of the run (None without either option, and
    rawhttp.cookies is not even loaded: a plain GET starts without it)."""
    from_file = curl.cookie is not None and "=" not in curl.cookie
    if not (from_file or curl.cookie_jar):
        return None
    from rawhttp.cookies import CookieJar, load_file

    jar = CookieJar()
    if from_file:
        assert curl.cookie is not None
        load_file(jar, curl.cookie)
    return jar


# What --retry tries again after (curl's list): a timeout, a refused or reset connection, an
# empty reply; and the statuses that say "later": 408, 429, 500, 502, 503, 504.
RETRY_EXITS = frozenset({7, 28, 52, 56})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Refusals that asking again cannot change, though they end in a retried exit code (56): a
# proxy's 403 or 407 to CONNECT (that port is not allowed; credentials are wanted).
REFUSED_FOR_GOOD = frozenset({403, 407})
RETRY_FIRST_WAIT = 1.0
RETRY_LONGEST_WAIT = 10.0


def with_retries(fetch, options, idempotent: bool) -> int:
    """Call `fetch()` (its exit code and final status) again while it failed in a way worth
    retrying and --retry allows: waiting 1 s, then twice as long."""
    import time

    wait = RETRY_FIRST_WAIT
    for tries_left in range(options.retry, -1, -1):
        code, status = fetch()
        transient = (code in RETRY_EXITS and status not in REFUSED_FOR_GOOD) or (
            status in RETRY_STATUSES
        )
        if not (transient and idempotent and tries_left):
            return code
        if not options.silent:
            why = f"status {status}" if status in RETRY_STATUSES else f"exit {code}"
            click.echo(
                f"rawhttp: warning: {why}: trying again in {wait:g} s ({tries_left} left)", err=True
            )
        time.sleep(wait)
        wait = min(wait * 2, RETRY_LONGEST_WAIT)
    return code
