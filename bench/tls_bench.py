"""A 1 GiB download over HTTPS, `rawhttp get` against `curl`, from nginx on loopback (TLS 1.3,
both held to TLS_AES_256_GCM_SHA384 by nginx), into a tmpfs folder so the disk weighs on
neither: wall and CPU time as ratios in the same rounds, and rawhttp's peak RSS.

rawhttp moves every TLS record itself (ssl.MemoryBIO: see rawhttp/tlsstream.py); this is what
that costs against curl, whose OpenSSL reads the socket directly. A second rawhttp line runs
with -v, which also reads every record header and message (the watched stream).

    python3 bench/tls_bench.py [--size-mib 1024] [--rounds 3] [--rawhttp PATH]

Part of `make bench` (the Makefile runs it after bench/run.py and adds its table to
bench/RESULTS.md). Needs nginx, openssl, curl and GNU time (Debian's packages).
"""

from __future__ import annotations

import statistics
import subprocess
from pathlib import Path

from upload_bench import _wait, arguments, free_port, scratch

CONF = """daemon off; master_process off; worker_processes 1; pid {dir}/nginx.pid;
error_log {dir}/error.log warn; events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; client_body_temp_path {dir}/body;
  server {{ listen 127.0.0.1:{port} ssl; root {dir}/www;
    ssl_certificate {dir}/cert.pem; ssl_certificate_key {dir}/key.pem;
    ssl_protocols TLSv1.3; ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384; }} }}
"""
TARGET_RATIO = 1.2
TARGET_RSS_MIB = 25.0
TOOLS = ("curl", "rawhttp", "rawhttp -v")


def timed(command: list[str]) -> dict[str, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one run (GNU time)."""
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%e %U %S %M", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    wall, user, system, rss = result.stderr.strip().splitlines()[-1].split()
    return {"wall": float(wall), "cpu": float(user) + float(system), "rss": int(rss) / 1024}


def make_certificate(work: Path) -> None:
    """A self-signed certificate for localhost; the clients trust it as their CA file."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
            "subjectAltName=DNS:localhost", "-keyout", str(work / "key.pem"),
            "-out", str(work / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


def commands(tool: str, rawhttp: str, url: str, cafile: str, out: str) -> list[str]:
    if tool == "curl":
        return ["curl", "-s", "--cacert", cafile, "-o", out, url]
    verbose = ["-v"] if tool.endswith("-v") else []
    return [rawhttp, "get", url, "--cacert", cafile, "-o", out, "--no-progress", *verbose]


def measure(options, work: Path, port: int) -> dict[str, list[dict[str, float]]]:
    url = f"https://localhost:{port}/big.bin"
    out = str(work / "out.bin")
    samples: dict[str, list[dict[str, float]]] = {tool: [] for tool in TOOLS}
    timed(commands("curl", options.rawhttp, url, str(work / "cert.pem"), out))  # warm up
    for number in range(options.rounds):
        order = TOOLS[number % 3 :] + TOOLS[: number % 3]  # rotate: noise hits each alike
        for tool in order:
            command = commands(tool, options.rawhttp, url, str(work / "cert.pem"), out)
            samples[tool].append(timed(command))
    return samples


def report(samples: dict[str, list[dict[str, float]]], size: int) -> None:
    def median(tool: str, metric: str) -> float:
        return statistics.median(sample[metric] for sample in samples[tool])

    print(f"## HTTPS download: {size} MiB, `rawhttp get` against `curl` (nginx, TLS 1.3)\n")
    print("| target | measured | wanted | verdict |")
    print("| --- | --- | --- | --- |")
    ratio = statistics.median(
        ours["wall"] / curl["wall"]
        for ours, curl in zip(samples["rawhttp"], samples["curl"], strict=True)
    )
    rss = max(sample["rss"] for sample in samples["rawhttp"])
    met = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"| HTTPS 1 GiB wall, rawhttp / curl | {ratio:.3f} | <= {TARGET_RATIO} | {met} |")
    met = "met" if rss <= TARGET_RSS_MIB else "MISSED"
    print(f"| HTTPS 1 GiB peak RSS of rawhttp (MiB) | {rss:.1f} | <= {TARGET_RSS_MIB:g} | {met} |")
    print("\n| tool | wall (s) | CPU (s) | peak RSS (MiB) |")
    print("| --- | --- | --- | --- |")
    for tool in TOOLS:
        rss_tool = max(sample["rss"] for sample in samples[tool])
        print(
            f"| {tool} | {median(tool, 'wall'):.2f} | {median(tool, 'cpu'):.2f} | {rss_tool:.1f} |"
        )
    print(
        "\nMedians of the rounds. rawhttp's one TLS road: OpenSSL decrypts from a memory buffer "
        "that rawhttp fills from the socket (256 KiB reads), and each body read takes every "
        "complete record waiting; with -v the records and messages are also read (the "
        "watched stream). Its peak RSS is mostly the interpreter with click and ssl loaded "
        "(about 22 MiB before the first byte)."
    )


def main() -> None:
    options = arguments(__doc__, "size-mib", 1024)
    with scratch("www", "body") as work:
        with open(work / "www" / "big.bin", "wb") as file:
            for _ in range(options.size_mib):
                file.write(bytes(range(256)) * 4096)
        make_certificate(work)
        port = free_port()
        (work / "nginx.conf").write_text(CONF.format(dir=work, port=port))
        nginx = subprocess.Popen(
            ["nginx", "-p", str(work), "-c", str(work / "nginx.conf"), "-e", "stderr"]
        )
        try:
            _wait(port)
            report(measure(options, work, port), options.size_mib)
        finally:
            nginx.terminate()
            nginx.wait(10)


if __name__ == "__main__":
    main()
