"""rawhttp.tls against real curl: the observer's lines are the lines `curl -v` prints.

curl talks HTTPS to a Python `ssl` server through a relay on 127.0.0.1 that records every byte
each way, in order, and feeds them to a TLSObserver. Every line the observer makes must appear
in curl's -v output, in the same order. The observer sees less than curl (TLS 1.3's encrypted
messages, each Finished) and one thing more: OpenSSL does not report a ChangeCipherSpec it
receives, so curl prints no `(IN), TLS change cipher` line; those are left out of the check.
"""

from __future__ import annotations

import contextlib
import selectors
import shutil
import socket
import ssl
import subprocess
import threading

import pytest
import trustme

from rawhttp.tls import TLSObserver

TIMEOUT = 10
CA = trustme.CA()
SERVER_CERT = CA.issue_cert("localhost")
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def serve_once(listener: socket.socket) -> None:
    """Accept one TLS connection, read the request head, answer, close with close_notify."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    SERVER_CERT.configure_cert(context)
    conn, _ = listener.accept()
    conn.settimeout(TIMEOUT)
    with context.wrap_socket(conn, server_side=True) as tls:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = tls.recv(4096)
            if not chunk:
                return
            request += chunk
        tls.sendall(RESPONSE)
        with contextlib.suppress(OSError, ssl.SSLError):
            tls.unwrap()


def relay_once(listener: socket.socket, target: tuple[str, int], flights: list) -> None:
    """Accept one client, connect it to `target`, copy both ways until both close, recording
    ("OUT", bytes) for client-to-server pieces and ("IN", bytes) for the others."""
    client, _ = listener.accept()
    server = socket.create_connection(target, timeout=TIMEOUT)
    client.settimeout(TIMEOUT)
    peers = {client: (server, "OUT"), server: (client, "IN")}
    with client, server, selectors.DefaultSelector() as selector:
        for sock in peers:
            selector.register(sock, selectors.EVENT_READ)
        while selector.get_map():
            events = selector.select(TIMEOUT)
            if not events:
                return
            for key, _ in events:
                source = key.fileobj
                destination, direction = peers[source]
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(source)
                    with contextlib.suppress(OSError):
                        destination.shutdown(socket.SHUT_WR)
                    continue
                flights.append((direction, data))
                destination.sendall(data)


def curl_through_relay(*curl_options: str, tmp_path) -> tuple[list[str], list[str]]:
    """(curl's TLS lines, the observer's lines) for one HTTPS request."""
    ca_file = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(ca_file))
    flights: list = []
    with (
        socket.create_server(("127.0.0.1", 0)) as server_sock,
        socket.create_server(("127.0.0.1", 0)) as relay_sock,
    ):
        server_sock.settimeout(TIMEOUT)
        relay_sock.settimeout(TIMEOUT)
        threads = [
            threading.Thread(target=serve_once, args=(server_sock,), daemon=True),
            threading.Thread(
                target=relay_once,
                args=(relay_sock, server_sock.getsockname(), flights),
                daemon=True,
            ),
        ]
        for thread in threads:
            thread.start()
        port = relay_sock.getsockname()[1]
        result = subprocess.run(
            ["curl", "-sv", "--cacert", str(ca_file), "--resolve", f"localhost:{port}:127.0.0.1",
             *curl_options, f"https://localhost:{port}/"],
            capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        for thread in threads:
            thread.join(TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi"
    curl = [line[2:] for line in result.stderr.splitlines() if line.startswith("* TLSv")]
    observer = TLSObserver()
    ours = [
        line for d, data in flights for seen in observer.feed(d, data) for line in seen.curl_lines()
    ]
    return curl, ours


def assert_in_order(ours: list[str], curl: list[str]) -> None:
    """Every line of ours is in curl's, in the same order (curl may have more between)."""
    position = 0
    for line in ours:
        assert line in curl[position:], f"{line!r} is not in curl's lines after {position}: {curl}"
        position = curl.index(line, position) + 1


@pytest.mark.parametrize(
    ("options", "version"), [((), "TLSv1.3"), (("--tlsv1.2", "--tls-max", "1.2"), "TLSv1.2")]
)
def test_observer_lines_are_curls(options, version, tmp_path):
    curl, ours = curl_through_relay(*options, tmp_path=tmp_path)
    ours = [line for line in ours if "(IN), TLS change cipher" not in line]
    assert ours[:2] == [
        f"{version} (OUT), TLS handshake, Client hello (1):",
        f"{version} (IN), TLS handshake, Server hello (2):",
    ]
    assert_in_order(ours, curl)
