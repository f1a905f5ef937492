"""Sans-IO TLS: the records, handshake messages, alerts and certificates of a connection.

The client runs TLS through `ssl.MemoryBIO`, so every TLS byte passes through rawhttp's own
hands on its way to and from the socket. This package reads those bytes the way `wire.py`
reads HTTP: fed bytes, it returns values, and it never touches a socket. What it shows is
what an observer on the wire (Wireshark, `openssl s_client -msg`) can see: record headers
always, handshake messages and alerts while they are still plaintext, never the
application data. One job per module:

- `records`: cut a direction's bytes into records (RFC 8446 section 5), with the length limits.
- `handshake`: rejoin handshake messages from record payloads (RFC 8446 section 4).
- `hello`: decode ClientHello and ServerHello and their extensions.
- `messages`: decode TLS 1.2's Certificate, ServerKeyExchange, ... NewSessionTicket, Finished.
- `alerts`: decode an alert (RFC 8446 section 6).
- `names`: the IANA numbers and names (cipher suites with their OpenSSL names too).
- `curltrace`: curl -v's wording for each message, so the views read like curl.
- `observer`: both directions of a connection together: what is plaintext, what each record
  holds, the version; the one entry point the client's I/O side needs.
- `der` and `certs`: a minimal DER reader, and a summary of an X.509 certificate.
- `cursor` and `errors`: bounds-checked reading; the one error class, `TLSDecodeError`.

    >>> from rawhttp.tls import RecordReader, HandshakeReader
    >>> records = RecordReader().feed(bytes.fromhex("16030100040e000000"))
    >>> [m.name for m in HandshakeReader().feed(records[0].payload)]
    ['server_hello_done']
"""

from rawhttp.tls.alerts import Alert, parse_alert
from rawhttp.tls.certs import CertificateSummary, summarize, to_pem
from rawhttp.tls.curltrace import curl_line
from rawhttp.tls.errors import NotTLSError, TLSDecodeError
from rawhttp.tls.handshake import HandshakeReader, Message, Negotiated
from rawhttp.tls.hello import ClientHello, ServerHello
from rawhttp.tls.observer import Seen, TLSObserver, is_encrypted
from rawhttp.tls.records import Record, RecordReader, record_limit

__all__ = [
    "Alert",
    "CertificateSummary",
    "ClientHello",
    "HandshakeReader",
    "Message",
    "Negotiated",
    "NotTLSError",
    "Record",
    "RecordReader",
    "Seen",
    "ServerHello",
    "TLSDecodeError",
    "TLSObserver",
    "curl_line",
    "is_encrypted",
    "parse_alert",
    "record_limit",
    "summarize",
    "to_pem",
]
