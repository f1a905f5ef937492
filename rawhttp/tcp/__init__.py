"""Below the socket: the TCP segments of a connection, and what the kernel says about it.

`rawhttp get --packets` shows the segments a transfer's socket calls make (the three-way
handshake, the request, the response, the four-way close) on one timeline with the calls;
`--pcap FILE` writes them for Wireshark and `tcpdump -r`; `--tcp-info` asks the kernel for its
counters (RTT, congestion window, retransmissions); and after the close, `/proc/net/tcp` says
which side waits in TIME_WAIT.

One job per module, as in the rest of rawhttp:

- `segments`: sans-IO, the bytes of a frame in (Ethernet, Linux cooked, raw IP), a `Segment`
  value out (IPv4 or IPv6, TCP header and options). Never touches a socket.
- `pcap`: the classic pcap file format, bytes built with `struct`.
- `capture`: the only code here that opens an AF_PACKET socket (Linux, root or CAP_NET_RAW):
  which interface a route leaves by, the kernel filter, the capture thread and its grace.
- `tcpinfo`: sans-IO decoder of `struct tcp_info`, and the one `getsockopt` that reads it.
- `proctcp`: the kernel's table of TCP sockets (`/proc/net/tcp`, `tcp6`), TIME_WAIT included.

What the segments mean to a student is the business of the views (`rawhttp.show.packets`,
`rawhttp.show.explain`). None of this is imported by a plain `rawhttp get`.
"""
