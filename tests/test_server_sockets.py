"""The socket moves both drivers share (rawhttp/server/sockets.py), each on a real loopback
socket where one can show it."""

from __future__ import annotations

import errno
import selectors
import socket
import time

import pytest

from rawhttp.server import sockets

TIMEOUT = 5.0


@pytest.fixture
def pair():
    """A connected (server side, client side) pair over 127.0.0.1, and its listener."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
        server, _ = listener.accept()
        server.settimeout(TIMEOUT)
        yield server, client
        server.close()
        client.close()


class FailingListener:
    def __init__(self, error: OSError):
        self.error = error

    def accept(self):
        raise self.error


def test_accept_gives_the_waiting_client():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        lines: list[str] = []
        assert sockets.accept(listener, lines.append) is None  # nobody waits yet
        with socket.create_connection(listener.getsockname(), timeout=TIMEOUT) as client:
            deadline = time.monotonic() + TIMEOUT
            while (accepted := sockets.accept(listener, lines.append)) is None:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            sock, address = accepted
            with sock:
                assert address[1] == client.getsockname()[1]
        assert lines == []


def test_a_failed_accept_is_logged_and_paused_after_only_when_asked():
    lines: list[str] = []
    out_of_files = FailingListener(OSError(errno.EMFILE, "Too many open files"))
    started = time.monotonic()
    assert sockets.accept(out_of_files, lines.append) is None
    assert sockets.accept(out_of_files, lines.append, pause_after_failure=0.2) is None
    assert time.monotonic() - started >= 0.2
    assert lines == ["accept failed: [Errno 24] Too many open files"] * 2
    assert sockets.accept(FailingListener(ConnectionAbortedError()), lines.append) is None
    assert len(lines) == 2  # a client that left is no failure


def test_reset_on_close_sends_a_reset(pair):
    server, client = pair
    sockets.reset_on_close(server)
    server.close()
    with pytest.raises(ConnectionResetError):
        client.recv(1)


def test_half_close_sends_the_fin_and_keeps_reading(pair):
    server, client = pair
    assert sockets.half_close(server)
    assert client.recv(1) == b""  # our side is shut
    client.sendall(b"late")
    assert server.recv(4) == b"late"  # theirs is still read


def test_half_close_of_a_closed_socket_says_so():
    sock = socket.socket()
    sock.close()
    assert not sockets.half_close(sock)


def test_send_at_once_turns_nagle_off(pair):
    server, _ = pair
    sockets.send_at_once(server)
    assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_the_waker_wakes_a_select():
    waker = sockets.Waker()
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(waker.receive, selectors.EVENT_READ)
            assert selector.select(0) == []
            waker.wake()
            assert len(selector.select(TIMEOUT)) == 1
    finally:
        waker.close()
    waker.wake()  # after close: nothing to wake, and no error
