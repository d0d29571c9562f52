#!/usr/bin/env python3
"""A preforkd worker in Python 3 (standard library only).

Run it under the supervisor:

    preforkd --listen 127.0.0.1:2323 --worker-exec python3 examples/python_worker.py

It serves an "upper" line service: a banner, then every line comes back in upper case;
`quit` closes. It speaks the channel protocol of docs/protocol.md on fd 3:

    worker -> supervisor   'R'                      Ready
                           'T' <u64 id>             Taken (before touching the client)
                           'A' <u64 id> <u64 in> <u64 out>   Available (client closed)
                           'Q' <u8 reason>          Quitting (1 = stopped)
    supervisor -> worker   'C' <u64 id> + fd        Connection (SCM_RIGHTS)
                           'S'                      Stop
All integers little-endian. EOF on the channel means the supervisor is gone: exit.
"""
import os
import select
import socket
import struct
import sys

CHANNEL_FD = int(os.environ.get("PREFORKD_CHANNEL_FD", "3"))
IDLE_TIMEOUT_S = 300
MAX_LINE = 4096


def send_status(chan, payload):
    chan.send(payload)


def serve(chan, client, conn_id):
    """Serves one client; returns (bytes_in, bytes_out, stop_requested)."""
    bytes_in = bytes_out = 0
    stop = False

    def say(text):
        nonlocal bytes_out
        data = text.encode()
        client.sendall(data)
        bytes_out += len(data)

    say("preforkd python worker, pid %d, connection %d. Lines come back in upper case; "
        "'quit' closes.\r\n" % (os.getpid(), conn_id))
    buf = b""
    while True:
        ready, _, _ = select.select([client, chan], [], [], IDLE_TIMEOUT_S)
        if not ready:
            say("idle too long: closing.\r\n")
            break
        if chan in ready:
            msg = chan.recv(256)
            if not msg or msg[:1] == b"S":  # supervisor gone, or Stop: finish now
                say("preforkd is shutting down. Goodbye.\r\n")
                stop = True
                break
        if client in ready:
            data = client.recv(16384)
            if not data:
                break
            bytes_in += len(data)
            buf += data
            if len(buf) > MAX_LINE and b"\n" not in buf:
                say("error: line too long: closing.\r\n")
                break
            done = False
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.rstrip(b"\r").decode("utf-8", "replace")
                if text.strip().lower() in ("quit", "exit"):
                    say("Goodbye.\r\n")
                    done = True
                    break
                say(text.upper() + "\r\n")
            if done:
                break
    return bytes_in, bytes_out, stop


def main():
    chan = socket.socket(fileno=CHANNEL_FD)  # AF_UNIX, SOCK_SEQPACKET, inherited
    send_status(chan, b"R")
    while True:
        msg, fds, _flags, _addr = socket.recv_fds(chan, 256, 1)
        if not msg:  # EOF: the supervisor is gone
            return 0
        kind = msg[:1]
        if kind == b"S":
            send_status(chan, b"Q" + bytes([1]))
            return 0
        if kind != b"C" or len(msg) != 9 or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            send_status(chan, b"Q" + bytes([3]))
            return 3
        (conn_id,) = struct.unpack("<Q", msg[1:9])
        send_status(chan, b"T" + struct.pack("<Q", conn_id))
        client = socket.socket(fileno=fds[0])
        client.setblocking(True)
        try:
            bytes_in, bytes_out, stop = serve(chan, client, conn_id)
        except OSError:
            bytes_in = bytes_out = 0
            stop = False
        finally:
            client.close()
        send_status(chan, b"A" + struct.pack("<QQQ", conn_id, bytes_in, bytes_out))
        if stop:
            send_status(chan, b"Q" + bytes([1]))
            return 0


if __name__ == "__main__":
    sys.exit(main())
