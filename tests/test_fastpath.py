"""The download fast path: `Response.copy_body_to` a `FileSink` moves the body socket -> pipe ->
file with os.splice. It must save exactly what the `recv_into` road saves, byte for byte, and
emit the same progress events; it never reads past a body's end, and stands aside for chunked
bodies, TLS, and views that show the bytes."""

from __future__ import annotations

import os
import ssl

import pytest
import trustme
from click.testing import CliRunner
from conftest import RESET
from pytest_httpserver import HTTPServer

import rawhttp
from rawhttp import client, events
from rawhttp.cli import main
from rawhttp.client import Options, Session
from rawhttp.errors import IncompleteBody
from rawhttp.sinks import FileSink
from rawhttp.streams import Stream

pytestmark = pytest.mark.skipif(not hasattr(os, "splice"), reason="os.splice is Linux-only")

BODY = bytes(range(256)) * 1200  # 300 KiB: several splices of a small pipe, several reads


def head(length: int | None) -> bytes:
    field = b"" if length is None else b"Content-Length: %d\r\n" % length
    return b"HTTP/1.1 200 OK\r\n" + field + b"\r\n"


@pytest.fixture
def spliced(monkeypatch):
    """Counts the splices from the socket; `SPLICE` is set per test by `save`."""
    calls: list[int] = []
    original = Stream.splice_into

    def counting(self, sink, count):
        moved = original(self, sink, count)
        calls.append(moved)
        return moved

    monkeypatch.setattr(Stream, "splice_into", counting)
    return calls


def save(url: str, path, splice: bool, monkeypatch, bufsize: int = 64 * 1024, **kwargs):
    """GET `url` into `path` through a FileSink, by splice or by recv_into; the events."""
    monkeypatch.setattr(client, "SPLICE", splice)
    seen: list[events.Event] = []
    sink = FileSink(str(path))
    options = Options(read_timeout=5, connect_timeout=5, bufsize=bufsize)
    try:
        with rawhttp.stream(url, options=options, on_event=seen.append, **kwargs) as response:
            response.copy_body_to(sink)
        sink.finish()
    except BaseException:
        sink.abort()
        raise
    return seen


SCRIPTS = {
    "length, body apart from the head": lambda: [head(len(BODY)), BODY],
    "length, body partly with the head": lambda: [head(len(BODY)) + BODY[:1000], BODY[1000:]],
    "length, body all with the head": lambda: [head(len(BODY)) + BODY],
    "length, in many small pieces": lambda: (
        [head(len(BODY))] + [BODY[i : i + 50_000] for i in range(0, len(BODY), 50_000)]
    ),
    "close, body partly with the head": lambda: [head(None) + BODY[:7], BODY[7:]],
    "close, body apart": lambda: [head(None), BODY],
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_splice_and_recv_into_save_the_same_bytes(raw_server, tmp_path, monkeypatch, spliced, name):
    server = raw_server(SCRIPTS[name]())
    save(server.url + "/", tmp_path / "fast", True, monkeypatch)
    assert spliced, "the splice path was not taken"
    spliced.clear()
    save(server.url + "/", tmp_path / "slow", False, monkeypatch)
    assert not spliced
    assert (tmp_path / "fast").read_bytes() == (tmp_path / "slow").read_bytes() == BODY


@pytest.mark.parametrize(
    "script, body",
    [
        ([head(0)], b""),
        ([head(1) + b"x"], b"x"),
        ([head(1), b"x"], b"x"),
        ([head(5) + b"hel", b"lo"], b"hello"),
        ([head(None)], b""),
        ([head(None) + b"tiny"], b"tiny"),
    ],
)
@pytest.mark.parametrize("splice", [True, False])
def test_small_bodies(raw_server, tmp_path, monkeypatch, script, body, splice):
    server = raw_server(script)
    save(server.url + "/", tmp_path / "out", splice, monkeypatch)
    assert (tmp_path / "out").read_bytes() == body


@pytest.mark.parametrize("splice", [True, False])
def test_progress_and_done_events_are_the_same(raw_server, tmp_path, monkeypatch, splice):
    server = raw_server([head(len(BODY)) + BODY[:100], BODY[100:]])
    seen = save(server.url + "/", tmp_path / "out", splice, monkeypatch)
    progress = [e.received for e in seen if isinstance(e, events.BodyProgress)]
    assert progress[0] == 100  # the bytes that came with the head, first
    assert progress == sorted(progress) and progress[-1] == len(BODY)
    done = [e for e in seen if isinstance(e, events.BodyDone)]
    assert len(done) == 1
    assert (done[0].received, done[0].reason) == (len(BODY), "Content-Length reached")


def test_a_one_byte_buffer_splices_one_byte_at_a_time(raw_server, tmp_path, monkeypatch, spliced):
    server = raw_server([head(20) + b"0123", b"456789abcdefghij"])
    save(server.url + "/", tmp_path / "out", True, monkeypatch, bufsize=1)
    assert (tmp_path / "out").read_bytes() == b"0123456789abcdefghij"
    assert spliced == [1] * 20  # the head was read a byte at a time too: no body came with it


def test_splice_never_reads_past_the_body(raw_server, tmp_path, monkeypatch, spliced):
    """The rest of the first body and all of the second answer arrive in one send on a kept
    connection: the first body's splices stop exactly at its Content-Length, so the second
    answer is still in the socket for the second request."""
    monkeypatch.setattr(client, "SPLICE", True)
    # The second answer is in the socket before the second request is sent, which makes a kept
    # connection unusable (Stream.stale); here it stands for a pipelined answer.
    monkeypatch.setattr(Stream, "stale", lambda self: None)
    first, second = BODY[:70_000], b"second answer"
    server = raw_server([head(len(first)) + first[:10], first[10:] + head(len(second)) + second])
    with Session(Options(read_timeout=5)) as session:
        for path, body in ((tmp_path / "1", first), (tmp_path / "2", second)):
            sink = FileSink(str(path))
            with session.stream(server.url + "/", keep_alive=True) as response:
                response.copy_body_to(sink)
            sink.finish()
            assert path.read_bytes() == body
    assert server.accepted == 1 and spliced


def test_a_short_body_is_incomplete_and_leaves_no_file(raw_server, tmp_path, monkeypatch):
    server = raw_server([head(len(BODY)) + BODY[:10], BODY[10:5000]])
    with pytest.raises(IncompleteBody):
        save(server.url + "/", tmp_path / "out", True, monkeypatch)
    assert os.listdir(tmp_path) == ["out.part"]  # no FILE; the bytes that came, to resume
    assert (tmp_path / "out.part").read_bytes() == BODY[:5000]


def test_a_reset_mid_body_is_a_network_error(raw_server, tmp_path, monkeypatch):
    server = raw_server([head(len(BODY)) + BODY[:10], BODY[10:5000], RESET])
    with pytest.raises(rawhttp.RawHTTPError):
        save(server.url + "/", tmp_path / "out", True, monkeypatch)
    assert os.listdir(tmp_path) == ["out.part"]


def test_chunked_bodies_take_the_recv_into_road(raw_server, tmp_path, monkeypatch, spliced):
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    server = raw_server([chunked])
    save(server.url + "/", tmp_path / "out", True, monkeypatch)
    assert (tmp_path / "out").read_bytes() == b"hello" and not spliced


def test_a_resumed_file_is_continued_by_splice(raw_server, tmp_path, monkeypatch, spliced):
    """-C opens FILE.part to continue it: not with O_APPEND, which splice(2) refuses."""
    (tmp_path / "out.part").write_bytes(BODY[:1000])
    rest = BODY[1000:]
    partial = b"HTTP/1.1 206 Partial Content\r\nContent-Length: %d\r\n\r\n" % len(rest)
    server = raw_server([partial, rest])
    monkeypatch.setattr(client, "SPLICE", True)
    sink = FileSink(str(tmp_path / "out"), resume=True)
    with rawhttp.stream(server.url + "/", options=Options(read_timeout=5)) as response:
        response.copy_body_to(sink)
    sink.finish()
    assert (tmp_path / "out").read_bytes() == BODY and spliced


def test_tls_falls_back_to_recv_into(tmp_path, monkeypatch, spliced):
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/").respond_with_data(BODY)
    server.start()
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    try:
        monkeypatch.setattr(client, "SPLICE", True)
        sink = FileSink(str(tmp_path / "out"))
        options = Options(read_timeout=5, cafile=str(cafile))
        with rawhttp.stream(f"https://127.0.0.1:{server.port}/", options=options) as response:
            response.copy_body_to(sink)
        sink.finish()
    finally:
        server.stop()
    assert (tmp_path / "out").read_bytes() == BODY and not spliced


@pytest.mark.parametrize("flags, fast", [([], True), (["-v"], True), (["--trace"], False)])
def test_the_cli_splices_unless_a_view_shows_the_bytes(
    raw_server, tmp_path, monkeypatch, spliced, flags, fast
):
    server = raw_server([head(len(BODY)) + BODY[:3000], BODY[3000:]])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["get", server.url + "/", "-o", str(out), *flags])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == BODY
    assert bool(spliced) is fast
