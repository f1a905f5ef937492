"""rawhttp.tls handshake messages, hellos, alerts, names and curl's wording.

Real messages come from in-memory handshakes between two `ssl` SSLObjects (see
test_tls_records.handshake) and are checked against what the SSLObjects themselves report:
SNI, ALPN, version, cipher. Hand-made bytes cover the error paths, and hypothesis checks that
hostile bytes only ever raise TLSDecodeError.
"""

from __future__ import annotations

import contextlib
import ssl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_tls_records import handshake, record

from rawhttp.tls import (
    Alert,
    HandshakeReader,
    Message,
    Negotiated,
    RecordReader,
    TLSDecodeError,
    TLSObserver,
    curl_line,
    names,
    parse_alert,
)
from rawhttp.tls.handshake import MAX_MESSAGE_SIZE, decode_body, parse_message
from rawhttp.tls.hello import HELLO_RETRY_REQUEST_RANDOM, parse_client_hello, parse_server_hello
from rawhttp.tls.messages import (
    Certificate,
    ClientKeyExchange,
    Finished,
    NewSessionTicket,
    ServerHelloDone,
    parse_certificate,
    parse_client_key_exchange,
    parse_finished,
    parse_new_session_ticket,
    parse_server_hello_done,
    parse_server_key_exchange,
)
from rawhttp.tls.names import TLS12, TLS13


def messages(capture, direction: str) -> list[Message]:
    """The plaintext handshake messages of one direction, as the observer reads them."""
    observer = TLSObserver()
    found = []
    for d, data in capture.flights:
        for seen in observer.feed(d, data):
            if d == direction:
                found += seen.messages
    return found


def by_name(found: list[Message], name: str):
    (message,) = [m for m in found if m.name == name]
    return message.fields


@pytest.fixture(scope="module")
def tls13():
    return handshake()


@pytest.fixture(scope="module")
def tls12():
    return handshake(ssl.TLSVersion.TLSv1_2)


# --- ClientHello and ServerHello from real handshakes ---------------------------------------


def test_client_hello_tls13(tls13):
    hello = by_name(messages(tls13, "OUT"), "client_hello")
    assert hello.server_name == tls13.client.server_hostname == "localhost"
    assert hello.alpn == ("h2", "http/1.1")
    assert hello.legacy_version == TLS12  # RFC 8446 4.1.2: 1.3 says so in supported_versions
    assert hello.version_names == ["TLSv1.3", "TLSv1.2"]
    assert hello.highest_version == TLS13
    assert "x25519" in hello.group_names and "secp256r1" in hello.group_names
    assert [(k.group_name, k.key_length) for k in hello.key_shares] == [("x25519", 32)]
    assert "ecdsa_secp256r1_sha256" in hello.signature_algorithm_names
    assert "rsa_pss_rsae_sha256" in hello.signature_algorithm_names
    assert hello.cipher_suite_names[:3] == [
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_GCM_SHA256",
    ]
    assert "TLS_EMPTY_RENEGOTIATION_INFO_SCSV" in hello.cipher_suite_names
    assert len(hello.random) == 32 and hello.compression_methods == b"\x00"
    assert not hello.psk and not hello.early_data
    extension_names = [e.name for e in hello.extensions]
    assert extension_names[0] == "server_name"
    assert {"key_share", "supported_versions", "psk_key_exchange_modes"} <= set(extension_names)


def test_server_hello_tls13(tls13):
    hello = by_name(messages(tls13, "IN"), "server_hello")
    assert hello.version == TLS13 and hello.version_name == tls13.client.version() == "TLSv1.3"
    assert hello.legacy_version == TLS12
    assert hello.cipher_suite_name == names.iana_cipher_name(tls13.client.cipher()[0])
    assert names.openssl_cipher_name(hello.cipher_suite) == tls13.client.cipher()[0]
    assert hello.key_share_group == 29
    assert not hello.hello_retry_request and hello.downgrade is None
    assert hello.alpn is None  # TLS 1.3 says ALPN in EncryptedExtensions
    assert tls13.client.selected_alpn_protocol() == "http/1.1"


def test_hellos_tls12(tls12):
    client = by_name(messages(tls12, "OUT"), "client_hello")
    assert client.supported_versions == () and client.key_shares == ()
    assert client.highest_version == TLS12
    server = by_name(messages(tls12, "IN"), "server_hello")
    assert server.version == TLS12 == server.legacy_version
    assert server.alpn == tls12.client.selected_alpn_protocol() == "http/1.1"
    assert names.openssl_cipher_name(server.cipher_suite) == tls12.client.cipher()[0]
    assert server.cipher_suite_name == "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
    # The server could do TLS 1.3 and says it was held to 1.2 (RFC 8446 4.1.3).
    assert server.downgrade == "TLSv1.2"


def test_hello_retry_request():
    # The client sends an x25519 key share; a server that only takes P-384 asks again.
    capture = handshake(server_curve="secp384r1")
    assert capture.error is None
    found = messages(capture, "IN")
    hellos = [m.fields for m in found if m.name == "server_hello"]
    assert [h.hello_retry_request for h in hellos] == [True, False]
    assert hellos[0].random == HELLO_RETRY_REQUEST_RANDOM
    assert hellos[0].key_share_group == hellos[1].key_share_group == 24
    clients = [m.fields for m in messages(capture, "OUT") if m.name == "client_hello"]
    assert [[k.group_name for k in c.key_shares] for c in clients] == [["x25519"], ["secp384r1"]]


# --- the TLS 1.2 server flight --------------------------------------------------------------


def test_tls12_certificate_is_the_peer_certificate(tls12):
    certificate = by_name(messages(tls12, "IN"), "certificate")
    assert isinstance(certificate, Certificate)
    assert certificate.certificates == (tls12.client.getpeercert(binary_form=True),)


def test_tls12_key_exchange(tls12):
    server = by_name(messages(tls12, "IN"), "server_key_exchange")
    assert (server.kind, server.group_name, server.public_key_length) == ("ECDHE", "x25519", 32)
    assert server.signature_algorithm_name == "ecdsa_secp256r1_sha256"
    assert server.signature_length > 64
    client = by_name(messages(tls12, "OUT"), "client_key_exchange")
    assert client == ClientKeyExchange(32)


def test_tls12_hello_done_and_ticket(tls12):
    found = messages(tls12, "IN")
    assert by_name(found, "server_hello_done") == ServerHelloDone()
    ticket = by_name(found, "new_session_ticket")
    assert ticket.lifetime == 7200 and ticket.ticket_length > 0 and ticket.age_add is None
    assert [m.name for m in found] == [
        "server_hello",
        "certificate",
        "server_key_exchange",
        "server_hello_done",
        "new_session_ticket",
    ]


# --- hand-made messages ---------------------------------------------------------------------


def test_tls13_certificate_layout():
    entry = b"\x00\x00\x03abc" + b"\x00\x00"
    body = b"\x00" + len(entry).to_bytes(3, "big") + entry
    assert parse_certificate(body, tls13=True) == Certificate((b"abc",), b"")
    with pytest.raises(TLSDecodeError):
        parse_certificate(body)  # read as TLS 1.2 the lengths do not add up


def test_dhe_server_key_exchange():
    prime = (2**2047 + 1).to_bytes(256, "big")
    body = (
        len(prime).to_bytes(2, "big") + prime + b"\x00\x01\x02" + b"\x01\x00" + bytes(256)
        + b"\x08\x04" + b"\x00\x02ab"
    )  # fmt: skip
    result = parse_server_key_exchange(body, dhe=True)
    assert (result.kind, result.prime_bits, result.public_key_length) == ("DHE", 2048, 256)
    assert result.group_name is None and result.signature_algorithm_name == "rsa_pss_rsae_sha256"


def test_rsa_client_key_exchange():
    assert parse_client_key_exchange(b"\x01\x00" + bytes(256), ecdhe=False).public_key_length == 256


def test_tls13_new_session_ticket():
    body = b"\x00\x00\x1c\x20" + b"\x01\x02\x03\x04" + b"\x01n" + b"\x00\x03tkt" + b"\x00\x00"
    assert parse_new_session_ticket(body, tls13=True) == NewSessionTicket(7200, 3, 0x01020304, b"n")


def test_finished():
    assert parse_finished(bytes(12)) == Finished(bytes(12))


def test_decode_body_follows_the_negotiated_suite():
    body = b"\x00\x03abc"
    dhe = Negotiated(TLS12, 0x009E)  # TLS_DHE_RSA_WITH_AES_128_GCM_SHA256
    rsa = Negotiated(TLS12, 0x009C)  # TLS_RSA_WITH_AES_128_GCM_SHA256
    assert decode_body(16, body, dhe) == decode_body(16, body, rsa) == ClientKeyExchange(3)
    with pytest.raises(TLSDecodeError):
        decode_body(16, body, Negotiated(TLS12, 0xC02F))  # ECDHE: a 1-byte length


@pytest.mark.parametrize(
    ("msg_type", "name"),
    [
        (8, "encrypted_extensions"),
        (13, "certificate_request"),
        (15, "certificate_verify"),
        (24, "key_update"),
        (5, "end_of_early_data"),
        (254, "message_hash"),
        (99, "0x63"),
    ],
)
def test_undecoded_types_are_still_named(msg_type, name):
    message = parse_message(bytes([msg_type]) + b"\x00\x00\x02ab")
    assert (message.name, message.body, message.fields) == (name, b"ab", None)


# --- HandshakeReader framing ----------------------------------------------------------------


def test_several_messages_in_one_payload_and_one_over_several(tls12):
    server = tls12.sent("IN")
    payloads = [r.payload for r in RecordReader().feed(server) if r.content_type == 22][:4]
    joined = b"".join(payloads)
    one_go = HandshakeReader().feed(joined)
    byte_by_byte = []
    reader = HandshakeReader()
    for i in range(len(joined)):
        byte_by_byte += reader.feed(joined[i : i + 1])
    assert one_go == byte_by_byte
    assert [m.name for m in one_go][:4] == [
        "server_hello",
        "certificate",
        "server_key_exchange",
        "server_hello_done",
    ]
    assert reader.pending == 0


def test_partial_message_is_pending():
    reader = HandshakeReader()
    assert reader.feed(b"\x14\x00\x00\x0c" + bytes(5)) == [] and reader.pending == 9
    assert reader.feed(bytes(7)) == [Message(20, bytes(12), Finished(bytes(12)))]


def test_message_size_limit():
    assert MAX_MESSAGE_SIZE == 256 * 1024
    reader = HandshakeReader()
    assert reader.feed(b"\x0b" + MAX_MESSAGE_SIZE.to_bytes(3, "big")) == []
    with pytest.raises(TLSDecodeError, match="certificate message of 262145 bytes"):
        HandshakeReader().feed(b"\x0b" + (MAX_MESSAGE_SIZE + 1).to_bytes(3, "big"))


def test_server_hello_fills_the_shared_negotiated(tls13):
    negotiated = Negotiated()
    reader = HandshakeReader(negotiated)
    payload = RecordReader().feed(tls13.sent("IN"))[0].payload
    reader.feed(payload)
    assert negotiated.version == TLS13 and negotiated.suite_name == "TLS_AES_256_GCM_SHA384"


# --- error paths ----------------------------------------------------------------------------


def real_client_hello(capture) -> bytes:
    return RecordReader().feed(capture.sent("OUT"))[0].payload[4:]


def hello_with(extensions: bytes) -> bytes:
    """A minimal ClientHello body around the given extension bytes."""
    block = len(extensions).to_bytes(2, "big") + extensions
    return b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + block


def ext(number: int, data: bytes) -> bytes:
    return number.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data


BAD_MESSAGES = [
    # (name, parser, body, words in the message)
    ("empty ClientHello", parse_client_hello, b"", "legacy_version"),
    ("random cut short", parse_client_hello, b"\x03\x03" + bytes(10), "random needs 32"),
    (
        "session id over 32",
        parse_client_hello,
        b"\x03\x03" + bytes(32) + b"\x21" + bytes(33),
        "session id of 33",
    ),
    (
        "no cipher suites",
        parse_client_hello,
        b"\x03\x03" + bytes(32) + b"\x00\x00\x00\x01\x00",
        "cipher_suites has 0 bytes",
    ),
    (
        "odd cipher suites",
        parse_client_hello,
        b"\x03\x03" + bytes(32) + b"\x00\x00\x03abc\x01\x00",
        "not a list of 2s",
    ),
    (
        "no compression",
        parse_client_hello,
        b"\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01\x00",
        "compression_methods has 0",
    ),
    (
        "extensions past the end",
        parse_client_hello,
        hello_with(b"")[:-2] + b"\x00\x09\x00",
        "needs 9 bytes",
    ),
    ("trailing bytes", parse_client_hello, hello_with(b"") + b"x", "unexpected bytes"),
    (
        "duplicate extension",
        parse_client_hello,
        hello_with(ext(23, b"") + ext(23, b"")),
        "sent twice",
    ),
    (
        "empty SNI list",
        parse_client_hello,
        hello_with(ext(0, b"\x00\x00")),
        "server_name_list has 0",
    ),
    (
        "non-ASCII SNI",
        parse_client_hello,
        hello_with(ext(0, b"\x00\x05\x00\x00\x02\xc3\xa9")),
        "not ASCII",
    ),
    (
        "short ALPN list",
        parse_client_hello,
        hello_with(ext(16, b"\x00\x01\x00")),
        "protocol_name_list has 1",
    ),
    (
        "empty ALPN name",
        parse_client_hello,
        hello_with(ext(16, b"\x00\x02\x00\x00")),
        "protocol name has 0",
    ),
    (
        "key share cut",
        parse_client_hello,
        hello_with(ext(51, b"\x00\x04\x00\x1d\x00\x20")),
        "key_exchange needs 32",
    ),
    (
        "versions odd",
        parse_client_hello,
        hello_with(ext(43, b"\x03\x03\x04\x03")),
        "not a list of 2s",
    ),
    ("empty ServerHello", parse_server_hello, b"", "legacy_version"),
    (
        "two ALPN answers",
        parse_server_hello,
        b"\x03\x03"
        + bytes(32)
        + b"\x00\x13\x01\x00"
        + b"\x00\x0e"
        + ext(16, b"\x00\x08\x02h2\x04http"),
        "2 protocols",
    ),
    (
        "selected_version long",
        parse_server_hello,
        b"\x03\x03" + bytes(32) + b"\x00\x13\x01\x00" + b"\x00\x07" + ext(43, b"\x03\x04\x00"),
        "unexpected bytes",
    ),
    ("curve type explicit", parse_server_key_exchange, b"\x01\x00\x1d", "not named_curve"),
    (
        "empty ECDHE point",
        parse_server_key_exchange,
        b"\x03\x00\x1d\x00\x04\x03\x00\x00",
        "public has 0",
    ),
    ("certificate entry empty", parse_certificate, b"\x00\x00\x03\x00\x00\x00", "cert_data has 0"),
    ("certificate list long", parse_certificate, b"\x00\x00\x09\x00\x00\x01a", "needs 9"),
    ("hello done with a body", parse_server_hello_done, b"x", "none belong"),
    ("empty finished", parse_finished, b"", "empty verify_data"),
    ("ticket cut", parse_new_session_ticket, b"\x00\x00", "ticket_lifetime"),
]


@pytest.mark.parametrize(
    ("name", "parser", "body", "words"), BAD_MESSAGES, ids=[b[0] for b in BAD_MESSAGES]
)
def test_bad_messages(name, parser, body, words):
    with pytest.raises(TLSDecodeError, match=words):
        parser(body)


def test_parse_message_refuses_trailing_bytes():
    with pytest.raises(TLSDecodeError, match="unexpected bytes"):
        parse_message(b"\x0e\x00\x00\x00\x00")


# --- alerts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "level", "name", "text"),
    [
        (b"\x01\x00", "warning", "close_notify", "warning close_notify (0)"),
        (b"\x02\x28", "fatal", "handshake_failure", "fatal handshake_failure (40)"),
        (b"\x02\x30", "fatal", "unknown_ca", "fatal unknown_ca (48)"),
        (b"\x02\x6d", "fatal", "missing_extension", "fatal missing_extension (109)"),
        (b"\x02\x74", "fatal", "certificate_required", "fatal certificate_required (116)"),
        (b"\x02\x78", "fatal", "no_application_protocol", "fatal no_application_protocol (120)"),
        (b"\x03\xc8", "0x03", "0xc8", "0x03 0xc8 (200)"),
    ],
)
def test_parse_alert(payload, level, name, text):
    alert = parse_alert(payload)
    assert (alert.level_name, alert.name, str(alert)) == (level, name, text)


@pytest.mark.parametrize("payload", [b"", b"\x02", b"\x02\x28\x00", bytes(26)])
def test_alert_of_the_wrong_size(payload):
    with pytest.raises(TLSDecodeError, match="an alert is 2 bytes"):
        parse_alert(payload)


def test_alert_in_a_record():
    (rec,) = RecordReader().feed(record(21, b"\x01\x00"))
    assert parse_alert(rec.payload) == Alert(1, 0) and Alert(1, 0).code == 256


# --- curl's wording -------------------------------------------------------------------------

CURL_LINES = [
    # (direction, version, content type, message, curl's line); the first ones as curl 7.88
    # and 8.x print them against `openssl s_server` (checked by hand on this machine).
    ("OUT", "TLSv1.3", 22, 1, "TLSv1.3 (OUT), TLS handshake, Client hello (1):"),
    ("IN", 0x0304, 22, 2, "TLSv1.3 (IN), TLS handshake, Server hello (2):"),
    ("IN", "TLSv1.3", 22, 8, "TLSv1.3 (IN), TLS handshake, Encrypted Extensions (8):"),
    ("IN", "TLSv1.3", 22, 11, "TLSv1.3 (IN), TLS handshake, Certificate (11):"),
    ("IN", "TLSv1.3", 22, 15, "TLSv1.3 (IN), TLS handshake, CERT verify (15):"),
    ("IN", "TLSv1.3", 22, 20, "TLSv1.3 (IN), TLS handshake, Finished (20):"),
    ("OUT", "TLSv1.3", 20, 1, "TLSv1.3 (OUT), TLS change cipher, Change cipher spec (1):"),
    ("IN", "TLSv1.3", 22, 4, "TLSv1.3 (IN), TLS handshake, Newsession Ticket (4):"),
    ("IN", "TLSv1.3", 21, 256, "TLSv1.3 (IN), TLS alert, close notify (256):"),
    ("OUT", "TLSv1.3", 21, Alert(1, 0), "TLSv1.3 (OUT), TLS alert, close notify (256):"),
    ("IN", 0x0303, 22, 12, "TLSv1.2 (IN), TLS handshake, Server key exchange (12):"),
    ("IN", 0x0303, 22, 14, "TLSv1.2 (IN), TLS handshake, Server finished (14):"),
    ("OUT", 0x0303, 22, 16, "TLSv1.2 (OUT), TLS handshake, Client key exchange (16):"),
    ("IN", 0x0303, 22, 13, "TLSv1.2 (IN), TLS handshake, Request CERT (13):"),
    ("OUT", 0x0301, 21, Alert(2, 40), "TLSv1.0 (OUT), TLS alert, handshake failure (552):"),
    ("IN", 0x0303, 21, Alert(2, 48), "TLSv1.2 (IN), TLS alert, unknown CA (560):"),
    ("IN", 0x0304, 21, Alert(2, 109), "TLSv1.3 (IN), TLS alert, unknown (621):"),
    ("OUT", 0x0303, 256, 22, "TLSv1.2 (OUT), TLS header, Certificate Status (22):"),
    ("OUT", 0x0303, 23, None, "TLSv1.2 (OUT), TLS app data, Truncated message (0):"),
    ("IN", 0x0305, 22, 99, "(305) (IN), TLS handshake, Unknown (99):"),
    # curl names any other record type "TLS Unknown", and its first byte as a handshake type.
    ("IN", 0x0300, 30, 1, "SSLv3 (IN), TLS Unknown, Client hello (1):"),
]


@pytest.mark.parametrize(("direction", "version", "content_type", "message", "line"), CURL_LINES)
def test_curl_line(direction, version, content_type, message, line):
    assert curl_line(direction, version, content_type, message) == line


# --- names ----------------------------------------------------------------------------------


def test_openssl_names_are_openssls():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:@SECLEVEL=0")
    openssl = {c["id"] & 0xFFFF: c["name"] for c in context.get_ciphers()}
    checked = 0
    for number, (_, name) in names.CIPHER_SUITES.items():
        if number in openssl:
            assert openssl[number] == name, hex(number)
            checked += 1
    assert checked >= 25


def test_cipher_names_both_ways():
    assert names.cipher_suite_name(0xC030) == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    assert names.openssl_cipher_name(0xC030) == "ECDHE-RSA-AES256-GCM-SHA384"
    assert names.iana_cipher_name("ECDHE-RSA-AES256-GCM-SHA384") == names.cipher_suite_name(0xC030)
    assert names.iana_cipher_name("TLS_AES_256_GCM_SHA384") == "TLS_AES_256_GCM_SHA384"
    assert names.iana_cipher_name("NO-SUCH") is None and names.openssl_cipher_name(0x1234) is None
    assert names.cipher_suite_name(0x1234) == "0x1234"


@pytest.mark.parametrize("value", [0x0A0A, 0x1A1A, 0x7A7A, 0xFAFA])
def test_grease(value):
    assert names.is_grease(value)
    for name_of in (
        names.cipher_suite_name,
        names.extension_name,
        names.group_name,
        names.version_name,
    ):
        assert name_of(value) == "GREASE"


@pytest.mark.parametrize("value", [0x0A1A, 0x0B0B, 0x1301, 0x0A0B])
def test_not_grease(value):
    assert not names.is_grease(value)


def test_group_and_signature_names():
    assert [names.group_name(g) for g in (29, 23, 24, 30, 256, 0x11EC, 0x9999)] == [
        "x25519", "secp256r1", "secp384r1", "x448", "ffdhe2048", "X25519MLKEM768", "0x9999",
    ]  # fmt: skip
    assert names.signature_scheme_name(0x0807) == "ed25519"
    assert names.version_name(0x0304) == "TLSv1.3" and names.version_name(0x0200) == "0x0200"
    assert names.content_type_name(24) == "heartbeat" and names.content_type_name(99) == "0x63"


# --- hostile input --------------------------------------------------------------------------

HOSTILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PARSERS = [
    parse_client_hello,
    parse_server_hello,
    parse_certificate,
    lambda b: parse_certificate(b, tls13=True),
    parse_server_key_exchange,
    lambda b: parse_server_key_exchange(b, dhe=True),
    parse_client_key_exchange,
    lambda b: parse_client_key_exchange(b, ecdhe=False),
    parse_new_session_ticket,
    lambda b: parse_new_session_ticket(b, tls13=True),
    parse_finished,
    parse_server_hello_done,
    parse_alert,
    parse_message,
]


def only_decode_errors(call, data) -> None:
    """`call(data)` returns or raises TLSDecodeError; anything else fails the test."""
    with contextlib.suppress(TLSDecodeError):
        call(data)


@HOSTILE
@given(st.binary(max_size=300), st.sampled_from(PARSERS))
def test_random_bytes_only_raise_decode_errors(data, parser):
    only_decode_errors(parser, data)


# Records with valid headers around random payloads, so the bytes reach the handshake decoders.
RECORDS = st.lists(
    st.tuples(st.integers(20, 24), st.binary(min_size=1, max_size=200)), max_size=8
).map(lambda items: b"".join(record(t, payload) for t, payload in items))


@HOSTILE
@given(st.one_of(st.binary(max_size=600), RECORDS), st.integers(1, 64))
def test_random_streams_only_raise_decode_errors(data, step):
    observer = TLSObserver()
    for direction in ("OUT", "IN"):
        try:
            for i in range(0, len(data), step):
                for seen in observer.feed(direction, data[i : i + step]):
                    seen.curl_lines()
        except TLSDecodeError:
            pass
    only_decode_errors(HandshakeReader().feed, data)


@pytest.fixture(scope="module")
def client_hello_body() -> bytes:
    return real_client_hello(handshake())


@st.composite
def mutations(draw, body: bytes) -> bytes:
    """A real ClientHello with bytes changed, cut, or inserted."""
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["set", "cut", "insert", "truncate"]))
        if kind == "set" and where < len(data):
            data[where] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[where : where + draw(st.integers(1, 40))]
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[where:]
    return bytes(data)


def test_mutated_client_hellos_only_raise_decode_errors(client_hello_body):
    seen = {"ok": 0, "error": 0}

    @HOSTILE
    @given(mutations(client_hello_body))
    def check(data):
        try:
            parse_client_hello(data)
            seen["ok"] += 1
        except TLSDecodeError:
            seen["error"] += 1
        message = b"\x01" + len(data).to_bytes(3, "big") + data
        only_decode_errors(lambda d: TLSObserver().feed("OUT", record(22, d)), message)

    check()
    assert seen["error"] > 0
