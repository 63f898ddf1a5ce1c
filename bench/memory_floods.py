#!/usr/bin/env python3
"""Resident memory of pushwire-server before, at the peak of and after four floods (the
numbers in docs/security.md, "Limits"):

  subscriptions   1000 WebSocket connections x 1024 distinct channels each (an open server)
  anonymous       200 anonymous WebSockets x 1024 channels of --public-subscribe news:*
                  on a server with tokens
  pings           50 WebSockets sending pings without reading a pong, for 6 s
  ttl             one message of 2 KB to each of 50,000 channels, dropped by --channel-ttl 1

Usage: bench/memory_floods.py SERVER_BINARY [SCENARIO...]   (default: all four)

Each scenario starts its own server on a free port and stops it; "after" is read once the
server says the flood is over (channels gone, connections closed) and two seconds more.
Only the standard library: sockets, http.client, /proc.
"""
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


class Server:
    def __init__(self, binary, args):
        self.process = subprocess.Popen([binary, "--port", "0", "--max-connections-per-ip", "0"] + args,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = int(re.search(r"http://[^:]+:(\d+)", self.process.stdout.readline()).group(1))

    def rss_kb(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            return int(status.read().split("VmRSS:")[1].split()[0])

    def metric(self, name):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/pushwire/metrics").read().decode()
        found = re.search(r"^" + re.escape(name) + r" ([0-9.e+-]+)$", text, re.M)
        return float(found.group(1)) if found else None

    def wait(self, done, timeout=60):
        deadline = time.time() + timeout
        while not done() and time.time() < deadline:
            time.sleep(0.2)

    def stop(self):
        self.process.terminate()
        self.process.wait()


def masked(opcode, payload):
    mask = b"\x01\x02\x03\x04"
    n = len(payload)
    head = bytes([0x80 | opcode])
    head += bytes([0x80 | n]) if n < 126 else (bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536
                                              else bytes([0x80 | 127]) + struct.pack(">Q", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def websocket(port, receive_buffer=0):
    s = socket.socket()
    if receive_buffer:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /pushwire/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    got = b""
    while b"welcome" not in got:
        got += s.recv(4096)
    return s


def drain(sockets):
    for s in sockets:
        s.setblocking(False)
        try:
            while s.recv(1 << 16):
                pass
        except (BlockingIOError, ConnectionError):
            pass


def subscription_flood(server, connections, prefix):
    before = server.rss_kb()
    sockets = []
    for c in range(connections):
        s = websocket(server.port)
        for first in range(0, 1024, 256):
            channels = [f"{prefix}{c}:{i}" for i in range(first, first + 256)]
            s.sendall(masked(1, json.dumps({"type": "subscribe", "channels": channels, "id": first}).encode()))
        sockets.append(s)
        drain(sockets[-20:])
    last, stable = -1, 0
    while stable < 2:  # until the server has answered every subscribe
        end = time.time() + 1
        while time.time() < end:
            drain(sockets)
        now = server.metric("pushwire_channels")
        stable, last = (stable + 1 if now == last else 0), now
    peak = server.rss_kb()
    channels = server.metric("pushwire_channels")
    for s in sockets:
        s.close()
    server.wait(lambda: server.metric("pushwire_channels") == 0 and not server.metric("pushwire_broker_channels"))
    time.sleep(2)
    return before, peak, server.rss_kb(), f"channels at the peak {channels:.0f}"


def ping_flood(server):
    before = server.rss_kb()
    ping = masked(9, b"p" * 125) * 2000
    peak = [before]

    def flood():
        s = websocket(server.port, 4096)
        s.settimeout(10)
        end = time.time() + 6
        try:
            while time.time() < end:
                s.sendall(ping)
        except OSError:
            pass
        s.close()

    threads = [threading.Thread(target=flood) for _ in range(50)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak[0] = max(peak[0], server.rss_kb())
        time.sleep(0.2)
    server.wait(lambda: server.metric("pushwire_http_connections") <= 1)
    time.sleep(2)
    return before, peak[0], server.rss_kb(), ""


def ttl_drop(server):
    before = server.rss_kb()
    client = http.client.HTTPConnection("127.0.0.1", server.port)
    peak = before
    for request in range(200):
        body = json.dumps({"channels": [f"ttl:{request * 250 + i}" for i in range(250)], "data": "h" * 2000})
        client.request("POST", "/pushwire/publish", body=body)
        client.getresponse().read()
        peak = max(peak, server.rss_kb())
    server.wait(lambda: server.metric("pushwire_broker_channels") == 0)
    time.sleep(2)
    return before, peak, server.rss_kb(), ""


def main():
    binary = sys.argv[1]
    wanted = sys.argv[2:] or ["subscriptions", "anonymous", "pings", "ttl"]
    secret = tempfile.NamedTemporaryFile("w", suffix=".secret", delete=False)
    secret.write(os.urandom(24).hex())
    secret.close()
    scenarios = {
        "subscriptions": ([], lambda s: subscription_flood(s, 1000, "f")),
        "anonymous": (["--token-secret-file", secret.name, "--public-subscribe", "news:*"],
                      lambda s: subscription_flood(s, 200, "news:")),
        "pings": ([], ping_flood),
        "ttl": (["--channel-ttl", "1"], ttl_drop),
    }
    print("| flood | RSS before | at the peak | after | trims (s) | |")
    print("|---|---|---|---|---|---|")
    for name in wanted:
        args, run = scenarios[name]
        server = Server(binary, args)
        try:
            before, peak, after, note = run(server)
            trims = server.metric("pushwire_memory_trims_total")
            seconds = server.metric("pushwire_memory_trim_seconds_total")
            spent = f"{trims:.0f} ({seconds:.3f})" if trims is not None else "-"
            print(f"| {name} | {before / 1024:.1f} MB | {peak / 1024:.1f} MB | {after / 1024:.1f} MB | {spent} | {note} |",
                  flush=True)
        finally:
            server.stop()
    os.unlink(secret.name)


if __name__ == "__main__":
    main()
