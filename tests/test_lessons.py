"""The socket lessons: TCP and UDP servers and clients on loopback, through the API and the CLI.

Every server binds 127.0.0.1 port 0, every socket has a timeout, and every server and socket is
closed by a `with` block, so a failing test leaves nothing running.
"""

from __future__ import annotations

import io
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from rawhttp.cli import main
from rawhttp.errors import ConnectError, LimitExceeded, NetworkError, Timeout
from rawhttp.lessons import EXERCISES, address_text, tcp, udp


def wait_for(predicate, timeout: float = 3.0) -> bool:
    """Poll until `predicate()` is true: server logs are written by other threads."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    """Every server and session thread a test starts has ended when it returns."""
    before = set(threading.enumerate())
    yield
    assert wait_for(lambda: set(threading.enumerate()) <= before), threading.enumerate()


@contextmanager
def raw_client(address: tuple[str, int]):
    """A bare TCP socket to a lesson server, its welcome line already read."""
    with socket.create_connection(address, timeout=3) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each send its own segment
        reader = tcp.LineReader(sock)
        assert reader.readline() == tcp.WELCOME
        yield sock, reader


@pytest.fixture
def silent_udp():
    """A bound UDP socket that receives but never answers: a server that lost every reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        yield sock


@pytest.fixture
def closed_udp_port():
    """A loopback UDP port with nothing bound to it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- TCP: lines over a byte stream -----------------------------------------------------------


def test_line_reader_cuts_lines_whatever_the_recv_sizes():
    left, right = socket.socketpair()
    with left, right:
        right.settimeout(3)
        reader = tcp.LineReader(right, limit=10)
        left.sendall(b"one\r\ntw")
        left.sendall(b"o\nthree\n\xff\n")
        left.sendall(b"0123456789\nlast")
        left.shutdown(socket.SHUT_WR)
        lines = [reader.readline() for _ in range(6)]
        assert lines == ["one", "two", "three", "\ufffd", "0123456789", "last"]
        assert reader.readline() is None


@pytest.mark.parametrize("data", [b"x" * 11, b"x" * 11 + b"\n"])
def test_line_reader_refuses_a_line_over_the_limit(data):
    left, right = socket.socketpair()
    with left, right:
        right.settimeout(3)
        left.sendall(data)
        with pytest.raises(LimitExceeded, match="longer than 10 bytes"):
            tcp.LineReader(right, limit=10).readline()


# --- TCP: the server and client --------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, replies",
    [
        ("echo", ["hi there", "grüße"]),
        ("upper", ["HI THERE", "GRÜSSE"]),
        ("hello", ["Hello, hi there", "Hello, grüße"]),
    ],
)
def test_tcp_modes_round_trip(mode, replies):
    with (
        tcp.running_server(mode, log=[].append) as address,
        tcp.LineClient(*address, timeout=3) as client,
    ):
        assert client.welcome == tcp.WELCOME
        assert [client.ask("hi there"), client.ask("grüße")] == replies


def test_tcp_two_clients_at_once_each_get_their_own_answers():
    log: list[str] = []
    with (
        tcp.running_server("hello", log=log.append) as address,
        tcp.LineClient(*address, timeout=3) as ann,
        tcp.LineClient(*address, timeout=3) as bob,
    ):
        assert ann.ask("Ann") == "Hello, Ann"
        assert bob.ask("Bob") == "Hello, Bob"
        assert ann.ask("Ann again") == "Hello, Ann again"
        assert bob.ask("Bob again") == "Hello, Bob again"
        assert f"connect from {ann.local} (1 of 32 clients)" in log
        assert f"connect from {bob.local} (2 of 32 clients)" in log
        assert f"from {bob.local}: 'Bob again'" in log


def test_tcp_message_split_across_sends_is_one_line():
    log: list[str] = []
    with (
        tcp.running_server("echo", log=log.append) as address,
        raw_client(address) as (sock, reader),
    ):
        sock.sendall(b"hel")
        time.sleep(0.05)
        sock.sendall(b"lo wor")
        time.sleep(0.05)
        sock.sendall(b"ld\n")
        assert reader.readline() == "hello world"
        sock.sendall(b"one\ntwo\r\n")  # two messages in one send: two answers
        assert [reader.readline(), reader.readline()] == ["one", "two"]
    messages = [line for line in log if line.startswith("from ")]
    assert [line.split(": ", 1)[1] for line in messages] == ["'hello world'", "'one'", "'two'"]


def test_tcp_exit_ends_the_session_and_is_logged():
    log: list[str] = []
    with (
        tcp.running_server("echo", log=log.append) as address,
        tcp.LineClient(*address, timeout=3) as client,
    ):
        assert client.ask("exit") == tcp.GOODBYE
        assert client.reader.readline() is None  # the server closed: EOF
        assert wait_for(lambda: f"disconnect {client.local} (sent exit)" in log), log


def test_tcp_client_closing_is_eof_on_the_server():
    log: list[str] = []
    with tcp.running_server("echo", log=log.append) as address:
        with tcp.LineClient(*address, timeout=3) as client:
            who = client.local
        assert wait_for(lambda: f"disconnect {who} (EOF)" in log), log


def test_tcp_line_over_the_limit_is_refused_cleanly():
    log: list[str] = []
    with (
        tcp.running_server("echo", max_line=1000, log=log.append) as address,
        raw_client(address) as (sock, reader),
    ):
        sock.sendall(b"x" * 1000 + b"\n")
        assert reader.readline() == "x" * 1000  # exactly the limit is fine
        sock.sendall(b"y" * 5000)  # no newline: the server must not buffer forever
        assert reader.readline() == "error: line longer than 1000 bytes; closing"
        assert reader.readline() is None
    # running_server's exit joined the session thread: its last log line is written.
    assert log[-1].endswith(" (line longer than 1000 bytes)")


def test_tcp_line_over_the_default_limit():
    with (
        tcp.running_server("echo", log=[].append) as address,
        raw_client(address) as (sock, reader),
    ):
        sock.sendall(b"z" * (tcp.MAX_LINE + 10))
        assert reader.readline() == f"error: line longer than {tcp.MAX_LINE} bytes; closing"


def test_tcp_client_over_the_cap_is_told_to_come_back():
    log: list[str] = []
    with tcp.running_server("echo", max_clients=1, log=log.append) as address:
        with tcp.LineClient(*address, timeout=3) as first:
            with tcp.LineClient(*address, timeout=3) as second:
                assert second.welcome == tcp.BUSY
                with pytest.raises(
                    NetworkError, match="; its last line was 'Sorry, the server is full"
                ):
                    second.ask("me too?")
            assert first.ask("still here") == "still here"
        assert any(line.startswith("refused ") for line in log), log


def test_tcp_idle_client_is_disconnected():
    log: list[str] = []
    with tcp.running_server("echo", idle_timeout=0.2, log=log.append) as address:
        with tcp.LineClient(*address, timeout=3) as client:
            assert client.receive() == "Bye: idle for 0.2 s."
            assert client.reader.readline() is None
        assert wait_for(lambda: any("(idle for 0.2 s)" in line for line in log)), log


def test_tcp_server_stops_with_a_client_connected():
    log: list[str] = []
    started = time.monotonic()
    with tcp.running_server("echo", log=log.append) as address:
        client = tcp.LineClient(*address, timeout=3)  # its welcome came: its session is running
    with client:
        assert client.reader.readline() is None  # the server's shutdown reached the client
    assert time.monotonic() - started < 2
    assert f"disconnect {client.local} (server stopping)" in log


def test_tcp_connect_refused_is_a_connect_error(refused_port):
    with pytest.raises(ConnectError, match="Connection refused") as caught:
        tcp.LineClient("127.0.0.1", refused_port, timeout=3)
    assert caught.value.exit_code == 7
    assert (
        str(caught.value)
        == f"could not connect to 127.0.0.1 port {refused_port}: Connection refused"
    )


def test_tcp_no_reply_is_a_timeout():
    # The kernel completes the handshake for a listening socket; nobody ever speaks on it.
    with (
        socket.create_server(("127.0.0.1", 0)) as listener,
        pytest.raises(Timeout, match=r"no reply from 127\.0\.0\.1:\d+ within 0\.2 s") as caught,
    ):
        tcp.LineClient(*listener.getsockname(), timeout=0.2)
    assert caught.value.exit_code == 28


def test_tcp_run_client_prints_welcome_and_replies():
    out, err = io.StringIO(), io.StringIO()
    with tcp.running_server("upper", log=[].append) as address:
        tcp.run_client(*address, ["abc", "exit", "never sent"], out=out, err=err, timeout=3)
    assert out.getvalue() == f"{tcp.WELCOME}\nABC\n{tcp.GOODBYE}\n"
    assert re.fullmatch(r"Connected 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+\.\n", err.getvalue())


def test_tcp_bind_failure_is_one_error_line():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["lesson", "tcp-server", "--port", str(port)])
    assert result.exit_code == 7
    assert result.stderr == (
        f"rawhttp: error: tcp: cannot listen on 127.0.0.1 port {port}: Address already in use\n"
    )


def test_udp_bind_failure_is_one_error_line(silent_udp):
    port = silent_udp.getsockname()[1]
    result = CliRunner().invoke(main, ["lesson", "udp-server", "--port", str(port)])
    assert result.exit_code == 7
    assert result.stderr == (
        f"rawhttp: error: udp: cannot bind 127.0.0.1 port {port}: Address already in use\n"
    )


# --- UDP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode, reply", [("upper", "HELLO, GRÜSSE"), ("echo", "hello, grüße")])
def test_udp_round_trip(mode, reply):
    with udp.running_server(mode, log=[].append) as address:
        answer, peer = udp.send_once(*address, "hello, grüße", timeout=3)
    assert answer == reply
    assert peer == address


def test_udp_server_logs_the_peer_of_every_datagram():
    log: list[str] = []
    with (
        udp.running_server("upper", log=log.append) as address,
        udp.UDPClient(*address, timeout=3) as client,
    ):
        assert client.ask("hello") == ("HELLO", address)
        assert client.ask("") == ("", address)  # an empty datagram is still a datagram
        port = client.sock.getsockname()[1]  # bound by the kernel at the first sendto
    assert log == [f"from 127.0.0.1:{port}: 'hello'", f"from 127.0.0.1:{port}: ''"]


def test_udp_connected_client_round_trip():
    with udp.running_server("upper", log=[].append) as address:
        assert udp.send_once(*address, "hi", timeout=3, connect=True) == ("HI", address)


def test_udp_no_answer_is_a_plain_timeout(silent_udp):
    address = silent_udp.getsockname()
    with pytest.raises(Timeout) as caught:
        udp.send_once(*address, "anyone?", timeout=0.2)
    assert caught.value.exit_code == 28
    assert caught.value.layer == "udp"
    assert str(caught.value).startswith(f"no answer from {address_text(address)} within 0.2 s: ")
    assert "no connection and no retransmission" in str(caught.value)
    assert silent_udp.recvfrom(100)[0] == b"anyone?"  # it did arrive; nobody answered


@pytest.mark.parametrize("connect", [False, True])
def test_udp_nothing_listening_is_a_timeout_or_icmp_refused(closed_udp_port, connect):
    with pytest.raises((Timeout, ConnectError)) as caught:
        udp.send_once("127.0.0.1", closed_udp_port, "hello?", timeout=0.2, connect=connect)
    error = caught.value
    assert error.layer == "udp"
    if isinstance(error, ConnectError):  # the kernel passed on the ICMP "port unreachable"
        assert error.exit_code == 7
        assert "ICMP 'port unreachable'" in str(error)
    else:
        assert error.exit_code == 28
        assert "nothing listens there" in str(error)


def test_udp_run_client_goes_on_after_a_lost_datagram(silent_udp):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(Timeout, match="2 of 2 datagrams got no answer"):
        udp.run_client(*silent_udp.getsockname(), ["a", "b", "exit", "c"], out, err, 0.1)
    assert out.getvalue() == ""
    assert err.getvalue().count("no answer from") == 2
    assert [silent_udp.recvfrom(10)[0] for _ in range(2)] == [b"a", b"b"]  # not exit, not c


def test_udp_run_client_prints_answer_and_sender():
    out = io.StringIO()
    with udp.running_server("upper", log=[].append) as address:
        udp.run_client(*address, ["one", "two"], out, io.StringIO(), 3)
    who = address_text(address)
    assert out.getvalue() == f"from {who}: 'ONE'\nfrom {who}: 'TWO'\n"


def test_udp_send_failure_is_a_network_error(silent_udp):
    with pytest.raises(NetworkError, match="sendto failed"):
        udp.send_once(*silent_udp.getsockname(), "x" * 70000, timeout=0.2)


# --- the CLI ---------------------------------------------------------------------------------


def test_lesson_list():
    result = CliRunner().invoke(main, ["lesson", "list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == [name for name, _ in EXERCISES]
    assert "accept" in lines[0] and "recvfrom" in lines[2]


def test_cli_tcp_client_send_once_and_stdin():
    runner = CliRunner()
    with tcp.running_server("hello", log=[].append) as (host, port):
        once = runner.invoke(
            main, ["lesson", "tcp-client", host, "--port", str(port), "--send", "A"]
        )
        piped = runner.invoke(main, ["lesson", "tcp-client", "--port", str(port)], input="B\nC\n")
    assert (once.exit_code, once.stdout) == (0, "Hello, A\n")
    assert (piped.exit_code, piped.stdout) == (0, f"{tcp.WELCOME}\nHello, B\nHello, C\n")


def test_cli_tcp_client_send_refuses_two_lines():
    result = CliRunner().invoke(main, ["lesson", "tcp-client", "--send", "a\nb"])
    assert result.exit_code == 2


def test_cli_udp_client_send_once(silent_udp):
    port = silent_udp.getsockname()[1]
    result = CliRunner().invoke(
        main, ["lesson", "udp-client", "--port", str(port), "--send", "hi", "--timeout", "0.2"]
    )
    assert result.exit_code == 28
    assert result.stderr.startswith(f"rawhttp: error: udp: no answer from 127.0.0.1:{port} within")
    assert result.stderr.count("\n") == 1


def lesson_process(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rawhttp", "lesson", *args],
        capture_output=True,
        text=True,
        timeout=10,
        **kwargs,
    )


@contextmanager
def server_process(*args: str):
    """`rawhttp lesson <server> --port 0 ...` in a process: yields (process, port, log lines).

    On exit it sends SIGINT (Ctrl-C) and checks the server stopped cleanly with exit 0.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "rawhttp", "lesson", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    try:
        log.append(process.stderr.readline().rstrip("\n"))
        match = re.search(r" on 127\.0\.0\.1:(\d+) \((TCP|UDP), mode \w+\)\. ", log[0])
        assert match, log
        yield process, int(match[1]), log
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, rest = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        log.extend(rest.splitlines())
    assert process.returncode == 0, log
    assert log[-1] == "Stopped."


def test_cli_tcp_server_and_client_processes():
    with server_process("tcp-server", "--mode", "upper") as (_, port, log):
        done = lesson_process("tcp-client", "--port", str(port), input="hello\nworld\nexit\n")
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{tcp.WELCOME}\nHELLO\nWORLD\n{tcp.GOODBYE}\n"
        assert done.stderr.startswith("Connected 127.0.0.1:")
    assert log[0] == f"Listening on 127.0.0.1:{port} (TCP, mode upper). Ctrl-C stops the server."
    assert log[1].startswith("connect from 127.0.0.1:")
    assert log[2].endswith(": 'hello'") and log[4].endswith(": 'exit'")
    assert log[5].endswith(" (sent exit)")


def test_cli_sigint_stops_the_tcp_server_with_a_client_connected():
    with server_process("tcp-server") as (_, port, log):
        client = tcp.LineClient("127.0.0.1", port, timeout=3)
    with client:
        assert client.reader.readline() is None
    assert log[-2] == f"disconnect {client.local} (server stopping)"


def test_cli_udp_server_and_client_processes():
    with server_process("udp-server") as (_, port, log):
        done = lesson_process("udp-client", "--port", str(port), input="hello\nworld\n")
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"from 127.0.0.1:{port}: 'HELLO'\nfrom 127.0.0.1:{port}: 'WORLD'\n"
    assert log[0] == (
        f"Waiting for datagrams on 127.0.0.1:{port} (UDP, mode upper). Ctrl-C stops the server."
    )
    assert re.fullmatch(r"from 127\.0\.0\.1:\d+: 'hello'", log[1])


def test_cli_tcp_client_refused_process(refused_port):
    done = lesson_process("tcp-client", "--port", str(refused_port), input="hi\n")
    assert done.returncode == 7
    assert done.stdout == ""
    assert done.stderr == (
        f"rawhttp: error: tcp: could not connect to 127.0.0.1 port {refused_port}: "
        "Connection refused\n"
    )


def test_a_refused_client_that_already_sent_a_line_reads_the_goodbye_not_a_reset():
    """The server at its cap answers 'full' and closes politely: the client's line, already
    on its way, is read and dropped, so no RST destroys the goodbye (as a blunt close would)."""
    with (
        tcp.running_server("echo", max_clients=1, log=[].append) as address,
        tcp.LineClient(*address, timeout=3),
    ):
        for _ in range(20):
            with socket.create_connection(address, timeout=3) as sock:
                sock.sendall(b"second\n")
                received = b""
                while piece := sock.recv(4096):  # a reset would raise here
                    received += piece
            assert received == (tcp.BUSY + "\n").encode()


SERVER_ARGS = ("--port", "0", "--max-clients", "3")


def _take_the_terminal() -> None:
    """In the child, in its new session: make its stdin (the pty) its controlling terminal, as
    a shell does, so that Ctrl-C typed there sends it SIGINT."""
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_ctrl_c_on_a_terminal_stops_the_tcp_server_at_once_whatever_its_clients_do():
    """Ctrl-C typed on the server's terminal (a pty: the SIGINT comes from the line
    discipline, as for a person) with clients in every state: idle, half a line sent, one
    flooding a line past the limit, one turned away as the server is full."""
    import os
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "rawhttp", "lesson", "tcp-server", *SERVER_ARGS],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
        preexec_fn=_take_the_terminal,
    )
    os.close(follower)
    shown = b""
    while b"Ctrl-C" not in shown:
        shown += os.read(leader, 4096)
    port = int(re.search(rb"127\.0\.0\.1:(\d+)", shown)[1])
    clients = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(4)]
    try:
        clients[1].sendall(b"half a li")
        clients[2].sendall(b"x" * 70000)
        clients[3].sendall(b"full?\n")  # the fourth is over --max-clients 3
        time.sleep(0.3)
        started = time.monotonic()
        os.write(leader, b"\x03")  # Ctrl-C, as typed
        process.wait(10)
        took = time.monotonic() - started
    finally:
        for client in clients:
            client.close()
        os.close(leader)
    assert process.returncode == 0
    assert took < 0.5, f"the server took {took:.2f} s to stop"
