"""`rawhttp serve` and `rawhttp demo`: the tiny server, and the demo that fetches from it."""

from __future__ import annotations

import inspect
import ipaddress
import os
import signal
import sys
import time

import click

from rawhttp.cli.common import report
from rawhttp.errors import RawHTTPError
from rawhttp.server import SCENARIOS, Server, sample_site
from rawhttp.server.auth import BasicAuth, read_auth_file
from rawhttp.server.echo import ECHO_SHOWN, MAX_ECHO_BODY
from rawhttp.server.exchange import LOG_FORMATS
from rawhttp.server.handler import MAX_REQUEST_BODY
from rawhttp.server.listener import (
    EVICT_AFTER,
    IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    MODELS,
    FileLog,
    quiet,
    raise_open_files_limit,
)
from rawhttp.server.protocol import BODY_GRACE, HEAD_TIMEOUT, MIN_BODY_RATE
from rawhttp.server.site import PLAIN, SiteOptions
from rawhttp.server.upload import MAX_UPLOAD
from rawhttp.wire import MAX_HEAD_SIZE, MAX_HEADERS, MAX_REQUEST_LINE

DEMO_PAGE = "page.html"
# Appended to `serve --help`, from the constants themselves so the numbers stay true.
LIMITS_HELP = (
    f"Limits: --max-connections at once per process (default {MAX_CONNECTIONS['events']:,} "
    f"for events, {MAX_CONNECTIONS['threads']} for threads); at the cap the connection that is "
    f"too slow (idle or sending its head for {EVICT_AFTER:g} s or more, or its body below "
    f"{MIN_BODY_RATE} bytes/s) is closed to make room, else 503. --idle-timeout (default "
    f"{IDLE_TIMEOUT:g} s) of silence closes a connection; a head must arrive within "
    f"{HEAD_TIMEOUT:g} s and a body keep {MIN_BODY_RATE} bytes/s after {BODY_GRACE:g} s (else "
    f"408), and a --tls handshake end within {HEAD_TIMEOUT:g} s too. A request head may have "
    f"{MAX_HEAD_SIZE // 1024} KiB (431), its request line "
    f"{MAX_REQUEST_LINE // 1024} KiB (414), {MAX_HEADERS} header fields (431); a request body "
    f"is read and dropped, up to {MAX_REQUEST_BODY // (1024 * 1024)} MiB (413; --echo takes "
    f"up to {MAX_ECHO_BODY // (1024 * 1024)} MiB and shows its first {ECHO_SHOWN // 1024} KiB, "
    f"--upload saves up to {MAX_UPLOAD // (1024 * 1024)} MiB). Listens on "
    "127.0.0.1 only, unless --host says otherwise (then a warning)."
)


@click.command("serve")
@click.argument("directory", default=".", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; one other than loopback is reachable from other machines.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on; 0 lets the kernel pick one (shown at start-up).",
)
@click.option(
    "--scenario",
    type=click.Choice([*SCENARIOS, "list"]),
    metavar="NAME",
    help="Misbehave on purpose, for lessons; 'list' names them all.",
)
@click.option(
    "--replay",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Answer every request with FILE's bytes, verbatim, then close.",
)
@click.option(
    "--echo",
    is_flag=True,
    help="Answer every request that is not a GET or HEAD of a file with the bytes it arrived "
    "as (HTML for a browser, text for curl or Accept: text/plain).",
)
@click.option(
    "--upload",
    type=click.Path(exists=True, file_okay=False),
    metavar="DIR",
    help="Accept PUT of a file into DIR (atomically, never outside it, at most 100 MiB).",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=IDLE_TIMEOUT,
    show_default=True,
    help="Seconds a silent connection is kept open (idle cap).",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    help="Connections served at once per process (cap); past it, a too slow one is closed, or 503.",
)
@click.option(
    "--model",
    type=click.Choice(MODELS),
    default="events",
    show_default=True,
    help="events: one selectors loop per process (nginx's shape); threads: one thread per "
    "connection (the socket courses' design).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Event-loop processes sharing the port (SO_REUSEPORT); 0 means one per core.",
)
# --- the HTTP lab: authentication, caching, CORS, compression, the access log (one block) -------
@click.option(
    "--auth",
    "auth_pairs",
    metavar="USER:PASSWORD",
    multiple=True,
    help="Require HTTP Basic authentication (RFC 7617) with these credentials (repeatable); "
    "401 with WWW-Authenticate otherwise.",
)
@click.option(
    "--auth-file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Like --auth, one USER:PASSWORD per line.",
)
@click.option(
    "--cache-control",
    metavar="VALUE",
    help="Send Cache-Control: VALUE with files (max-age=60, no-cache...).",
)
@click.option(
    "--cors",
    metavar="ORIGIN",
    help="Let pages from ORIGIN (or *) fetch from this server: answer CORS preflights and "
    "add Access-Control-Allow-Origin.",
)
@click.option(
    "--compress",
    is_flag=True,
    help="Gzip text files on the fly when Accept-Encoding allows (chunked, Vary: Accept-Encoding; "
    "406 when no coding is acceptable).",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="common",
    show_default=True,
    help="The access log's lines: common (CLF), combined (and Referer, User-Agent), json.",
)
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Append the access log to FILE instead of stderr (errors stay on stderr).",
)
@click.option("--quiet", is_flag=True, help="No access log (errors still go to stderr).")
@click.option(
    "--tls",
    is_flag=True,
    help="Serve HTTPS (TLS 1.2 or 1.3, ALPN http/1.1): with --cert, or a certificate for "
    "localhost made at start-up by a fresh local CA (needs the extra rawhttp[tls]); the CA "
    "file and the commands that trust it are printed.",
)
@click.option(
    "--cert",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="The certificate chain for --tls (PEM), with its private key unless --key is given.",
)
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="The private key of --cert (PEM).",
)
# --- the forward proxy (rawhttp/server/proxy.py) -----------------------------------------------
@click.option(
    "--proxy",
    is_flag=True,
    help="Be a forward proxy too: forward absolute-form requests (http://...) and open CONNECT "
    "tunnels, logging what a proxy sees (the whole request; for https only CONNECT and the SNI).",
)
@click.option(
    "--proxy-allow",
    metavar="HOST:PORT",
    multiple=True,
    help="Let --proxy reach HOST:PORT too (repeatable); by default CONNECT goes to port 443 only "
    "and forwarding to squid's Safe_ports, plus any port on loopback.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Log each TLS handshake too: the server name (SNI) and ALPN protocols the client "
    "offered, the version and cipher chosen.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0,
    metavar="MS",
    help="Hold each answer back MS milliseconds after its request came (and the first on a "
    "connection MS more, for the handshake): an approximate round-trip time, for lessons.",
)
def serve_command(directory: str, scenario: str | None, replay: str | None, **options) -> None:
    """Serve DIRECTORY (default: the current one) over HTTP/1.1 on a plain socket (HTTPS
    with --tls).

    GET and HEAD of files, index.html or a listing for a folder, Range, ETag and every
    precondition (If-Match, If-None-Match, If-Modified-Since...), keep-alive and pipelining;
    one log line per request on stderr (Common Log Format). Exit 7 if the address cannot be
    listened on; Ctrl-C or SIGTERM stops it (exit 0), workers too.
    """
    if scenario == "list":
        width = max(len(name) for name in SCENARIOS)
        for name, item in SCENARIOS.items():
            click.echo(f"{name:<{width}}  {item.summary}")
        return
    if scenario and replay:
        raise click.UsageError("--scenario and --replay cannot be used together")
    site = site_options(
        options.pop("auth_pairs"),
        options.pop("auth_file"),
        options.pop("cache_control"),
        options.pop("cors"),
        options.pop("compress"),
    )
    if (scenario or replay) and (options["echo"] or options["upload"] or site != PLAIN):
        raise click.UsageError(
            "--echo, --upload, --auth, --cache-control, --cors and --compress are for serving a "
            "folder, not a scenario"
        )
    options["access_log"] = access_log(options.pop("log_file"), options.pop("quiet"))
    if options["model"] == "threads" and options["workers"] != 1:
        raise click.UsageError("--workers is for --model events")
    if (options["cert"] or options["key"]) and not options["tls"]:
        raise click.UsageError("--cert and --key are for --tls")
    if options["key"] and not options["cert"]:
        raise click.UsageError("--key needs --cert")
    if options["proxy"] and (options["tls"] or scenario or replay):
        raise click.UsageError(
            "--proxy is for plain HTTP serving a folder: not with --tls, --scenario or --replay"
        )
    if options["proxy_allow"] and not options["proxy"]:
        raise click.UsageError("--proxy-allow is for --proxy")
    check_proxy_allow(options["proxy_allow"])
    raise_open_files_limit()
    options["latency"] = options["latency"] / 1000
    try:
        server = Server(directory, scenario=scenario, replay=replay, site=site, **options)
    except RawHTTPError as error:
        report(error)
        sys.exit(error.exit_code)
    if not is_loopback(server.host):
        click.echo(
            f"rawhttp: warning: listening on {server.host}: other machines can reach this server",
            err=True,
        )
    click.echo(f"{server.describe()} ({server.how()}; Ctrl-C to stop)")
    if server.tls is not None and server.tls.cafile:
        click.echo(trust_note(server))
    if server.latency:
        click.echo(
            f"rawhttp: note: --latency {server.latency * 1000:g} ms holds answers back on the "
            "server's side only: an approximation of a round-trip time (no slow start, no "
            "delayed segments)",
            err=True,
        )
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as Ctrl-C does
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("rawhttp: stopped", err=True)
    except RuntimeError as error:  # every worker process ended
        click.echo(f"rawhttp: error: {error}", err=True)
        sys.exit(1)
    finally:
        server.close()


serve_command.help = f"{inspect.cleandoc(serve_command.help or '')}\n\n{LIMITS_HELP}"


def site_options(
    pairs: tuple[str, ...],
    auth_file: str | None,
    cache_control: str | None,
    cors: str | None,
    compress: bool,
) -> SiteOptions:
    """The lab options as one value; a credential without a colon is a usage error."""
    credentials = list(pairs)
    if auth_file:
        try:
            credentials += read_auth_file(auth_file)
        except (OSError, UnicodeDecodeError) as error:
            raise click.BadParameter(str(error), param_hint="--auth-file") from None
    if any(":" not in pair for pair in credentials):
        raise click.BadParameter("each credential is USER:PASSWORD", param_hint="--auth")
    auth = BasicAuth(credentials) if credentials else None
    return SiteOptions(auth=auth, cache_control=cache_control, cors=cors, compress=compress)


def check_proxy_allow(items: tuple[str, ...]) -> None:
    """Each --proxy-allow is HOST:PORT (a usage error otherwise)."""
    from rawhttp.server.exchange import StatusPage
    from rawhttp.server.proxy import split_authority

    for item in items:
        try:
            split_authority(item, None)
        except StatusPage:
            message = f"{item!r} is not HOST:PORT"
            raise click.BadParameter(message, param_hint="--proxy-allow") from None


def access_log(path: str | None, silent: bool):
    """Where the access lines go: nowhere (--quiet), a file (--log), or stderr (None)."""
    if silent:
        return quiet
    if path is None:
        return None
    try:
        return FileLog(path)
    except OSError as error:
        message = f"cannot open {path}: {error.strerror}"
        raise click.BadParameter(message, param_hint="--log") from None


def trust_note(server: Server) -> str:
    """How a client trusts the certificate made at start-up: the CA file and two commands."""
    cafile = server.tls.cafile
    local = server.host in ("127.0.0.1", "0.0.0.0", "::")
    url = f"https://localhost:{server.port}/" if local else f"{server.url}/"
    return (
        f"TLS: a local CA made at start-up signed a certificate for localhost, 127.0.0.1 and "
        f"::1; its CA file (removed at exit) is {cafile}\n"
        f"  rawhttp get {url} --cacert {cafile}\n"
        f"  curl --cacert {cafile} {url}"
    )


def is_loopback(address: str) -> bool:
    """Whether a bound address is reachable from this machine only (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


@click.command("demo")
def demo_command() -> None:
    """Serve samples/site on a free port, fetch it with `rawhttp get -v`, save page.html.

    Both ends of one HTTP exchange on one screen: the request sent and the connection notes
    (stderr), the response head (stdout) and the server's log line (stderr). An existing
    page.html is kept: the page is then saved as page.html.1 (or .2...), as --no-clobber does.
    """
    from rawhttp.sinks import unclobbered

    try:
        site = sample_site()
        target = unclobbered(DEMO_PAGE)
    except FileNotFoundError as exc:
        click.echo(f"rawhttp: error: file: {exc}", err=True)
        sys.exit(1)
    except RawHTTPError as error:
        report(error)
        sys.exit(error.exit_code)
    with Server(site) as server:
        url = f"{server.url}/index.html"
        click.echo(f"demo: started rawhttp's server on {server.url}/ for {site}")
        started = time.perf_counter()
        code = _run_get([url, "-v", "-o", target])
        elapsed = time.perf_counter() - started
    if code:
        sys.exit(code)
    size = os.path.getsize(target)
    click.echo(f"demo: fetched {size} bytes in {elapsed * 1000:.1f} ms (rawhttp get -v {url})")
    kept = (
        f" ({DEMO_PAGE} was there already: kept, as --no-clobber does)"
        if target != DEMO_PAGE
        else ""
    )
    click.echo(f"demo: saved the body as {target}{kept} and stopped the server")


def _run_get(args: list[str]) -> int:
    """Run `rawhttp get ARGS` in this process, exactly as if typed; its exit code."""
    from rawhttp.cli.get import get_command

    try:
        get_command.main(args, prog_name="rawhttp get", standalone_mode=False)
    except SystemExit as finished:
        return finished.code or 0
    return 0
