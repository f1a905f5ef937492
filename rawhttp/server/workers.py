"""`--workers N`: N event-loop processes serving one port, and the parent that minds them.

Each worker gets its own listening socket on the same port (SO_REUSEPORT: the kernel spreads
new connections over them), made by the parent before forking so that no connection ever
queues on a socket nobody accepts from. Where SO_REUSEPORT is missing, the workers share the
one inherited socket. Ctrl-C or SIGTERM to the parent stops every worker; a worker whose
parent dies stops by itself (PR_SET_PDEATHSIG on Linux, and a check of its parent's pid on
every turn of its loop), so no orphan is left holding the port.

A worker that dies (killed, or ended by a bug) is logged with how it ended and replaced, as
nginx's master process does, but no more often than RESPAWN_INTERVAL per worker, so one that
dies at once on start cannot make the parent fork in a tight loop. The parent keeps every
listening socket open, so connections the kernel queued on a dead worker's socket wait for its
replacement instead of being reset.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time

from rawhttp.server.listener import flush_log, listen
from rawhttp.server.loop import EventLoop

# How long the parent waits for its workers to stop after SIGTERM, before SIGKILL.
STOP_TIMEOUT = 3.0
# The least time between two starts of one worker: at most 5 a second, each (nginx respawns
# at once; a worker dying on start would then spin the parent).
RESPAWN_INTERVAL = 0.2


def worker_sockets(first: socket.socket, count: int) -> list[socket.socket]:
    """One listening socket per worker: the server's own (`first`), then more on its port."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return [first] * count
    host, port = first.getsockname()[:2]
    return [first] + [listen(host, port, True) for _ in range(count - 1)]


def run_workers(driver: EventLoop, count: int) -> None:
    """Fork `count` processes each running `driver` (on its own listening socket), replace any
    that dies, and wait until told to stop, then stop them."""
    sockets = worker_sockets(driver.serving.listener, count)
    parent = os.getpid()
    children: dict[int, int] = {}  # pid -> its slot: which of `sockets` it accepts from
    try:
        for slot, own in enumerate(sockets):
            children[_fork(driver, own, sockets, parent)] = slot
        _mind(driver, children, sockets, parent)
    finally:
        _stop(list(children))
        for sock in set(sockets):
            sock.close()


def _fork(driver: EventLoop, own: socket.socket, sockets: list[socket.socket], parent: int) -> int:
    pid = os.fork()
    if pid == 0:
        _worker(driver, own, sockets, parent)  # never returns
    return pid


def _mind(
    driver: EventLoop, children: dict[int, int], sockets: list[socket.socket], parent: int
) -> None:
    """Block until SIGINT or SIGTERM (both raise KeyboardInterrupt here); a worker that ends
    meanwhile is logged and started again."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = [time.monotonic()] * len(sockets)  # when each slot's worker was last started
    while children:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        slot = children.pop(pid, None)
        if slot is None:
            continue
        log = driver.serving.log
        log(f"rawhttp: worker {pid} {how_it_ended(status)}; starting another")
        flush_log(log)
        time.sleep(max(0.0, started[slot] + RESPAWN_INTERVAL - time.monotonic()))
        started[slot] = time.monotonic()
        children[_fork(driver, sockets[slot], sockets, parent)] = slot
    raise RuntimeError("every worker process ended")


def how_it_ended(status: int) -> str:
    """A wait status in words: "killed by signal 9 (SIGKILL)" or "exited with code 1"."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown"
        return f"killed by signal {number} ({name})"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


def _worker(
    driver: EventLoop, own: socket.socket, sockets: list[socket.socket], parent: int
) -> None:
    code = 0
    try:
        _die_with_parent()
        signal.signal(signal.SIGTERM, lambda *_: driver.stop())
        signal.signal(signal.SIGINT, lambda *_: driver.stop())
        for sock in set(sockets):
            if sock is not own:
                sock.close()
        driver.serving = driver.serving._replace(listener=own)

        def check_parent() -> None:
            if os.getppid() != parent:
                driver.stop()

        driver.on_tick = check_parent
        driver.run()
    except BaseException as error:  # the parent logs the exit code and starts another
        code = 1
        with contextlib.suppress(Exception):
            driver.serving.log(f"rawhttp: worker {os.getpid()} failed: {error!r}")
            flush_log(driver.serving.log)
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: have the kernel send this process SIGTERM when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


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
