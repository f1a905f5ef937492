"""The trace events one transfer emits, in order: the single record of what happened.

`client.py` emits them; everything a user sees about a transfer besides the head and body
(`-v`, and later traces, explanations and timings) is a view of these events, rendered in
`rawhttp.show`. Each event carries `at`, seconds on the `time.perf_counter` clock.

`Sent.data` and `Received.data` are views of the client's buffers, valid only during the call:
a listener that keeps bytes must copy them.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rawhttp.wire import Framing, ResponseHead


class Event:
    """A frozen record: its fields are the annotations of its class, in order, each with the
    class attribute of the same name as its default; plus `at`, keyword-only, set to now.

    It is what `@dataclass(frozen=True)` would give, written out: importing `dataclasses` (and
    `inspect` with it) and generating the methods of twenty classes cost about a quarter of a
    small `rawhttp get`'s start-up (see bench/README.md).
    """

    _fields: ClassVar[tuple[str, ...]] = ()
    # Made once per class (a transfer makes about ten events per request, most with every
    # field named): the fields' names as a set, and the defaults of those that have one.
    _names: ClassVar[frozenset[str]] = frozenset()
    _defaults: ClassVar[dict[str, object]] = {}

    def __init_subclass__(cls) -> None:
        # The class's own annotations (not its parents'); inspect.get_annotations would do
        # the same, but importing inspect is part of what this class saves.
        own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
        cls._fields = cls._fields + tuple(own)
        cls._names = frozenset(cls._fields)
        cls._defaults = {key: getattr(cls, key) for key in cls._fields if hasattr(cls, key)}

    def __init__(self, *values: object, at: float | None = None, **named: object) -> None:
        if values:
            named = self._positional(values, named)
        elif not self._names.issuperset(named):
            self._refuse(named)
        fields = self._defaults | named
        if len(fields) != len(self._fields):
            missing = next(key for key in self._fields if key not in fields)
            raise TypeError(f"{type(self).__name__} needs a value for {missing!r}")
        fields["at"] = time.perf_counter() if at is None else at
        self.__dict__.update(fields)

    def _positional(self, values: tuple, named: dict) -> dict:
        """The fields given by position, then those by name (none of them twice)."""
        if len(values) > len(self._fields):
            name = type(self).__name__
            raise TypeError(f"{name} takes at most {len(self._fields)} positional fields")
        fields = dict(zip(self._fields, values, strict=False))
        if not self._names.issuperset(named) or not fields.keys().isdisjoint(named):
            self._refuse(named, fields)
        return fields | named

    def _refuse(self, named: dict, given: dict | None = None) -> None:
        bad = next(key for key in named if key not in self._names or key in (given or {}))
        raise TypeError(f"{type(self).__name__} got an unknown or repeated field {bad!r}")

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {key!r}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    __hash__ = None  # type: ignore[assignment]  (fields may be lists: not hashable)

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={self.__dict__[key]!r}" for key in (*self._fields, "at"))
        return f"{type(self).__name__}({fields})"


class RequestStarted(Event):
    """A request begins (each URL, each redirect hop): the zero point for timings."""

    url: str
    method: str


class Resolved(Event):
    """getaddrinfo answered: the (family name, address, port) tuples to try, in order."""

    host: str
    port: int
    addresses: list[tuple[str, str, int]]


class Connecting(Event):
    family: str
    address: str
    port: int


class ConnectFailed(Event):
    address: str
    port: int
    reason: str


class Connected(Event):
    """The TCP handshake finished: the connection's 4-tuple.

    `sock` is the connected socket, for views that ask the kernel about the connection
    (`getsockopt(TCP_INFO)` for --tcp-info and --explain); a view never reads, writes or closes
    it. TLSEstablished carries the socket that replaces it.
    """

    local: tuple[str, int]
    remote: tuple[str, int]
    reused: bool = False
    sock: object = None


class Reused(Event):
    """The request goes on a connection kept open from the previous one (keep-alive)."""

    remote: tuple[str, int]


class TLSRecord(Event):
    """One TLS record went out to the socket or came in from it (`direction` "OUT" or "IN",
    curl's words): `seen` is a `tls.Seen`, the record (header fields, its 5 header bytes) and
    what a wire observer can read in it (handshake messages, an alert, or only ciphertext);
    `offset` is where the record starts in that direction's stream of TLS bytes (the TCP
    payload), so a view can find the segments that carried it; `excerpt` is the first bytes
    of its payload (up to 16: ciphertext, for --trace=hex, since `seen` keeps none)."""

    direction: str
    seen: object
    offset: int
    excerpt: bytes = b""


class TLSMessage(Event):
    """A TLS message as OpenSSL wrote or read it: a handshake message (`content_type` 22,
    `msg_type` its type), an alert (21; `msg_type` is level * 256 + description, as curl
    numbers them) or a change_cipher_spec (20). `data` is the message in the clear, even one
    that travelled encrypted (TLS 1.3's Certificate, say). `version` is the record's version
    as OpenSSL names it (TLSv1.2...)."""

    direction: str
    version: str
    content_type: int
    msg_type: int
    data: bytes


class TLSEstablished(Event):
    """The TLS handshake finished: the version and cipher suite chosen, the ALPN protocol the
    server picked (None if it picked none), the TCP socket under it (for --tcp-info), the
    server's certificate (DER) and whether it was verified (not with -k)."""

    version: str
    cipher: str
    sock: object = None
    alpn: str | None = None
    certificate: bytes | None = None
    verified: bool = True


class Sent(Event):
    """One send call's bytes (`rawhttp send` emits these as they are; a request's head and
    body pieces are the two kinds below), `offset` where they start in the sent stream."""

    data: bytes | memoryview
    offset: int


class RequestHeadSent(Sent):
    """The request head went out (request line, fields, empty line)."""


class RequestBodySent(Sent):
    """A piece of the request body went out; `body_offset` is where it starts in the body
    (for a chunked body the piece includes its chunk-size line)."""

    body_offset: int = 0


class ContinueAwaited(Event):
    """`Expect: 100-continue` was sent: waiting up to `timeout` seconds before the body."""

    timeout: float


class ContinueReceived(Event):
    """The server answered 100 Continue: the body follows."""


class BodyWithheld(Event):
    """The request body was not sent, and why (the server answered before asking for it)."""

    reason: str


class Received(Event):
    data: bytes | memoryview
    offset: int


class HeadReceived(Event):
    """A complete head: an interim (1xx) one, or the final one of a hop.

    `end` is its end's offset in the received byte stream: where the body (or the next head)
    starts, usually in the middle of a read.
    """

    head: ResponseHead
    end: int = 0


class FramingDecided(Event):
    framing: Framing


class BodyProgress(Event):
    """After each read of the body: body bytes so far (after de-chunking)."""

    received: int


class BodyDone(Event):
    """The body is complete; `reason` says why reading stopped; `extra` counts ignored bytes;
    `trailers` are a chunked body's trailer field lines as received (CR LF after each)."""

    received: int
    reason: str
    extra: int = 0
    chunks: int | None = None
    trailers: bytes = b""


class Redirecting(Event):
    status: int
    location: str
    method: str


class Noted(Event):
    """A decision worth a line in -v (not a warning): why a connection was not reused, say."""

    message: str


class Warned(Event):
    """Something allowed but worth a word on stderr (an https -> http redirect, say)."""

    message: str


class Closing(Event):
    """close() is about to be called on the socket (`by` as in Closed): the last moment the
    kernel can be asked about the connection through it."""

    by: str


class Closed(Event):
    """The connection ended: `by` is "client" or "server"; or it was `kept` open for reuse."""

    by: str
    kept: bool = False


class ProxyChosen(Event):
    """The request goes through an HTTP proxy: `proxy` its host:port, `source` why (-x, or
    the variable it came from), `value` as written there (a password hidden), `tunnel`
    whether a CONNECT tunnel is opened (https, -p) or the proxy forwards the request."""

    proxy: str
    source: str
    value: str
    tunnel: bool


class ProxySkipped(Event):
    """A proxy would have been used, but an entry of NO_PROXY (or --noproxy) names the host:
    `value` the proxy as written, `source` where it came from, `entry` the entry that matched,
    `rules_source` the variable (or --noproxy) that listed it."""

    host: str
    value: str
    source: str
    entry: str
    rules_source: str


class TunnelRequestSent(Sent):
    """The `CONNECT host:port` request went to the proxy, before anything to the origin."""


class TunnelAnswered(Event):
    """The proxy's answer to CONNECT: a 2xx opens the tunnel (the head has no body; `extra`
    bytes came after it, already the origin's), anything else refuses it."""

    head: ResponseHead
    extra: int = 0
