"""Run a worksheet (samples/lessons/*.md) as a learner would, and compare what came out.

A worksheet's ```console blocks hold commands (`$ ` as any user, `# ` as root) each followed by
the output it printed when the sheet was written. `Runner` runs them in order in a scratch
folder (with `samples/` in it), against servers it starts itself on free loopback ports: each
port a sheet names (8000, 9999, 12000...) becomes a free port with as many digits (so byte
counts and offsets do not change), substituted in the command and turned back in the output.
`rawhttp serve ...`, `rawhttp lesson tcp-server|udp-server ...` and `openssl s_server ...`
(the TLS sheet's peer) keep running in the background, as in the sheet's "terminal 1"; a second
server on the same port replaces the first, stopped with Ctrl-C (SIGINT) as a person would.

What may differ between runs is masked in both texts before they are compared (`VARIES`, each
with the reason, which the worksheets also tell the learner); everything else must be the same.
A line `...` in a documented output stands for any text, even part of a line of bytes.

HTML comments steer the runner where prose does: `<!-- worksheet: stop the servers -->`,
`<!-- worksheet: run COMMAND -->` (a command the prose asks for, such as a server to keep
running), and `<!-- worksheet: skip: WHY -->` or `skip N: WHY` (the next command, or N, is
not run: it needs a terminal, the internet, a server the project does not have, minutes). A documented line ending in `  (exit N)` or
`  (exit N: why)` (the README's way) is the exit status the command must end with. A sheet that says "keep `rawhttp serve ... --port N` running" in its prose gets that
server started before its first command.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND_TIMEOUT = 40  # seconds for one command: the slowest sheet step waits about 5
SERVER_START = 15  # seconds for a server to print its first line
STOP_WITHIN = 1.0  # seconds a server may take to stop after Ctrl-C
# The --port defaults of the commands that take one, written out when a sheet leaves them out.
DEFAULT_PORTS = {
    "rawhttp serve": "8000",
    "rawhttp lesson tcp-server": "9999",
    "rawhttp lesson tcp-client": "9999",
    "rawhttp lesson udp-server": "12000",
    "rawhttp lesson udp-client": "12000",
}

# What varies between runs, why, and how it is masked (regex, replacement), in order.
VARIES = [
    (
        r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT",
        "<date>",
        "Date and Last-Modified: the clock, and when the sample files were checked out",
    ),
    (r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", "[<date>]", "a log line's time"),
    (
        r'"[0-9a-f]{16}-',
        '"<etag>-',
        "an ETag's fingerprint of the file's inode and modification time, set by a checkout",
    ),
    (
        r"-{20,}[0-9a-f]{16}",
        "<boundary>",
        "a multipart boundary is random (masked before the ports: its hex may hold five digits)",
    ),
    (r"\[ *\d+\.\d+ ms\]", "[<t> ms]", "--trace's times since the start"),
    (r"\b\d+(?:\.\d+)? ms\b", "<t> ms", "elapsed times"),
    (
        r"(?<![\d.])\d{5}(?![\d.])",
        lambda found: "<port>" if 32768 <= int(found[0]) <= 65535 else found[0],
        "ephemeral ports (32768-65535): the kernel picks the client's port",
    ),
    (r"(?:\S*/)?samples/", ".../samples/", "where the project is checked out"),
    (
        r"after \d+ recv\(\) call\(s\)",
        "after <n> recv() call(s)",
        "how many recv() calls a head or body takes: TCP delivers a byte stream, and the server's "
        "head and body (two sends) may arrive in one read or two",
    ),
    (r"recv\(\) was called \d+ time\(s\)", "recv() was called <n> time(s)", "the same"),
    (
        r"returned \d+ address\(es\):(\n  AF_INET6  ::1 port \d+)?",
        "returned <n> address(es):",
        "whether localhost also names ::1 is the machine's /etc/hosts",
    ),
    (r"to (?:::1|127\.0\.0\.1) port", "to <localhost> port", "the same: which address failed last"),
    (
        r"(?m)^(?:\* |note: )localhost is the loopback \(RFC 6761\): .*\n",
        "",
        "the same: rawhttp adds the loopback address /etc/hosts did not list",
    ),
    (
        r"at any address \((?:::1|127\.0\.0\.1): ([^;]*); (?:::1|127\.0\.0\.1): ",
        r"at any address (<loopback>: \1; <loopback>: ",
        "the same: which loopback address is tried first",
    ),
    (r"\d+(?:\.\d+)? [KMG]iB/s", "<rate>", "a transfer rate: the machine's speed"),
    (r" +(?=<t> ms)", " ", "the width of a time"),
    (r'(?<=": )\d+\.\d+(?:e-?\d+)?', "<s>", "--timing=json's seconds and rates"),
    (
        r"\(\d+ segments sent, \d+ received\)",
        "(<n> segments sent, <n> received)",
        "how many ACKs the kernels send depends on timing (delayed and coalesced ACKs)",
    ),
    (r"\d+(?:\.\d+)? s left", "<n> s left", "how long TIME_WAIT has left when it is read"),
    (
        r"\b[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT",
        "<cert date>",
        "a certificate's validity starts when it was made (the TLS sheet makes its own)",
    ),
    (
        r"\d+ \(tunnel: ([^,]*), \d+ bytes up, \d+ down(?:; connection lost)?",
        r"<n> (tunnel: \1, <n> bytes up, <n> down",
        "the bytes a proxy's tunnel carried: a TLS handshake's size changes with the certificate "
        "made at start-up and the session tickets the server sends; and whether the client's "
        "close reached the proxy before the server's did (then the line ends 'connection lost')",
    ),
]
WILD = "\x00"  # a `...` of the documented output
# A note at the end of a documented line: the exit status, as the README writes it.
EXIT_NOTE = re.compile(r"\s{2,}\(exit (\d+)(?::[^)]*)?\)$", re.M)


@dataclass
class Command:
    text: str
    expected: str
    root: bool  # written with a `# ` prompt: needs root (packet capture)
    line: int  # where it is in the sheet, for messages


@dataclass
class Directive:
    text: str
    line: int


def parse(path: Path) -> list[Command | Directive]:
    """The console commands and runner directives of a worksheet, in order."""
    steps: list[Command | Directive] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        comment = re.match(r"<!-- worksheet: (.*) -->", line.strip())
        if comment:
            steps.append(Directive(comment[1], index + 1))
        if line.strip() == "```console":  # maybe indented, in a list item
            indent = len(line) - len(line.lstrip())
            block = [text[indent:] if text[:indent].isspace() else text for text in lines]
            index = _console_block(block, index + 1, steps)
        index += 1
    return steps


def _console_block(lines: list[str], index: int, steps: list) -> int:
    """Commands (with their outputs) up to the block's closing fence; returns its index."""
    current: Command | None = None
    while lines[index].strip() != "```":
        line = lines[index]
        prompt = line[:2]
        # `# ` is the root prompt only before a command: `# a comment` may be output.
        if prompt == "$ " or re.match(r"# (rawhttp|tcpdump|tshark|ss|python3)\b", line):
            current = Command(line[2:], "", prompt == "# ", index + 1)
            steps.append(current)
            heredoc = re.search(r"<<'?(\w+)'?", line)
            while heredoc or current.text.endswith("\\"):
                index += 1
                current.text += "\n" + lines[index]
                if heredoc and lines[index] == heredoc[1]:
                    break
        elif current is not None:
            current.expected += line + "\n"
        index += 1
    return index


# --- comparing ---------------------------------------------------------------------------------


def masked(text: str) -> str:
    for pattern, replacement, _ in VARIES:
        text = re.sub(pattern, replacement, text)
    return text


_CALL = re.compile(r"^\[ *[\d.]+ ms\] (send|recv)\(\) -> (\d+) bytes")


def flattened(text: str) -> str:
    """A --trace output as the bytes of each direction, whatever the reads were: consecutive
    recv() calls are merged, each line of bytes whole again (a read may end inside a line), so
    only what TCP guarantees is compared: the bytes and their order. sends stay as they are."""
    lines = _Lines()
    mode = None
    for line in text.split("\n"):
        call = _CALL.match(line)
        if call and call[1] == "recv" and mode in ("recv", WILD) and call[2] != "0":
            mode = "recv"
            continue  # the next read of the same stream (or one `...` began): its bytes go on
        if call:
            lines.add(line if call[1] == "send" or call[2] == "0" else "recv() ->")
            mode = call[1]
        elif mode and (line.startswith("    ") or line == WILD):
            content = WILD if line == WILD else line[4:]
            if content.startswith(("---- end of head", "(0 bytes")):
                lines.add(content)
            else:
                lines.extend(content, whole=content.endswith("\\n"))
        elif line == WILD:  # `...` outside a dump: it may stop inside a line of bytes
            lines.extend(WILD, whole=False)
            mode = WILD
        else:
            lines.add(line)
            mode = None
    return lines.text()


class _Lines:
    """Lines being rebuilt from pieces: `extend` continues the current line."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.partial = ""

    def add(self, line: str) -> None:
        self._close()
        self.done.append(line)

    def extend(self, piece: str, whole: bool) -> None:
        self.partial += piece
        if whole:
            self._close()

    def _close(self) -> None:
        if self.partial:
            self.done.append(self.partial)
            self.partial = ""

    def text(self) -> str:
        self._close()
        return "\n".join(self.done)


def normalized(text: str) -> str:
    """Reads merged, then what varies masked (a date may be cut by a read), lines stripped at
    the end only (a read may end with a space inside a line)."""
    lines = [WILD if line.strip() == "..." else line for line in text.rstrip("\n").split("\n")]
    flat = masked(flattened("\n".join(lines)))
    return "\n".join(line.rstrip() for line in flat.split("\n")).rstrip("\n")


def matches(expected: str, actual: str) -> bool:
    """Whether the actual output is the documented one, `...` standing for any text: the
    pieces between the `...` must appear in order, the first at the start, the last at the
    end (leftmost matches suffice when the only wildcard is "any text")."""
    pieces = normalized(expected).split(WILD)
    got = normalized(actual)
    if len(pieces) == 1:
        return got == pieces[0]
    if not got.startswith(pieces[0]):
        return False
    position = len(pieces[0])
    for piece in pieces[1:-1]:
        found = got.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return got.endswith(pieces[-1]) and len(got) - len(pieces[-1]) >= position


# --- running ---------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)
    # Ctrl-C's exit statuses that mean a clean stop: rawhttp's servers exit 0; openssl
    # s_server has no SIGINT handler, so the signal ends it (-SIGINT).
    clean: tuple[int, ...] = (0,)

    def read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)


class Runner:
    """Runs one worksheet's steps; `failures` collects what did not match."""

    def __init__(self, sheet: Path, folder: Path):
        self.sheet = sheet
        self.text = sheet.read_text()
        self.folder = folder
        self.env = _environment(folder)
        self.ports: dict[str, str] = {}
        self.servers: dict[str, Server] = {}
        self.background: list[subprocess.Popen] = []
        self.last_code: int | None = 0
        self.failures: list[str] = []
        self.stop_times: list[float] = []
        self.skip_next = 0  # commands left to skip (a `skip` directive)
        (folder / "samples").symlink_to(ROOT / "samples")

    # ports

    def port(self, documented: str) -> str:
        """The free port standing for a documented one: as many digits, not in the sheet."""
        if documented not in self.ports:
            self.ports[documented] = _free_port(len(documented), self.text, self.ports.values())
        return self.ports[documented]

    def substitute(self, command: str) -> str:
        for name, default in DEFAULT_PORTS.items():
            command = re.sub(
                rf"({name})(?=\s|$)(?![^|&;]*--port|[^|&;]*--scenario list)",
                lambda found, default=default: f"{found[1]} --port {default}",
                command,
            )
        return re.sub(
            r"(?<![\d.])(\d{4,5})(?![\d.]\d|\d)",
            lambda found: self.port(found[1]) if self._is_port(found[1]) else found[1],
            command,
        )

    def _is_port(self, number: str) -> bool:
        """Ports are the numbers a sheet uses after a host, `--port` or in a socket address."""
        near = rf"(?:localhost:|127\.0\.0\.1:|\]:|--port |\", |', ){number}(?!\d)"
        if int(number) > 65535:
            return False  # not a port: an example of a bad one
        if number in self.ports or number in DEFAULT_PORTS.values():
            return True
        return re.search(near, self.text) is not None

    def unsubstitute(self, output: str) -> str:
        for documented, live in self.ports.items():
            output = re.sub(rf"(?<!\d){live}(?!\d)", documented, output)
        return output

    # steps

    def run(self) -> None:
        try:
            for prose in self._implicit_servers():
                self.start_server(self.substitute(prose), expected=None)
            for step in parse(self.sheet):
                if isinstance(step, Directive):
                    self.directive(step)
                elif self.skip_next:
                    self.skip_next, self.last_code = self.skip_next - 1, None
                elif self._runnable(step):
                    self.command(step)
                else:
                    self.last_code = None
        finally:
            self.stop_all()

    def _implicit_servers(self) -> list[str]:
        outside_blocks = re.sub(r"```.*?```", "", self.text, flags=re.DOTALL)
        found = re.findall(r"`(rawhttp serve [^`]*--port \d+[^`]*)`", outside_blocks)
        first_per_port: dict[str, str] = {}
        for command in found:
            first_per_port.setdefault(re.search(r"--port (\d+)", command)[1], command)
        return list(first_per_port.values())

    def _runnable(self, step: Command) -> bool:
        """`# ` commands need root; `$ ` commands that capture packets show what happens
        without it, which a root run cannot see. The other kind is skipped."""
        if re.search(r"(^|\s)bench/", step.text):
            return False  # a benchmark measures this machine, for minutes: `make bench` runs it
        is_root = os.geteuid() == 0
        if step.root:
            return is_root or bool(os.environ.get("CI"))
        return not (is_root and re.search(r"--packets|--pcap", step.text))

    def directive(self, step: Directive) -> None:
        if step.text == "stop the servers":
            self.stop_all()
        elif re.match(r"skip( \d+)?:", step.text):
            self.skip_next = int(re.match(r"skip( \d+)?", step.text)[1] or 1)
        elif step.text.startswith("run "):
            self.command(Command(step.text[4:], "", False, step.line), compare=False)
        else:
            self.failures.append(f"line {step.line}: unknown directive {step.text!r}")

    def command(self, step: Command, compare: bool = True) -> None:
        text = step.text.strip()
        if text == "echo $?":
            if self.last_code is None:  # the command before was skipped
                return
            if compare and step.expected.strip() != str(self.last_code):
                self.fail(step, step.expected, f"{self.last_code}\n")
            return
        live = self.substitute(text)
        if _is_server(text):
            # A server sent to the background (`&`) often has its first line left out.
            quiet = text.endswith("&") and not step.expected.strip()
            self.start_server(live, None if quiet or not compare else step.expected, step)
        elif live.endswith("&"):
            self.start_background(live[:-1])
        else:
            output = self.shell(live)
            codes = EXIT_NOTE.findall(step.expected)
            expected = EXIT_NOTE.sub("", step.expected)
            if compare and _compared(text) and not matches(expected, output):
                self.fail(step, expected, output)
            if compare and codes and codes[-1] != str(self.last_code):
                self.fail(step, f"(exit {codes[-1]})", f"(exit {self.last_code})")

    def shell(self, command: str) -> str:
        """Run a command; stdout and stderr interleaved as on the learner's terminal: written
        at once (a terminal's line buffering) unless the output is piped on to another program,
        where Python buffers it as it would for the learner (a `| head` sees no broken pipe)."""
        env = dict(self.env)
        last = command.rsplit("|", 1)[-1].strip()
        if "|" not in command or re.match(r"(rawhttp|python3)\b", last):
            env["PYTHONUNBUFFERED"] = "1"
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        self.last_code = done.returncode
        self.wait_background()
        return self.unsubstitute(done.stdout)

    def start_background(self, command: str) -> None:
        """A client sent to the background (`... &`): started, then given time to connect
        (until a server logs something), so the next command comes after it, as typed."""
        before = sum(len(server.output) for server in self.servers.values())
        quiet = {"stdin": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.background.append(self._popen(command, **quiet, stdout_to=subprocess.DEVNULL))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if sum(len(server.output) for server in self.servers.values()) > before:
                return
            time.sleep(0.02)

    def wait_background(self) -> None:
        for process in self.background:
            process.wait(COMMAND_TIMEOUT)
        self.background.clear()

    def start_server(self, live: str, expected: str | None, step: Command | None = None) -> None:
        """A server in the background; its first line (or all it printed, if it ended at once,
        which may be the lesson: a port in use) is compared with the documented one."""
        live = live.rstrip("&").strip()
        documented = self.unsubstitute(_server_port(live))
        self.stop(documented)
        server = Server(self._popen(live, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        if live.startswith("openssl"):
            server.clean = (0, -signal.SIGINT)
        threading.Thread(target=server.read, daemon=True).start()
        deadline = time.monotonic() + SERVER_START
        while not server.output and server.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{live!r} printed nothing in {SERVER_START} s")
            time.sleep(0.02)
        if server.output and server.output[0].startswith("rawhttp: error:"):
            server.process.wait(SERVER_START)  # it could not start, and is ending
        if server.process.poll() is None:
            self.servers[documented] = server
            self.last_code, shown = 0, server.output[0]
            expected = None if expected is None else "\n".join(expected.splitlines()[:1])
        else:
            self.last_code = server.process.wait()
            time.sleep(0.1)  # the reader thread's last lines
            shown = "".join(server.output)
        shown = self.unsubstitute(shown)
        if step is not None and expected is not None and not matches(expected, shown):
            self.fail(step, expected, shown)

    def stop(self, documented: str) -> None:
        """Ctrl-C for the server on a documented port, as a person would: it must stop
        promptly and cleanly (exit 0)."""
        server = self.servers.pop(documented, None)
        if server is None:
            return
        started = time.monotonic()
        server.process.send_signal(signal.SIGINT)
        try:
            code = server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
            code = None
        took = time.monotonic() - started
        self.stop_times.append(took)
        if code not in server.clean or took > STOP_WITHIN:
            tail = "".join(server.output[-3:])
            self.failures.append(f"server on {documented}: Ctrl-C took {took:.2f} s, exit {code}")
            self.failures.append(tail)

    def stop_all(self) -> None:
        self.wait_background()
        for documented in list(self.servers):
            self.stop(documented)

    def _popen(self, command: str, stdout_to=subprocess.PIPE, **streams) -> subprocess.Popen:
        """`command` by bash; `exec` for a lone command, so that a SIGINT reaches it."""
        return subprocess.Popen(
            ["bash", "-c", f"exec {command}" if "|" not in command else command],
            cwd=self.folder,
            env=self.env,
            stdout=stdout_to,
            text=True,
            **streams,
        )

    def fail(self, step: Command, expected: str, actual: str) -> None:
        self.failures.append(
            f"{self.sheet.name} line {step.line}: $ {step.text}\n"
            f"--- documented (normalized)\n{normalized(expected)}\n"
            f"--- got (normalized)\n{normalized(actual)}\n"
        )


def _is_server(command: str) -> bool:
    """A command that keeps running (`serve --scenario list` only prints and ends)."""
    if "--scenario list" in command:
        return False
    server = r"rawhttp (serve\b|lesson (tcp|udp)-server\b)|openssl s_server\b"
    return re.match(server, command) is not None


def _server_port(command: str) -> str:
    found = re.search(r"--port (\d+)|-accept (?:[\d.]+:)?(\d+)", command)
    return (found[1] or found[2]) if found else "8000"


def _compared(command: str) -> bool:
    """Whether a command's output is compared. What `ss`, `tcpdump`, `ps` and `pgrep` list
    depends on the machine (its other connections and processes), and --packets/--tcp-info
    show the kernel's numbers and timing (sequence numbers, windows, RTT, which segment came
    first): for those, the exit status is what must not vary (checked by a `echo $?`)."""
    machine = re.search(r"(^|[|;(]\s*)(ss|tcpdump|ps|pgrep)\b", command)
    return not machine and not re.search(r"--packets|--pcap|--tcp-info", command)


def _environment(folder: Path) -> dict[str, str]:
    """`rawhttp` and `python3` on the PATH meaning this checkout's, and no colour."""
    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    for name, target in (
        ("rawhttp", f'"{sys.executable}" -m rawhttp'),
        ("python3", sys.executable),
    ):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.update(NO_COLOR="1", TERM="dumb", PYTHONPATH=str(ROOT))
    env.pop("PYTHONUNBUFFERED", None)
    return env


def _free_port(digits: int, avoid: str, taken) -> str:
    """A loopback port free for TCP and UDP, with `digits` digits, below the ephemeral range
    (so no client is given it meanwhile) and appearing nowhere in the sheet."""
    low, high = max(1024, 10 ** (digits - 1)), min(10**digits - 1, 32767)
    for _ in range(500):
        port = random.randint(low, high)
        if str(port) in avoid or str(port) in taken:
            continue
        if _bindable(port, socket.SOCK_STREAM) and _bindable(port, socket.SOCK_DGRAM):
            return str(port)
    raise RuntimeError(f"no free {digits}-digit port")


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
