"""Real TLS peers for tests/test_tls_client.py: certificates, nginx, openssl, misbehaving servers.

The certificates come from trustme (a CA, an intermediate, leaves for localhost and
127.0.0.1, an expired one, one for another host) and from `openssl req` (a self-signed
leaf), written to PEM files. nginx serves HTTPS from its own prefix in a temporary folder,
one `server` block per port, each with its own `ssl_protocols` and `ssl_ciphers`;
`openssl s_server` runs with the version flag a test gives it. The hand-made servers are
the peers no real server is willing to be: one that says nothing, one that cuts the body
without close_notify. rawhttp itself always runs as a separate process, as a learner runs it,
so "one line, no traceback" is checked on what a terminal would show.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

ROOT = Path(__file__).resolve().parents[1]
START_WITHIN = 10.0  # seconds a peer may take to listen
RUN_WITHIN = 30.0  # seconds one rawhttp, curl, openssl or tshark command may take


def rawhttp(*args: str, env: dict | None = None, timeout: float = RUN_WITHIN):
    """`python -m rawhttp get ARGS` in its own process, as bytes."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rawhttp", "get", *args],
        capture_output=True,
        env=environment,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def command(*args: str, input: bytes | None = None, timeout: float = RUN_WITHIN):
    """Another program (curl, openssl, tshark), its output as text."""
    return subprocess.run(
        list(args),
        capture_output=True,
        input=input if input is not None else b"",
        timeout=timeout,
    )


def need(program: str, package: str) -> str:
    """A peer's path; in CI (.ci/run installs it) a missing one fails, elsewhere skips."""
    found = shutil.which(program) or next(
        (p for p in (f"/usr/sbin/{program}",) if os.path.exists(p)), None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is missing: .ci/run should have installed {package}")
        pytest.skip(f"{program} is not installed (Debian package {package})")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + START_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {process.stderr.read().decode(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} is not listening on port {port}")


def stop(process: subprocess.Popen, reader: threading.Thread | None = None) -> None:
    """End a peer; its pipes are closed once `reader` (draining one) has seen their end."""
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
    if reader is not None:
        reader.join(5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


# --- certificates --------------------------------------------------------------------------------


@dataclass
class PKI:
    """A trustme CA and the PEM files the servers and clients are given."""

    folder: Path
    ca: trustme.CA
    cafile: str  # the CA certificate: --cacert
    server: str  # key and certificate for localhost and 127.0.0.1, signed by the CA
    chained: str  # key, leaf and intermediate: the leaf is signed by an intermediate CA
    intermediate: trustme.CA
    expired: str  # the CA's certificate for localhost that expired on EXPIRED
    other_host: str  # the CA's certificate for other.test only
    self_signed: str  # a certificate for localhost that signs itself

    def leaf_subjects(self) -> list[str]:
        """`openssl x509 -subject` of the chained file's certificates, in order."""
        return subjects(Path(self.chained).read_text())


EXPIRED = datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


def make_pki(folder: Path) -> PKI:
    ca = trustme.CA()
    intermediate = ca.create_child_ca()

    def write(name: str, cert) -> str:
        path = folder / name
        cert.private_key_and_cert_chain_pem.write_to_path(str(path))
        return str(path)

    cafile = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    self_signed = folder / "self-signed.pem"
    made = command(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "30", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout", str(self_signed), "-out", str(folder / "self-signed.crt"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    self_signed.write_text(self_signed.read_text() + (folder / "self-signed.crt").read_text())
    return PKI(
        folder=folder,
        ca=ca,
        cafile=str(cafile),
        server=write("server.pem", ca.issue_cert("localhost", "127.0.0.1")),
        chained=write("chained.pem", intermediate.issue_cert("localhost", "127.0.0.1")),
        intermediate=intermediate,
        expired=write(
            "expired.pem",
            ca.issue_cert(
                "localhost",
                "127.0.0.1",
                not_before=EXPIRED - datetime.timedelta(days=30),
                not_after=EXPIRED,
            ),
        ),
        other_host=write("other.pem", ca.issue_cert("other.test")),
        self_signed=str(self_signed),
    )


def subjects(pem: str) -> list[str]:
    """Each certificate's subject in a PEM text, as `openssl x509 -noout -subject` says it."""
    found = []
    marker = "-----END CERTIFICATE-----"
    for block in pem.split(marker)[:-1]:
        cert = block[block.index("-----BEGIN CERTIFICATE-----") :] + marker + "\n"
        read = command("openssl", "x509", "-noout", "-subject", input=cert.encode())
        assert read.returncode == 0, read.stderr
        found.append(read.stdout.decode().strip())
    return found


# --- nginx -----------------------------------------------------------------------------------

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    keepalive_timeout 5;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ text/html html; text/plain txt; text/css css; }}
    root {root};
{servers}
}}
"""
NGINX_SERVER = """\
    server {{
        listen 127.0.0.1:{port}{ssl};
        ssl_certificate {cert};
        ssl_certificate_key {cert};
        ssl_protocols {protocols};
        ssl_ciphers {ciphers};
    }}
"""


@dataclass(frozen=True)
class Site:
    """One nginx `server`: its TLS settings (tls=False: plain HTTP)."""

    protocols: str = "TLSv1.2 TLSv1.3"
    ciphers: str = "HIGH:!aNULL"
    cert: str = "server"  # a PKI attribute
    tls: bool = True


@contextlib.contextmanager
def nginx(prefix: Path, pki: PKI, sites: dict[str, Site], root: Path):
    """nginx serving `root`, one port per named site: yields {name: port}."""
    binary = need("nginx", "nginx-light")
    ports = {name: free_port() for name in sites}
    servers = "".join(
        NGINX_SERVER.format(
            port=ports[name],
            ssl=" ssl" if site.tls else "",
            cert=getattr(pki, site.cert),
            protocols=site.protocols,
            ciphers=site.ciphers,
        )
        for name, site in sites.items()
    )
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, root=root, servers=servers))
    args = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for port in ports.values():
            wait_listening(port, process, "nginx")
        yield ports
    finally:
        stop(process)


# --- openssl s_server and s_client ----------------------------------------------------------------


@contextlib.contextmanager
def s_server(cert: str, *flags: str):
    """`openssl s_server -www` on a free loopback port with `flags` (-tls1_2...): its port."""
    need("openssl", "openssl")
    process = subprocess.Popen(
        ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-www", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    reader = threading.Thread(target=process.stdout.read, daemon=True)  # it never blocks
    try:
        port = None
        for line in process.stdout:  # "ACCEPT 127.0.0.1:39293" once it listens
            if line.startswith("ACCEPT "):
                port = int(line.rsplit(":", 1)[1])
                break
        assert port, f"openssl s_server did not start: {process.stderr.read()}"
        reader.start()
        yield port
    finally:
        stop(process, reader if reader.is_alive() else None)


# --- servers no real server would be -------------------------------------------------------------


@contextlib.contextmanager
def tls_server(certfile: str, reply: bytes, close_notify: bool):
    """A TLS server (Python's ssl) that reads a request and answers `reply`, then ends with
    close_notify, or with only a TCP FIN: what an attacker cutting the connection sends."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(RUN_WITHIN)

    def serve() -> None:
        with contextlib.suppress(OSError):
            raw, _ = listener.accept()
            raw.settimeout(5)
            with context.wrap_socket(raw, server_side=True) as conn:
                conn.recv(65536)
                conn.sendall(reply)
                if close_notify:
                    conn.unwrap().close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(5)
