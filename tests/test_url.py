"""rawhttp.url: the URL forms users type, and the ones refused with exit 3."""

import pytest

from rawhttp.errors import InvalidURL
from rawhttp.url import URL, parse_url, resolve_location

FORMS = [
    ("www.example.com", URL("http", "www.example.com", 80, "/"), "www.example.com"),
    ("example.com:8080/p?q=1", URL("http", "example.com", 8080, "/p?q=1"), "example.com:8080"),
    ("http://a.test/x#frag", URL("http", "a.test", 80, "/x"), "a.test"),
    ("https://a.test", URL("https", "a.test", 443, "/"), "a.test"),
    ("https://a.test:443/", URL("https", "a.test", 443, "/"), "a.test"),
    ("HTTP://A.test:80/", URL("http", "a.test", 80, "/"), "a.test"),
    ("[::1]:8080/", URL("http", "::1", 8080, "/"), "[::1]:8080"),
    ("http://[::1]/", URL("http", "::1", 80, "/"), "[::1]"),
    ("localhost:8000/a?b=1", URL("http", "localhost", 8000, "/a?b=1"), "localhost:8000"),
    ("a.test/b/é?q=ü", URL("http", "a.test", 80, "/b/%C3%A9?q=%C3%BC"), "a.test"),
    ("a.test/?", URL("http", "a.test", 80, "/?"), "a.test"),
    ("a.test?x=1", URL("http", "a.test", 80, "/?x=1"), "a.test"),
    ("bücher.example/", URL("http", "xn--bcher-kva.example", 80, "/"), "xn--bcher-kva.example"),
]


@pytest.mark.parametrize(("text", "expected", "authority"), FORMS)
def test_forms(text, expected, authority):
    url = parse_url(text)
    assert url == expected
    assert url.authority == authority


BAD = [
    ("", "empty"),
    ("ftp://a.test/", "unsupported scheme"),
    ("http://", "no host"),
    ("http://a.test:99999/", "out of range"),
    ("http://a.test:x/", "invalid URL"),
    ("http://a.test:/", "empty port"),
    ("a.test/a\r\nX: 1", "control character"),
    ("a.test/\x00", "control character"),
    ("a.test/ x", "whitespace"),
    (" a.test", "whitespace"),
    ("http://user:pw@a.test/", "user info"),
    ("http://a_b!.test/", "invalid host"),
    ("1http://x", "malformed scheme"),
]


@pytest.mark.parametrize(("text", "words"), BAD)
def test_bad_urls(text, words):
    with pytest.raises(InvalidURL, match=words):
        parse_url(text)


@pytest.mark.parametrize(
    ("base", "location", "expected"),
    [
        ("http://a.test:81/x/y", "z", "http://a.test:81/x/z"),
        ("http://a.test/x/y", "../z?q", "http://a.test/z?q"),
        ("http://a.test/x", "/abs", "http://a.test/abs"),
        ("http://a.test/x", "//b.test/c", "http://b.test/c"),
        ("http://a.test/x", "https://c.test/", "https://c.test/"),
        ("https://a.test/x", "//b.test/", "https://b.test/"),
    ],
)
def test_resolve_location(base, location, expected):
    assert str(resolve_location(parse_url(base), location)) == expected


def test_location_to_other_scheme_refused():
    with pytest.raises(InvalidURL, match="unsupported scheme"):
        resolve_location(parse_url("http://a.test/"), "file:///etc/passwd")
