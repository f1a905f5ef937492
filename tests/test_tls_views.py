"""The views of an HTTPS transfer, against real TLS peers on loopback: --trace, --explain,
--timing and --packets, each for TLS 1.2 and 1.3 (pinned with --tls-max 1.2 / --tlsv1.3).

Peers: pytest-httpserver (Python's ssl, OpenSSL underneath) in-process, and `openssl
s_server` for what it does that the other cannot be told to (a HelloRetryRequest, a
close_notify before the FIN). Every server binds 127.0.0.1 port 0.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
import sys

import pytest
import trustme
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from test_packets import privileged  # noqa: F401 (a fixture)

from rawhttp import events
from rawhttp.cli import main
from rawhttp.client import Session
from rawhttp.dial import Options, TLSOptions

BIG = bytes(range(256)) * 800  # 200 KiB: many records, some cut across TCP segments
PINS = {"1.2": ["--tls-max", "1.2"], "1.3": ["--tlsv1.3"]}
ROUND_TRIPS = {"1.2": 2, "1.3": 1}


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def cafile(ca, tmp_path_factory):
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def site(ca):
    """An HTTPS server (both versions) with a small page and a 200 KiB body."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/").respond_with_data("secure page")
    server.expect_request("/big").respond_with_data(BIG)
    server.start()
    yield f"https://localhost:{server.port}"
    server.clear()
    server.stop()


@pytest.fixture
def s_server(ca, tmp_path):
    """`openssl s_server -www` with extra flags: its URL (it prints the port it took)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    pem = tmp_path / "server.pem"
    ca.issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(str(pem))
    processes = []

    def start(*flags: str) -> str:
        command = ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", str(pem), "-www"]
        process = subprocess.Popen(
            [*command, *flags], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        processes.append(process)
        for line in process.stdout:
            if line.startswith("ACCEPT"):
                return f"https://localhost:{line.rsplit(':', 1)[1].strip()}"
        raise AssertionError("openssl s_server did not start")

    yield start
    for process in processes:
        process.kill()
        process.wait(timeout=5)
        process.stdout.close()


def cli(*args: str):
    result = CliRunner().invoke(main, ["get", *args, "--timeout", "5", "-4"])
    assert result.exit_code == 0, result.output
    return result


def stderr_of(url: str, cafile: str, version: str, *flags: str) -> str:
    return cli(url, "--cacert", cafile, "-o", "/dev/null", *PINS[version], *flags).stderr


def index(lines: list[str], pattern: str) -> int:
    return next(i for i, line in enumerate(lines) if re.search(pattern, line))


# --- the events the views read ----------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_record_offsets_follow_each_other_and_excerpts_are_the_payload(site, cafile, version):
    """Each TLSRecord starts where the one before ended, though reads cut records anywhere
    (a 1000-byte buffer here); the excerpt is the payload's first bytes."""
    records: list[events.TLSRecord] = []
    moved = {"OUT": 0, "IN": 0}

    def listen(event):
        if isinstance(event, events.TLSRecord):
            records.append(event)

    options = Options(cafile=cafile, bufsize=1000, tls=TLSOptions(max_version=version, watch=True))
    with Session(options, listen) as session, session.stream(site + "/big") as response:
        assert b"".join(bytes(piece) for piece in response.iter_body()) == BIG
    assert len(records) > 15
    for record in records:
        header, length = record.seen.record.header, record.seen.record.length
        assert record.offset == moved[record.direction]
        moved[record.direction] += len(header) + length
        assert len(record.excerpt) == min(16, length)
        if record.seen.record.payload:
            assert record.excerpt == record.seen.record.payload[:16]


# --- --trace ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_trace_shows_records_then_the_decrypted_http(site, cafile, version):
    text = stderr_of(site + "/", cafile, version, "--trace")
    lines = text.splitlines()
    hello = index(lines, r"\] TLS record out \d+ bytes at offset 0 of the TLS bytes send\(\)")
    assert lines[hello + 1].startswith("    header 16 03 01 ")
    assert "= type 22 handshake, version 0x0301 TLSv1.0" in lines[hello + 1]
    assert lines[hello + 2] == f"    handshake message ClientHello (1), {lines[hello + 2][-9:]}"
    assert "SNI localhost" in lines[hello + 3]
    server_hello = index(lines, r"handshake message ServerHello \(2\)")
    chosen = f"chose TLSv{version}"
    assert chosen in lines[server_hello + 1]
    assert re.search(r"\] TLS record in \d+ bytes at offset 0 of the TLS bytes recv\(\)", text)
    assert re.search(r"^    \d+ bytes encrypted$", text, re.M)
    write = index(lines, r"\] tls write\(\) -> \d+ bytes at offset 0 \(decrypted: ")
    assert lines[write + 1] == "    GET / HTTP/1.1\\r\\n"
    read = index(lines, r"\] tls read\(\) -> \d+ bytes at offset 0 \(decrypted: ")
    assert lines[read + 1].startswith("    HTTP/1.")
    assert "secure page" in text
    # In time: the handshake, then the request's record and the request, then the answer's.
    assert hello < server_hello < write < read
    assert re.search(r"application_data", "\n".join(lines[server_hello:write]))
    if version == "1.2":  # the server's certificate travels in a plaintext record
        assert "handshake message Certificate (11)" in text
        assert "OpenSSL encrypted Finished" in text
        assert "OpenSSL decrypted Finished" in text  # it follows the server's CCS
        assert "OpenSSL decrypted NewSessionTicket" not in text  # 1.2's ticket is plaintext
    else:  # in 1.3 only OpenSSL could read it
        assert "handshake message Certificate" not in text
        assert re.search(r"OpenSSL decrypted Certificate, \d+ bytes \(TLSv1.3", text)
        assert "OpenSSL decrypted NewSessionTicket" in text


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_trace_hex_shows_a_ciphertext_excerpt_and_the_hello_bytes(site, cafile, version):
    text = stderr_of(site + "/", cafile, version, "--trace=hex")
    assert re.search(r"^    \d+ bytes encrypted: ([0-9a-f]{2} ){15}[0-9a-f]{2} \.\.\.$", text, re.M)
    # The ClientHello's payload dumped from its place in the TLS stream: after the header.
    assert re.search(r"^    000005  01 00 ", text, re.M)


def test_plain_trace_has_no_tls_words(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"])
    text = cli(f"http://127.0.0.1:{server.port}/", "--trace").stderr
    assert "] send() -> " in text and "] recv() -> " in text
    assert "TLS" not in text and "decrypted" not in text


# --- --explain --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_explain_counts_the_round_trips_from_the_flights(site, cafile, version):
    text = stderr_of(site + "/", cafile, version, "--explain")
    trips = ROUND_TRIPS[version]
    plural = "s" if trips > 1 else ""
    assert f"TLS handshake done in {trips} round trip{plural}: TLSv{version}" in text
    flights = re.findall(
        r"^  flight (\d), (client|server) -> (server|client), at [\d.]+ ms", text, re.M
    )
    assert [int(n) for n, _, _ in flights] == list(
        range(1, 2 * trips + 2 if version == "1.3" else 2 * trips + 1)
    )
    assert [who for _, who, _ in flights][:2] == ["client", "server"]
    assert re.search(r"ms after flight 1: round trip 1:", text)
    assert "the SNI localhost is in the clear" in text
    if version == "1.3":
        assert "the Certificate travelled encrypted" in text
        assert "the request follows in the same flight" in text
        assert "the server sent a NewSessionTicket after the handshake" in text
    else:
        assert "ServerHello, Certificate, ServerKeyExchange, ServerHelloDone" in text
        assert "the Certificate is in the clear (TLS 1.2)" in text
        assert re.search(r"ms after flight 3: round trip 2:", text)
    # rawhttp ends the TLS stream (it has the whole body) before its TCP close.
    assert "rawhttp sends close_notify (an encrypted alert) before close()" in text
    assert "the TLS layer was read" in text


def test_explain_a_hello_retry_adds_a_round_trip(s_server, cafile):
    """openssl s_server taking only P-256: rawhttp's ClientHello shares an x25519 key, so the
    server asks again (HelloRetryRequest): TLS 1.3 in two round trips."""
    url = s_server("-groups", "P-256", "-tls1_3")
    text = cli(url + "/", "--cacert", cafile, "-o", "/dev/null", "--explain").stderr
    assert "HelloRetryRequest, ChangeCipherSpec" in text
    assert "HelloRetryRequest: asks the client for a key share for secp256r1" in text
    assert "TLS handshake done in 2 round trips: TLSv1.3" in text
    # s_server -www says close_notify before its FIN: the TLS read ends on it.
    assert "the server sent close_notify (an encrypted alert)" in text
    assert "the TLS read returned 0 bytes: the server's close_notify" in text


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_explain_tcp_notes_read_the_raw_socket_under_tls(s_server, cafile, version):
    """TLSEstablished.sock is the TCP socket: TCP_INFO before close() and, s_server closing
    at once, the TIME_WAIT after."""
    text = stderr_of(s_server() + "/", cafile, version, "--explain")
    assert "TCP_INFO: the kernel's first round-trip estimate" in text
    assert re.search(r"before close\(\), TCP_INFO says the state is [A-Z_]+", text)
    assert re.search(r"nothing was retransmitted \(\d+ segments sent, \d+ received\)", text)
    assert re.search(r"after close\(\), /proc/net/tcp shows .* in TIME_WAIT", text)


def test_explain_an_untrusted_certificate_says_how_far_the_handshake_went(site, tmp_path):
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    result = CliRunner().invoke(
        main, ["get", site + "/", "--cacert", str(other), "--explain", "-4", "--tls-max", "1.2"]
    )
    assert result.exit_code == 60
    text = result.stderr
    assert "flight 2, server -> client" in text and "round trip 1" in text
    assert "TLS handshake done" not in text
    assert text.index("flight 2") < text.index("failed at the TLS layer")


# --- --timing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_timing_splits_the_handshake_into_round_trips(site, cafile, version):
    text = stderr_of(site + "/", cafile, version, "--timing")
    rows = re.findall(r"^  (TLS [a-z0-9 ]+?) +([\d.]+) ms", text, re.M)
    names = [name for name, _ in rows]
    expected = {
        "1.2": ["TLS hello", "TLS round 1", "TLS finish", "TLS round 2", "TLS handshake"],
        "1.3": ["TLS hello", "TLS round 1", "TLS finish", "TLS handshake"],
    }
    assert names == expected[version]
    times = [float(ms) for _, ms in rows]
    assert times == sorted(times)
    assert re.search(r"TLS round 1 .*< ServerHello.*\([\d.]+ ms after the client's flight\)", text)
    tcp = float(re.search(r"TCP connect +([\d.]+) ms", text)[1])
    assert tcp <= times[0]

    data = json.loads(stderr_of(site + "/", cafile, version, "--timing=json").splitlines()[-1])
    assert len(data["tls_round_trips"]) == ROUND_TRIPS[version]
    assert all(0 < trip < data["tls_handshake"] for trip in data["tls_round_trips"])
    flights = data["tls_flights"]
    assert [f["direction"] for f in flights][:2] == ["out", "in"]
    assert flights[0]["messages"] == ["ClientHello"]
    assert flights[1]["messages"][0] == "ServerHello"
    assert all(f["first"] <= f["last"] <= data["tls_handshake"] for f in flights)


def test_plain_timing_json_has_no_tls_fields(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"])
    data = json.loads(cli(f"http://127.0.0.1:{server.port}/", "--timing=json").stderr)
    assert "tls_flights" not in data and data["tls_handshake"] is None


# --- --packets --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_packets_name_the_records_each_segment_carries(privileged, site, cafile, version):  # noqa: F811
    text = stderr_of(site + "/big", cafile, version, "--packets")
    assert re.search(r"first data segment: TLS ClientHello, bytes 0-\d+", text)
    if version == "1.2":
        assert re.search(
            r"< PSH.*TLS ServerHello, Certificate, ServerKeyExchange, ServerHelloDone", text
        )
        assert "TLS ClientKeyExchange, ChangeCipherSpec, handshake (encrypted)" in text
    else:
        assert re.search(
            r"< PSH.*TLS ServerHello, ChangeCipherSpec, application data \(encrypted\)", text
        )
    # 16 KiB records in up to 64 KiB segments: some records are cut across segments.
    assert re.search(r"application data \(encrypted\) x\d", text)
    pieces = re.findall(r"application data \(encrypted\) (\d)/(\d) of a record", text)
    assert pieces and all(1 <= int(k) <= int(n) and int(n) >= 2 for k, n in pieces)
    assert re.search(r"tls write\(\) -> \d+ bytes of HTTP \(bytes 0-\d+\), sent encrypted", text)
    assert re.search(r"tls read\(\) -> \d+ bytes of HTTP \(bytes 0-\d+\), decrypted", text)
    assert "TLS records (encrypted)" not in text
    assert "all captured" in text


# --- cost -------------------------------------------------------------------------------------


def test_a_plain_transfer_with_views_loads_no_tls_view_code(raw_server):
    server = raw_server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"])
    program = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from rawhttp.cli import main\n"
        f"url = 'http://127.0.0.1:{server.port}/'\n"
        "r = CliRunner().invoke(main, ['get', url, '--trace', '--explain', '--timing'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in sys.modules if m.startswith(('rawhttp.tls', 'rawhttp.show.tls',"
        " 'ssl'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_request_on_a_kept_tls_connection_is_still_shown_decrypted():
    """Each URL has its own views, and the second may ride the first's TLS connection: no
    TLS record is seen then, the https URL says the bytes are TLS's."""
    import io

    from rawhttp.show.explain import Explain
    from rawhttp.show.trace import Trace

    out = io.StringIO()
    views = [Trace(out=out), Explain(out=out)]
    for event in (
        events.RequestStarted(url="https://localhost:8443/b", method="GET"),
        events.Reused(remote=("127.0.0.1", 8443)),
        events.RequestHeadSent(data=b"GET /b HTTP/1.1\r\nHost: localhost\r\n\r\n", offset=96),
        events.Received(data=b"HTTP/1.1 204 No Content\r\n\r\n", offset=300),
    ):
        for view in views:
            view(event)
    views[0](events.Closed(by="client"))
    text = out.getvalue()
    assert "tls write() -> 36 bytes at offset 96 (decrypted" in text
    assert "tls read() -> 27 bytes at offset 300 (decrypted" in text
    assert "36 bytes went into TLS (sent encrypted" in text
    assert "send()" not in text and "recv()" not in text
