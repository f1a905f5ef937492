"""rawhttp's HTTPS client against real TLS peers (issue 17's "Done when").

nginx serves TLS 1.2 and 1.3 from one process, one port per configuration (its
`ssl_protocols` and `ssl_ciphers` per `server`); `openssl s_server` and `s_client -msg` give
the message list our `-v` must match; curl -v gives the line list it must match; tshark
decrypts our `--pcap` with our `--keylog`. The certificates come from trustme (tests/tlspeers.py).
Every rawhttp run is its own process, so an error is checked as a terminal shows it: one line,
curl's exit code, no traceback.

Where rawhttp differs from a peer on purpose, the test says why.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from conftest import HANG
from tlspeers import (
    PKI,
    Site,
    command,
    make_pki,
    need,
    nginx,
    rawhttp,
    s_server,
    subjects,
    tls_server,
)

from rawhttp.server import sample_site

SITE = sample_site()
NOTES = (SITE / "files" / "notes.txt").read_bytes()

# What nginx serves, one port each (tlspeers.Site).
SITES = {
    "both": Site(),
    "tls12": Site(protocols="TLSv1.2"),
    "tls13": Site(protocols="TLSv1.3"),
    "chained": Site(cert="chained"),
    "expired": Site(cert="expired"),
    "other_host": Site(cert="other_host"),
    "self_signed": Site(cert="self_signed"),
    "plain": Site(tls=False),
}

# curl's -v line for one TLS message: "* TLSv1.3 (OUT), TLS handshake, Client hello (1):"
TLS_LINE = re.compile(
    r"^\* (TLSv1\.[0-3]) \((IN|OUT)\), TLS (handshake|change cipher|alert), (.+) \((\d+)\):$"
)
HANDSHAKE_13 = [
    ("OUT", "handshake", 1),  # ClientHello
    ("IN", "handshake", 2),  # ServerHello
    ("IN", "handshake", 8),  # EncryptedExtensions: from here on, encrypted
    ("IN", "handshake", 11),  # Certificate
    ("IN", "handshake", 15),  # CertificateVerify
    ("IN", "handshake", 20),  # Finished
    ("OUT", "change cipher", 1),  # middlebox compatibility (RFC 8446 D.4)
    ("OUT", "handshake", 20),  # Finished
    ("IN", "handshake", 4),  # NewSessionTicket: after the handshake, read with the answer;
    ("IN", "handshake", 4),  # OpenSSL servers send two (SSL_CTX_set_num_tickets)
]
HANDSHAKE_12 = [
    ("OUT", "handshake", 1),  # ClientHello
    ("IN", "handshake", 2),  # ServerHello
    ("IN", "handshake", 11),  # Certificate, in the clear
    ("IN", "handshake", 12),  # ServerKeyExchange (ECDHE)
    ("IN", "handshake", 14),  # ServerHelloDone
    ("OUT", "handshake", 16),  # ClientKeyExchange
    ("OUT", "change cipher", 1),
    ("OUT", "handshake", 20),  # Finished
    ("IN", "handshake", 4),  # NewSessionTicket (our ClientHello offers the extension)
    # The server's change_cipher_spec has no line: OpenSSL's message callback does not report
    # the one it reads (openssl s_client -msg shows none either, nor does curl -v).
    ("IN", "handshake", 20),  # Finished
]


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    need("openssl", "openssl")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def sites(pki, tmp_path_factory) -> dict[str, int]:
    """nginx on one port per SITES entry: {name: port}."""
    with nginx(tmp_path_factory.mktemp("nginx"), pki, SITES, SITE) as ports:
        yield ports


def get(pki: PKI, port: int, *args: str, path: str = "/files/notes.txt", **options):
    return rawhttp(f"https://localhost:{port}{path}", "--cacert", pki.cafile, *args, **options)


def tls_lines(stderr: bytes) -> list[tuple[str, str, str, int]]:
    """-v's TLS message lines as (version, direction, kind, number)."""
    found = (TLS_LINE.match(line) for line in stderr.decode().splitlines())
    return [(m[1], m[2], m[3], int(m[5])) for m in found if m]


def messages(stderr: bytes) -> list[tuple[str, str, int]]:
    """The handshake messages and change_cipher_specs -v named: (direction, kind, number)."""
    return [(d, kind, n) for _, d, kind, n in tls_lines(stderr) if kind != "alert"]


def one_error(result, code: int, *words: str) -> str:
    """The run failed with `code` and said so in one line naming `words`, no traceback."""
    err = result.stderr.decode()
    assert result.returncode == code, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("rawhttp: error:")]
    assert len(errors) == 1, err
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


# --- 1. nginx: the handshake of each version ---------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "expected", "version"),
    [(["--tlsv1.3"], HANDSHAKE_13, "TLSv1.3"), (["--tls-max", "1.2"], HANDSHAKE_12, "TLSv1.2")],
    ids=["tls1.3", "tls1.2"],
)
def test_verbose_names_each_handshake_message(pki, sites, flags, expected, version):
    result = get(pki, sites["both"], "-v", "--body-only", *flags)
    assert result.returncode == 0, result.stderr
    assert result.stdout == NOTES
    assert messages(result.stderr) == expected
    assert {v for v, _, _, _ in tls_lines(result.stderr)} == {version}
    err = result.stderr.decode()
    assert f"* SSL connection using {version} / " in err
    assert "*  SSL certificate verify ok." in err


def test_tls_max_12_against_a_13_server_picks_12(pki, sites):
    result = get(pki, sites["both"], "-v", "--tls-max", "1.2")
    assert result.returncode == 0, result.stderr
    err = result.stderr.decode()
    # A ClientHello offering nothing above 1.2 has no supported_versions extension.
    assert (
        "*   versions offered: TLSv1.2 (legacy_version: no supported_versions extension)\n" in err
    )
    assert "*   chosen: TLSv1.2, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n" in err
    assert "* SSL connection using TLSv1.2 / ECDHE-ECDSA-AES256-GCM-SHA384" in err


def test_a_client_offering_13_and_12_gets_12_from_a_12_server(pki, sites):
    result = get(pki, sites["tls12"], "-v")
    err = result.stderr.decode()
    assert "*   versions offered: TLSv1.3, TLSv1.2\n" in err
    assert "*   chosen: TLSv1.2, " in err and "* SSL connection using TLSv1.2 / " in err


def test_tlsv13_against_a_12_only_server_is_35_in_one_line(pki, sites):
    result = get(pki, sites["tls12"], "--tlsv1.3")
    one_error(result, 35, "tls: handshake with localhost failed", "PROTOCOL_VERSION")
    assert len(result.stderr.decode().splitlines()) == 1
    assert result.stdout == b""


def test_tls_max_12_against_a_13_only_server_is_35(pki, sites):
    one_error(get(pki, sites["tls13"], "--tls-max", "1.2"), 35, "handshake with localhost failed")


def test_ciphers_picks_a_tls12_suite(pki, sites):
    suite = "ECDHE-ECDSA-AES128-SHA256"
    result = get(pki, sites["tls12"], "-v", "--ciphers", suite)
    assert result.returncode == 0, result.stderr
    err = result.stderr.decode()
    offered = next(line for line in err.splitlines() if "cipher suites offered" in line)
    # TLS 1.3's three suites are offered whatever --ciphers says (OpenSSL sets them apart,
    # as curl's --tls13-ciphers does), then the one TLS 1.2 suite, then the SCSV.
    assert offered.endswith(
        "TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "
        "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"
    ), offered
    assert f"* SSL connection using TLSv1.2 / {suite} " in err


def test_ciphers_nobody_knows_is_one_line(pki, sites):
    one_error(get(pki, sites["tls12"], "--ciphers", "NO-SUCH-CIPHER"), 35, "--ciphers")


def test_alpn_nginx_answers_http11_when_offered(pki, sites):
    offered = get(pki, sites["both"], "-v").stderr.decode()
    assert "*   ALPN offered: http/1.1\n" in offered
    assert "* ALPN: server accepted http/1.1\n" in offered
    silent = get(pki, sites["both"], "-v", "--no-alpn").stderr.decode()
    assert "ALPN offered" not in silent
    assert "* ALPN: the server did not choose a protocol (HTTP/1.1 is assumed)" in silent


def test_an_alpn_nginx_cannot_speak_ends_the_handshake(pki, sites):
    """nginx without http2 knows only HTTP/1.x: offered h2 alone, it ends the handshake with
    the no_application_protocol alert (RFC 7301 section 3.2), as it does for curl."""
    result = get(pki, sites["both"], "--alpn", "h2")
    one_error(result, 35, "handshake with localhost failed")


# --- 2. openssl s_server: our message list is s_client -msg's ----------------------------------

# s_client -msg's names for what -v numbers (ssl/t1_trce.c, OpenSSL 3); an alert is numbered
# as curl numbers it, level * 256 + description.
S_CLIENT_TYPES = {
    "ClientHello": 1,
    "ServerHello": 2,
    "NewSessionTicket": 4,
    "EncryptedExtensions": 8,
    "Certificate": 11,
    "ServerKeyExchange": 12,
    "CertificateRequest": 13,
    "ServerHelloDone": 14,
    "CertificateVerify": 15,
    "ClientKeyExchange": 16,
    "Finished": 20,
}
S_CLIENT_ALERTS = {"warning close_notify": 256}
S_CLIENT_LINE = re.compile(
    r"^(<<<|>>>) TLS 1\.\d, (Handshake|ChangeCipherSpec|Alert) \[[^]]*\](.*)$"
)


def s_client_messages(port: int, cafile: str, version_flag: str) -> list[tuple[str, str, int]]:
    """What `openssl s_client -msg` handles, fetching / as rawhttp does: (direction, kind, n),
    kind as -v says it (handshake, change cipher, alert)."""
    ran = command(
        "openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
        "-CAfile", cafile, version_flag, "-msg", "-ign_eof",
        input=b"GET / HTTP/1.0\r\n\r\n",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    found = []
    for line in ran.stdout.decode(errors="replace").splitlines():
        m = S_CLIENT_LINE.match(line)
        if not m:
            continue
        direction, name = "OUT" if m[1] == ">>>" else "IN", m[3].strip(", ")
        if m[2] == "ChangeCipherSpec":
            found.append((direction, "change cipher", 1))
        elif m[2] == "Alert":
            found.append((direction, "alert", S_CLIENT_ALERTS[name]))
        else:
            found.append((direction, "handshake", S_CLIENT_TYPES[name]))
    return found


@pytest.mark.parametrize("version_flag", ["-tls1_2", "-tls1_3"])
def test_our_messages_are_the_ones_openssl_s_client_handles(pki, version_flag):
    with s_server(pki.server, version_flag) as port:
        theirs = s_client_messages(port, pki.cafile, version_flag)
        ours = rawhttp(f"https://localhost:{port}/", "--cacert", pki.cafile, "-v", "-o", os.devnull)
    assert ours.returncode == 0, ours.stderr
    # Everything, up to the server's close_notify at the body's end and the client's answer.
    assert theirs[-2:] == [("IN", "alert", 256), ("OUT", "alert", 256)]
    assert [(d, kind, n) for _, d, kind, n in tls_lines(ours.stderr)] == theirs


# --- 3. tshark decrypts our capture with our key log -------------------------------------------


def root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("--pcap captures packets: that takes root (CI runs as root)")
    need("tshark", "tshark")


def follow_tls(pcap: Path, *options: str) -> list[bytes]:
    """The TLS application data tshark decrypted, one bytes per direction (in order of who
    spoke first): `-z follow,tls,raw` prints each piece in hex, the second side's indented."""
    ran = command("tshark", "-r", str(pcap), "-q", *options, "-z", "follow,tls,raw,0")
    assert ran.returncode == 0, ran.stderr
    sides = {True: b"", False: b""}
    for line in ran.stdout.decode().splitlines():
        piece = line.strip()
        if piece and re.fullmatch(r"[0-9a-f]+", piece):
            sides[line.startswith("\t")] += bytes.fromhex(piece)
    return [side for side in sides.values() if side]


def request_sent(stderr: bytes) -> bytes:
    """The request head -v showed ("> " lines), as the bytes on the wire."""
    lines = [line[2:] for line in stderr.decode().splitlines() if line.startswith(">")]
    return "\r\n".join(lines).encode() + b"\r\n"


@pytest.mark.parametrize("keylog", ["--keylog", "SSLKEYLOGFILE"])
def test_tshark_decrypts_our_pcap_with_our_keylog(pki, sites, tmp_path, keylog):
    root_only()
    pcap, keys = tmp_path / "t.pcap", tmp_path / "keys.txt"
    asked = ["--keylog", str(keys)] if keylog == "--keylog" else []
    env = {"SSLKEYLOGFILE": str(keys)} if keylog == "SSLKEYLOGFILE" else {}
    result = get(pki, sites["both"], "--pcap", str(pcap), *asked, "--trace", "-v", env=env)
    assert result.returncode == 0, result.stderr
    assert f"* TLS secrets appended to {keys} (NSS key log)" in result.stderr.decode()
    request, response = request_sent(result.stderr), result.stdout
    assert request.startswith(b"GET /files/notes.txt HTTP/1.1\r\n") and response.endswith(NOTES)
    assert sorted(follow_tls(pcap, "-o", f"tls.keylog_file:{keys}")) == sorted([request, response])
    fields = command(
        "tshark", "-r", str(pcap), "-o", f"tls.keylog_file:{keys}", "-Y", "http",
        "-T", "fields", "-e", "http.request.method", "-e", "http.request.uri",
        "-e", "http.response.code",
    )  # fmt: skip
    rows = fields.stdout.decode().split()
    assert rows == ["GET", "/files/notes.txt", "200"], fields.stdout
    # Without the key log, the observer sees the records, not what they carry.
    assert follow_tls(pcap) == []
    blind = command("tshark", "-r", str(pcap), "-Y", "http")
    assert blind.returncode == 0 and blind.stdout == b""
    sni = command(
        "tshark", "-r", str(pcap), "-Y", "tls.handshake.extensions_server_name",
        "-T", "fields", "-e", "tls.handshake.extensions_server_name",
    )  # fmt: skip
    assert sni.stdout.decode().split() == ["localhost"]  # the SNI travels in the clear


# --- 4. errors: one line each, curl's exit codes ------------------------------------------------


def test_an_expired_certificate_is_60_and_v_shows_when_it_expired(pki, sites):
    one_error(get(pki, sites["expired"]), 60, "not trusted (expired)")
    shown = get(pki, sites["expired"], "-v")
    one_error(shown, 60, "expired")
    assert "*  expire date: Jan 02 03:04:05 2020 GMT" in shown.stderr.decode()
    assert ("TLSv1.3", "OUT", "alert", 557) in tls_lines(shown.stderr)  # certificate_expired


def test_a_certificate_for_another_host_is_60(pki, sites):
    result = get(pki, sites["other_host"], "-v")
    one_error(result, 60, "not trusted (wrong host)", "localhost")
    assert "*  subjectAltName: DNS:other.test" in result.stderr.decode()


def test_a_self_signed_certificate_is_60(pki, sites):
    result = get(pki, sites["self_signed"])
    one_error(result, 60, "not trusted (self-signed)")
    assert len(result.stderr.splitlines()) == 1


def test_k_accepts_what_was_refused_and_says_so(pki, sites):
    result = rawhttp(f"https://localhost:{sites['self_signed']}/files/notes.txt", "-k", "-v")
    assert result.returncode == 0, result.stderr
    assert "SSL certificate verify skipped (-k)" in result.stderr.decode()


@pytest.mark.parametrize(
    ("head", "said"),
    [
        (b"Content-Length: 100\r\n\r\n15 bytes of 100", "after 15 of 100 body bytes"),
        (b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "chunk"),
    ],
    ids=["content-length", "chunked"],
)
def test_a_counted_body_cut_without_close_notify_is_18(pki, head, said):
    """The framing says bytes are missing: that is the error (curl's 18 too), not the
    missing close_notify, which only a close-delimited body needs."""
    with tls_server(pki.server, b"HTTP/1.1 200 OK\r\n" + head, close_notify=False) as port:
        result = get(pki, port, path="/")
    one_error(result, 18, said)


def test_a_close_delimited_body_cut_without_close_notify_is_56(pki):
    with tls_server(
        pki.server, b"HTTP/1.1 200 OK\r\n\r\nthe first part", close_notify=False
    ) as port:
        result = get(pki, port, "-v", path="/")
    one_error(result, 56, "without close_notify")
    assert ("TLSv1.3", "IN", "alert", 256) not in tls_lines(result.stderr)


def test_a_close_delimited_body_ended_by_close_notify_is_whole(pki):
    with tls_server(pki.server, b"HTTP/1.1 200 OK\r\n\r\nall of it", close_notify=True) as port:
        result = get(pki, port, "--body-only", "-v", path="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"all of it"
    assert ("TLSv1.3", "IN", "alert", 256) in tls_lines(result.stderr)


def test_a_plain_http_server_on_an_https_url_is_35(pki, sites):
    result = get(pki, sites["plain"])
    one_error(result, 35, "answered in plain HTTP", "400 Bad Request", "use http://")


def test_http_to_nginx_tls_port_gets_its_400_page(pki, sites):
    """What happens today (a separate issue covers saying it better): nginx answers the
    plain request on its TLS port with a plain 400 page, so the transfer is "complete"."""
    result = rawhttp(f"http://localhost:{sites['both']}/", "--fail")
    err = one_error(result, 22, "400")
    assert "Traceback" not in err
    assert b"The plain HTTP request was sent to HTTPS port" in result.stdout


def test_http_to_openssl_s_server_is_an_empty_reply(pki):
    """openssl s_server closes on a plain request without a byte back: exit 52, as curl's."""
    with s_server(pki.server) as port:
        result = rawhttp(f"http://localhost:{port}/")
    one_error(result, 52, "empty reply")


def test_a_server_that_never_answers_the_hello_is_28_within_connect_timeout(pki, raw_server):
    server = raw_server([HANG])
    started = time.monotonic()
    result = get(pki, server.port, "--connect-timeout", "1", path="/")
    took = time.monotonic() - started
    one_error(result, 28, "TLS handshake timed out after 1 s")
    assert took < 1 + 3  # the timeout, plus a Python start-up


def test_a_ca_file_without_certificates_is_77(tmp_path, sites):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    one_error(rawhttp(f"https://localhost:{sites['both']}/", "--cacert", str(bad)), 77, str(bad))


# --- 5. what can be saved: the chain, the secrets -----------------------------------------------


def test_cert_chain_writes_the_served_chain_as_pem(pki, sites, tmp_path):
    saved = tmp_path / "chain.pem"
    result = get(pki, sites["chained"], "--cert-chain", str(saved))
    assert result.returncode == 0, result.stderr
    served = pki.leaf_subjects()
    assert len(served) == 2  # the leaf, then the intermediate that signed it
    assert subjects(saved.read_text()) == served
    _, intermediate = served
    issuer = command("openssl", "x509", "-noout", "-issuer", "-in", str(saved))
    assert issuer.stdout.decode().strip().removeprefix("issuer=") == intermediate.removeprefix(
        "subject="
    )


@pytest.mark.parametrize(
    ("flags", "labels"),
    [
        (
            ["--tlsv1.3"],
            {
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                "CLIENT_TRAFFIC_SECRET_0",
                "SERVER_TRAFFIC_SECRET_0",
                "EXPORTER_SECRET",
            },
        ),
        (["--tls-max", "1.2"], {"CLIENT_RANDOM"}),
    ],
    ids=["tls1.3", "tls1.2"],
)
def test_keylog_lines_are_nss_format(pki, sites, tmp_path, flags, labels):
    keys = tmp_path / "keys.txt"
    result = get(pki, sites["both"], "--keylog", str(keys), *flags)
    assert result.returncode == 0, result.stderr
    lines = [line for line in keys.read_text().splitlines() if not line.startswith("#")]
    assert {line.split()[0] for line in lines} == labels
    randoms = set()
    for line in lines:
        _, client_random, secret = line.split(" ")
        assert re.fullmatch(r"[0-9a-f]{64}", client_random), line
        assert re.fullmatch(r"[0-9a-f]{64}|[0-9a-f]{96}", secret), line
        randoms.add(client_random)
    assert len(randoms) == 1  # one connection, one ClientHello random


# --- 6. curl -v prints the same TLS lines ------------------------------------------------------

VERSION_FLAGS = pytest.mark.parametrize(
    "flags", [["--tlsv1.3"], ["--tls-max", "1.2"]], ids=["tls1.3", "tls1.2"]
)
# curl's ClientHello offers no session ticket extension, ours (Python's ssl defaults) does, so a
# TLS 1.2 server sends us a NewSessionTicket it does not send curl: a setting, not a naming.
TICKET_12 = "* TLSv1.2 (IN), TLS handshake, Newsession Ticket (4):"


def curl_and_ours(url: str, cafile: str, flags: list[str]) -> tuple[list[str], list[str]]:
    """curl -v's TLS lines and ours, fetching `url` with the same flags."""
    need("curl", "curl")
    curl = command("curl", "-sv", "--cacert", cafile, *flags, url, "-o", os.devnull)
    assert curl.returncode == 0, curl.stderr
    ours = rawhttp(url, "--cacert", cafile, "-v", "-o", os.devnull, *flags)
    assert ours.returncode == 0, ours.stderr
    return [
        [line for line in run.stderr.decode().splitlines() if TLS_LINE.match(line)]
        for run in (curl, ours)
    ]


@VERSION_FLAGS
def test_our_tls_lines_are_curls_when_the_client_closes(pki, sites, flags):
    """nginx keeps the connection: the client ends it. We say close_notify and show nginx's
    answer; curl 7.88 says it too, but after it has stopped printing."""
    url = f"https://localhost:{sites['both']}/files/notes.txt"
    theirs, ours = curl_and_ours(url, pki.cafile, flags)
    assert theirs[0].startswith(f"* TLSv1.{3 if flags == ['--tlsv1.3'] else 2} (OUT)")
    assert [line for line in ours if line != TICKET_12 and "close notify" not in line] == theirs


@VERSION_FLAGS
def test_our_tls_lines_are_curls_when_the_server_closes(pki, flags):
    """openssl s_server -www ends its HTTP/1.0 answer with close_notify: both clients show it
    and answer with their own (RFC 8446 section 6.1), line for line."""
    with s_server(pki.server) as port:
        theirs, ours = curl_and_ours(f"https://localhost:{port}/", pki.cafile, flags)
    version = theirs[0][2:9]
    assert theirs[-2:] == [
        f"* {version} (IN), TLS alert, close notify (256):",
        f"* {version} (OUT), TLS alert, close notify (256):",
    ]
    assert [line for line in ours if line != TICKET_12] == theirs
