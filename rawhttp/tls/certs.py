"""A summary of an X.509 certificate (RFC 5280), read with `der.py`: no third-party package.

What a learner looks at when HTTPS fails or succeeds: who the certificate is for (subject,
subjectAltName), who vouches for it (issuer), when it is valid, whether it is a CA, and what
signs it. The structure (RFC 5280 section 4.1):

    Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
    TBSCertificate ::= SEQUENCE {
        version [0] EXPLICIT INTEGER DEFAULT v1,  serialNumber INTEGER,
        signature AlgorithmIdentifier,  issuer Name,  validity SEQUENCE { notBefore, notAfter },
        subject Name,  subjectPublicKeyInfo,  [1] issuerUniqueID,  [2] subjectUniqueID,
        extensions [3] EXPLICIT SEQUENCE OF Extension }

Nothing here checks a signature or trust: that is `ssl`'s job. Any malformed certificate
raises `TLSDecodeError`, whatever its bytes.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from datetime import datetime

from rawhttp.tls import der
from rawhttp.tls.errors import TLSDecodeError

# Name attribute types (RFC 5280 4.1.2.4 and appendix A), with RFC 4514's short names.
ATTRIBUTE_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
}

# Signature algorithms, named as `openssl x509 -text` names them.
SIGNATURE_ALGORITHMS = {
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.10": "rsassaPss",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.3.101.112": "ED25519",
    "1.3.101.113": "ED448",
}

# Public key algorithms (RFC 3279, RFC 5480, RFC 8410).
RSA_KEY = "1.2.840.113549.1.1.1"
EC_KEY = "1.2.840.10045.2.1"
KEY_TYPES = {
    RSA_KEY: "RSA",
    "1.2.840.113549.1.1.10": "RSA-PSS",
    EC_KEY: "EC",
    "1.2.840.10040.4.1": "DSA",
    "1.3.101.110": "X25519",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
}
# Key sizes that follow from the algorithm alone (RFC 8410: the curve is fixed).
FIXED_KEY_BITS = {"1.3.101.110": 255, "1.3.101.112": 256, "1.3.101.113": 456}
# Named curves of EC keys (RFC 5480 section 2.1.1.1): OID -> (name, bits).
CURVES = {
    "1.2.840.10045.3.1.7": ("secp256r1", 256),
    "1.3.132.0.34": ("secp384r1", 384),
    "1.3.132.0.35": ("secp521r1", 521),
}

SUBJECT_ALT_NAME = "2.5.29.17"
BASIC_CONSTRAINTS = "2.5.29.19"
# GeneralName choices in a subjectAltName (RFC 5280 4.2.1.6): [2] dNSName, [7] iPAddress.
_DNS_NAME = der.context(2, constructed=False)
_IP_ADDRESS = der.context(7, constructed=False)
# RFC 7468 section 2: the PEM armour of a certificate, and its line length.
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"
_PEM_LINE = 64
# RFC 4514 section 2.4: characters escaped with a backslash in a string form of a name.
_ESCAPED = set('"+,;<>\\')


@dataclass(frozen=True)
class CertificateSummary:
    """The parts of a certificate a person reads. Names are RFC 4514 strings (most specific
    first: "CN=example.com, O=Example, C=US")."""

    version: int  # 1, 2 or 3, as people count them (the DER value is one less)
    serial: int
    signature_algorithm: str
    issuer: str
    not_before: datetime
    not_after: datetime
    subject: str
    public_key_type: str  # "RSA", "EC", "Ed25519", ... or the dotted OID
    public_key_bits: int | None
    curve: str | None  # for EC keys: "secp256r1", ...
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    is_ca: bool

    @property
    def serial_hex(self) -> str:
        """The serial as `openssl x509 -serial` prints it: upper-case hex, whole bytes."""
        digits = f"{self.serial:X}"
        return digits.zfill(len(digits) + len(digits) % 2)

    @property
    def self_signed(self) -> bool:
        """Subject and issuer are the same name (a root CA, or a test certificate)."""
        return self.subject == self.issuer

    @property
    def public_key(self) -> str:
        """ "RSA 2048 bits", "EC secp256r1 (256 bits)", "Ed25519 (256 bits)"..."""
        size = f"{self.public_key_bits} bits" if self.public_key_bits else ""
        if self.curve:
            return f"{self.public_key_type} {self.curve} ({size})"
        return f"{self.public_key_type} {size}".strip()


def summarize(cert: bytes) -> CertificateSummary:
    """Read the summary of one DER certificate (what `getpeercert(binary_form=True)` returns
    and what a TLS Certificate message carries)."""
    try:
        return _summarize(cert)
    except TLSDecodeError:
        raise
    except (IndexError, ValueError) as error:  # a field of the wrong shape, anywhere
        raise TLSDecodeError(f"certificate: malformed ({error})") from error


def to_pem(cert: bytes) -> str:
    """The PEM text of a DER certificate (RFC 7468: base64 in 64-character lines between the
    BEGIN and END lines), as `openssl x509` and `ssl.DER_cert_to_PEM_cert` write it. Written
    out rather than imported from `ssl`, so this package never loads `socket`."""
    text = base64.b64encode(bytes(cert)).decode("ascii")
    lines = [text[i : i + _PEM_LINE] for i in range(0, len(text), _PEM_LINE)]
    return "\n".join([_PEM_BEGIN, *lines, _PEM_END]) + "\n"


def _summarize(cert: bytes) -> CertificateSummary:
    """The walk over RFC 5280's structure; a missing field surfaces as IndexError."""
    tbs, algorithm, signature = der.parse(cert).expect(der.SEQUENCE, "Certificate").children()
    fields = tbs.expect(der.SEQUENCE, "tbsCertificate").children()
    signature.bit_string()
    version = 0
    if fields[0].tag == der.context(0):
        (version_element,) = fields.pop(0).children()
        version = version_element.integer()
    serial, _, issuer, validity, subject, key_info, *optional = fields
    not_before, not_after = validity.expect(der.SEQUENCE, "validity").children()
    key_type, key_bits, curve = _public_key(key_info)
    extensions = _extensions(optional)
    dns_names, ip_addresses = _alt_names(extensions.get(SUBJECT_ALT_NAME))
    return CertificateSummary(
        version=version + 1,
        serial=serial.integer(),
        signature_algorithm=_algorithm_name(algorithm),
        issuer=_name_string(issuer),
        not_before=not_before.time(),
        not_after=not_after.time(),
        subject=_name_string(subject),
        public_key_type=key_type,
        public_key_bits=key_bits,
        curve=curve,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        is_ca=_is_ca(extensions.get(BASIC_CONSTRAINTS)),
    )


def _name_string(name: der.Element) -> str:
    """A Name as an RFC 4514 string: RDNs in reverse order of encoding (so CN comes first),
    joined by ", "; several values in one RDN joined by "+"."""
    rdns = []
    for rdn in name.expect(der.SEQUENCE, "Name").children():
        pairs = []
        for attribute in rdn.expect(der.SET, "RelativeDistinguishedName").children():
            kind, value = attribute.expect(der.SEQUENCE, "AttributeTypeAndValue").children()
            oid = kind.oid()
            pairs.append(f"{ATTRIBUTE_NAMES.get(oid, oid)}={_attribute_value(value)}")
        rdns.append("+".join(pairs))
    return ", ".join(reversed(rdns))


def _attribute_value(value: der.Element) -> str:
    """RFC 4514 section 2.4: a string value with its special characters escaped; any other
    value as "#" and the hex of its DER encoding."""
    try:
        text = value.string()
    except TLSDecodeError:
        return "#" + value.encoded().hex()
    escaped = "".join("\\" + ch if ch in _ESCAPED else ch for ch in text).replace("\0", "\\00")
    if escaped[:1] in (" ", "#"):
        escaped = "\\" + escaped
    if escaped.endswith(" ") and not escaped.endswith("\\ "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def _algorithm_name(identifier: der.Element) -> str:
    """AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }."""
    oid = identifier.expect(der.SEQUENCE, "AlgorithmIdentifier").children()[0].oid()
    return SIGNATURE_ALGORITHMS.get(oid, oid)


def _public_key(key_info: der.Element) -> tuple[str, int | None, str | None]:
    """(type, bits, curve) of SubjectPublicKeyInfo ::= SEQUENCE { algorithm, BIT STRING }."""
    algorithm, key = key_info.expect(der.SEQUENCE, "SubjectPublicKeyInfo").children()
    oid, *parameters = algorithm.expect(der.SEQUENCE, "AlgorithmIdentifier").children()
    oid_text = oid.oid()
    key_bytes = key.bit_string()
    curve = None
    if oid_text == RSA_KEY:  # RSAPublicKey ::= SEQUENCE { modulus, publicExponent }
        modulus = der.parse(key_bytes).expect(der.SEQUENCE, "RSAPublicKey").children()[0]
        bits = modulus.integer().bit_length()
    elif oid_text == EC_KEY and parameters and parameters[0].tag == der.OID:
        curve_oid = parameters[0].oid()
        curve, bits = CURVES.get(curve_oid, (curve_oid, None))
    else:
        bits = FIXED_KEY_BITS.get(oid_text)
    return KEY_TYPES.get(oid_text, oid_text), bits, curve


def _extensions(optional: list[der.Element]) -> dict[str, der.Element]:
    """The [3] extensions by OID: Extension ::= SEQUENCE { OID, critical BOOLEAN DEFAULT
    FALSE, extnValue OCTET STRING }; the value is the DER of the extension's own structure."""
    found: dict[str, der.Element] = {}
    for element in optional:
        if element.tag != der.context(3):
            continue
        (sequence,) = element.children()
        for extension in sequence.expect(der.SEQUENCE, "Extensions").children():
            oid, *rest = extension.expect(der.SEQUENCE, "Extension").children()
            value = rest[-1].expect(der.OCTET_STRING, "extnValue")
            found[oid.oid()] = der.parse(value.value)
    return found


def _alt_names(san: der.Element | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """subjectAltName ::= GeneralNames: the dNSName and iPAddress entries (RFC 5280 4.2.1.6)."""
    if san is None:
        return (), ()
    dns, ips = [], []
    for name in san.expect(der.SEQUENCE, "GeneralNames").children():
        if name.tag == _DNS_NAME:
            dns.append(name.value.decode("ascii", "backslashreplace"))
        elif name.tag == _IP_ADDRESS:
            ips.append(str(ipaddress.ip_address(name.value)))
    return tuple(dns), tuple(ips)


def _is_ca(constraints: der.Element | None) -> bool:
    """BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLen INTEGER OPTIONAL }."""
    if constraints is None:
        return False
    fields = constraints.expect(der.SEQUENCE, "BasicConstraints").children()
    return bool(fields) and fields[0].tag == der.BOOLEAN and fields[0].boolean()
