"""`Server`: the listening socket made, the handler picked, a driver chosen and started and
stopped: what `rawhttp serve` and `running()` hold.

It sits on top: it imports the handlers and the drivers, and hands a driver only a
`listener.Serving` value (never itself), so no module below imports it back. Binding and the
cap's rules are `listener.py`'s; moving bytes is the drivers' (`loop.py`, `threads.py`,
`workers.py`).
"""

from __future__ import annotations

import os
import threading
import time

from rawhttp.errors import ListenError
from rawhttp.server import listener
from rawhttp.server.echo import Echo
from rawhttp.server.handler import Handler
from rawhttp.server.listener import (
    IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    MODELS,
    Serving,
    StderrLog,
    listen,
)
from rawhttp.server.protocol import Log, ServerConnection
from rawhttp.server.scenarios import Replay, ScenarioHandler
from rawhttp.server.site import PLAIN, Site, SiteOptions
from rawhttp.server.static import StaticFiles
from rawhttp.server.upload import Upload

# How long stopping waits for the driver and its connections, in all.
JOIN_TIMEOUT = 2.0


def make_handler(
    root: str | os.PathLike,
    scenario: str | None,
    replay: str | None,
    echo: bool = False,
    upload: str | os.PathLike | None = None,
    options: SiteOptions = PLAIN,
) -> Handler:
    """What answers requests: a replay file, a scenario, or the files under `root` (with the
    echo page and uploads beside them when asked)."""
    if scenario and replay:
        raise ValueError("give a scenario or a replay file, not both")
    if replay:
        return Replay(replay)
    if scenario:
        return ScenarioHandler(scenario, root)
    files, upload_handler = StaticFiles(root), Upload(upload) if upload else None
    return Site(files, Echo() if echo else None, upload_handler, options)


def _server_tls(cert, key, ca_file, verbose: bool):
    """The TLS settings (ssl is imported only when TLS is asked for)."""
    from rawhttp.server.tls import server_tls

    if key is not None and cert is None:
        raise ValueError("a key without a certificate: give cert too")
    return server_tls(cert, key, ca_file, verbose)


class Server:
    """A static-file (or scenario, or replay) server: bound when made, served by `start()`
    in a thread or `serve_forever()` in the caller's, stopped by `close()`.

    `model` is "events" or "threads"; `workers` (events only) forks that many processes on
    the port from `serve_forever()`, 0 meaning one per core. `accepted` counts connections
    accepted so far, `active` those open now.

    `tls=True` serves HTTPS with the certificate in `cert` (and `key`, unless it is in the
    cert's file), or without them one for localhost made at start-up, its CA written to
    `ca_file` (else into a private folder removed at close): `self.tls.cafile` says where.
    `verbose` logs each TLS handshake (server name and ALPN offered, version chosen).
    """

    def __init__(
        self,
        root: str | os.PathLike = ".",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: str | None = None,
        replay: str | None = None,
        echo: bool = False,
        upload: str | os.PathLike | None = None,
        site: SiteOptions = PLAIN,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int | None = None,
        log: Log | None = None,
        access_log: Log | None = None,
        log_format: str = "common",
        model: str | None = None,
        workers: int = 1,
        tls: bool = False,
        cert: str | os.PathLike | None = None,
        key: str | os.PathLike | None = None,
        ca_file: str | os.PathLike | None = None,
        verbose: bool = False,
        latency: float = 0.0,
        proxy: bool = False,
        proxy_allow: tuple[str, ...] = (),
    ):
        model = model or listener.DEFAULT_MODEL  # (read here: the tests switch it)
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}: choose from {', '.join(MODELS)}")
        self.root = os.path.abspath(root)
        self.scenario = scenario
        self.replay = replay
        self.echo = echo
        self.handler = make_handler(root, scenario, replay, echo, upload, site)
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections or MAX_CONNECTIONS[model]
        self.log = log or StderrLog()
        self.access_log = access_log  # None: the access lines go to `log` too
        self.log_format = log_format
        self.model = model
        self.workers = (os.cpu_count() or 1) if workers == 0 else workers
        self.accepted = 0
        self.tls = _server_tls(cert, key, ca_file, verbose) if tls or cert else None
        self.latency = latency  # seconds: serve --latency (server/latency.py)
        try:
            self.listener = listen(host, port, reuse_port=self.workers > 1)
        except ListenError:
            if self.tls is not None:
                self.tls.close()  # the CA made for this server
            raise
        self.host, self.port = self.listener.getsockname()[:2]
        self.proxy = None  # serve --proxy: its rules (proxy.py), once the address is known
        if proxy:
            self._become_proxy(proxy_allow)
        self.driver = self._make_driver()
        self._thread: threading.Thread | None = None

    def _become_proxy(self, allow: tuple[str, ...]) -> None:
        """serve --proxy: absolute-form requests and CONNECT go to proxy.py's handler."""
        from rawhttp.server.proxy import ForwardProxy, ProxyRules

        if self.tls is not None:
            self.listener.close()
            self.tls.close()
            raise ValueError("--proxy listens for plain HTTP: it cannot be used with --tls")
        self.proxy = ProxyRules(self.host, self.port, allow)
        self.handler = ForwardProxy(self.handler, self.proxy)

    def _proxy_channel(self) -> type | None:
        if self.proxy is None:
            return None
        from rawhttp.server.relay import ProxyChannel

        return ProxyChannel

    def _make_driver(self):
        serving = Serving(
            self.listener,
            self.max_connections,
            self.log,
            self.new_connection,
            self.tls,
            proxy_channel=self._proxy_channel(),
        )
        if self.model == "threads":
            from rawhttp.server.threads import ThreadPerConnection

            return ThreadPerConnection(serving)
        from rawhttp.server.loop import EventLoop

        return EventLoop(serving)

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash: http://127.0.0.1:PORT (https with TLS)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def active(self) -> int:
        return self.driver.active

    def describe(self) -> str:
        """What is served where, for the start-up line."""
        if self.replay:
            return f"Replaying {self.replay} on {self.url}/"
        where = f"Serving {self.root} on {self.url}/"
        if self.echo:
            where += ", echoing every other request"
        if self.proxy is not None:
            where += f"; a forward proxy there too (-x {self.url})"
        return f"{where} with scenario {self.scenario}" if self.scenario else where

    def how(self) -> str:
        """The driver, for the start-up line: "events model, 2 workers"."""
        return f"{self.model} model" + (f", {self.workers} workers" if self.workers > 1 else "")

    def new_connection(self, client: tuple) -> ServerConnection:
        self.accepted += 1
        args = (client, lambda: self.handler, self.log, self.idle_timeout)
        logging = {"access": self.access_log, "log_format": self.log_format}
        if self.latency:
            from rawhttp.server.latency import DelayedConnection

            conn = DelayedConnection(*args, latency=self.latency, **logging)
        else:
            conn = ServerConnection(*args, **logging)
        if self.tls is not None:
            conn.expect_handshake()
        return conn

    def serve_forever(self) -> None:
        """Serve until `close()` (or a signal, with workers), in the calling thread."""
        if self.workers > 1:
            from rawhttp.server.workers import run_workers

            run_workers(self.driver, self.workers)
        else:
            self.driver.run()

    def start(self) -> Server:
        """Run the driver in a background thread (one process: `workers` is not used)."""
        self._thread = threading.Thread(target=self.driver.run, name="rawhttp-serve", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, end every connection, and wait for the driver (bounded)."""
        self.driver.stop()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT)
            self._thread = None
        self.driver.join(time.monotonic() + JOIN_TIMEOUT)
        self.listener.close()
        self.handler.close()  # (the upload's private folder)
        if self.tls is not None:
            self.tls.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
