"""The `-v` lines for TLS: curl's, one per message, plus what was offered and chosen.

curl -v prints a line for each TLS message OpenSSL handles ("TLSv1.3 (OUT), TLS handshake,
Client hello (1):", lib/vtls/openssl.c's `ossl_trace`); rawhttp prints the same lines from
the `TLSMessage` events, and under the two hellos what they say in the clear (the SNI every
observer on the path can read, the versions, groups and ALPN offered; the version, cipher
suite and key share chosen). At the handshake's end: the connection's version and cipher,
the ALPN answer, the server's certificate (curl's "Server certificate:" block) and where the
TLS secrets went, if a key log was asked for.
"""

from __future__ import annotations

import os

from rawhttp import events

CLIENT_HELLO, SERVER_HELLO, CERTIFICATE = 1, 2, 11
HANDSHAKE = 22
# Offered items listed before "..." on one line, so a ClientHello stays a few lines.
LISTED = 6


def message_lines(e: events.TLSMessage) -> list[str]:
    """curl's line for one message, then what a hello says (indented)."""
    from rawhttp.tls import TLSDecodeError, curl_line
    from rawhttp.tls.hello import parse_client_hello, parse_server_hello

    lines = [f"* {curl_line(e.direction, e.version, e.content_type, e.msg_type)}"]
    if e.content_type != HANDSHAKE or e.msg_type not in (CLIENT_HELLO, SERVER_HELLO):
        return lines
    try:
        if e.msg_type == CLIENT_HELLO:
            return lines + _client_hello(parse_client_hello(e.data[4:]))
        return lines + _server_hello(parse_server_hello(e.data[4:]))
    except TLSDecodeError as error:
        return [*lines, f"*   (not decoded: {error})"]


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f", ... ({len(names)} in all)" if len(names) > LISTED else "")


def _client_hello(hello) -> list[str]:
    from rawhttp.tls.names import version_name

    sni = hello.server_name or "(none: no name was sent)"
    # A client offering nothing above TLS 1.2 sends no supported_versions extension: the
    # legacy_version field is its offer (RFC 8446 section 4.2.1).
    versions = _listed(hello.version_names) or (
        f"{version_name(hello.legacy_version)} (legacy_version: no supported_versions extension)"
    )
    lines = [
        f"*   SNI: {sni} (in the clear: any observer on the path reads it)",
        f"*   versions offered: {versions}",
        f"*   cipher suites offered: {_listed(hello.cipher_suite_names)}",
        f"*   groups offered: {_listed(hello.group_names)}",
    ]
    if hello.key_shares:
        from rawhttp.tls.names import group_name

        shares = ", ".join(f"{group_name(s.group)}" for s in hello.key_shares)
        lines.append(f"*   key share sent for: {shares}")
    if hello.alpn:
        lines.append(f"*   ALPN offered: {', '.join(hello.alpn)}")
    return lines


def _server_hello(hello) -> list[str]:
    if hello.hello_retry_request:
        from rawhttp.tls.names import group_name

        group = group_name(hello.key_share_group or 0)
        return [f"*   HelloRetryRequest: the server asks for a key share for {group}"]
    lines = [f"*   chosen: {hello.version_name}, {hello.cipher_suite_name}"]
    if hello.key_share_group is not None:
        from rawhttp.tls.names import group_name

        lines[0] += f", key share {group_name(hello.key_share_group)}"
    return lines


def established_lines(e: events.TLSEstablished, keylog: str | None) -> list[str]:
    """curl's summary of the finished handshake and the server's certificate."""
    from rawhttp.tls.names import iana_cipher_name

    iana = iana_cipher_name(e.cipher)
    cipher = e.cipher if iana in (None, e.cipher) else f"{e.cipher} ({iana})"
    lines = [f"* SSL connection using {e.version} / {cipher}"]
    if e.alpn:
        lines.append(f"* ALPN: server accepted {e.alpn}")
    else:
        lines.append("* ALPN: the server did not choose a protocol (HTTP/1.1 is assumed)")
    if e.certificate:
        lines += certificate_lines(e.certificate, e.verified)
    if keylog:
        lines.append(
            f"* TLS secrets appended to {keylog} (NSS key log): Wireshark or tshark can "
            "decrypt a capture of this connection with it"
        )
    return lines


def certificate_lines(der: bytes, verified: bool | None) -> list[str]:
    """curl's "Server certificate:" block for one certificate (the server's own)."""
    from rawhttp.tls import TLSDecodeError, summarize

    try:
        cert = summarize(der)
    except TLSDecodeError as error:
        return [f"* Server certificate: not decoded ({error})"]
    names = [f"DNS:{name}" for name in cert.dns_names] + [f"IP:{ip}" for ip in cert.ip_addresses]
    lines = [
        "* Server certificate:",
        f"*  subject: {cert.subject or '(empty)'}",
        f"*  start date: {cert.not_before:%b %d %H:%M:%S %Y} GMT",
        f"*  expire date: {cert.not_after:%b %d %H:%M:%S %Y} GMT",
        f"*  subjectAltName: {', '.join(names) or '(none)'}",
        f"*  issuer: {cert.issuer or '(empty)'}",
        f"*  public key: {cert.public_key}; signature: {cert.signature_algorithm}",
    ]
    if verified is True:
        lines.append("*  SSL certificate verify ok.")
    elif verified is False:
        lines.append("*  SSL certificate verify skipped (-k): anyone could be at the other end")
    return lines


def keylog_path(asked: str | None) -> str | None:
    """Where the TLS secrets go: --keylog, else SSLKEYLOGFILE (which Python's ssl reads)."""
    return asked or os.environ.get("SSLKEYLOGFILE") or None
