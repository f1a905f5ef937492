"""Cookies by the rules (RFC 6265, rawhttp/cookies.py): the matching rules as tables, then the
cookie engine end to end (-b FILE, -c FILE, Set-Cookie kept across URLs and redirect hops, -v
notes), with curl run beside rawhttp against the same servers. Where they differ on purpose,
the test says so."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_client_sends import Recorder
from werkzeug import Response

from rawhttp.cookies import (
    MAX_COOKIE_FILE,
    CookieJar,
    CookieRefused,
    default_path,
    domain_match,
    parse_cookie_date,
    parse_set_cookie,
    path_match,
)
from rawhttp.url import parse_url

NOW = 1_700_000_000.0


def rawhttp(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rawhttp", "get", *args], capture_output=True, timeout=30
    )


def curl(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=30)


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


def cookie_sent(head: bytes) -> bytes | None:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"cookie:"):
            return line.split(b":", 1)[1].strip()
    return None


# --- the rules, as tables ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "cookie_path", "matches"),
    [
        ("/admin", "/admin", True),
        ("/admin/", "/admin", True),
        ("/admin/x", "/admin", True),
        ("/adminx", "/admin", False),  # the prefix bug -b FILE had
        ("/admin", "/admin/", False),
        ("/", "/", True),
        ("/anything", "/", True),
        ("/a/b/c", "/a/b/", True),
    ],
)
def test_path_match_rfc6265_5_1_4(path, cookie_path, matches):
    assert path_match(path, cookie_path) is matches


@pytest.mark.parametrize(
    ("host", "domain", "matches"),
    [
        ("example.com", "example.com", True),
        ("www.example.com", "example.com", True),
        ("wwwexample.com", "example.com", False),
        ("127.0.0.1", "0.0.1", False),  # an IP address matches nothing but itself
        ("127.0.0.1", "127.0.0.1", True),
    ],
)
def test_domain_match_rfc6265_5_1_3(host, domain, matches):
    assert domain_match(host, domain) is matches


@pytest.mark.parametrize(
    ("target", "path"), [("/", "/"), ("/p", "/"), ("/p/q", "/p"), ("/p/q/", "/p/q"), ("", "/")]
)
def test_default_path(target, path):
    assert default_path(parse_url("http://h.test" + (target or "/"))) == path


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("Wed, 09 Jun 2021 10:18:14 GMT", 1623233894.0),
        ("Wednesday, 09-Jun-21 10:18:14 GMT", 1623233894.0),  # RFC 850's two-digit year
        ("Wed Jun  9 10:18:14 2021", 1623233894.0),  # asctime
        ("9 jun 2021 10:18:14", 1623233894.0),
        ("Wed, 09 Jun 2021", None),  # no time
        ("Wed, 32 Jun 2021 10:18:14 GMT", None),
        ("not a date", None),
    ],
)
def test_cookie_dates_rfc6265_5_1_1(text, when):
    assert parse_cookie_date(text) == when


URL = parse_url("http://www.example.com/shop/cart")
HTTPS = parse_url("https://www.example.com/shop/cart")


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("novalue", "NAME=VALUE"),
        ("=v", "NAME=VALUE"),
        ("a=1; Domain=com", "public suffix"),
        ("a=1; Domain=co.uk", "public suffix"),
        ("a=1; Domain=other.org", "not inside it"),
        ("a=1; Secure", "plain http"),
        ("a=" + "x" * 5000, "MAX_COOKIE_SIZE"),
    ],
)
def test_set_cookie_refusals_say_why(line, why):
    with pytest.raises(CookieRefused, match=why):
        parse_set_cookie(line, URL, NOW)


def test_set_cookie_attributes():
    cookie = parse_set_cookie(
        "sid=abc; Domain=.Example.COM; Path=/; Max-Age=60; Expires=Wed, 09 Jun 2100 "
        "10:18:14 GMT; HttpOnly; Secure",
        HTTPS,
        NOW,
    )
    assert (cookie.name, cookie.value, cookie.domain, cookie.path) == (
        "sid",
        "abc",
        "example.com",
        "/",
    )
    assert not cookie.host_only and cookie.secure and cookie.http_only
    assert cookie.expires == NOW + 60  # Max-Age wins over Expires (5.3 step 3)
    plain = parse_set_cookie("a=1", URL, NOW)
    assert plain.host_only and plain.domain == "www.example.com" and plain.path == "/shop"
    assert plain.expires is None


def test_the_jar_sends_by_domain_path_secure_and_expiry():
    jar = CookieJar()
    jar.store(
        [
            "host=1",  # host-only: www.example.com exactly
            "dom=2; Domain=example.com; Path=/",
            "deep=3; Path=/shop/cart",
            "sec=4; Secure",  # refused over http
            "old=5; Max-Age=0",
        ],
        URL,
        NOW,
    )
    jar.store(["sec=4; Secure; Path=/"], HTTPS, NOW)
    assert jar.cookie_header(URL, NOW) == "deep=3; host=1; dom=2"  # longest path first
    assert jar.cookie_header(HTTPS, NOW) == "deep=3; host=1; dom=2; sec=4"
    assert jar.cookie_header(parse_url("http://a.example.com/shop"), NOW) == "dom=2"
    assert jar.cookie_header(parse_url("http://www.example.com/shopping"), NOW) == "dom=2"
    jar.store(["dom=gone; Domain=example.com; Path=/; Max-Age=0"], URL, NOW)  # removes it
    assert jar.cookie_header(parse_url("http://a.example.com/"), NOW) is None
    later = NOW + 10
    jar.store(["short=1; Max-Age=5; Path=/"], URL, NOW)
    assert "short" not in (jar.cookie_header(URL, later) or "")
    notes = "\n".join(jar.notes)
    assert "Refused cookie sec from www.example.com: Secure, but set over plain http" in notes
    assert 'Added cookie dom="2" for domain example.com, path /, expire 0' in notes


# --- -b FILE, against curl -------------------------------------------------------------------

JAR_LINES = [
    # domain, subdomains, path, secure, expiry, name, value
    ("www.example.com", "FALSE", "/", "FALSE", "0", "plain", "1"),
    ("www.example.com", "FALSE", "/", "TRUE", "0", "secure", "2"),  # https only
    ("www.example.com", "FALSE", "/", "FALSE", "1000", "expired", "3"),  # 1970
    ("www.example.com", "FALSE", "/admin", "FALSE", "0", "admin", "4"),  # not for /adminx
    (".com", "TRUE", "/", "FALSE", "0", "tld", "5"),  # a whole TLD
    (".example.com", "TRUE", "/", "FALSE", "0", "domain", "6"),
    ("example.com", "TRUE", "/adminx", "FALSE", "4102444800", "later", "7"),  # year 2100
]


def test_cookie_file_rules_match_curls(recorder, tmp_path):
    """Once -b FILE sent Secure cookies over http, expired ones, /admin's for /adminx and a
    cookie for all of .com. curl (with libpsl) and rawhttp now send the same."""
    jar = tmp_path / "jar"
    jar.write_text(
        "# Netscape HTTP Cookie File\n" + "".join("\t".join(f) + "\n" for f in JAR_LINES)
    )
    port = recorder.url.rsplit(":", 1)[1]
    url = f"http://www.example.com:{port}/adminx"
    resolve = ["--resolve", f"www.example.com:{port}:127.0.0.1"]
    theirs = curl("-b", str(jar), *resolve, url)
    ours = rawhttp(url, "-b", str(jar), *resolve)
    assert theirs.returncode == 0 and ours.returncode == 0, ours.stderr
    (curl_head, _), (our_head, _) = recorder.requests
    # RFC 6265 5.4's order: longer paths first, then older first. curl orders equal paths by
    # name length, newer first: rawhttp follows the RFC, so the sets are compared.
    assert cookie_sent(our_head) == b"later=7; plain=1; domain=6"
    assert set(cookie_sent(our_head).split(b"; ")) == set(cookie_sent(curl_head).split(b"; "))


def test_cookie_file_ip_suffix_is_never_sent(recorder, tmp_path):
    jar = tmp_path / "jar"
    jar.write_text(".0.0.1\tTRUE\t/\tFALSE\t0\tsuffix\t1\n127.0.0.1\tFALSE\t/\tFALSE\t0\tip\t2\n")
    theirs = curl("-b", str(jar), recorder.url + "/")
    ours = rawhttp(recorder.url + "/", "-b", str(jar))
    assert theirs.returncode == 0 and ours.returncode == 0
    assert [cookie_sent(head) for head, _ in recorder.requests] == [b"ip=2", b"ip=2"]


def test_a_missing_cookie_file_is_no_error_as_in_curl(recorder, tmp_path):
    """`-b jar -c jar` is curl's idiom: the first run has no file yet."""
    missing = str(tmp_path / "none")
    assert curl("-b", missing, recorder.url).returncode == 0
    ours = rawhttp(recorder.url, "-b", missing, "-v")
    assert ours.returncode == 0 and b"Cannot read the cookie file" in ours.stderr


def test_a_huge_cookie_file_is_exit_26(tmp_path, refused_port):
    jar = tmp_path / "jar"
    with open(jar, "wb") as file:
        file.truncate(MAX_COOKIE_FILE + 1)
    result = rawhttp(f"http://127.0.0.1:{refused_port}/", "-b", str(jar))
    assert result.returncode == 26 and b"MAX_COOKIE_FILE" in result.stderr


# --- the engine in a run: -c, Set-Cookie kept, redirect hops ---------------------------------


def set_cookies(httpserver):
    """/login sets cookies and redirects to /home; /home answers."""
    login = Response("moved", status=302, headers=[("Location", "/home")])
    for value in (
        "sid=abc; Path=/",
        "pref=dark; Path=/; Max-Age=3600",
        "tight=1; Path=/login",  # not for /home
        "hidden=2; Path=/; HttpOnly",
        "bad=3; Domain=com; Path=/",  # refused: a public suffix
        "sec=4; Secure; Path=/",  # kept: plain http, but to 127.0.0.1 (curl's rule too)
        "nopath=5",  # default path "/" for /login (RFC 6265 5.1.4, and curl)
    ):
        login.headers.add("Set-Cookie", value)
    httpserver.expect_request("/login").respond_with_response(login)
    httpserver.expect_request("/home").respond_with_data("home")
    return httpserver.url_for("/login")


def test_cookies_set_on_a_redirect_go_to_the_next_hop_and_the_jar(httpserver, tmp_path):
    """The cookie engine as curl's: -c turns it on; the 302's cookies are sent to /home and
    written to the jar in curl's format (run beside: the same lines, but for the third header
    comment, which names rawhttp instead of libcurl, and the order: curl lists by its hash)."""
    url = set_cookies(httpserver)
    jars = {name: tmp_path / name for name in ("curl", "ours")}
    theirs = curl("-L", "-c", str(jars["curl"]), url)
    ours = rawhttp(url, "-L", "-c", str(jars["ours"]), "-v")
    assert theirs.returncode == 0 and ours.returncode == 0, ours.stderr
    heads = [entry[0].headers.get("Cookie") for entry in httpserver.log]
    assert heads[0] is None and heads[2] is None  # /login: no cookies yet
    # /home: the same cookies from curl and rawhttp (in RFC 6265's order, or curl's)
    assert set(heads[1].split("; ")) == set(heads[3].split("; "))
    assert set(heads[1].split("; ")) == {"sid=abc", "pref=dark", "hidden=2", "sec=4", "nopath=5"}
    curl_lines, our_lines = (path.read_text().splitlines() for path in jars.values())
    assert our_lines[:2] == curl_lines[:2] and "rawhttp" in our_lines[2]
    ours_rows, curl_rows = (
        sorted(line.split("\t") for line in lines[3:] if line) for lines in (our_lines, curl_lines)
    )
    assert [row[:4] + row[5:] for row in ours_rows] == [row[:4] + row[5:] for row in curl_rows]
    for mine, theirs_row in zip(ours_rows, curl_rows, strict=True):  # Max-Age: a second apart
        assert abs(int(mine[4]) - int(theirs_row[4])) <= 5
    assert any(line.startswith("#HttpOnly_") for line in our_lines)
    stderr = ours.stderr.decode()
    assert "* Added cookie sid=" in stderr
    assert "* Refused cookie bad" in stderr and "public suffix" in stderr
    assert 'Added cookie sec="4"' in stderr


def test_a_secure_cookie_from_plain_http_elsewhere_is_refused(recorder):
    """Not loopback by name: www.example.com resolved to 127.0.0.1 (curl refuses it too)."""
    recorder.answer = b"HTTP/1.1 200 OK\r\nSet-Cookie: sec=1; Secure\r\nContent-Length: 0\r\n\r\n"
    port = recorder.url.rsplit(":", 1)[1]
    url = f"http://www.example.com:{port}/"
    resolve = ["--resolve", f"www.example.com:{port}:127.0.0.1"]
    theirs = curl("-c", "-", *resolve, url)
    ours = rawhttp(url, "-c", "-", *resolve, "-v")
    assert b"\tsec\t" not in theirs.stdout and b"\tsec\t" not in ours.stdout
    assert (
        b"Refused cookie sec from www.example.com: Secure, but set over plain http" in ours.stderr
    )


def test_cookies_carry_across_urls_of_one_run_and_back_through_the_file(httpserver, tmp_path):
    url = set_cookies(httpserver)
    jar = tmp_path / "jar"
    first = rawhttp(url, httpserver.url_for("/home"), "-c", str(jar))
    assert first.returncode == 0
    assert httpserver.log[1][0].headers.get("Cookie")  # the second URL got the first's
    again = rawhttp(httpserver.url_for("/home"), "-b", str(jar))
    assert again.returncode == 0
    assert httpserver.log[2][0].headers.get("Cookie") == httpserver.log[1][0].headers.get("Cookie")


def test_without_b_file_or_c_no_cookie_is_kept_as_in_curl(httpserver):
    url = set_cookies(httpserver)
    assert rawhttp(url, "-L").returncode == 0
    assert curl("-L", url).returncode == 0
    assert [entry[0].headers.get("Cookie") for entry in httpserver.log] == [None] * 4


def test_a_name_value_cookie_is_sent_with_the_engines(httpserver, tmp_path):
    url = set_cookies(httpserver)
    assert rawhttp(url, "-L", "-b", "given=1", "-c", str(tmp_path / "jar")).returncode == 0
    assert curl("-L", "-b", "given=1", "-c", str(tmp_path / "cjar"), url).returncode == 0
    home = [entry[0].headers.get("Cookie") for entry in httpserver.log][1::2]
    for sent in home:  # the engine's cookies, then -b's (curl's order)
        assert sent.endswith("; given=1") and "sid=abc" in sent


# --- whatever a server or a file holds, the rules answer: stored, or refused with a reason -----


ATTRIBUTES = ["Domain=", "Path=", "Max-Age=", "Expires=", "Secure", "HttpOnly", ";", "=", ".", " "]
set_cookie_texts = st.lists(
    st.one_of(st.sampled_from(ATTRIBUTES), st.text(max_size=12)), max_size=12
).map("".join)


@settings(max_examples=300, deadline=None)
@given(set_cookie_texts, st.sampled_from([URL, HTTPS, parse_url("http://127.0.0.1:8/a/b")]))
def test_any_set_cookie_is_stored_or_refused_with_a_reason(text, url):
    jar = CookieJar()
    jar.store([text], url, NOW)
    assert len(jar.notes) == 1
    header = jar.cookie_header(url, NOW)
    assert header is None or not any(ch in header for ch in "\r\n\x00")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["\t", "TRUE", "FALSE", "/", "#HttpOnly_", ".", "0"]),
            st.text(max_size=8),
        ),
        max_size=20,
    ).map("".join)
)
def test_any_cookie_file_text_loads_or_is_refused(text):
    jar = CookieJar()
    jar.load_text(text, "f", NOW)
    assert jar.netscape_text(NOW).startswith("# Netscape HTTP Cookie File\n")
