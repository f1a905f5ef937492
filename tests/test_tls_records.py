"""rawhttp.tls.records and .observer: real TLS bytes, captured in-process, cut into records.

The bytes come from Python's own `ssl`: a client SSLObject and a server SSLObject (with a
trustme certificate) talk through MemoryBIOs, and `handshake()` pumps each side's outgoing
bytes into the other, recording them, with no socket at all. The other TLS tests import it.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import pathlib
import ssl
from dataclasses import dataclass, field

import pytest
import trustme

import rawhttp.tls
from rawhttp.tls import NotTLSError, Record, RecordReader, TLSDecodeError, TLSObserver
from rawhttp.tls.names import TLS10, TLS12, TLS13
from rawhttp.tls.records import (
    MAX_RECORD_LENGTH,
    MAX_TLS12_CIPHERTEXT,
    MAX_TLS13_CIPHERTEXT,
    record_limit,
)

CA = trustme.CA()
SERVER_CERT = CA.issue_cert("localhost", "127.0.0.1")
# Rounds of pumping before a handshake that has not finished counts as stuck.
MAX_ROUNDS = 20


@dataclass
class Capture:
    """Both directions of one in-memory TLS connection, as the pieces each side wrote."""

    client: ssl.SSLObject
    server: ssl.SSLObject
    flights: list[tuple[str, bytes]] = field(default_factory=list)  # ("OUT"|"IN", bytes)
    error: ssl.SSLError | None = None  # the first side's error, if the handshake failed

    def sent(self, direction: str) -> bytes:
        """Everything one direction carried ("OUT": client to server)."""
        return b"".join(data for d, data in self.flights if d == direction)


def handshake(
    maximum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
    client_alpn: tuple[str, ...] = ("h2", "http/1.1"),
    server_alpn: tuple[str, ...] = ("http/1.1",),
    trust: bool = True,
    server_minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    server_curve: str | None = None,
) -> Capture:
    """Run a whole handshake between two SSLObjects, recording every byte each one sent."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    SERVER_CERT.configure_cert(server_ctx)
    server_ctx.minimum_version = server_minimum
    server_ctx.set_alpn_protocols(list(server_alpn))
    if server_curve:
        server_ctx.set_ecdh_curve(server_curve)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if trust:
        CA.configure_trust(client_ctx)
    client_ctx.maximum_version = maximum_version
    client_ctx.set_alpn_protocols(list(client_alpn))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    capture = Capture(
        client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost"),
        server_ctx.wrap_bio(s_in, s_out, server_side=True),
    )
    done: set[str] = set()
    for _ in range(MAX_ROUNDS):
        for name, side in (("client", capture.client), ("server", capture.server)):
            if name in done:
                continue
            try:
                side.do_handshake()
                done.add(name)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as error:
                capture.error = capture.error or error
                done.add(name)
        moved = False
        for direction, source, sink in (("OUT", c_out, s_in), ("IN", s_out, c_in)):
            data = source.read()
            if data:
                capture.flights.append((direction, data))
                sink.write(data)
                moved = True
        if len(done) == 2 and not moved:
            return capture
    raise AssertionError("the in-memory handshake did not finish")


@pytest.fixture(scope="module")
def tls13() -> Capture:
    return handshake()


@pytest.fixture(scope="module")
def tls12() -> Capture:
    return handshake(ssl.TLSVersion.TLSv1_2)


def records_of(data: bytes, step: int | None = None, **kwargs) -> list[Record]:
    """Feed `data` whole or in `step`-byte pieces; all the records, in order."""
    reader = RecordReader(**kwargs)
    if step is None:
        return reader.feed(data)
    pieces = [data[i : i + step] for i in range(0, len(data), step)]
    records = [record for piece in pieces for record in reader.feed(piece)]
    assert reader.pending == 0
    return records


def record(content_type: int, payload: bytes, version: int = TLS12) -> bytes:
    """Bytes of one record, made by hand."""
    return (
        bytes([content_type])
        + version.to_bytes(2, "big")
        + len(payload).to_bytes(2, "big")
        + payload
    )


# --- real records ---------------------------------------------------------------------------


def test_tls13_record_sequence(tls13):
    out = records_of(tls13.sent("OUT"))
    inn = records_of(tls13.sent("IN"))
    # Client: ClientHello (record version 1.0, RFC 8446 5.1), compatibility CCS, then its
    # encrypted Finished. Server: ServerHello, CCS, then everything else encrypted.
    assert [(r.type_name, r.version) for r in out] == [
        ("handshake", TLS10),
        ("change_cipher_spec", TLS12),
        ("application_data", TLS12),
    ]
    assert [r.type_name for r in inn[:3]] == ["handshake", "change_cipher_spec", "application_data"]
    assert {r.type_name for r in inn[2:]} == {"application_data"}
    assert [r.version_name for r in inn] == ["TLSv1.2"] * len(inn)


@pytest.mark.parametrize("direction", ["OUT", "IN"])
@pytest.mark.parametrize("version", ["tls12", "tls13"])
def test_records_cover_every_byte(direction, version, request):
    data = request.getfixturevalue(version).sent(direction)
    records = records_of(data, skip=frozenset())
    assert sum(5 + r.length for r in records) == len(data)
    assert b"".join(r.header + r.payload for r in records) == data


@pytest.mark.parametrize("step", [1, 2, 3, 5, 7, 4096])
@pytest.mark.parametrize("version", ["tls12", "tls13"])
def test_any_cut_gives_the_same_records(step, version, request):
    data = request.getfixturevalue(version).sent("IN")
    assert records_of(data, step) == records_of(data)
    assert records_of(data, step, skip=frozenset()) == records_of(data, skip=frozenset())


def test_application_data_is_skipped_by_default(tls13):
    data = tls13.sent("IN")
    skipped = records_of(data)
    kept = records_of(data, skip=frozenset())
    for short, full in zip(skipped, kept, strict=True):
        assert short.length == full.length == len(full.payload)
        if full.content_type == 23:
            assert short.payload == b""
        else:
            assert short.payload == full.payload


def test_kept_payload_is_a_copy_so_the_buffer_can_be_reused():
    buffer = bytearray(record(22, b"\x0e\x00\x00\x00"))
    (rec,) = RecordReader().feed(memoryview(buffer))
    buffer[:] = bytes(len(buffer))
    assert rec.payload == b"\x0e\x00\x00\x00"
    assert isinstance(rec.payload, bytes) and isinstance(rec.header, bytes)


def test_pending_counts_a_partial_record():
    data = record(23, b"x" * 100) + record(22, b"\x0e\x00\x00\x00")
    reader = RecordReader()
    assert reader.feed(data[:3]) == [] and reader.pending == 3
    assert reader.feed(data[3:50]) == [] and reader.pending == 50
    assert [r.length for r in reader.feed(data[50:])] == [100, 4]
    assert reader.pending == 0 and reader.records == 2


def test_record_fields():
    (rec,) = RecordReader().feed(record(21, b"\x02\x28", TLS12))
    assert rec == Record(21, TLS12, 2, b"\x15\x03\x03\x00\x02", b"\x02\x28")
    assert (rec.type_name, rec.version_name) == ("alert", "TLSv1.2")


def test_empty_application_data_is_allowed():
    assert RecordReader().feed(record(23, b"")) == [Record(23, TLS12, 0, record(23, b""), b"")]


# --- limits and errors ----------------------------------------------------------------------


def test_length_limits_are_the_rfcs():
    assert MAX_TLS12_CIPHERTEXT == 16384 + 2048  # RFC 5246 6.2.3
    assert MAX_TLS13_CIPHERTEXT == 16384 + 256  # RFC 8446 5.2
    assert MAX_RECORD_LENGTH == MAX_TLS12_CIPHERTEXT
    assert record_limit(TLS13) == MAX_TLS13_CIPHERTEXT
    assert record_limit(TLS12) == record_limit(TLS10) == MAX_TLS12_CIPHERTEXT


@pytest.mark.parametrize(
    ("limit", "length", "ok"),
    [
        (MAX_RECORD_LENGTH, MAX_RECORD_LENGTH, True),
        (MAX_RECORD_LENGTH, MAX_RECORD_LENGTH + 1, False),
        (MAX_TLS13_CIPHERTEXT, MAX_TLS13_CIPHERTEXT, True),
        (MAX_TLS13_CIPHERTEXT, MAX_TLS13_CIPHERTEXT + 1, False),
    ],
)
def test_record_length_limit(limit, length, ok):
    data = record(23, bytes(length))
    if ok:
        assert [r.length for r in records_of(data, max_length=limit)] == [length]
        assert [r.length for r in records_of(data, 1000, max_length=limit)] == [length]
    else:
        with pytest.raises(TLSDecodeError, match="record_overflow"):
            RecordReader(max_length=limit).feed(data[:5])


BAD_HEADERS = [
    # (name, first bytes, error class, words in the message)
    ("plain HTTP", b"HTTP/1.1 400 Bad Request\r\n", NotTLSError, "plain HTTP"),
    ("SSH banner", b"SSH-2.0-OpenSSH_9.2\r\n", NotTLSError, "not a TLS record"),
    ("unknown content type", b"\x19\x03\x03\x00\x01x", NotTLSError, "not a TLS record"),
    ("version major 2", b"\x16\x02\x00\x00\x01x", NotTLSError, "not a TLS record"),
    ("SSLv2 hello", b"\x80\x2e\x01\x00\x02", NotTLSError, "not a TLS record"),
    ("empty handshake", b"\x16\x03\x03\x00\x00", TLSDecodeError, "empty handshake record"),
    ("empty alert", b"\x15\x03\x03\x00\x00", TLSDecodeError, "empty alert record"),
    ("over the limit", b"\x17\x03\x03\x48\x01", TLSDecodeError, "18433 bytes"),
]


@pytest.mark.parametrize(
    ("name", "data", "error", "words"), BAD_HEADERS, ids=[b[0] for b in BAD_HEADERS]
)
@pytest.mark.parametrize("step", [None, 1])
def test_bad_headers(name, data, error, words, step):
    with pytest.raises(error, match=words) as caught:
        records_of(data, step)
    assert caught.value.exit_code == 35 and caught.value.layer == "tls"


def test_not_tls_quotes_the_reply():
    with pytest.raises(NotTLSError) as caught:
        RecordReader().feed(b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n")
    assert "HTTP/1.1 400 Bad Request" in str(caught.value)


def test_error_after_good_records_in_the_same_feed():
    data = record(22, b"\x0e\x00\x00\x00") + b"HTTP/1.1 200 OK\r\n"
    with pytest.raises(NotTLSError):
        RecordReader().feed(data)


# --- the observer, over real connections ----------------------------------------------------


def observe(capture: Capture, step: int | None = None) -> list:
    """Feed a capture's flights to a TLSObserver in the order they happened."""
    observer = TLSObserver()
    seen = []
    for direction, data in capture.flights:
        pieces = [data] if step is None else [data[i : i + step] for i in range(0, len(data), step)]
        for piece in pieces:
            seen += observer.feed(direction, piece)
    return observer, seen


def curl_lines(seen) -> list[str]:
    return [line for s in seen for line in s.curl_lines()]


def test_observer_tls13_reads_like_curl(tls13):
    observer, seen = observe(tls13)
    assert curl_lines(seen) == [
        "TLSv1.3 (OUT), TLS handshake, Client hello (1):",
        "TLSv1.3 (IN), TLS handshake, Server hello (2):",
        "TLSv1.3 (IN), TLS change cipher, Change cipher spec (1):",
        "TLSv1.3 (OUT), TLS change cipher, Change cipher spec (1):",
    ]
    assert observer.negotiated.version == TLS13
    assert observer.client_hello.server_name == "localhost"
    encrypted = [s for s in seen if s.encrypted]
    assert encrypted and all(s.record.content_type == 23 for s in encrypted)


def test_observer_tls12_reads_like_curl(tls12):
    observer, seen = observe(tls12)
    assert curl_lines(seen) == [
        "TLSv1.2 (OUT), TLS handshake, Client hello (1):",
        "TLSv1.2 (IN), TLS handshake, Server hello (2):",
        "TLSv1.2 (IN), TLS handshake, Certificate (11):",
        "TLSv1.2 (IN), TLS handshake, Server key exchange (12):",
        "TLSv1.2 (IN), TLS handshake, Server finished (14):",
        "TLSv1.2 (OUT), TLS handshake, Client key exchange (16):",
        "TLSv1.2 (OUT), TLS change cipher, Change cipher spec (1):",
        "TLSv1.2 (IN), TLS handshake, Newsession Ticket (4):",
        "TLSv1.2 (IN), TLS change cipher, Change cipher spec (1):",
    ]
    # Each side's Finished is a handshake record after its CCS: encrypted, not decoded.
    finished = [s for s in seen if s.encrypted]
    assert [(s.direction, s.record.content_type) for s in finished] == [("OUT", 22), ("IN", 22)]
    assert observer.negotiated.version == TLS12


@pytest.mark.parametrize("version", ["tls12", "tls13"])
def test_observer_byte_by_byte_is_the_same(version, request):
    capture = request.getfixturevalue(version)
    whole = observe(capture)[1]
    single = observe(capture, 1)[1]
    assert [(s.direction, s.record.length, s.messages, s.encrypted) for s in whole] == [
        (s.direction, s.record.length, s.messages, s.encrypted) for s in single
    ]


def test_observer_holds_tls13_records_to_its_limit(tls13):
    observer, _ = observe(tls13)
    with pytest.raises(TLSDecodeError, match="record_overflow"):
        observer.feed("IN", record(23, b"")[:3] + (MAX_TLS13_CIPHERTEXT + 1).to_bytes(2, "big"))


def test_observer_reads_a_plaintext_alert():
    # A TLS 1.2 client that does not trust the certificate says so before its CCS: in clear.
    capture = handshake(ssl.TLSVersion.TLSv1_2, trust=False)
    assert isinstance(capture.error, ssl.SSLCertVerificationError)
    _, seen = observe(capture)
    alerts = [s.alert for s in seen if s.alert]
    assert [(s.direction, s.alert.name) for s in seen if s.alert] == [("OUT", "unknown_ca")]
    assert alerts[0].level_name == "fatal"
    assert curl_lines(seen)[-1] == "TLSv1.2 (OUT), TLS alert, unknown CA (560):"


def test_observer_reads_a_protocol_version_alert():
    capture = handshake(ssl.TLSVersion.TLSv1_2, server_minimum=ssl.TLSVersion.TLSv1_3)
    _, seen = observe(capture)
    (alert,) = [s.alert for s in seen if s.alert]
    assert (alert.level_name, alert.name, alert.code) == ("fatal", "protocol_version", 582)


def test_observer_refuses_a_bad_change_cipher_spec():
    with pytest.raises(TLSDecodeError, match="ChangeCipherSpec"):
        TLSObserver().feed("OUT", record(20, b"\x02"))


def test_observer_refuses_plain_http():
    with pytest.raises(NotTLSError, match="plain HTTP"):
        TLSObserver().feed("IN", b"HTTP/1.1 400 Bad Request\r\n\r\n")


# --- the package's promises -----------------------------------------------------------------

TLS_PACKAGE = pathlib.Path(rawhttp.tls.__file__).parent
MODULES = sorted(path.stem for path in TLS_PACKAGE.glob("*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_sans_io_imports(module):
    """No module of rawhttp.tls imports socket, ssl or selectors, nor rawhttp beyond errors."""
    tree = ast.parse((TLS_PACKAGE / f"{module}.py").read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"socket", "ssl", "selectors", "select"}
    assert {m for m in imported if m.startswith("rawhttp")} <= {"rawhttp.errors", "rawhttp.tls"} | {
        m for m in imported if m.startswith("rawhttp.tls.")
    }


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    """The examples in the modules' docstrings are what a learner gets at a prompt."""
    imported = importlib.import_module(
        f"rawhttp.tls.{module}" if module != "__init__" else "rawhttp.tls"
    )
    failed, _ = doctest.testmod(imported)
    assert failed == 0
