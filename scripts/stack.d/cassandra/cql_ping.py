#!/usr/bin/env python3
"""Readiness probe for the local Cassandra: STARTUP, then a real CQL query, over native protocol v4.

Exit 0 and print the release version when the node answers the query; exit 1 with the reason otherwise.
Uses only the standard library so the stack needs nothing installed by pip.
"""
import socket
import struct
import sys


def frame(stream, opcode, body):
    return struct.pack(">BBhBi", 0x04, 0, stream, opcode, len(body)) + body


def string_map(d):
    out = struct.pack(">H", len(d))
    for k, v in d.items():
        for s in (k, v):
            b = s.encode()
            out += struct.pack(">H", len(b)) + b
    return out


def read_frame(sock):
    header = recv_exact(sock, 9)
    _version, _flags, _stream, opcode, length = struct.unpack(">BBhBi", header)
    return opcode, recv_exact(sock, length)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by server")
        buf += chunk
    return buf


def last_value(body):
    """The single row's single [bytes] value ends the ROWS body: find the length prefix that fits."""
    for n in range(1, min(64, len(body) - 4)):
        if struct.unpack(">i", body[-n - 4:-n])[0] == n:
            return body[-n:].decode(errors="replace")
    return "unknown"


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    query = b"SELECT release_version FROM system.local"
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(frame(0, 0x01, string_map({"CQL_VERSION": "3.0.0"})))
            opcode, body = read_frame(s)
            if opcode != 0x02:
                print(f"cassandra not ready: STARTUP answered opcode {opcode:#x}", file=sys.stderr)
                return 1
            # QUERY: long string, consistency ONE, flags 0.
            s.sendall(frame(1, 0x07, struct.pack(">i", len(query)) + query + struct.pack(">HB", 0x0001, 0)))
            opcode, body = read_frame(s)
            if opcode != 0x08:
                msg = body[6:].decode(errors="replace") if opcode == 0x00 else ""
                print(f"cassandra not ready: query answered opcode {opcode:#x} {msg}", file=sys.stderr)
                return 1
            print(f"cassandra ready: CQL query ok (release {last_value(body)})")
            return 0
    except OSError as e:
        print(f"cassandra not ready: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
