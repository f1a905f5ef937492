"""rawhttp: HTTP/1.1 on a plain TCP socket, written to be read.

The public API lives here; the protocol itself is in `rawhttp.wire`, which can be used on its own.
The client (`get`, `stream`, `Response`) is loaded on first use, so that importing the server
or the lessons (`from rawhttp.server import running`) never loads the client.
"""

from rawhttp.errors import (
    ConnectError,
    EmptyReply,
    IncompleteBody,
    InvalidURL,
    LimitExceeded,
    NetworkError,
    OutputError,
    ProtocolError,
    RawHTTPError,
    ResolveError,
    Timeout,
    TLSError,
    TooManyRedirects,
)
from rawhttp.version import __version__
from rawhttp.wire import Headers

_CLIENT_NAMES = ("Response", "get", "stream")


def __getattr__(name: str) -> object:
    if name in _CLIENT_NAMES:
        from rawhttp import client

        return getattr(client, name)
    raise AttributeError(f"module 'rawhttp' has no attribute {name!r}")


__all__ = [
    "ConnectError",
    "EmptyReply",
    "Headers",
    "IncompleteBody",
    "InvalidURL",
    "LimitExceeded",
    "NetworkError",
    "OutputError",
    "ProtocolError",
    "RawHTTPError",
    "ResolveError",
    "Response",
    "TLSError",
    "Timeout",
    "TooManyRedirects",
    "__version__",
    "get",
    "stream",
]
