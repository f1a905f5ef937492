"""rawhttp: HTTP/1.1 on a plain TCP socket, written to be read.

The public API lives here; the protocol itself is in `rawhttp.wire`, which can be used on its own.
"""

__version__ = "0.1.0"

from rawhttp.client import Response, get, stream
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
from rawhttp.wire import Headers

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
