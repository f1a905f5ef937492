"""`--workers N`: N event-loop processes serving one port, and the parent that minds them.

Each worker gets its own listening socket on the same port (SO_REUSEPORT: the kernel spreads
new connections over them), made by the parent before forking so that no connection ever
queues on a socket nobody accepts from. Where SO_REUSEPORT is missing, the workers share the
one inherited socket. Ctrl-C or SIGTERM to the parent stops every worker; a worker whose
parent dies stops by itself (PR_SET_PDEATHSIG on Linux, and a check of its parent's pid on
every turn of its loop), so no orphan is left holding the port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time

from rawhttp.server.listener import listen

# How long the parent waits for its workers to stop after SIGTERM, before SIGKILL.
STOP_TIMEOUT = 3.0


def worker_sockets(server, count: int) -> list[socket.socket]:
    """One listening socket per worker: the server's own, then more on its port."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return [server.listener] * count
    return [server.listener] + [listen(server.host, server.port, True) for _ in range(count - 1)]


def run_workers(server) -> None:
    """Fork `server.workers` event-loop processes and wait until told to stop, then stop them."""
    sockets = worker_sockets(server, server.workers)
    parent = os.getpid()
    children = []
    for own in sockets:
        pid = os.fork()
        if pid == 0:
            _worker(server, own, sockets, parent)  # never returns
        children.append(pid)
    for sock in set(sockets):
        sock.close()
    try:
        _wait_for_signal(children)
    finally:
        _stop(children)


def _worker(server, own: socket.socket, sockets: list[socket.socket], parent: int) -> None:
    code = 0
    try:
        _die_with_parent()
        signal.signal(signal.SIGTERM, lambda *_: server.driver.stop())
        signal.signal(signal.SIGINT, lambda *_: server.driver.stop())
        for sock in set(sockets):
            if sock is not own:
                sock.close()
        server.listener = own

        def check_parent() -> None:
            if os.getppid() != parent:
                server.driver.stop()

        server.driver.on_tick = check_parent
        server.driver.run()
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: have the kernel send this process SIGTERM when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _wait_for_signal(children: list[int]) -> None:
    """Block until SIGINT or SIGTERM (both raise KeyboardInterrupt here), or until every
    worker has ended on its own."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    alive = set(children)
    while alive:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        alive.discard(pid)
    raise RuntimeError("every worker process ended")


def _stop(children: list[int]) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    waiting = set(children)
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if not done:
                    continue
            waiting.discard(pid)
        time.sleep(0.02)
    for pid in waiting:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
