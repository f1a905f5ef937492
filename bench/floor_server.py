"""The floor: the least a Python server on one epoll loop can spend per request.

    python3 bench/floor_server.py PORT

Accepts on 127.0.0.1:PORT, reads until a blank line ends a request head and answers every
head with the same 1 KiB response, keeping the connection open (closing it after the answer
when the head says `Connection: close`). No parsing, no file, no log, no limits: whatever
rawhttp spends per request above this is its HTTP work (the head parsed, the path checked, the
file opened and stat'ed, the log line), not Python's loop and system calls. bench/run.py sets
rawhttp's CPU per request against it. SIGTERM stops it.
"""

from __future__ import annotations

import select
import signal
import socket
import sys

BODY = b"x" * 1024  # the size of run.py's small.html
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n" % len(BODY)
RESPONSE = HEAD + b"\r\n" + BODY
# A client that asked to close is told so (wrk would otherwise send its next request first).
LAST_RESPONSE = HEAD + b"Connection: close\r\n\r\n" + BODY
END_OF_HEAD = b"\r\n\r\n"
RECV_SIZE = 65536


def serve(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port), backlog=1024)
    listener.setblocking(False)
    poll = select.epoll()
    poll.register(listener.fileno(), select.EPOLLIN)
    conns: dict[int, tuple[socket.socket, bytearray]] = {}
    while True:
        for fd, _ in poll.poll():
            if fd == listener.fileno():
                accept(listener, poll, conns)
            else:
                answer(fd, poll, conns)


def accept(listener: socket.socket, poll: select.epoll, conns: dict) -> None:
    try:
        while True:
            sock, _ = listener.accept()
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conns[sock.fileno()] = (sock, bytearray())
            poll.register(sock.fileno(), select.EPOLLIN)
    except BlockingIOError:
        pass


def answer(fd: int, poll: select.epoll, conns: dict) -> None:
    sock, pending = conns[fd]
    try:
        data = sock.recv(RECV_SIZE)
    except OSError:
        data = b""
    pending += data
    close = not data
    while (end := pending.find(END_OF_HEAD)) >= 0:
        head = bytes(pending[:end])
        del pending[: end + len(END_OF_HEAD)]
        last = b"Connection: close" in head or b"connection: close" in head
        try:
            sock.sendall(LAST_RESPONSE if last else RESPONSE)  # the socket's buffer takes 1 KiB
        except OSError:
            last = True
        if last:
            close = True
            break
    if close:
        poll.unregister(fd)
        del conns[fd]
        sock.close()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(int(sys.argv[1]))
