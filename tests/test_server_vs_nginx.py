"""Our server's conditional answers beside nginx's, for the same requests on the same files
(samples/site): the statuses must agree (the ETags themselves differ: nginx's is "mtime-size",
ours adds the inode). nginx starts as in test_nginx.py (skipped where it is not installed)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from conftest import read_answer
from test_nginx import nginx, nginx_prefix  # noqa: F401  (the module-scoped fixture)

from rawhttp.server import Server, sample_site

TIMEOUT = 5.0
OLD = "Thu, 01 Jan 1998 00:00:00 GMT"


class Peer:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    def ask(self, *fields: str, method: str = "GET", target: str = "/style.css", body=b""):
        extra = "".join(f"{field}\r\n" for field in fields)
        length = f"Content-Length: {len(body)}\r\n" if method == "PUT" else ""
        head = f"{method} {target} HTTP/1.1\r\nHost: t\r\n{length}{extra}\r\n".encode()
        with socket.create_connection((self.host, self.port), timeout=TIMEOUT) as sock:
            sock.sendall(head + body)
            return read_answer(sock, method)[0]


@pytest.fixture(scope="module")
def peers(nginx):  # noqa: F811
    address = urlsplit(nginx)
    with Server(sample_site(), log=[].append) as ours:
        yield {"nginx": Peer(address.hostname, address.port), "rawhttp": Peer(ours.host, ours.port)}


def validators(peer: Peer) -> tuple[str, str]:
    head = peer.ask()
    return head.headers["ETag"], head.headers["Last-Modified"]


CASES = [
    ("If-None-Match: {etag}", None, 304),
    ("If-None-Match: W/{etag}", None, 304),  # weak comparison
    ("If-None-Match: *", None, 304),
    ('If-None-Match: "other"', None, 200),
    ("If-Match: {etag}", None, 200),
    ('If-Match: "other"', None, 412),
    ("If-Match: *", None, 200),
    (f"If-Unmodified-Since: {OLD}", None, 412),
    ("If-Unmodified-Since: {date}", None, 200),
    ("If-Modified-Since: {date}", None, 304),
    (f"If-Modified-Since: {OLD}", None, 200),
    ("If-Range: {etag}", "Range: bytes=0-9", 206),
    ('If-Range: "other"', "Range: bytes=0-9", 200),
    ("If-Range: {date}", "Range: bytes=0-9", 206),
]


@pytest.mark.parametrize(("field", "extra", "status"), CASES)
def test_the_same_preconditions_get_the_same_status(peers, field, extra, status):
    for name, peer in peers.items():
        etag, date = validators(peer)
        fields = [field.format(etag=etag, date=date)] + ([extra] if extra else [])
        assert (name, peer.ask(*fields).status) == (name, status)


def test_a_304_carries_the_etag_on_both(peers):
    for peer in peers.values():
        etag, _ = validators(peer)
        assert peer.ask(f"If-None-Match: {etag}").headers["ETag"] == etag


def test_what_nginx_answers_a_put_with_content_range(nginx):  # noqa: F811
    """nginx's DAV module refuses a partial PUT ("PUT with range is unsupported"); we answer
    400 as RFC 9110 section 14.5 asks. This records nginx's choice beside ours."""
    address = urlsplit(nginx)
    peer = Peer(address.hostname, address.port)
    head = peer.ask(
        "Content-Range: bytes 0-4/10", method="PUT", target="/uploads/p.txt", body=b"piece"
    )
    assert head.status == 501
    assert not (nginx_prefix[0] / "uploads" / "p.txt").exists()
