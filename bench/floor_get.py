"""The floor for any Python HTTP client: one GET with nothing but `socket`, body to a file.

    python floor_get.py HOST PORT PATH FILE

No URL parsing, no checks, no events: connect, send, read until the server closes, drop the
head, write the rest. `rawhttp get -o FILE URL` is measured against this.
"""

import socket
import sys

host, port, path, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sock = socket.create_connection((host, port))
sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
data = bytearray()
while piece := sock.recv(65536):
    data += piece
sock.close()
head, _, body = data.partition(b"\r\n\r\n")
sys.stdout.buffer.write(head + b"\r\n\r\n")
with open(out, "wb") as file:
    file.write(body)
