#!/usr/bin/env python3
# A fake pushwire server that misbehaves in one way (MODE), for tests/cli_hostile_check.sh:
# answers of unexpected JSON shapes, endless or trickling bodies, Retry-After of weeks,
# endless SSE lines and events. Not the server: what a broken or hostile one could send.
# Usage: cli_hostile_server.py MODE PORTFILE (it writes its port there once listening).
import socket, sys, threading, time, json

MODE, PORTFILE = sys.argv[1], sys.argv[2]


def forever(c, chunk, delay=0.0):
    try:
        while True:
            c.sendall(chunk)
            if delay:
                time.sleep(delay)
    except OSError:
        pass


def answer(c, status, body, extra=b''):
    c.sendall(b'HTTP/1.1 ' + status + b'\r\nContent-Type: application/json\r\nContent-Length: %d\r\n'
              % len(body) + extra + b'Connection: close\r\n\r\n' + body)


BODIES = {
    'pub-errcode': (b'400 Bad Request', b'{"error":{"code":5,"message":[1]}}'),
    'hist-typeerr': (b'200 OK', b'{"messages":[],"more":"yes"}'),
    'hist-errcode': (b'400 Bad Request', b'{"error":{"code":5,"message":[1]}}'),
    'hist-errstr': (b'400 Bad Request', b'{"error":"nope \\u001b[31m"}'),
    'hist-badbytes': (b'400 Bad Request', b'\x1b[31m\xff\xfe not JSON'),
    'hist-errnomsg': (b'400 Bad Request', b'{"error":{"code":5}}'),
    'hist-cursor-num': (b'200 OK', b'{"messages":[],"more":true,"cursor":5}'),
    'hist-loop': (b'200 OK', b'{"messages":[],"more":true,"cursor":"c"}'),
    'hist-order': (b'200 OK', b'{"messages":[{"channel":"c","seq":2,"data":{"b":1,"a":2},"time":5}],'
                              b'"gaps":[{"channel":"c","from":1,"to":1,"reason":"evicted"}],"more":false}'),
    'presence-shape': (b'200 OK', b'{"members":{"a":1},"truncated":"no"}'),
}
WELCOME = (b'event: welcome\nid: 6887cc7d71914169~c@0\ndata: {"type":"welcome","protocol":1,'
           b'"epoch":"6887cc7d71914169","heartbeat_ms":10000,"client":"9f86d081884c7d659a2feaa0c55ad015"}\n\n')


def handle(c, port):
    try:
        data = b''
        while b'\r\n\r\n' not in data:
            more = c.recv(65536)
            if not more:
                return
            data += more
        path = data.split(b' ')[1].decode()
        if MODE in BODIES:
            answer(c, *BODIES[MODE])
        elif MODE == 'pub-retryafter':
            answer(c, b'429 Too Many Requests', b'{}', b'Retry-After: 2000000\r\n')
        elif MODE == 'pub-slow':
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n')
            forever(c, b' ', 2.0)
        elif MODE == 'pub-huge':
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n')
            forever(c, b'{' * 65536)
        elif MODE == 'pub-chunked-endless':
            c.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
            forever(c, b'10000\r\n' + b'x' * 65536 + b'\r\n')
        elif MODE == 'neg-huge':
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n')
            forever(c, b' ' * 65536)
        elif path.startswith('/pushwire/negotiate'):
            answer(c, b'200 OK', json.dumps({
                'protocol': 1, 'server': 'pushwire/0.1.0', 'heartbeat_ms': 10000,
                'transports': ['sse'],
                'epoch': '6887cc7d71914169', 'history': 1000, 'max_message_bytes': 65536,
                'longpoll_timeout_ms': 25000}).encode())
        elif path.startswith('/pushwire/sse'):
            if MODE == 'sse-forbidden':
                answer(c, b'403 Forbidden', b'{"error":{"code":"forbidden","message":"not yours"},"refused":'
                                          b'[{"channel":"c","error":{"code":"forbidden","message":"not yours"}}]}')
                return
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n' + WELCOME)
            if MODE == 'sse-nolf':
                forever(c, b'data: ' + b'x' * 65530)
            elif MODE == 'sse-datalines':
                forever(c, b'data: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\n' * 1000)
            elif MODE == 'sse-forbidden-inband':
                c.sendall(b'event: error\ndata: {"channel":"c","error":{"code":"forbidden","message":"not yours"}}\n\n')
            time.sleep(60)
    except OSError:
        pass
    finally:
        c.close()


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 0))
s.listen(64)
port = s.getsockname()[1]
with open(PORTFILE + '.tmp', 'w') as f:
    f.write(str(port))
import os
os.rename(PORTFILE + '.tmp', PORTFILE)
while True:
    conn, _ = s.accept()
    threading.Thread(target=handle, args=(conn, port), daemon=True).start()
