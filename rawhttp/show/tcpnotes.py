"""What `--explain` adds from the kernel (Linux): the handshake's time and round trip, what was
retransmitted, who closed first, and which end waits in TIME_WAIT (and why SO_REUSEADDR).

`Explain` calls `TcpNotes` at three moments, each returning the lines to say: just after
connect() (TCP_INFO on the socket of `events.Connected`), just before close()
(`events.Closing`: the socket's last TCP_INFO), and after it (the kernel's socket table, by
`rawhttp.tcp.proctcp`). Where the kernel has nothing to say (not Linux, a closed socket), a
moment returns no lines: explaining never fails a transfer. Needs no privilege.
"""

from __future__ import annotations

import time

from rawhttp import events
from rawhttp.tcp import proctcp, tcpinfo

# After close(): how long to wait for the close to settle before reading the table, at most.
# On loopback the peer's FIN and the last ACK take microseconds.
SETTLE = 0.25

Address = tuple[str, int]


class TcpNotes:
    def __init__(self) -> None:
        self.ends: tuple[Address, Address] | None = None
        self.sock: object = None
        self.first_fin: str | None = None

    def connected(self, e: events.Connected, connect_at: float | None) -> list[str]:
        self.ends, self.sock = (tuple(e.local), tuple(e.remote)), e.sock
        info = tcpinfo.read(e.sock) if e.sock is not None else None
        if info is None:
            return []
        lines = []
        if connect_at is not None:
            took = (e.at - connect_at) * 1000
            lines.append(
                f"the handshake took {took:.3f} ms: connect() sent SYN, the server's kernel "
                "answered SYN+ACK, ours sent ACK, and connect() returned"
            )
        if info.rtt:
            agreed = ", ".join(info.options) or "no options"
            lines.append(
                f"TCP_INFO: the kernel's first round-trip estimate is {info.rtt / 1000:.3f} ms; "
                f"both ends agreed on {agreed} in the SYNs"
            )
        return lines

    def tls(self, e: events.TLSEstablished) -> None:
        # TLS runs in memory over the same TCP socket (tlsstream.py): the kernel's counters
        # are that socket's, and a close_notify is data to it, not a FIN.
        if e.sock is not None:
            self.sock = e.sock

    def closing(self, e: events.Closing) -> list[str]:
        info = tcpinfo.read(self.sock) if self.sock is not None else None
        if info is None:
            return []
        if info.state == "CLOSE_WAIT":
            self.first_fin = "server"
            state = "CLOSE_WAIT: the server's FIN has arrived, so the server closed first"
        else:
            self.first_fin = "client"
            state = f"{info.state}: no FIN has come yet, so our close() sends the first FIN"
        lines = [f"before close(), TCP_INFO says the state is {state}"]
        counts = f"{info.segs_out} segments sent, {info.segs_in} received"
        if info.total_retrans:
            lines.append(
                f"{info.total_retrans} segment(s) were retransmitted ({counts}): some were "
                "lost or late, and TCP sent them again"
            )
        elif info.total_retrans is not None:
            lines.append(f"nothing was retransmitted ({counts})")
        return lines

    def closed(self, e: events.Closed) -> list[str]:
        if self.ends is None or self.first_fin is None:
            return []
        client, server = self.ends
        closer, other = (client, server) if self.first_fin == "client" else (server, client)
        entry = _settled(closer, other)
        reuse = (
            "a server that closes first keeps such entries for its own port: that is why a "
            "restarted server sets SO_REUSEADDR before bind(), or bind() fails with 'Address "
            "already in use' (try rawhttp lesson tcp-server --no-reuseaddr)"
        )
        if entry is None or entry.state != "TIME_WAIT":
            if self.first_fin == "server":
                return [
                    "the server closed first, so its end of the connection waits in TIME_WAIT "
                    "on the server's machine for a minute or two;",
                    reuse,
                ]
            return []
        left = f", {entry.seconds_left:.0f} s left" if entry.seconds_left is not None else ""
        return [
            f"after close(), /proc/net/tcp shows {_text(closer)} -> {_text(other)} in "
            f"TIME_WAIT{left}: the {self.first_fin} closed first, and the side that closes "
            "first keeps the connection's ports for twice the longest a segment may live, so "
            "a late segment cannot be taken for part of a new connection;",
            reuse,
        ]


def _settled(local: Address, remote: Address) -> proctcp.SocketEntry | None:
    """The entry of `local`'s end once it is no longer closing (SETTLE seconds at most)."""
    deadline = time.monotonic() + SETTLE
    while True:
        entry = proctcp.lookup(local, remote)
        if entry is None or entry.state not in proctcp.CLOSING_STATES:
            return entry
        if time.monotonic() >= deadline:
            return entry
        time.sleep(0.002)


def _text(address: Address) -> str:
    host, port = address
    return f"{host} port {port}"
