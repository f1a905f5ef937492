"""The `Handler` base: what a driver's connection may ask of whatever answers requests, with
a default for every hook, so `protocol.py` calls each hook without asking whether it is there.

A handler is sans-IO: given an `Exchange` (a parsed request), it describes the answer as
actions and returns; it never touches a socket or sleeps. Besides answering (`__call__`) it
may refuse a request from its head alone (`check`, before a body is read or 100 Continue
sent), bound the body (`body_limit`), say where the body goes (`open_body`: a `BodySink`),
ask for the request's first bytes as received (`keeps_request`), and free what it holds when
the server stops (`close`). Every handler (files, echo, upload, scenarios, replay, the site's
router) subclasses it.
"""

from __future__ import annotations

from typing import Protocol

from rawhttp.server.exchange import Exchange

# Request bodies are only read to be dropped (no handler takes one), so the cap is small:
# nginx's client_max_body_size defaults to 1 MiB too. Past it: 413 and close.
MAX_REQUEST_BODY = 1024 * 1024


class BodySink(Protocol):
    """Where a request body goes while it arrives (the echo's memory, the upload's part file)."""

    def write(self, piece: bytes | memoryview) -> None: ...

    def discard(self) -> None: ...


class Handler:
    """Answers requests; each hook's default is what a handler that does not care wants."""

    # How many of the request's first bytes, exactly as received, `exchange.raw` keeps.
    keeps_request = 0

    def __call__(self, exchange: Exchange) -> None:
        """Describe the answer to `exchange.request` (or raise StatusPage)."""
        raise NotImplementedError

    def check(self, exchange: Exchange) -> None:
        """Refuse from the head alone by raising StatusPage; by default every head is fine."""

    def body_limit(self, exchange: Exchange) -> int:
        """The largest body this request may carry (past it: 413 and close)."""
        return MAX_REQUEST_BODY

    def open_body(self, exchange: Exchange) -> BodySink | None:
        """Where the body goes; None drops it as it arrives."""
        return None

    def close(self) -> None:
        """The server stops: free what the handler holds (files, folders)."""
