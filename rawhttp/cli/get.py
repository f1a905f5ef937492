"""`rawhttp get`: fetch URLs with the raw-socket client; flags map to `client.Options`, the
views in `show` and the sinks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import sys
from typing import NamedTuple

import click

from rawhttp.cli.bodies import Plan
from rawhttp.cli.common import EXIT_INTERRUPTED, report, run_reporting
from rawhttp.cli.curl import CurlFields, GetCommand, cookie_engine, curl_headers, with_retries
from rawhttp.client import Session
from rawhttp.dial import BUFSIZE, Options, TLSOptions
from rawhttp.download import Destination, Download, kept_note
from rawhttp.errors import (
    HTTPStatusError,
    InvalidRequest,
    OutputError,
    RawHTTPError,
    TunnelRefused,
)
from rawhttp.fetch import PARALLEL_LIMIT, PARALLEL_MAX
from rawhttp.show import HeadPrinter, ViewOptions, Views
from rawhttp.show.color import MODES as COLOR_MODES
from rawhttp.sinks import Discard, StdoutSink, remote_name, unclobbered
from rawhttp.url import URL, parse_url
from rawhttp.wire import MAX_REDIRECTS, check_header


def _header_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """-H 'Name: value' sets, -H 'Name:' removes a default header, -H 'Name;' sends it empty."""
    pairs: list[tuple[str, str | None]] = []
    for spec in values:
        name, sep, value = spec.partition(":")
        if not sep and spec.endswith(";"):
            name, value = spec[:-1], ""
        elif not sep:
            raise click.BadParameter(f"{spec!r} is not 'Name: value'", ctx, param)
        value = value.strip(" \t")
        try:
            check_header(name, value)
        except InvalidRequest as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
        pairs.append((name, value if (value or spec.endswith(";")) else None))
    return pairs


def _resolve_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """--resolve HOST:PORT:ADDR, as curl: ADDR may be an IPv6 literal, with or without []."""
    pinned: dict[tuple[str, int], str] = {}
    for spec in values:
        host, _, rest = spec.partition(":")
        port, _, address = rest.partition(":")
        if not (host and port.isdigit() and address):
            raise click.BadParameter(f"{spec!r} is not HOST:PORT:ADDR", ctx, param)
        pinned[(host.lower(), int(port))] = address.strip("[]")
    return pinned


class GetOptions(NamedTuple):
    """`rawhttp get`'s flags, typed once: what each transfer reads, never written back."""

    plan: Plan  # the method, body and body fields (cli.bodies)
    connection: Options  # timeouts, TLS, resolving (dial)
    views: ViewOptions  # what is shown (show)
    curl: CurlFields  # -A, -e, -u, -b, -r (cli.curl)
    headers: list[tuple[str, str | None]]  # -H, in order
    outputs: tuple[str, ...]
    remote_name: bool
    output_dir: str | None
    no_clobber: bool
    resume: bool
    compressed: bool
    follow: bool
    max_redirs: int
    fail: bool
    retry: int
    silent: bool
    show_error: bool
    page_requisites: bool = False  # --page-requisites, with --span-hosts, --convert-links
    span_hosts: bool = False
    convert_links: bool = False


@click.command("get", cls=GetCommand)
@click.argument("urls", nargs=-1, required=True, metavar="URL [URL ...]")
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    metavar="FILE",
    help="Save the body to FILE (atomic); - is stdout. Repeat for several URLs.",
)
@click.option("-O", "--remote-name", is_flag=True, help="Name the file after the URL path.")
@click.option(
    "-g",
    "--globoff",
    is_flag=True,
    help="Take [ ] { } in URLs literally (else [1-9], [a-z], {a,b} make several URLs).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Folder for -o/-O files, created (with its parents) when missing.",
)
@click.option("--no-clobber", is_flag=True, help="Keep existing files: save as FILE.1, FILE.2...")
@click.option(
    "-C",
    "--continue",
    "resume",
    is_flag=True,
    help="Resume FILE.part (or FILE) with Range; curl's -C - means the same.",
)
@click.option("--body-only", is_flag=True, help="Print only the body, for pipes.")
@click.option(
    "-i",
    "--include",
    is_flag=True,
    help="Show the head on stdout even with -w and -o (which leave stdout to -w's figures).",
)
@click.option("-s", "--silent", is_flag=True, help="No progress bar, warnings or error lines.")
@click.option("-S", "--show-error", is_flag=True, help="With -s: still print the error line.")
@click.option(
    "-I", "--head", "head_only", is_flag=True, help="Send HEAD: only the head comes back."
)
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    callback=_header_option,
    help="Add or replace a header; 'NAME:' removes a default one, 'NAME;' sends it empty.",
)
@click.option("-X", "--request", metavar="METHOD", help="Send METHOD instead of GET/POST/PUT.")
@click.option(
    "-d",
    "--data",
    multiple=True,
    metavar="DATA",
    help="POST DATA form-urlencoded (@FILE, @- for stdin; several are joined with &).",
)
@click.option(
    "--data-binary", multiple=True, metavar="DATA", help="As -d, but @FILE is sent byte for byte."
)
@click.option(
    "--data-urlencode",
    multiple=True,
    metavar="DATA",
    help="As -d, percent-encoding the content (TEXT, NAME=TEXT, @FILE, NAME@FILE).",
)
@click.option("--json", multiple=True, metavar="DATA", help="POST DATA as application/json.")
@click.option(
    "-F",
    "--form",
    multiple=True,
    metavar="NAME=VALUE",
    help="POST a multipart form field; NAME=@FILE uploads a file (;type=, ;filename=).",
)
@click.option(
    "-T",
    "--upload-file",
    metavar="FILE",
    help="PUT FILE as the body, streamed (- reads stdin, sent chunked).",
)
@click.option("-G", "--get", is_flag=True, help="Put the -d data in the URL's query and GET.")
@click.option(
    "--compressed",
    is_flag=True,
    help="Ask for gzip/deflate (br/zstd with rawhttp[compression]) and decode the body.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show the request sent and connection notes.")
@click.option("--progress/--no-progress", default=True, help="Progress bar (terminal, -o only).")
@click.option(
    "--timing",
    type=click.Choice(["text", "json"]),
    is_flag=False,
    flag_value="text",
    help="After each transfer, where the time went (--timing=json for JSON).",
)
@click.option(
    "--trace",
    type=click.Choice(["text", "hex"]),
    is_flag=False,
    flag_value="text",
    help="Every send/recv call with its bytes on stderr (--trace=hex for a hex dump).",
)
@click.option("--explain", is_flag=True, help="Walk through the transfer in socket-API words.")
@click.option(
    "--color",
    type=click.Choice(COLOR_MODES),
    default="auto",
    show_default=True,
    help="Colour the head, -v and --trace: auto on a terminal only (and not with NO_COLOR set).",
)
@click.option(
    "--packets", is_flag=True, help="The TCP segments beside the socket calls (root/CAP_NET_RAW)."
)
@click.option("--pcap", metavar="FILE", help="Save the captured segments as a pcap file.")
@click.option(
    "--tcp-info", is_flag=True, help="The kernel's TCP_INFO (RTT, cwnd, retransmits) at each call."
)
@click.option(
    "--show-code", is_flag=True, help="Print a Python program (socket only) making this request."
)
@click.option("-L", "--location", "follow", is_flag=True, help="Follow redirects.")
@click.option(
    "--max-redirs",
    type=click.IntRange(min=0),
    default=MAX_REDIRECTS,
    show_default=True,
    help="Redirects followed before giving up (exit 47).",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds allowed for the TCP connect.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds allowed between two reads.",
)
@click.option(
    "-m",
    "--max-time",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds allowed for each whole transfer.",
)
@click.option(
    "--bufsize",
    type=click.IntRange(min=1),
    default=BUFSIZE,
    show_default=True,
    help="Bytes asked of each recv (1 shows TCP as a byte stream).",
)
@click.option("-4", "--ipv4", is_flag=True, help="Use IPv4 addresses only.")
@click.option("-6", "--ipv6", is_flag=True, help="Use IPv6 addresses only.")
@click.option(
    "--resolve",
    multiple=True,
    metavar="HOST:PORT:ADDR",
    callback=_resolve_option,
    help="Connect to ADDR for HOST:PORT instead of asking DNS.",
)
@click.option(
    "-x",
    "--proxy",
    metavar="[http://][USER:PASSWORD@]HOST[:PORT]",
    help="Go through this HTTP proxy (port 1080 if none); -x '' ignores the proxy variables.",
)
@click.option(
    "-U", "--proxy-user", metavar="USER:PASSWORD", help="Basic credentials for the proxy only."
)
@click.option(
    "--noproxy",
    metavar="LIST",
    help="Hosts reached directly (NO_PROXY's rules, replacing it); '*' means every host.",
)
@click.option(
    "-p", "--proxytunnel", is_flag=True, help="Through the proxy, CONNECT even for http:// URLs."
)
@click.option(
    "--proxy-header",
    "proxy_headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    callback=_header_option,
    help="Add a header to what the proxy alone is sent (CONNECT, or a forwarded request).",
)
@click.option("--http1.0", "http10", is_flag=True, help="Send an HTTP/1.0 request.")
@click.option("-k", "--insecure", is_flag=True, help="HTTPS: do not verify the certificate.")
@click.option(
    "--cacert",
    type=click.Path(exists=True, dir_okay=False),
    help="HTTPS: trust the CA certificates in this PEM file.",
)
@click.option("--tlsv1.2", "tls_min", flag_value="1.2", help="HTTPS: TLS 1.2 or later.")
@click.option("--tlsv1.3", "tls_min", flag_value="1.3", help="HTTPS: TLS 1.3 only.")
@click.option(
    "--tls-max",
    type=click.Choice(["1.2", "1.3"]),
    metavar="VERSION",
    help="HTTPS: offer no TLS version above VERSION (1.2 or 1.3).",
)
@click.option(
    "--ciphers", metavar="LIST", help="HTTPS: the TLS 1.2 cipher suites to offer (OpenSSL's list)."
)
@click.option(
    "--alpn",
    metavar="PROTOCOLS",
    default="http/1.1",
    show_default=True,
    help="HTTPS: the ALPN protocols offered, comma-separated.",
)
@click.option("--no-alpn", is_flag=True, help="HTTPS: offer no ALPN protocol.")
@click.option(
    "--keylog",
    metavar="FILE",
    help="HTTPS: append the TLS secrets to FILE (NSS key log, as SSLKEYLOGFILE) for Wireshark.",
)
@click.option(
    "--cert-chain",
    metavar="FILE",
    help="HTTPS: write the certificates the server sent to FILE, as PEM.",
)
@click.option("--fail", is_flag=True, help="Exit 22 on a status >= 400 (the body is still saved).")
@click.option("-A", "--user-agent", metavar="NAME", help="Send User-Agent: NAME.")
@click.option("-e", "--referer", metavar="URL", help="Send Referer: URL.")
@click.option(
    "-u", "--user", metavar="USER:PASSWORD", help="Send Basic credentials (Authorization)."
)
@click.option(
    "-b",
    "--cookie",
    metavar="NAME=VALUE|FILE",
    help="Send Cookie: NAME=VALUE; or a cookie file's matching cookies, and those set meanwhile.",
)
@click.option(
    "-c",
    "--cookie-jar",
    metavar="FILE",
    help="Keep the cookies servers set (and -b FILE's); write them to FILE at the end.",
)
@click.option("-r", "--range", "byte_range", metavar="RANGE", help="Send Range: bytes=RANGE.")
@click.option(
    "-D", "--dump-header", metavar="FILE", help="Write every head received to FILE (- stdout)."
)
@click.option(
    "-w",
    "--write-out",
    metavar="FORMAT",
    help="After each transfer print FORMAT: %{http_code}, %{size_download}, %{time_total}...",
)
@click.option(
    "--retry",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Try again up to N times on a timeout, a refused connection or 408/429/5xx "
    "(GET, HEAD and other idempotent requests only).",
)
@click.option(
    "--page-requisites",
    is_flag=True,
    help="Fetch each URL as a page with what it needs to be shown (images, stylesheets, "
    "scripts), saved under --output-dir as HOST[:PORT]/PATH (wget's -p).",
)
@click.option(
    "--span-hosts", is_flag=True, help="--page-requisites: fetch objects from other hosts too."
)
@click.option(
    "--convert-links",
    is_flag=True,
    help="--page-requisites: point the saved page's links at the saved files, to read offline.",
)
@click.option(
    "--har",
    metavar="FILE",
    help="Write every request and response of the command to FILE as HAR 1.2 (JSON).",
)
@click.option(
    "--connections",
    type=click.Choice(["non-persistent", "persistent", "pipelined"]),
    help="How the URLs use connections: one each (Connection: close), one kept open, or "
    "pipelined (every request sent before the first answer is read; GET and HEAD only).",
)
@click.option(
    "-Z",
    "--parallel",
    is_flag=True,
    help="Fetch the URLs over several connections at once, from one event loop (http only).",
)
@click.option(
    "--parallel-max",
    type=click.IntRange(1, PARALLEL_LIMIT),
    metavar="N",
    help=f"With -Z: at most N connections at once (default {PARALLEL_MAX}, as curl).",
)
@click.option(
    "--timeline",
    metavar="FILE.html",
    help="Draw the transfers on one clock in a self-contained HTML page: connections as "
    "lanes, requests as bars (with --packets, the TCP segments too).",
)
def get_command(urls: tuple[str, ...], **flags) -> None:
    """Fetch each URL with a hand-built HTTP/1.1 request and show what came back.

    The response head goes to stdout exactly as received, then the body (or to -o FILE);
    with -o and -w, stdout holds -w's figures alone (-i brings the head back).
    URLs on the same host and port share one kept-alive connection.
    Exit codes follow curl's: 0 a whole response (any status), 2 usage error, 3 bad URL,
    5 proxy name or -x, 6 DNS, 7 connect (the proxy too), 8 bad response, 18 partial body,
    22 --fail, 23 write error, 26 cannot read the body to send, 28 timeout, 33 cannot resume,
    35 TLS, 47 redirects, 52 empty reply, 56 reset or CONNECT refused, 60 untrusted
    certificate, 61 bad compressed body, 65 body cannot be sent again (a redirect or retry of
    a piped body), 77 cannot read --cacert, 130 Ctrl-C.
    """
    from rawhttp.cli.bodies import with_query

    try:
        options = get_options(flags)
        globbed = [_expand(url, flags["globoff"]) for url in urls]
        parsed = [parse_url(one.url) for each in globbed for one in each]
        parsed = [with_query(url, options.plan.query, flags["upload_file"]) for url in parsed]
        targets = _targets(globbed, parsed, options)
    except RawHTTPError as error:
        report(error)
        sys.exit(error.exit_code)
    if flags["connections"] or flags["parallel"] or flags["timeline"]:
        from rawhttp.cli import many  # (loaded only for the strategies: start-up stays small)

        sys.exit(many.run(parsed, targets, options, flags))
    if options.resume and None in targets:
        raise click.UsageError("-C needs a file to continue: give -o FILE or -O")
    if options.resume and options.curl.byte_range:
        raise click.UsageError("-C and -r both ask for a range: give one")
    _check_page_flags(options)
    if options.views.dump_header and options.views.dump_header != "-":
        run_reporting(_truncate, options.views.dump_header)
    code = 0
    jar = run_reporting(cookie_engine, options.curl)
    with (
        _tcp_view(flags) as tcp_view,
        _command_views(flags) as command_views,
        Session(options.connection, cookies=jar) as session,
    ):
        printer = HeadPrinter(sys.stdout.buffer, options.views.color)
        views = options.views._replace(tcp_view=tcp_view, head_printer=printer, **command_views)
        options = options._replace(views=views)
        if options.page_requisites:
            code = _fetch_pages(session, parsed, options)
        else:
            fields = run_reporting(curl_headers, options.curl)  # the same for every URL
            keys = [session.reuse_key(url) for url in parsed]  # origin, or forwarding proxy
            for index, (url, target) in enumerate(zip(parsed, targets, strict=True)):
                keep_alive = index + 1 < len(keys) and keys[index + 1] == keys[index]
                transfer = Transfer(session, url, target, keep_alive, options, fields)
                code = with_retries(transfer.run, options, options.plan.idempotent) or code
    if jar is not None and options.curl.cookie_jar:
        from rawhttp.cookies import save_file

        run_reporting(save_file, jar, options.curl.cookie_jar)
    sys.exit(code)


def get_options(flags: dict) -> GetOptions:
    """The typed options the flags describe (a usage error for conflicting body options)."""
    from rawhttp.cli.bodies import plan

    return GetOptions(
        plan=plan(flags),
        connection=_connection_options(flags),
        views=ViewOptions(
            progress=flags["progress"],
            verbose=flags["verbose"],
            trace=flags["trace"],
            timing=flags["timing"],
            explain=flags["explain"],
            show_code=flags["show_code"],
            write_out=_write_out(flags["write_out"]),
            dump_header=flags["dump_header"],
            color=flags["color"],
            silent=flags["silent"],
            body_only=flags["body_only"],
            include=flags["include"],
            user_headers=tuple(name for name, _ in flags["headers"]),
            insecure=flags["insecure"],
            cafile=flags["cacert"],
            cert_chain=flags["cert_chain"],
            keylog=flags["keylog"],
        ),
        curl=CurlFields(
            flags["user_agent"],
            flags["referer"],
            flags["user"],
            flags["cookie"],
            flags["byte_range"],
            flags["cookie_jar"],
        ),
        headers=flags["headers"],
        outputs=flags["outputs"],
        remote_name=flags["remote_name"],
        output_dir=flags["output_dir"],
        no_clobber=flags["no_clobber"],
        resume=flags["resume"],
        compressed=flags["compressed"],
        follow=flags["follow"],
        max_redirs=flags["max_redirs"],
        fail=flags["fail"],
        retry=flags["retry"],
        silent=flags["silent"],
        show_error=flags["show_error"],
        page_requisites=flags["page_requisites"],
        span_hosts=flags["span_hosts"],
        convert_links=flags["convert_links"],
    )


def _tcp_view(flags: dict):
    """--packets, --pcap, --tcp-info: one view for the whole command (a kept-alive connection
    outlives its URL), made before the first transfer: a capture that cannot be opened stops
    the command (exit 2) with nothing sent. Each transfer's Views is handed it."""
    if not (flags["packets"] or flags["pcap"] or flags["tcp_info"]):
        return contextlib.nullcontext()
    from rawhttp.show.packets import TcpView

    return run_reporting(TcpView, flags["packets"], flags["pcap"], flags["tcp_info"])


@contextlib.contextmanager
def _command_views(flags: dict):
    """--har FILE and the --timing waterfall: views of the whole command (fields of
    ViewOptions), made once, written and drawn when it is over, even after a failure."""
    made: dict = {}
    if flags["har"]:
        from rawhttp.show.har import Har

        made["har"] = Har(flags["har"])
    if flags["timing"] == "text":
        from rawhttp.show.color import Palette
        from rawhttp.show.waterfall import Waterfall

        made["waterfall"] = Waterfall(Palette.for_stream(flags["color"], sys.stderr))
    try:
        yield made
    finally:
        for view in made.values():
            run_reporting(view.close)


def _check_page_flags(options: GetOptions) -> None:
    """--page-requisites names its own files and only GETs; its two helpers need it."""
    if not options.page_requisites:
        if options.span_hosts or options.convert_links:
            raise click.UsageError("--span-hosts and --convert-links need --page-requisites")
        return
    if options.outputs or options.remote_name or options.resume:
        raise click.UsageError(
            "--page-requisites names the files itself (under --output-dir): no -o, -O or -C"
        )
    if options.plan.method != "GET" or options.plan.body is not None:
        raise click.UsageError("--page-requisites fetches pages with GET: no body, no -X")


def _fetch_pages(session: Session, urls: list[URL], options: GetOptions) -> int:
    """--page-requisites: each URL a page, fetched with what it needs (fetch.page) by the
    usual transfers, every one on this session (a kept connection per origin in turn)."""
    from rawhttp.fetch.page import Fetched, PageOptions, fetch_page

    def fetch(url: URL, path: str) -> Fetched:
        fields = run_reporting(curl_headers, options.curl)
        transfer = Transfer(session, url, path, True, options, fields)
        code = with_retries(transfer.run, options, options.plan.idempotent)
        response = transfer.response
        if response is None:
            return Fetched(code, url)
        content_type = response.headers.get("Content-Type") or ""
        return Fetched(code, response.url, response.status, content_type)

    def warn(message: str) -> None:
        if not options.silent:
            click.echo(f"rawhttp: warning: {message}", err=True)

    page = PageOptions(options.output_dir or ".", options.span_hosts, options.convert_links)
    code = 0
    for url in urls:
        if options.views.har is not None:
            options.views.har.page(url)
        code = fetch_page(url, fetch, page, warn) or code
    return code


def _truncate(path: str) -> None:
    """-D FILE: emptied once, then each URL's heads are added to it (as curl does)."""
    try:
        open(path, "wb").close()
    except OSError as error:
        raise OutputError(f"cannot write the head to {path}: {error.strerror}") from None


def _write_out(spec: str | None) -> str | None:
    """-w FORMAT, or the format in @FILE (@- stdin); show.writeout is loaded only for -w."""
    if spec is None:
        return None
    from rawhttp.show.writeout import read_format

    return read_format(spec)


def _family(flags: dict) -> int:
    """-4 or -6; both is a usage error (curl takes the last one given: rawhttp refuses to
    guess which one was meant)."""
    if flags["ipv4"] and flags["ipv6"]:
        raise click.UsageError("-4 and -6 ask for different address families: give one")
    return (
        socket.AF_INET if flags["ipv4"] else socket.AF_INET6 if flags["ipv6"] else socket.AF_UNSPEC
    )


def _connection_options(flags: dict) -> Options:
    return Options(
        connect_timeout=flags["connect_timeout"],
        read_timeout=flags["timeout"],
        max_time=flags["max_time"],
        bufsize=flags["bufsize"],
        insecure=flags["insecure"],
        cafile=flags["cacert"],
        http_version="HTTP/1.0" if flags["http10"] else "HTTP/1.1",
        family=_family(flags),
        resolve=flags["resolve"],
        tls=_tls_options(flags),
        proxy=_proxy_settings(flags),
    )


def _proxy_settings(flags: dict):
    """-x, -U, --noproxy, -p, --proxy-header, and the proxy variables as they are now."""
    from rawhttp.proxy import from_environment

    if flags["proxy_user"] is not None and ":" not in flags["proxy_user"]:
        raise click.BadParameter("give USER:PASSWORD (rawhttp does not prompt)", param_hint="'-U'")
    headers = tuple((name, value or "") for name, value in flags["proxy_headers"])
    return from_environment(
        os.environ,
        proxy=flags["proxy"],
        user=flags["proxy_user"],
        noproxy=flags["noproxy"],
        tunnel=flags["proxytunnel"],
        headers=headers,
    )


def _tls_options(flags: dict):
    """What TLS is asked to do; watched (its records read) when a view shows them."""
    watchers = ("verbose", "trace", "explain", "timing", "packets", "pcap", "cert_chain")
    return TLSOptions(
        min_version=flags["tls_min"],
        max_version=flags["tls_max"],
        ciphers=flags["ciphers"],
        alpn=() if flags["no_alpn"] else tuple(p for p in flags["alpn"].split(",") if p),
        keylog=flags["keylog"],
        watch=any(flags[name] for name in watchers),
    )


def _expand(url: str, globoff: bool) -> list:
    """The URLs one argument stands for (curl's globbing, unless -g)."""
    from rawhttp.fetch.globbing import Expanded, expand

    return [Expanded(url, ())] if globoff else expand(url)


def _targets(globbed: list[list], urls: list[URL], options: GetOptions) -> list[str | None]:
    """The file each URL's body goes to (None: stdout): an argument's -o (in order, with
    `#N` standing for its Nth glob's value), else -O, else stdout."""
    from rawhttp.fetch.globbing import fill

    outputs = list(options.outputs)
    if len(outputs) > len(globbed):
        click.echo(
            f"rawhttp: warning: {len(outputs)} -o for {len(globbed)} URL(s): "
            f"{', '.join(outputs[len(globbed) :])} not used",
            err=True,
        )
    names = [
        (outputs[index] if index < len(outputs) else None, one.values)
        for index, each in enumerate(globbed)
        for one in each
    ]
    targets: list[str | None] = []
    for (output, values), url in zip(names, urls, strict=True):
        if output is not None:
            name = None if output == "-" else fill(output, values)
        else:
            name = remote_name(url.target) if options.remote_name else None
        if name is not None and options.output_dir:
            name = os.path.join(options.output_dir, name)
        if name is not None and options.no_clobber:
            name = unclobbered(name)
        targets.append(name)
    return targets


def _show_refusal(error: RawHTTPError) -> None:
    """A proxy's refusal of CONNECT (403, 407...) is the only answer that came: its head and
    body go to stdout as any response's would, before the error line."""
    if isinstance(error, TunnelRefused) and error.head is not None:
        ending = b"\n" if error.body and not error.body.endswith(b"\n") else b""
        with contextlib.suppress(OSError):  # stdout gone: the error line still says it
            sys.stdout.buffer.write(error.head.raw + error.body + ending)
            sys.stdout.buffer.flush()


def _say_if_tls(url: URL, error: RawHTTPError, connection: Options) -> None:
    """A plain http:// request to a port that speaks TLS gets an empty reply, a reset or bytes
    that are no HTTP (a TLS alert): when the port answers a ClientHello (dial.speaks_tls),
    the error says so and names the https:// URL. Its kind and exit code stay curl's."""
    from rawhttp.dial import speaks_tls
    from rawhttp.errors import EmptyReply, NetworkError, ProtocolError
    from rawhttp.proxy import route

    before_any_answer = type(error) in (EmptyReply, ProtocolError, NetworkError)
    if url.scheme != "http" or route(url, connection.proxy).proxy or not before_any_answer:
        return
    if speaks_tls(url, connection):
        https = url._replace(scheme="https")
        error.args = (f"{error}: the server speaks TLS on this port (try {https})",)


def check_target(path: str) -> None:
    """-o FILE, checked before connecting (nothing is sent for a body with nowhere to go):
    its folder must exist and take new files (FILE.part, renamed to FILE), or FILE be a
    writable non-regular file (/dev/null, a FIFO). The error names FILE, as typed, and the
    system's reason."""
    if os.path.exists(path) and not os.path.isfile(path):
        if os.path.isdir(path):
            raise OutputError(f"cannot write {path}: it is a folder")
        if not os.access(path, os.W_OK):
            raise OutputError(f"cannot write {path}: {os.strerror(errno.EACCES)}")
        return
    folder = os.path.dirname(path) or "."
    try:
        _writable_folder(folder)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror} (its folder {folder})") from None


def _writable_folder(folder: str) -> None:
    """An OSError with the reason the kernel would give when FILE.part is created there."""
    if not stat.S_ISDIR(os.stat(folder).st_mode):
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))


def make_folder(path: str) -> None:
    """--output-dir: created if missing, as curl's --create-dirs does."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {path}: {error.strerror}") from None


class Transfer:
    """One URL, start to end: its views, its sink, the request and the body's road."""

    def __init__(
        self,
        session: Session,
        url: URL,
        target: str | None,
        keep_alive: bool,
        options: GetOptions,
        fields: list[tuple[str, str]],
    ):
        self.session, self.url, self.target = session, url, target
        self.keep_alive, self.options, self.fields = keep_alive, options, fields
        self.response = None  # the last response whose head came (--page-requisites reads it)

    def run(self) -> tuple[int, int | None]:
        """The exit code, after reporting any failure, and the final status if one came."""
        options = self.options
        views = Views(self.target, options.views)
        self.session.emit, self.session.kinds = views.emit, views.kinds
        status = None
        try:
            if self.target is not None and options.output_dir:
                make_folder(options.output_dir)
            if self.target is not None:
                check_target(self.target)
            sink = self._sink(views)
            status, reason = self._transfer(sink, views.needs_body)
            views.after()
            if options.fail and status >= 400:
                raise HTTPStatusError(f"the server answered {status} {reason}")
        except RawHTTPError as error:
            _say_if_tls(self.url, error, options.connection)
            views.error(error)
            if not options.silent:
                _show_refusal(error)
            if not options.silent or options.show_error:
                report(error)
            if isinstance(error, TunnelRefused) and error.head is not None:
                status = error.head.status  # the proxy's refusal: --retry reads it
            return error.exit_code, status
        except KeyboardInterrupt as stop:
            kept = f" ({stop})" if str(stop) else ""  # where the bytes received are kept
            click.echo(f"rawhttp: interrupted{kept}", err=True)
            sys.exit(EXIT_INTERRUPTED)
        return 0, status

    def _sink(self, views: Views) -> Destination:
        decode = self.options.compressed
        if self.target is not None:
            return Download(self.target, resume=self.options.resume, decode=decode, emit=views.emit)
        out = StdoutSink(sys.stdout.buffer) if views.to_stdout else Discard()
        return Destination(out, decode=decode, emit=views.emit)

    def _request_headers(self, sink: Destination) -> list[tuple[str, str | None]]:
        needed = sink.request_headers()  # Accept-Encoding first, Range last, as before
        codings = [item for item in needed if item[0] == "Accept-Encoding"]
        rest = [item for item in needed if item[0] != "Accept-Encoding"]
        plan = self.options.plan
        return [*codings, *plan.headers, *self.fields, *self.options.headers, *rest]

    def _transfer(self, sink: Destination, needs_body: bool) -> tuple[int, str]:
        """One fetch into `sink` (a `download.Destination`, which decides from the head where
        the body goes); on any failure it is aborted: no partial FILE, and the error says
        where the bytes received are kept (FILE.part)."""
        options = self.options
        try:
            with self.session.stream(
                self.url,
                options.plan.method,
                self._request_headers(sink),
                body=options.plan.body,
                follow_redirects=options.follow,
                max_redirects=options.max_redirs,
                keep_alive=self.keep_alive,
            ) as response:
                self.response = response
                # A view that shows the body's bytes needs them to pass through Python;
                # otherwise a body saved to a file may be moved by the kernel (splice).
                response.copy_body_to(sink.start(response), splice=not needs_body)
            sink.finish()
        except BaseException as error:
            kept_note(error, sink.abort())
            raise
        return response.status, response.reason
