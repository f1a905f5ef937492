"""The tiny server: static files, scenarios that misbehave on purpose, and replayed responses.

The package is split by job, each module small enough to read in one go. Handlers answer with
data; drivers move the bytes:

- `handler`: the `Handler` base, a default for every hook a connection may call;
- `static`, `scenarios`: the handlers (files under the root; misbehaving on purpose; replay);
  `site` routes a folder's requests to `static`, `echo` and `upload`, with what the lab adds:
  `preconditions` (validators, 304/412), `compress` (gzip negotiation), `auth` (Basic);
- `exchange`: one request and the answer a handler describes (the fields every answer has,
  the log line), as a list of `actions` (bytes, a file range, a pause, a reset, a close);
  `pages`: the status pages, everything they print escaped;
- `protocol`: one client connection, sans-IO (it never imports socket): bytes in, answers
  out, deadlines, the cap's idea of "too slow" (not the client's `dial`/`streams`);
- `loop`: the event-loop driver (`--model events`), one selectors loop per process;
- `threads`: the thread-per-connection driver (`--model threads`);
- `workers`: `--workers N` processes on one port;
- `sockets`: the socket moves both drivers make (no delay, reset, half-close, the waker);
- `listener`: the listening socket, the connection cap, the logs, and `Serving` (what a
  driver is handed);
- `server`: `Server`, which makes the handler and the listening socket and picks a driver;
- `tls`: `--tls`, a TLS session between a driver's socket and a connection, sans-IO, and
  `certs`: the local CA and certificate made at start-up (the `tls` extra).

Parsing is `rawhttp.wire`'s, the same code the client uses. This module adds the Python API:

    >>> from rawhttp.server import running
    >>> with running("samples/site") as base_url:     # a free port, served from a thread
    ...     rawhttp.get(base_url + "/index.html")
    >>> with running("samples/site", tls=True, ca_file="ca.pem") as base_url:  # https://...
    ...     rawhttp.get(base_url, options=Options(cafile="ca.pem"))
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from rawhttp.errors import ListenError
from rawhttp.server.scenarios import SCENARIOS
from rawhttp.server.server import Server

__all__ = ["SCENARIOS", "ListenError", "Server", "running", "sample_site"]


@contextlib.contextmanager
def running(
    root: str | os.PathLike = ".",
    port: int = 0,
    *,
    scenario: str | None = None,
    replay: str | None = None,
    host: str = "127.0.0.1",
    tls: bool = False,
    cert: str | os.PathLike | None = None,
    key: str | os.PathLike | None = None,
    ca_file: str | os.PathLike | None = None,
    **options,
) -> Iterator[str]:
    """Serve `root` from a background thread; yield the base URL (`http://127.0.0.1:PORT`).

    `tls=True` serves HTTPS (`https://127.0.0.1:PORT`) with `cert` and `key`, or without them
    a certificate for localhost, 127.0.0.1 and ::1 made at start-up by a fresh CA, which is
    written to `ca_file` for the client's `Options(cafile=...)`. `options` go to `Server`
    (model, idle_timeout, max_connections, log). To look at the server itself (its `accepted`
    count, say), use `with Server(...) as server:` instead.
    """
    tls_options = {"tls": tls, "cert": cert, "key": key, "ca_file": ca_file}
    with Server(
        root, host=host, port=port, scenario=scenario, replay=replay, **tls_options, **options
    ) as server:
        yield server.url


def sample_site() -> Path:
    """samples/site, which `rawhttp demo` serves: in a source checkout at the top of the tree,
    in an installed package as rawhttp/samples/site."""
    package = Path(__file__).resolve().parents[1]
    for site in (package.parent / "samples" / "site", package / "samples" / "site"):
        if (site / "index.html").is_file():
            return site
    raise FileNotFoundError(f"no sample site next to {package}: reinstall rawhttp")
