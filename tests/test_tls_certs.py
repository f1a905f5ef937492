"""rawhttp.tls.certs and .der: certificate summaries checked against two other readers.

Certificates come from `trustme` (EC and RSA, CA and leaf) and from `openssl req -x509` (RSA,
EC P-384, Ed25519; names with characters RFC 4514 escapes; dates past 2050, which X.509 writes
as GeneralizedTime). Each summary is compared with `openssl x509` and with `cryptography`
(installed with trustme), so the DER reader is checked, not just run. Garbage and mutated
certificates may only raise TLSDecodeError.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import ssl
import subprocess
from datetime import datetime, timezone

import pytest
import trustme
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rawhttp.tls import TLSDecodeError, der, summarize, to_pem
from rawhttp.tls.certs import CertificateSummary

OPENSSL_TIMEOUT = 30


def trustme_certs() -> dict[str, bytes]:
    """A trustme CA and leaf, EC (trustme's default) and RSA."""
    found = {}
    for key_type in (trustme.KeyType.ECDSA, trustme.KeyType.RSA):
        ca = trustme.CA(key_type=key_type)
        leaf = ca.issue_cert("localhost", "example.test", "127.0.0.1", "::1", key_type=key_type)
        found[f"trustme {key_type.name} CA"] = ssl.PEM_cert_to_DER_cert(
            ca.cert_pem.bytes().decode()
        )
        leaf_pem = leaf.cert_chain_pems[0].bytes().decode()
        found[f"trustme {key_type.name} leaf"] = ssl.PEM_cert_to_DER_cert(leaf_pem)
    return found


OPENSSL_CERTS = {
    # name: (key options, -subj, extra options)
    "rsa ca": (
        ["-newkey", "rsa:2048"],
        r"/C=FR/ST=Ile-de-France/L=Paris/O=Caf\, Org\+Sub/OU=Web/CN=www.example.test",
        ["-days", "20000", "-addext", "subjectAltName=DNS:www.example.test,DNS:*.example.test,IP:192.0.2.1,IP:2001:db8::1",
         "-addext", "basicConstraints=critical,CA:TRUE"],
    ),
    "ec p384 leaf": (
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "/CN=localhost/O=Test Org",
        ["-days", "30", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext", "basicConstraints=CA:FALSE"],
    ),
    "ed25519 default extensions": (
        ["-newkey", "ed25519"],
        "/CN= leading space and trailing #/emailAddress=me@example.test",
        ["-days", "1", "-sha256"],
    ),
    "multi-valued rdn": (
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/DC=test/DC=example/CN=a+OU=b",
        ["-days", "2", "-multivalue-rdn"],
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def openssl_certs(tmp_path_factory) -> dict[str, tuple[bytes, str]]:
    """name -> (DER, path of the PEM), made by `openssl req -x509`."""
    folder = tmp_path_factory.mktemp("certs")
    made = {}
    for number, (name, (key, subject, extra)) in enumerate(OPENSSL_CERTS.items()):
        pem = folder / f"{number}.pem"
        subprocess.run(
            ["openssl", "req", "-x509", *key, "-nodes", "-keyout", str(folder / f"{number}.key"),
             "-out", str(pem), "-subj", subject, *extra],
            check=True, capture_output=True, timeout=OPENSSL_TIMEOUT,
        )  # fmt: skip
        made[name] = (ssl.PEM_cert_to_DER_cert(pem.read_text()), str(pem))
    return made


@pytest.fixture(scope="module")
def all_certs(openssl_certs) -> dict[str, bytes]:
    return trustme_certs() | {name: der_bytes for name, (der_bytes, _) in openssl_certs.items()}


def openssl_says(path: str) -> dict[str, str]:
    """`openssl x509`'s subject, issuer, dates, serial, SAN and basicConstraints lines."""
    output = subprocess.run(
        ["openssl", "x509", "-in", path, "-noout", "-subject", "-issuer", "-dates", "-serial",
         "-ext", "subjectAltName,basicConstraints", "-nameopt", "RFC2253"],
        check=True, capture_output=True, text=True, timeout=OPENSSL_TIMEOUT,
    ).stdout  # fmt: skip
    said, heading = {}, None
    for line in output.splitlines():
        if line.startswith("    "):
            said[heading] = line.strip()
        elif "=" in line and not line.startswith("X509v3"):
            key, value = line.split("=", 1)
            said[key] = value
        else:
            heading = line.split(":")[0]
    return said


def rdns(name: str) -> list[list[str]]:
    """A name string as its RDNs, each a sorted list of values, whether the RDNs are joined by
    "," (RFC 4514, OpenSSL) or ", " (the summary), and whatever order an RDN's values are in
    (RFC 4514 2.2: it is not significant; OpenSSL reverses it, cryptography does not)."""
    return [sorted(re.split(r"(?<!\\)\+", rdn)) for rdn in re.split(r"(?<!\\),(?: )?", name)]


def openssl_time(text: str) -> datetime:
    return datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("name", list(OPENSSL_CERTS))
def test_summary_matches_openssl(name, openssl_certs):
    cert, path = openssl_certs[name]
    summary = summarize(cert)
    said = openssl_says(path)
    assert rdns(summary.subject) == rdns(said["subject"])
    assert rdns(summary.issuer) == rdns(said["issuer"])
    assert summary.not_before == openssl_time(said["notBefore"])
    assert summary.not_after == openssl_time(said["notAfter"])
    assert summary.serial_hex == said["serial"]
    san = said.get("X509v3 Subject Alternative Name", "")
    entries = [entry.split(":", 1) for entry in san.split(", ") if entry]
    assert list(summary.dns_names) == [value for kind, value in entries if kind == "DNS"]
    assert [ipaddress.ip_address(a) for a in summary.ip_addresses] == [
        ipaddress.ip_address(value) for kind, value in entries if kind == "IP Address"
    ]
    assert summary.is_ca == (said.get("X509v3 Basic Constraints") == "CA:TRUE")


@pytest.mark.parametrize(
    ("name", "key", "signature"),
    [
        ("rsa ca", "RSA 2048 bits", "sha256WithRSAEncryption"),
        ("ec p384 leaf", "EC secp384r1 (384 bits)", "ecdsa-with-SHA256"),
        ("ed25519 default extensions", "Ed25519 256 bits", "ED25519"),
        ("multi-valued rdn", "EC secp256r1 (256 bits)", "ecdsa-with-SHA256"),
    ],
)
def test_keys_and_signatures(name, key, signature, openssl_certs):
    summary = summarize(openssl_certs[name][0])
    assert (summary.public_key, summary.signature_algorithm) == (key, signature)
    assert summary.version == 3 and summary.self_signed


def test_names_in_rfc4514_order_and_escaped(openssl_certs):
    ca = summarize(openssl_certs["rsa ca"][0])
    assert (
        ca.subject
        == r"CN=www.example.test, OU=Web, O=Caf\, Org\+Sub, L=Paris, ST=Ile-de-France, C=FR"
    )
    assert ca.dns_names == ("www.example.test", "*.example.test")
    assert ca.ip_addresses == ("192.0.2.1", "2001:db8::1")
    assert ca.not_after.year == 2081  # a GeneralizedTime (years from 2050 on, RFC 5280)
    odd = summarize(openssl_certs["ed25519 default extensions"][0])
    assert odd.subject == r"emailAddress=me@example.test, CN=\ leading space and trailing #"
    # `openssl req -x509` adds its config's v3_ca extensions: basicConstraints CA:TRUE.
    assert (odd.dns_names, odd.ip_addresses, odd.is_ca) == ((), (), True)
    assert (
        summarize(openssl_certs["multi-valued rdn"][0]).subject == "CN=a+OU=b, DC=example, DC=test"
    )


def test_summary_matches_cryptography(all_certs):
    for name, cert in all_certs.items():
        summary = summarize(cert)
        theirs = x509.load_der_x509_certificate(cert)
        assert summary.serial == theirs.serial_number, name
        assert summary.not_before == theirs.not_valid_before_utc, name
        assert summary.not_after == theirs.not_valid_after_utc, name
        # RFC 4514 has no short name for emailAddress; OpenSSL's is the one the summary uses.
        email = {NameOID.EMAIL_ADDRESS: "emailAddress"}
        assert rdns(summary.subject) == rdns(theirs.subject.rfc4514_string(email)), name
        assert rdns(summary.issuer) == rdns(theirs.issuer.rfc4514_string(email)), name
        assert summary.public_key_bits == getattr(theirs.public_key(), "key_size", 256), name
        try:
            san = theirs.extensions.get_extension_for_oid(
                ExtensionOID.SUBJECT_ALTERNATIVE_NAME
            ).value
            dns = san.get_values_for_type(x509.DNSName)
            ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            dns, ips = [], []
        assert (list(summary.dns_names), list(summary.ip_addresses)) == (dns, ips), name
        try:
            ca = theirs.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca
        except x509.ExtensionNotFound:
            ca = False
        assert summary.is_ca == ca, name


def test_trustme_leaf_and_ca():
    certs = trustme_certs()
    leaf = summarize(certs["trustme ECDSA leaf"])
    ca = summarize(certs["trustme ECDSA CA"])
    assert leaf.dns_names == ("localhost", "example.test")
    assert leaf.ip_addresses == ("127.0.0.1", "::1")
    assert (leaf.is_ca, ca.is_ca) == (False, True)
    assert leaf.issuer == ca.subject and ca.self_signed and not leaf.self_signed
    assert leaf.not_before == datetime(2000, 1, 1, tzinfo=timezone.utc)
    assert summarize(certs["trustme RSA leaf"]).public_key.startswith("RSA ")


def test_to_pem_round_trips(all_certs):
    for cert in all_certs.values():
        pem = to_pem(cert)
        assert pem.startswith("-----BEGIN CERTIFICATE-----\n")
        assert ssl.PEM_cert_to_DER_cert(pem) == cert
        assert pem == ssl.DER_cert_to_PEM_cert(cert)


def test_serial_hex_is_whole_bytes():
    fields = dict.fromkeys(CertificateSummary.__dataclass_fields__)
    assert CertificateSummary(**(fields | {"serial": 0xABC})).serial_hex == "0ABC"
    assert CertificateSummary(**(fields | {"serial": 0x1F})).serial_hex == "1F"


# --- the DER reader -------------------------------------------------------------------------


def test_der_basics():
    sequence = der.parse(bytes.fromhex("300b 020105 0603550403 0101ff".replace(" ", "")))
    number, oid, flag = sequence.children()
    assert (number.integer(), oid.oid(), flag.boolean()) == (5, "2.5.4.3", True)
    assert der.parse(bytes.fromhex("0203ff0001")).integer() == -65535
    assert der.parse(bytes.fromhex("06092a864886f70d01010b")).oid() == "1.2.840.113549.1.1.11"
    assert der.parse(b"\x0c\x03caf").string() == "caf"
    assert der.parse(b"\x1e\x04\x00c\x00\xe9").string() == "c\u00e9"  # BMPString


@pytest.mark.parametrize("size", [0, 5, 127, 128, 255, 256, 70000])
def test_der_lengths_round_trip(size):
    element = der.Element(der.OCTET_STRING, bytes(size))
    assert der.parse(element.encoded()) == element


@pytest.mark.parametrize(
    ("tag", "text", "expected"),
    [
        (der.UTC_TIME, b"491231235959Z", datetime(2049, 12, 31, 23, 59, 59, tzinfo=timezone.utc)),
        (der.UTC_TIME, b"500101000000Z", datetime(1950, 1, 1, tzinfo=timezone.utc)),
        (der.GENERALIZED_TIME, b"20500101000000Z", datetime(2050, 1, 1, tzinfo=timezone.utc)),
    ],
)
def test_der_times(tag, text, expected):
    assert der.Element(tag, text).time() == expected


BAD_DER = [
    # (name, bytes, words in the message)
    ("empty", b"", "cut short"),
    ("length past the end", b"\x30\x05\x02\x01", "5-byte value with 2 bytes left"),
    ("indefinite length", b"\x30\x80\x00\x00", "indefinite"),
    ("five length bytes", b"\x04\x85\x00\x00\x00\x00\x01x", "oversized"),
    ("length bytes cut", b"\x04\x82\x01", "cut-short length"),
    ("multi-byte tag", b"\x1f\x81\x00\x00", "multi-byte tag"),
    ("trailing bytes", b"\x05\x00\x05\x00", "2 bytes after the end"),
]


@pytest.mark.parametrize(("name", "data", "words"), BAD_DER, ids=[b[0] for b in BAD_DER])
def test_bad_der(name, data, words):
    with pytest.raises(TLSDecodeError, match=words):
        der.parse(data)


BAD_VALUES = [
    # (name, element, method, words)
    ("not an integer", der.Element(der.OID, b"\x01"), "integer", "not an INTEGER"),
    ("empty integer", der.Element(der.INTEGER, b""), "integer", "not an INTEGER"),
    ("unfinished oid", der.Element(der.OID, b"\x2a\x86"), "oid", "not an OBJECT IDENTIFIER"),
    ("bit string unused 8", der.Element(der.BIT_STRING, b"\x08\x00"), "bit_string", "BIT STRING"),
    ("bad utf-8", der.Element(der.UTF8_STRING, b"\xff"), "string", "not utf-8"),
    ("not a string", der.Element(der.INTEGER, b"\x01"), "string", "not a string"),
    ("time without Z", der.Element(der.UTC_TIME, b"2601010000000"), "time", "not a time in UTC"),
    ("month 13", der.Element(der.UTC_TIME, b"261301000000Z"), "time", "not a valid date"),
    ("short time", der.Element(der.GENERALIZED_TIME, b"2026Z"), "time", "not a UTCTime"),
    ("primitive children", der.Element(der.INTEGER, b"\x01"), "children", "holds no elements"),
    ("two-byte boolean", der.Element(der.BOOLEAN, b"\x00\x00"), "boolean", "not a BOOLEAN"),
]


@pytest.mark.parametrize(
    ("name", "element", "method", "words"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES]
)
def test_bad_values(name, element, method, words):
    with pytest.raises(TLSDecodeError, match=words):
        getattr(element, method)()


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("not a sequence", b"\x04\x00", "Certificate has tag 0x04"),
        ("empty sequence", b"\x30\x00", "malformed"),
        ("three integers", b"\x30\x09" + b"\x02\x01\x01" * 3, "tbsCertificate has tag 0x02"),
    ],
)
def test_bad_certificates(name, data, words):
    with pytest.raises(TLSDecodeError, match=words):
        summarize(data)


# --- hostile input --------------------------------------------------------------------------

HOSTILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HOSTILE
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_decode_errors(data):
    with contextlib.suppress(TLSDecodeError):
        summarize(data)


def test_mutated_certificates_only_raise_decode_errors(all_certs):
    certs = list(all_certs.values())
    outcomes = {"ok": 0, "error": 0}

    @HOSTILE
    @given(
        st.sampled_from(certs),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
        st.integers(0, 10_000),
    )
    def check(cert, changes, cut):
        data = bytearray(cert)
        for where, value in changes:
            data[where % len(data)] = value
        data = data[: max(cut, len(data) // 2)] if cut % 3 == 0 else data
        try:
            summarize(bytes(data))
            outcomes["ok"] += 1
        except TLSDecodeError:
            outcomes["error"] += 1

    check()
    assert outcomes["ok"] and outcomes["error"]
