#!/usr/bin/env python3
"""Turns bench/run.sh's raw results into docs/benchmarks.md, bench/results/latest.json
and SVG bar charts (no plotting library needed)."""
import datetime
import json
import os
import platform
import subprocess
import sys

raw, results_dir, markdown_path, knobs = sys.argv[1:5]
runs = [json.loads(line) for line in open(raw) if line.strip()]
# bench/run.sh's first line says which commit ran and when, so that re-rendering the page
# later (with other prose) does not credit the run to a later commit.
meta = next((r for r in runs if r.get("scenario") == "meta"), {})
runs = [r for r in runs if r.get("scenario") != "meta"]
TRANSPORTS = ["websocket", "sse", "longpoll", "poll"]
IDLE_TARGET = next((r["subscribers"] for r in runs if r["label"] == "idle"), 10000)
# Counts add up over repeated runs (a message lost in any run is lost); every other
# number is the median of the runs.
SUMMED = {"expected", "received", "lost", "duplicates", "failed_subscribers", "publish_errors"}


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def merge(group):
    out = {"runs": len(group)}
    for key, first in group[0].items():
        values = [g[key] for g in group if key in g]
        if isinstance(first, dict):
            out[key] = merge(values)
            out[key].pop("runs")
        elif isinstance(first, bool) or not isinstance(first, (int, float)):
            out[key] = "; ".join(dict.fromkeys(str(v) for v in values if v)) if key == "error" else first
        elif key in SUMMED:
            out[key] = sum(values)
        else:
            out[key] = median(values)
    return out


groups = {}
for r in runs:
    groups.setdefault((r["target"], r["transport"], r["label"]), []).append(r)
rows = [merge(g) for g in groups.values()]


def find(target, transport, label):
    for r in rows:
        if r["target"] == target and r["transport"] == transport and r["label"] == label:
            return r
    return None


def get(r, *path):
    for key in path:
        if r is None:
            return None
        r = r.get(key)
    return r


def ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b else "–"


def counts(r):
    """The delivered, lost and duplicate cells of a fan-out row."""
    return f"{r['received']}/{r['expected']} | {r['lost']} | {r['duplicates']}"


def num(v, fmt="{:.2f}"):
    return "–" if v is None else fmt.format(v)


def each_row(label):
    """Every (transport, server name, row, pushwire row, nchan row, is pushwire) of a scenario."""
    for t in TRANSPORTS:
        pw, nc = find("pushwire", t, label), find("nchan", t, label)
        for name, r in (("pushwire", pw), ("nchan", nc)):
            if r is not None:
                yield t, name, r, pw, nc, name == "pushwire"


def commit():
    if meta.get("commit"):
        return meta["commit"]
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except Exception:
        return "?"


lines = []
add = lines.append
now = meta.get("finished") or datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
add("# Benchmarks: pushwire vs Nchan")
add("")
add(f"Measured {now} on this machine ({os.cpu_count()} cores, {platform.machine()}), commit `{commit()}`, "
    "both servers started fresh for every run, one after the other, by")
add("")
add("```sh\n./build.sh bench        # bench/run.sh: " + knobs + "\n```")
add("")
add("The load generator is `pushwire-bench` (bench/src): one event loop, every subscriber a real "
    "connection of the transport in question; Nchan runs in nginx with one worker (`bench/nchan.conf.in`), "
    "pushwire runs its one event loop. Server CPU is the scheduler's exact on-CPU time of every thread of "
    "the server's processes (nginx master and worker; `/proc/PID/task/*/schedstat`, in ns, not utime+stime's "
    "10 ms ticks) over the measured messages; latency is publish-to-receipt on the generator's "
    "clock. Each fan-out scenario ran " + str(max((r["runs"] for r in rows), default=0)) + " times per server, alternating "
    "servers; the tables show the median of each number (counts are summed over the runs).")
add("")
add("## Fan-out at 100 msg/s (latency)")
add("")
add("| transport | server | published msg/s | delivered | lost | dup | server CPU µs/delivery | ratio | generator CPU µs/delivery | latency p50 ms | p99 ms | max ms | p99 ratio |")
add("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for t, name, r, pw, nc, mine in each_row("latency"):
        add(f"| {t} | {name} | {num(r.get('publish_rate'), '{:.0f}')} | {counts(r)} | "
            f"{num(r['server_cpu_us_per_delivery'])} | {ratio(get(pw,'server_cpu_us_per_delivery'), get(nc,'server_cpu_us_per_delivery')) if mine else ''} | "
            f"{num(r['bench_cpu_us_per_delivery'])} | "
            f"{num(get(r,'latency_ms','p50'))} | {num(get(r,'latency_ms','p99'))} | {num(get(r,'latency_ms','max'))} | "
            f"{ratio(get(pw,'latency_ms','p99'), get(nc,'latency_ms','p99')) if mine else ''} |")
add("")
FLOOR_TRANSPORTS = [t for t in TRANSPORTS if find("floor", t, "latency")]


def floor_ratio(t, label):
    """The kernel's floor ÷ Nchan in the runs labelled `label`."""
    return ratio(get(find("floor", t, label), "server_cpu_us_per_delivery"),
                 get(find("nchan", t, label), "server_cpu_us_per_delivery"))


if FLOOR_TRANSPORTS:
    add("**The floors.** In the same rounds, `pushwire-send-paths io_uring` (bench/src/send_paths.cpp): "
        "no server, one process that only writes the same bytes to as many loopback sockets at the same rate, "
        "one io_uring submission per round, and a reader process. This is what one TCP segment per message "
        "costs the sending side on this machine; any server that writes each message as it is published, as "
        "the latency column requires at 100 msg/s, pays at least this." + (
            " For long-poll, `pushwire-floors longpoll` (bench/src/floors.cpp): as many kept-alive connections, "
            "each with a request waiting; each round writes one prebuilt HTTP answer (pushwire's size) to every one "
            "in one io_uring submission, and reads the next request each client sends at once: the least a server "
            "does per long-poll delivery." if find("floor", "longpoll", "latency") else ""))
    add("")
    add("| run with | floor CPU µs/delivery | ÷ Nchan | pushwire ÷ floor |")
    add("|---|---|---|---|")
    for t in FLOOR_TRANSPORTS:
        fl = find("floor", t, "latency")
        add(f"| {t} | {num(fl['server_cpu_us_per_delivery'])} | "
            f"{floor_ratio(t, 'latency')} | "
            f"{ratio(get(find('pushwire', t, 'latency'), 'server_cpu_us_per_delivery'), fl['server_cpu_us_per_delivery'])} |")
    add("")
add("## Fan-out as fast as accepted (CPU per delivery under load)")
add("")
add("The publisher keeps 16 publishes in flight. Messages queued behind a connection's write in progress "
    "leave in one write: this is where CPU per delivery is decided.")
add("")
add("| transport | server | delivered | lost | dup | deliveries/s | server CPU µs/delivery | ratio | generator CPU µs/delivery | latency p99 ms |")
add("|---|---|---|---|---|---|---|---|---|---|")
for t, name, r, pw, nc, mine in each_row("throughput"):
        add(f"| {t} | {name} | {counts(r)} | "
            f"{num(r['deliveries_per_s'], '{:,.0f}')} | {num(r['server_cpu_us_per_delivery'])} | "
            f"{ratio(get(pw,'server_cpu_us_per_delivery'), get(nc,'server_cpu_us_per_delivery')) if mine else ''} | "
            f"{num(r['bench_cpu_us_per_delivery'])} | {num(get(r,'latency_ms','p99'))} |")
add("")
node = [(name, find(name, "websocket", "node-ws")) for name in ("pushwire", "nchan")]
if any(r for _, r in node):
    add("## WebSocket fan-out with Node's `ws` library as the subscriber")
    add("")
    add("The same fan-out with subscribers no one here wrote: 1000 `ws` (npm) clients in one Node process, "
        "`bench/node_clients.mjs`, publishing over HTTP at the rate shown. ws reads each socket when libuv reports it, "
        "one read per socket and wake-up, and Node itself takes most of the other core.")
    add("")
    add("| server | msg/s | delivered | lost | dup | server CPU µs/delivery | ratio | client CPU µs/delivery | latency p50 ms | p99 ms |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    pw, nc = node[0][1], node[1][1]
    for name, r in node:
        if r is None:
            continue
        add(f"| {name} | {num(r.get('rate'), '{:.0f}')} | {counts(r)} | "
            f"{num(r['server_cpu_us_per_delivery'])} | "
            f"{ratio(get(pw,'server_cpu_us_per_delivery'), get(nc,'server_cpu_us_per_delivery')) if name == 'pushwire' else ''} | "
            f"{num(r['bench_cpu_us_per_delivery'])} | {num(get(r,'latency_ms','p50'))} | {num(get(r,'latency_ms','p99'))} |")
    add("")
REDIS_TRANSPORTS = [t for t in TRANSPORTS if find("pushwire", t, "redis-latency") or find("nchan", t, "redis-latency")]
if REDIS_TRANSPORTS:
    add("## With a Redis broker")
    add("")
    add("pushwire with `--broker redis://…` on one node, and on two nodes (subscribers split over both, "
        "publishing on the first, so half the deliveries cross nodes), against Nchan with its Redis storage "
        "(`nchan_redis_url`, `nchan_use_redis on`). Server CPU counts every process of each side: the pushwire "
        "nodes and redis-server, or nginx and redis-server. Each Redis is fresh, without persistence.")
    add("")
    add("| transport | server | rate | delivered | lost | dup | server CPU µs/delivery | ratio | publish p99 ms | latency p50 ms | p99 ms |")
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    setups = (("pushwire, 1 node", "pushwire", "redis"), ("pushwire, 2 nodes", "pushwire", "redis2"),
              ("Nchan", "nchan", "redis"))
    for t in REDIS_TRANSPORTS:
        for scenario, rate in (("latency", "100 msg/s"), ("throughput", "as accepted")):
            nc = find("nchan", t, f"redis-{scenario}")
            for name, target, prefix in setups:
                r = find(target, t, f"{prefix}-{scenario}")
                if r is None:
                    continue
                mine = target == "pushwire"
                add(f"| {t} | {name} | {rate} | {counts(r)} | "
                    f"{num(r['server_cpu_us_per_delivery'])} | "
                    f"{ratio(r['server_cpu_us_per_delivery'], get(nc, 'server_cpu_us_per_delivery')) if mine else ''} | "
                    f"{num(get(r, 'publish_ms', 'p99'))} | {num(get(r, 'latency_ms', 'p50'))} | {num(get(r, 'latency_ms', 'p99'))} |")
    floors = [(t, find("floor", t, "redis-latency")) for t in REDIS_TRANSPORTS]
    if any(fl for _, fl in floors):
        add("The kernel's floor in the same rounds (as above: a sender that only writes, no Redis): "
            + "; ".join(f"{t} {num(fl['server_cpu_us_per_delivery'])} µs, "
                        f"{floor_ratio(t, 'redis-latency')} "
                        "of Nchan+Redis at 100 msg/s" for t, fl in floors if fl) + ".")
        add("")
AUTH_TRANSPORTS = [t for t in TRANSPORTS if find("pushwire", t, "auth-latency")]
if AUTH_TRANSPORTS:
    add("## The cost of auth checks")
    add("")
    add("pushwire with `--token-secret-file` and `--api-key-file`: every subscriber carries an HS256 token "
        "(`token=` in its URL, checked at each request: every long-poll and poll, and each SSE and WebSocket "
        "connection), the publisher the API key; alternating with the same runs without them.")
    add("")
    add("| transport | scenario | delivered (with) | lost | dup | CPU µs/delivery without | with tokens | ratio | p99 ms without | with |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for t in AUTH_TRANSPORTS:
        for scenario, rate in (("latency", "100 msg/s"), ("throughput", "as accepted")):
            a, b = find("pushwire", t, f"plain-{scenario}"), find("pushwire", t, f"auth-{scenario}")
            if b is None:
                continue
            add(f"| {t} | {rate} | {counts(b)} | "
                f"{num(get(a, 'server_cpu_us_per_delivery'))} | {num(b['server_cpu_us_per_delivery'])} | "
                f"{ratio(b['server_cpu_us_per_delivery'], get(a, 'server_cpu_us_per_delivery'))} | "
                f"{num(get(a, 'latency_ms', 'p99'))} | {num(get(b, 'latency_ms', 'p99'))} |")
    add("")
TLS_TRANSPORTS = [t for t in TRANSPORTS if find("pushwire", t, "tls") or find("nchan", t, "tls")]
if TLS_TRANSPORTS:
    add("## Over TLS")
    add("")
    add("pushwire with `--tls-cert/--tls-key` (OpenSSL in user space through memory BIOs; kTLS is not offered "
        "by this kernel) against nginx `listen … ssl` with the same certificate (ECDSA P-256; TLS 1.3, "
        "AES-256-GCM both), and pushwire in plaintext with the same clients: "
        "Node's `ws` (wss://) and Node's https client reading the event stream, "
        "`bench/node_clients.mjs`, 1000 subscribers, publishing over HTTPS at the rate shown.")
    add("")
    add("| transport | server | msg/s | delivered | lost | dup | server CPU µs/delivery | ÷ Nchan TLS | ÷ pushwire plaintext | client CPU µs/delivery | latency p50 ms | p99 ms |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t in TLS_TRANSPORTS:
        nc, plain = find("nchan", t, "tls"), find("pushwire", t, "node-plain")
        for name, r in (("pushwire, plaintext", plain), ("pushwire, TLS", find("pushwire", t, "tls")),
                        ("Nchan, TLS", nc)):
            if r is None:
                continue
            tls_mine = name == "pushwire, TLS"
            add(f"| {t} | {name} | {num(r.get('rate'), '{:.0f}')} | {counts(r)} | {num(r['server_cpu_us_per_delivery'])} | "
                f"{ratio(r['server_cpu_us_per_delivery'], get(nc, 'server_cpu_us_per_delivery')) if name != 'Nchan, TLS' else ''} | "
                f"{ratio(r['server_cpu_us_per_delivery'], get(plain, 'server_cpu_us_per_delivery')) if tls_mine else ''} | "
                f"{num(r['bench_cpu_us_per_delivery'])} | {num(get(r, 'latency_ms', 'p50'))} | {num(get(r, 'latency_ms', 'p99'))} |")
    add("")
    tls_floors = [(t, find("floor", t, "tls"), find("floor", t, "node-plain")) for t in TLS_TRANSPORTS]
    if any(a and b for _, a, b in tls_floors):
        add("**The TLS floor.** In the same rounds, `pushwire-floors tls` (bench/src/floors.cpp): as many "
            "connections and messages at the same rate, each message sealed as one TLS record (OpenSSL, TLS 1.3, "
            "one session per connection over memory BIOs, the same certificate) and written, one io_uring "
            "submission per round; and `pushwire-send-paths io_uring`, the same bytes written in plaintext. "
            "Their difference is the least TLS adds per delivery.")
        add("")
        add("| transport | floor plaintext µs | floor TLS µs | TLS adds at the floor µs | TLS adds to pushwire µs | pushwire TLS ÷ TLS floor |")
        add("|---|---|---|---|---|---|")
        for t, tls_floor, plain_floor in tls_floors:
            if not (tls_floor and plain_floor):
                continue
            pw_plain = get(find("pushwire", t, "node-plain"), "server_cpu_us_per_delivery")
            pw_tls = get(find("pushwire", t, "tls"), "server_cpu_us_per_delivery")
            floor_adds = tls_floor["server_cpu_us_per_delivery"] - plain_floor["server_cpu_us_per_delivery"]
            add(f"| {t} | {num(plain_floor['server_cpu_us_per_delivery'])} | {num(tls_floor['server_cpu_us_per_delivery'])} | "
                f"{num(floor_adds)} | {num(pw_tls - pw_plain if pw_tls is not None and pw_plain is not None else None)} | "
                f"{ratio(pw_tls, tls_floor['server_cpu_us_per_delivery'])} |")
        add("")
CHAT_TRANSPORTS = [t for t in TRANSPORTS if any(find(x, t, "chat-throughput") for x in ("pushwire", "nchan"))]
CHAT_SETUPS = (("memory", ""), ("Redis", "redis-"))
if CHAT_TRANSPORTS:
    add("## Chat: many small channels, publish-heavy")
    add("")
    chat_row = next(r for r in rows if r.get("scenario") == "chat")
    add(f"{chat_row['channels']:,} channels of {chat_row['per_channel']} subscribers each "
        f"({chat_row['subscribers']:,} connections), {chat_row['messages']:,.0f} publishes spread evenly over the "
        "channels (`pushwire-bench --scenario chat`, one message to every channel first, not measured): from "
        f"{chat_row['http_publishers']} HTTP keep-alive publishers, and in the WebSocket runs half the channels "
        "published in-band by one of their own subscribers (pushwire's publish frame; Nchan's `nchan_pubsub "
        "websocket` location), each reading its own message back; at a fixed rate and as fast as accepted "
        "(16 requests in flight per HTTP publisher, one message per WebSocket publisher). \"batch\": pushwire's "
        "NDJSON batch publish, the same publishes in requests of many lines (HTTP only; Nchan has no batch API). "
        "Server CPU per publish counts its deliveries; with Redis it counts redis-server too. Floor: "
        "`pushwire-floors publish` (bench/src/floors.cpp), the same HTTP publishers and rate, a process that only "
        "reads each POST (head, Content-Length, body) and writes a small JSON answer, in the same rounds.")
    add("")
    add("| transport | broker | scenario | server | publishes/s | delivered | lost | dup | server CPU µs/publish | ÷ Nchan | ÷ publish floor | latency p50 ms | p99 ms | RSS per subscriber |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t in CHAT_TRANSPORTS:
        for broker, prefix in CHAT_SETUPS:
            for scenario, what in (("chat-rate", "fixed rate"), ("chat-throughput", "as accepted"),
                                   ("chat-batch", "as accepted, NDJSON")):
                nc = find("nchan", t, prefix + ("chat-throughput" if scenario == "chat-batch" else scenario))
                fl = find("floor", t, "chat-throughput" if scenario != "chat-rate" else "chat-rate")
                for name in ("pushwire", "nchan"):
                    r = find(name, t, prefix + scenario)
                    if r is None:
                        continue
                    mine = name == "pushwire"
                    cpu = r["server_cpu_us_per_publish"]
                    add(f"| {t} | {broker} | {what} | {name} | {num(r['publishes_per_s'], '{:,.0f}')} | {counts(r)} | "
                        f"{num(cpu)} | {ratio(cpu, get(nc, 'server_cpu_us_per_publish')) if mine else ''} | "
                        f"{ratio(cpu, get(fl, 'server_cpu_us_per_publish')) if mine and not prefix else ''} | "
                        f"{num(get(r, 'latency_ms', 'p50'))} | {num(get(r, 'latency_ms', 'p99'))} | "
                        f"{num(r['rss_per_subscriber_bytes'] / 1024, '{:.2f} KB')} |")
    floors = [(label, find("floor", CHAT_TRANSPORTS[0], label)) for label in ("chat-rate", "chat-throughput")]
    if any(f for _, f in floors):
        add("")
        add("The HTTP publish floor: " + "; ".join(
            f"{'at the fixed rate' if label == 'chat-rate' else 'as fast as accepted'} "
            f"{num(f['server_cpu_us_per_publish'])} µs per publish" for label, f in floors if f) + ".")
    add("")
PRESENCE_ROWS = [(broker, kind, find("pushwire", "websocket", f"presence-{broker}-{kind}"))
                 for broker in ("memory", "redis") for kind in ("joinleave", "presence", "plain")]
PRESENCE_TRANSPORTS = [t for t in TRANSPORTS if find("pushwire", t, "presence-latency")]


def scripts_per_refresh(r):
    """EVALSHA calls the node sent to Redis per refresh (every 3 s) while idle: divided by
    the most refresh instants the idle window can hold (a 15 s window holds 5 or 6)."""
    calls = get(r, "redis_idle_by_command", "evalsha")
    return (calls or 0) / (int(r["idle_s"] // 3) + 1) if r and r.get("idle_s") else None


if any(r for _, _, r in PRESENCE_ROWS):
    add("## Presence")
    add("")
    first = next(r for _, _, r in PRESENCE_ROWS if r)
    add(f"`pushwire-bench --scenario presence` (bench/src/presence.cpp): {first['subscribers']:,} WebSocket "
        "connections subscribe to one channel at once (256 opening at a time) — a presence channel with join/leave "
        "on, one with presence only, and one outside `--presence` (\"plain\": what the same storm costs without "
        "presence); \"members\" is the time until the API's `presence_stats` counts them all, \"delivered\" until a "
        "message published after that reached every subscriber (the stream is ordered: each has then read every "
        "join before it; with join/leave that is n(n-1)/2 join entries delivered). Then `presence_stats` is asked "
        "1,000 times and `presence` 100 times (each on a connection of its own, as a backend asks) with the channel "
        "full; the connections are held idle (the refresh: server CPU, and the Redis commands the node sent in that "
        "time, from Redis's INFO commandstats: EVALSHA calls, one round trip each, with `--presence-ttl 9`, a "
        "refresh every 3 s; on the plain channel they are the node's own heartbeat and sweeps); then all close "
        "(`--presence-grace-ms 0`) until `presence_stats` counts none. Server CPU counts redis-server too.")
    add("")
    add("| broker | channel | members s | delivered s | CPU µs per join | stats p50 ms | stats p99 ms | presence (list) p99 ms | idle CPU µs per member per minute | Redis scripts per refresh | leave s | CPU µs per leave |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for broker, kind, r in PRESENCE_ROWS:
        if r is None:
            continue
        per_refresh = scripts_per_refresh(r) if broker == "redis" else None
        add(f"| {broker} | {kind} | {num(r['members_s'])} | {num(r['join_s'])} | {num(r['join_cpu_us_per_member'], '{:.1f}')} | "
            f"{num(get(r, 'stats_ms', 'p50'))} | {num(get(r, 'stats_ms', 'p99'))} | {num(get(r, 'list_ms', 'p99'))} | "
            f"{num(r['idle_cpu_us_per_member_minute'], '{:.1f}')} | {num(per_refresh, '{:.1f}') if broker == 'redis' else ''} | "
            f"{num(r['leave_s'])} | {num(r['leave_cpu_us_per_member'], '{:.1f}')} |")
    add("")
if PRESENCE_TRANSPORTS:
    add("The fan-out on a presence channel with join/leave on (its 1,000 subscribers are members, their joins "
        "delivered before the measured messages), against the same server and channel outside `--presence`, "
        "pushwire against pushwire in alternating rounds:")
    add("")
    add("| transport | scenario | CPU µs per delivery, plain | with presence | ratio | p99 ms, plain | with presence |")
    add("|---|---|---|---|---|---|---|")
    for t in PRESENCE_TRANSPORTS:
        for scenario in ("latency", "throughput"):
            a, b = find("pushwire", t, f"nopresence-{scenario}"), find("pushwire", t, f"presence-{scenario}")
            add(f"| {t} | {scenario} | {num(get(a, 'server_cpu_us_per_delivery'))} | "
                f"{num(get(b, 'server_cpu_us_per_delivery'))} | "
                f"{ratio(get(b, 'server_cpu_us_per_delivery'), get(a, 'server_cpu_us_per_delivery'))} | "
                f"{num(get(a, 'latency_ms', 'p99'))} | {num(get(b, 'latency_ms', 'p99'))} |")
    add("")
size_row = find("pushwire", "", "size")
browser_row = find("pushwire", "websocket", "browser")
if size_row or browser_row:
    add("## The browser module")
    add("")
    if size_row:
        total = size_row["js_gzip"] + size_row["wasm_gzip"]
        add("What a page downloads (`dist/web/pushwire.js` + `pushwire.wasm`, built with `-Oz`, `-sINLINING_LIMIT=0`, LTO, no file system "
            "in the glue, no embind, emmalloc, frames read by the browser's `JSON.parse`, the JS minified by esbuild), and gzip -9 "
            "of it; and what the server sends a browser that takes gzip: the `.gz` copies `./build.sh` makes with zopfli "
            "(gzip any browser reads, smaller than gzip -9; gzip -9 -n where zopfli is not installed):")
        add("")
        sent = size_row.get("js_sent", 0) + size_row.get("wasm_sent", 0)
        cell = lambda v: f"{v:,}" if v else "(none)"
        add("| file | bytes | gzip -9 | sent (.gz) |")
        add("|---|---|---|---|")
        add(f"| pushwire.js | {size_row['js_bytes']:,} | {size_row['js_gzip']:,} | {cell(size_row.get('js_sent', 0))} |")
        add(f"| pushwire.wasm | {size_row['wasm_bytes']:,} | {size_row['wasm_gzip']:,} | {cell(size_row.get('wasm_sent', 0))} |")
        add(f"| together | {size_row['js_bytes'] + size_row['wasm_bytes']:,} | {total:,} | {cell(sent)} |")
        add("")
    if browser_row:
        add("Delivery to a JS callback in headless Chromium over WebSocket: the SDK against a raw `WebSocket` + "
            "`JSON.parse` in the same page, each reading " + f"{browser_row['messages']:,}" + " messages the server "
            "already holds (so the page, not the publisher, sets the pace; `bench/browser_throughput.mjs`); and the "
            "time from a fresh page (cold cache) to the first message the SDK delivers, while one is published every "
            "20 ms.")
        add("")
        add("| SDK msg/s | raw WebSocket msg/s | ratio | time to first message ms |")
        add("|---|---|---|---|")
        add(f"| {browser_row['sdk_per_s']:,.0f} | {browser_row['raw_per_s']:,.0f} | {browser_row['ratio']:.2f}× | "
            f"{browser_row['first_message_ms']:.0f} |")
        add("")
tabs_rows = [r for r in (find("pushwire", t, f"tabs-{m}") for t in TRANSPORTS for m in ("shared", "unshared")) if r]
if tabs_rows:
    add("## Tabs × pages: one connection per browser")
    add("")
    first = tabs_rows[0]
    add(f"{first['users']} browsers (Chromium contexts: a user's browser, whose tabs share Web Locks and "
        f"BroadcastChannel) of {first['tabs']} tabs each, {first['pages']} pages in one headless Chromium; every tab "
        "subscribes to one channel all tabs read and to one of its own; "
        f"{first['rate']:g} messages a second published to the common channel for {first['messages']:,} messages "
        "(`bench/tabs_pages.mjs`). With the tabs of each browser sharing one connection (the default) and with "
        "`share: false`: the server's connections (its metrics), its CPU (its threads' schedstat) and Chromium's "
        "(every process, utime + stime) per message delivered to a tab's callback, from the first publish to the "
        "last delivery, and Chromium's memory (Pss, all processes).")
    if first.get("note"):
        add("")
        add(f"Fewer browsers than asked ({first['users_requested']}): {first['note']}.")
    add("")
    add("| transport | tabs | pages | server connections | delivered | server CPU µs per delivery | Chromium CPU µs per delivery | Chromium Pss GiB |")
    add("|---|---|---|---|---|---|---|---|")
    for r in tabs_rows:
        add(f"| {r['transport']} | {'shared (default)' if r['mode'] == 'shared' else 'share: false'} | {r['pages']:,} | "
            f"{r['connections']:,.0f} | {r['delivered']:,}/{r['expected']:,} | {num(r['server_cpu_us_per_delivery'])} | "
            f"{num(r['chromium_cpu_us_per_delivery'], '{:.0f}')} | {num(r['chromium_pss_mib'] / 1024)} |")
    add("")
big_row = find("pushwire", "http", "big-publish")
if big_row:
    add("## Reading one large publish")
    add("")
    add("One publish whose data is an object of N keys, N doubling, each on a connection of its own "
        "(`pushwire-bench --scenario big-publish`): the server's CPU per key stays flat while reading a body is "
        "linear in its size (a quadratic reader once held the loop for minutes at 300,000 keys; "
        "`tests/integration/catch_up_test.cpp` checks such a publish is stored whole and the server goes on "
        "serving).")
    add("")
    add("| keys | body bytes | status | server CPU ms | µs per key | wall ms |")
    add("|---|---|---|---|---|---|")
    for size in big_row["sizes"]:
        add(f"| {size['keys']:,} | {size['bytes']:,} | {size['status']} | {num(size['server_cpu_ms'], '{:.1f}')} | "
            f"{num(size['server_cpu_us_per_key'], '{:.3f}')} | {num(size['wall_ms'], '{:.1f}')} |")
    add("")
    add(f"µs per key at the largest size ÷ at the smallest: {big_row['growth']:.2f} (1 is linear).")
    add("")
add("## Idle subscribers held, and publishing while they are")
add("")
add("| transport | server | held | failed | time to connect all s | RSS per subscriber | ratio | publish p50 ms | publish p99 ms |")
add("|---|---|---|---|---|---|---|---|---|")
for t, name, r, pw, nc, mine in each_row("idle"):
        add(f"| {t} | {name} | {r['established']}/{r['subscribers']} | {r['failed_subscribers']} | {num(r['connect_s'])} | "
            f"{num(r['rss_per_subscriber_bytes'] / 1024, '{:.2f} KB')} | "
            f"{ratio(get(pw,'rss_per_subscriber_bytes'), get(nc,'rss_per_subscriber_bytes')) if mine else ''} | "
            f"{num(get(r,'publish_ms','p50'))} | {num(get(r,'publish_ms','p99'))} |")
add("")


def lines_svg(title, unit, xs, series, path):
    """A line chart: xs (labels, evenly spaced), series [(name, color, [value or None per x])]."""
    width, height, left, top, bottom = 640, 300, 60, 40, 40
    peak = max([v for _, _, vs in series for v in vs if v] or [1]) * 1.15
    step = (width - left - 40) / max(1, len(xs) - 1)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width/2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
           f'<text x="12" y="{top - 8}" fill="#555">{unit}</text>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - 20}" y2="{height - bottom}" stroke="#999"/>']
    for i, x in enumerate(xs):
        svg.append(f'<text x="{left + i * step:.1f}" y="{height - 18}" text-anchor="middle">{x}</text>')
    for k, (name, color, values) in enumerate(series):
        points = [(left + i * step, height - bottom - (height - top - bottom) * v / peak)
                  for i, v in enumerate(values) if v is not None]
        if points:
            svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                       + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
        for (x, y), v in zip(points, [v for v in values if v is not None]):
            svg.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>'
                       f'<text x="{x + 5:.1f}" y="{y - 6:.1f}" fill="{color}">{v:.2f}</text>')
        svg.append(f'<rect x="{left + 10}" y="{top + 4 + 16 * k}" width="12" height="12" fill="{color}"/>'
                   f'<text x="{left + 28}" y="{top + 15 + 16 * k}">{name}</text>')
    svg.append("</svg>")
    open(path, "w").write("\n".join(svg))


def spread(values):
    """How far a range strays from flat: the largest |value ÷ median − 1| of the values there are."""
    values = [v for v in values if v]
    return max(abs(v / median(values) - 1) for v in values) if len(values) > 1 else None


GROWTH_SUBS = sorted({int(r["label"].split("-")[1]) for r in rows
                      if r["label"].startswith("growth-") and r["label"].split("-")[1].isdigit()})
GROWTH_CHANNELS = sorted({int(r["label"].rsplit("-", 1)[1]) for r in rows if r["label"].startswith("growth-channels-")})
GROWTH_TRANSPORTS = [t for t in TRANSPORTS if any(find("pushwire", t, f"growth-{n}") for n in GROWTH_SUBS)]
if GROWTH_SUBS or GROWTH_CHANNELS:
    add("## How cost grows")
    add("")
if GROWTH_SUBS:
    add("One channel, the fan-out at 100 msg/s to more and more subscribers (`GROWTH_SUBSCRIBERS`), pushwire "
        "with room for them (`--max-connections 19500`), and the kernel's floor (`pushwire-send-paths`) with as "
        "many sockets in the same rounds. A process may hold 20,000 open files here, so 19,000 is the most "
        "one node can serve.")
    add("")
    add("| transport | subscribers | delivered | lost | dup | server CPU µs/delivery | floor µs/delivery | ÷ floor | p99 ms | RSS MB |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for t in GROWTH_TRANSPORTS:
        for n in GROWTH_SUBS:
            r, fl = find("pushwire", t, f"growth-{n}"), find("floor", t, f"growth-{n}")
            if r is None:
                continue
            add(f"| {t} | {n:,} | {counts(r)} | {num(r['server_cpu_us_per_delivery'])} | "
                f"{num(get(fl, 'server_cpu_us_per_delivery'))} | "
                f"{ratio(r['server_cpu_us_per_delivery'], get(fl, 'server_cpu_us_per_delivery'))} | "
                f"{num(get(r, 'latency_ms', 'p99'))} | {num((r.get('server_rss_bytes') or 0) / 1e6, '{:.1f}')} |")
    add("")
    add("![server CPU per delivery by subscribers](../bench/results/growth-subscribers.svg)")
    add("")
    colors = {"websocket": "#5b6cf0", "sse": "#2a9d8f", "longpoll": "#e76f51", "poll": "#8d99ae"}
    lines_svg("Server CPU per delivery at 100 msg/s, by subscribers (lower is better)", "µs",
              [f"{n:,}" for n in GROWTH_SUBS],
              [(f"pushwire {t}", colors[t], [get(find("pushwire", t, f"growth-{n}"), "server_cpu_us_per_delivery")
                                             for n in GROWTH_SUBS]) for t in GROWTH_TRANSPORTS]
              + [(f"floor ({t})", "#bbbbbb" if t == "websocket" else "#dddddd",
                  [get(find("floor", t, f"growth-{n}"), "server_cpu_us_per_delivery") for n in GROWTH_SUBS])
                 for t in GROWTH_TRANSPORTS[:1]],
              os.path.join(results_dir, "growth-subscribers.svg"))
if GROWTH_CHANNELS:
    add("Publishes spread evenly over more and more channels that nobody follows (`GROWTH_CHANNELS`; "
        "`pushwire-bench --scenario chat --per-channel 0`, 8 keep-alive HTTP publishers, 16 requests in flight "
        "each, at least one publish per channel), memory broker, `--max-channels 200000`: the CPU of a publish "
        "as the channel table grows, and the memory the channels' history holds at the end (`--history 2000`).")
    add("")
    add("| channels | publishes | server CPU µs/publish | publishes/s | publish p99 ms | RSS at the end MB | RSS per channel |")
    add("|---|---|---|---|---|---|---|")
    for n in GROWTH_CHANNELS:
        r = find("pushwire", "websocket", f"growth-channels-{n}")
        if r is None:
            continue
        rss = r.get("server_rss_end_bytes")
        base = get(find("pushwire", "websocket", f"growth-channels-{GROWTH_CHANNELS[0]}"), "server_rss_end_bytes")
        per = (rss - base) / (n - GROWTH_CHANNELS[0]) if rss and base and n > GROWTH_CHANNELS[0] else None
        add(f"| {n:,} | {r['messages']:,.0f} | {num(r['server_cpu_us_per_publish'])} | {num(r['publishes_per_s'], '{:,.0f}')} | "
            f"{num(get(r, 'publish_ms', 'p99'))} | {num((rss or 0) / 1e6, '{:.1f}')} | {num(per, '{:,.0f} B')} |")
    add("")
    lines_svg("Server CPU per publish, by channels held (lower is better)", "µs",
              [f"{n:,}" for n in GROWTH_CHANNELS],
              [("pushwire", "#5b6cf0", [get(find("pushwire", "websocket", f"growth-channels-{n}"), "server_cpu_us_per_publish")
                                        for n in GROWTH_CHANNELS])],
              os.path.join(results_dir, "growth-channels.svg"))
    add("![server CPU per publish by channels](../bench/results/growth-channels.svg)")
    add("")
CLUSTER_LABELS = [("pushwire", "cluster-chat-one", "pushwire, one Redis"),
                  ("pushwire", "cluster-chat-cluster", "pushwire, Redis Cluster"),
                  ("nchan", "cluster-chat-nchan-cluster", "Nchan, Redis Cluster")]
CLUSTER_IDLE = sorted({int(r["label"].rsplit("-", 1)[1]) for r in rows if r["label"].startswith("capacity-idle-")})


def redis_nodes(target, label):
    """Each Redis node's CPU and bytes sent per publish, the median over the runs (node i of every run)."""
    runs_of = [r.get("redis_nodes") or [] for r in runs if r["target"] == target and r["label"] == label]
    width = max((len(n) for n in runs_of), default=0)
    return [(median([n[i]["cpu_us_per_publish"] for n in runs_of if len(n) > i]),
             median([n[i]["out_bytes_per_publish"] for n in runs_of if len(n) > i])) for i in range(width)]


if any(find(t, "websocket", l) for t, l, _ in CLUSTER_LABELS):
    add("## Redis Cluster: one node's publishes on one Redis and on a cluster")
    add("")
    cr = next(find(t, "websocket", l) for t, l, _ in CLUSTER_LABELS if find(t, "websocket", l))
    add(f"The chat shape past one Redis (`ONLY=cluster`): {cr['channels']:,} channels, {cr['per_channel']} WebSocket "
        f"subscriber(s) each, {cr['messages']:,.0f} publishes spread over them from {cr['http_publishers']:.0f} keep-alive "
        f"HTTP publisher(s) keeping 16 publishes in flight each ({16 * cr['http_publishers']:.0f} in all), as fast "
        "as accepted; one pushwire node with `--broker redis://` (one "
        "Redis) or `--broker redis+cluster://` (a Redis Cluster of `CLUSTER_MASTERS` masters, no replicas, each "
        "channel's keys in one slot, sharded pub/sub: SSUBSCRIBE/SPUBLISH), and Nchan on the same cluster "
        "(`nchan_redis_url` of one cluster node). Server CPU is the pushwire (or nginx) processes only; each "
        "Redis node's CPU (`used_cpu_sys + used_cpu_user`) and bytes sent (`total_net_output_bytes`) come from "
        "its `INFO` before and after the measured publishes (`pushwire-bench --redis-node`). The floor: "
        "`pushwire-floors publish` reading and answering the same requests with the same window.")
    add("")
    add("| setup | Redis nodes | delivered | lost | dup | publishes/s | server CPU µs/publish | server CPU µs/delivery | "
        "Redis CPU µs/publish (sum) | per node | Redis bytes sent/publish (sum) | per node | publish p99 ms |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t, l, name in CLUSTER_LABELS:
        r = find(t, "websocket", l)
        if r is None:
            continue
        nodes = redis_nodes(t, l)
        add(f"| {name} | {len(nodes)} | {counts(r)} | {num(r['publishes_per_s'], '{:,.0f}')} | "
            f"{num(r['server_cpu_us_per_publish'])} | {num(r['server_cpu_us_per_delivery'])} | "
            f"{num(r.get('redis_cpu_us_per_publish'))} | {', '.join(num(c, '{:.1f}') for c, _ in nodes) or '–'} | "
            f"{num(r.get('redis_out_bytes_per_publish'), '{:.0f}')} | "
            f"{', '.join(num(b, '{:.0f}') for _, b in nodes) or '–'} | {num(get(r, 'publish_ms', 'p99'))} |")
    fl = find("floor", "websocket", "cluster-chat-floor")
    if fl is not None:
        add(f"| kernel floor (publish) | – | – | – | – | {num(fl.get('publishes_per_s'), '{:,.0f}')} | "
            f"{num(fl.get('server_cpu_us_per_publish'))} | – | – | – | – | – | – |")
    add("")
CLUSTER_FANOUT = [t for t in TRANSPORTS if find("pushwire", t, "cluster-latency") or find("nchan", t, "cluster-latency")]
if CLUSTER_FANOUT:
    add("One channel's fan-out with the broker a Redis Cluster: one pushwire node on `redis+cluster://` and Nchan "
        "on the same kind of cluster (fresh for every run), the subscribers and publisher of the fan-out above; "
        "server CPU is the pushwire or nginx processes only (the cluster's is not counted on either side); the "
        "kernel's floor (`pushwire-send-paths io_uring`, as many sockets, the same rate) in the same rounds.")
    add("")
    add("| transport | server | rate | delivered | lost | dup | server CPU µs/delivery | ÷ Nchan | ÷ floor | "
        "publish p99 ms | latency p50 ms | p99 ms |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t in CLUSTER_FANOUT:
        fl = get(find("floor", t, "cluster-latency"), "server_cpu_us_per_delivery")
        paced = num(get(find("pushwire", t, "cluster-latency") or find("nchan", t, "cluster-latency"), "rate"), "{:.0f}")
        for scenario, rate in (("latency", f"{paced} msg/s"), ("throughput", "as accepted")):
            nc = get(find("nchan", t, f"cluster-{scenario}"), "server_cpu_us_per_delivery")
            for name, target in (("pushwire", "pushwire"), ("Nchan", "nchan")):
                r = find(target, t, f"cluster-{scenario}")
                if r is None:
                    continue
                mine = target == "pushwire"
                cpu = r["server_cpu_us_per_delivery"]
                add(f"| {t} | {name} | {rate} | {counts(r)} | {num(cpu)} | {ratio(cpu, nc) if mine else ''} | "
                    f"{ratio(cpu, fl) if scenario == 'latency' and fl else ''} | {num(get(r, 'publish_ms', 'p99'))} | "
                    f"{num(get(r, 'latency_ms', 'p50'))} | {num(get(r, 'latency_ms', 'p99'))} |")
        if fl is not None:
            add(f"| {t} | kernel floor | {paced} msg/s | – | – | – | {num(fl)} | "
                f"{ratio(fl, get(find('nchan', t, 'cluster-latency'), 'server_cpu_us_per_delivery'))} | 1.00× | – | – | – |")
    add("")
cost = find("redis", "", "cluster-cost")
if cost is not None and cost.get("text"):
    add("Two pushwire nodes following the same channels (one SSE reader each), publishes one at a time through "
        "the first, one Redis against a 3-master + 3-replica cluster (`bench/redis_cluster_cost.sh`): each Redis "
        "node's CPU and bytes sent per publish, and its cluster-bus messages.")
    add("")
    add("```\n" + cost["text"].strip() + "\n```")
    add("")
if CLUSTER_IDLE:
    add("Idle WebSocket connections held by one pushwire node (`pushwire-bench --scenario idle`, memory broker, "
        "`--max-connections 19500 --heartbeat-ms 60000`): the memory per connection of the capacity model "
        "(docs/scaling.md).")
    add("")
    add("| connections | held | RSS per connection | publish p99 ms while held |")
    add("|---|---|---|---|")
    for n in CLUSTER_IDLE:
        r = find("pushwire", "websocket", f"capacity-idle-{n}")
        if r is None:
            continue
        add(f"| {n:,} | {r['established']:,} | {num(r['rss_per_subscriber_bytes'] / 1024, '{:.2f} KB')} | "
            f"{num(get(r, 'publish_ms', 'p99'))} |")
    add("")
add("## Against the targets")
add("")
add("| target | measured (pushwire ÷ Nchan, this run) | met |")
add("|---|---|---|")


def target_row(name, values, limit, absolute=False):
    shown, met = [], True
    for t, v in values:
        if v is None:
            shown.append(f"{t} –")
            met = False
            continue
        shown.append(f"{t} {v:.2f}" + ("" if absolute else "×"))
        met = met and v <= limit
    add(f"| {name} | {', '.join(shown)} | {'yes' if met else 'no'} |")


def r_of(label, key_path, t):
    a, b = get(find("pushwire", t, label), *key_path), get(find("nchan", t, label), *key_path)
    return a / b if a is not None and b else None


target_row("CPU per delivery, WebSocket and SSE, 100 msg/s ≤ 0.67×",
           [(t, r_of("latency", ("server_cpu_us_per_delivery",), t)) for t in ("websocket", "sse")], 0.67)
if FLOOR_TRANSPORTS:
    add("| (not a target) the kernel's floor at 100 msg/s, a sender that only writes, ÷ Nchan | "
        + ", ".join(f"{t} {floor_ratio(t, 'latency')}" for t in FLOOR_TRANSPORTS) + " | |")
target_row("CPU per delivery, WebSocket and SSE, as fast as accepted ≤ 0.67×",
           [(t, r_of("throughput", ("server_cpu_us_per_delivery",), t)) for t in ("websocket", "sse")], 0.67)
if any(r for _, r in node):
    target_row("CPU per delivery, WebSocket with Node's ws as the subscriber ≤ 0.67×",
               [("node-ws", r_of("node-ws", ("server_cpu_us_per_delivery",), "websocket"))], 0.67)
if REDIS_TRANSPORTS:
    def redis_ratio(prefix, scenario, t):
        a = get(find("pushwire", t, f"{prefix}-{scenario}"), "server_cpu_us_per_delivery")
        b = get(find("nchan", t, f"redis-{scenario}"), "server_cpu_us_per_delivery")
        return a / b if a is not None and b else None
    target_row("With Redis: CPU per delivery, 1 node, 100 msg/s and as fast as accepted ≤ 0.67× Nchan+Redis",
               [(f"{t} {s}", redis_ratio("redis", s, t)) for t in REDIS_TRANSPORTS for s in ("latency", "throughput")],
               0.67)
    target_row("With Redis: CPU per delivery, 2 nodes, 100 msg/s and as fast as accepted ≤ 0.67× Nchan+Redis",
               [(f"{t} {s}", redis_ratio("redis2", s, t)) for t in REDIS_TRANSPORTS for s in ("latency", "throughput")],
               0.67)
    if any(find("floor", t, "redis-latency") for t in REDIS_TRANSPORTS):
        add("| (not a target) the kernel's floor at 100 msg/s, a sender that only writes, ÷ Nchan+Redis | "
            + ", ".join(f"{t} {floor_ratio(t, 'redis-latency')}" for t in REDIS_TRANSPORTS) + " | |")
    target_row("With Redis: publish p99 at 100 msg/s < 5 ms (absolute, pushwire, 1 and 2 nodes)",
               [(f"{t} {p}", get(find("pushwire", t, f"{p}-latency"), "publish_ms", "p99"))
                for t in REDIS_TRANSPORTS for p in ("redis", "redis2")], 5.0, absolute=True)

    def cross_node(t):
        a = get(find("pushwire", t, "redis2-latency"), "latency_ms", "p99")
        b = get(find("pushwire", t, "latency"), "latency_ms", "p99")
        return a / b if a is not None and b else None
    target_row("With Redis: delivery p99 at 100 msg/s, 2 nodes ≤ 2× the memory broker's on one node",
               [(t, cross_node(t)) for t in REDIS_TRANSPORTS], 2.0)


if CLUSTER_FANOUT:
    def cluster_ratio(t, other, label="cluster-latency"):
        a = get(find("pushwire", t, label), "server_cpu_us_per_delivery")
        b = get(find(other, t, label), "server_cpu_us_per_delivery")
        return a / b if a is not None and b else None
    target_row("On a Redis Cluster: CPU per delivery at 100 msg/s ≤ 1.15× the kernel floor (pushwire ÷ floor)",
               [(t, cluster_ratio(t, "floor")) for t in CLUSTER_FANOUT], 1.15)
    target_row("On a Redis Cluster: CPU per delivery below Nchan's on the same cluster (< 1.0×)",
               [(f"{t} {s}", cluster_ratio(t, "nchan", f"cluster-{s}")) for t in CLUSTER_FANOUT
                for s in ("latency", "throughput")], 0.999)


def self_ratio(t, base, other, scenario):
    """pushwire's CPU per delivery in the `other` runs ÷ in the `base` runs (same transport and scenario)."""
    a = get(find("pushwire", t, f"{base}-{scenario}"), "server_cpu_us_per_delivery")
    b = get(find("pushwire", t, f"{other}-{scenario}"), "server_cpu_us_per_delivery")
    return b / a if a and b is not None else None


if AUTH_TRANSPORTS:
    target_row("Auth checks add < 5% CPU per delivery (with tokens ÷ without ≤ 1.05×, pushwire ÷ pushwire)",
               [(f"{t} {s}", self_ratio(t, "plain", "auth", s)) for t in AUTH_TRANSPORTS for s in ("latency", "throughput")], 1.05)
if TLS_TRANSPORTS:
    target_row("Over TLS: CPU per delivery, WebSocket and SSE ≤ 0.67× Nchan over TLS",
               [(t, r_of("tls", ("server_cpu_us_per_delivery",), t)) for t in TLS_TRANSPORTS], 0.67)

    def tls_cost(t):
        a = get(find("pushwire", t, "node-plain"), "server_cpu_us_per_delivery")
        b = get(find("pushwire", t, "tls"), "server_cpu_us_per_delivery")
        return b / a if a and b is not None else None
    target_row("Over TLS: CPU per delivery, WebSocket and SSE ≤ 1.5× pushwire plaintext (pushwire ÷ pushwire)",
               [(t, tls_cost(t)) for t in TLS_TRANSPORTS], 1.5)
if CHAT_TRANSPORTS:
    def chat_ratio(t, label, key="server_cpu_us_per_publish", other="nchan", other_label=None):
        a = get(find("pushwire", t, label), key)
        b = get(find(other, t, other_label or label), key)
        return a / b if a is not None and b else None
    target_row("Chat: CPU per publish (with its deliveries) ≤ 0.5× Nchan, fixed rate and as fast as accepted",
               [(f"{t} {s}", chat_ratio(t, f"chat-{s}")) for t in CHAT_TRANSPORTS for s in ("rate", "throughput")],
               0.5)
    target_row("Chat: CPU per publish ≤ 1.2× the HTTP publish floor (pushwire ÷ floor)",
               [(f"{t} {s}", chat_ratio(t, f"chat-{s}", other="floor")) for t in CHAT_TRANSPORTS
                for s in ("rate", "throughput")], 1.2)
    target_row("Chat with Redis: CPU per publish ≤ 0.67× Nchan+Redis",
               [(f"{t} {s}", chat_ratio(t, f"redis-chat-{s}")) for t in CHAT_TRANSPORTS
                for s in ("rate", "throughput")], 0.67)
    # Publishes a second accepted: Nchan's ÷ pushwire's, so that ≤ 1/3 is "≥ 3×".
    shown, met = [], True
    for t in CHAT_TRANSPORTS:
        for label in ("chat-throughput", "chat-batch", "redis-chat-throughput", "redis-chat-batch"):
            a = get(find("pushwire", t, label), "publishes_per_s")
            b = get(find("nchan", t, label.replace("batch", "throughput")), "publishes_per_s")
            if a is None:
                continue
            v = a / b if b else None
            shown.append(f"{t} {label.replace('chat-', '')} " + (f"{v:.2f}×" if v is not None else "–"))
            met = met and v is not None and v >= 3
    add(f"| Chat: publishes per second accepted by one node ≥ 3× Nchan's (pushwire ÷ Nchan) | {', '.join(shown)} | "
        f"{'yes' if met else 'no'} |")
if any(r for _, _, r in PRESENCE_ROWS):
    target_row("Presence: presence_stats p99 with the channel full, memory broker ≤ 5 ms (absolute)",
               [(f"{r['subscribers']:,} members", get(r, "stats_ms", "p99"))
                for b, k, r in PRESENCE_ROWS if r and b == "memory" and k != "plain"], 5.0, absolute=True)
    plain_scripts = scripts_per_refresh(find("pushwire", "websocket", "presence-redis-plain"))
    target_row("Presence with Redis: round trips per node per refresh interval ≤ 1, whatever the members "
               "(scripts per refresh, less the plain channel's)",
               [(k, scripts_per_refresh(r) - plain_scripts if plain_scripts is not None else None)
                for b, k, r in PRESENCE_ROWS if r and b == "redis" and k != "plain"], 1.0, absolute=True)
if PRESENCE_TRANSPORTS:
    target_row("Presence channel fan-out: CPU per delivery ≤ 1.1× a plain channel's (pushwire ÷ pushwire)",
               [(f"{t} {s}", self_ratio(t, "nopresence", "presence", s)) for t in PRESENCE_TRANSPORTS for s in ("latency", "throughput")],
               1.1)
for t in GROWTH_TRANSPORTS if len(GROWTH_SUBS) > 1 else []:
    v = spread([get(find("pushwire", t, f"growth-{n}"), "server_cpu_us_per_delivery") for n in GROWTH_SUBS])
    add(f"| How cost grows: {t} CPU per delivery flat within ±15% from {GROWTH_SUBS[0]:,} to {GROWTH_SUBS[-1]:,} "
        f"subscribers (largest distance from their median) | {num(None if v is None else v * 100, '{:.0f}%')} | "
        f"{'yes' if v is not None and v <= 0.15 else 'no'} |")
if len(GROWTH_CHANNELS) > 1:
    v = spread([get(find("pushwire", "websocket", f"growth-channels-{n}"), "server_cpu_us_per_publish") for n in GROWTH_CHANNELS])
    add(f"| How cost grows: CPU per publish flat within ±15% from {GROWTH_CHANNELS[0]:,} to {GROWTH_CHANNELS[-1]:,} "
        f"channels (largest distance from their median) | {num(None if v is None else v * 100, '{:.0f}%')} | "
        f"{'yes' if v is not None and v <= 0.15 else 'no'} |")
if size_row:
    kb = (size_row["js_gzip"] + size_row["wasm_gzip"]) / 1024
    total_bytes = size_row["js_gzip"] + size_row["wasm_gzip"]
    sent_bytes = size_row.get("js_sent", 0) + size_row.get("wasm_sent", 0)
    sent_note = f"; sent: {sent_bytes / 1024:.1f} KB, zopfli" if sent_bytes else ""
    add(f"| the browser module ≤ 30 KB gzipped, JS + wasm (issue 23; KB = 1024 bytes; gzip -9) | {kb:.1f} KB "
        f"({total_bytes:,} bytes{sent_note}) | {'yes' if kb <= 30 else 'no'} |")
if browser_row:
    add(f"| in-browser delivery, SDK ≥ 0.8× a raw WebSocket + JSON.parse | {browser_row['ratio']:.2f}× "
        f"({browser_row['ratio']:.3f}) | {'yes' if browser_row['ratio'] >= 0.8 else 'no'} |")
target_row("CPU per delivery, long-poll and poll, 100 msg/s ≤ 1.0×",
           [(t, r_of("latency", ("server_cpu_us_per_delivery",), t)) for t in ("longpoll", "poll")], 1.0)
target_row("CPU per delivery, long-poll and poll, as fast as accepted ≤ 1.0×",
           [(t, r_of("throughput", ("server_cpu_us_per_delivery",), t)) for t in ("longpoll", "poll")], 1.0)
target_row("p99 latency, 1000 subscribers, 100 msg/s ≤ 1.0×",
           [(t, r_of("latency", ("latency_ms", "p99"), t)) for t in TRANSPORTS], 1.0)
target_row("RSS per idle subscriber ≤ 1.0×",
           [(t, r_of("idle", ("rss_per_subscriber_bytes",), t)) for t in TRANSPORTS], 1.0)
target_row("publish p99 while the idle subscribers are held < 10 ms (absolute, pushwire)",
           [(t, get(find("pushwire", t, "idle"), "publish_ms", "p99")) for t in TRANSPORTS], 10.0, absolute=True)
held = [(t, get(find("pushwire", t, "idle"), "established")) for t in TRANSPORTS]
add(f"| idle subscribers held by one process: {IDLE_TARGET} per transport | "
    + ", ".join(f"{t} {h}" for t, h in held) + f" | {'yes' if all(h == IDLE_TARGET for _, h in held) else 'no'} |")
lost = sum(r.get("lost", 0) + r.get("duplicates", 0) for r in runs if r["target"] == "pushwire")
delivered = sum(r.get("received", 0) for r in runs if r["target"] == "pushwire")
add(f"| messages lost or repeated: 0 | {lost} of {delivered:,} pushwire deliveries | {'yes' if lost == 0 else 'no'} |")
add("")
errors = [f"- {r['target']} {r['transport']} {r['label']}: {r['error']}" for r in runs if r.get("error")]
if errors:
    add("## Errors reported by the generator")
    add("")
    lines.extend(errors)
    add("")
add("![server CPU per delivery](../bench/results/cpu.svg)")
add("")
add("![p99 latency at 100 msg/s](../bench/results/latency.svg)")
add("")
add("Raw results: `bench/results/latest.json` (`python3 bench/report.py bench/results/latest.jsonl bench/results "
    "docs/benchmarks.md KNOBS` re-renders this page). Ratios are pushwire ÷ Nchan from the same run (lower is better).")
notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")
if os.path.exists(notes):
    add("")
    lines.extend(open(notes).read().rstrip("\n").split("\n"))


def bars(title, unit, label, key_path, path):
    width, height, left, top, bottom = 640, 300, 60, 40, 40
    values = [(t, get(find("pushwire", t, label), *key_path), get(find("nchan", t, label), *key_path)) for t in TRANSPORTS]
    peak = max([v for _, a, b in values for v in (a, b) if v] or [1])
    group = (width - left - 20) / len(values)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width/2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
           f'<text x="12" y="{top - 8}" fill="#555">{unit}</text>']
    for i, (t, a, b) in enumerate(values):
        x = left + i * group
        for j, (v, color, name) in enumerate(((a, "#5b6cf0", "pushwire"), (b, "#e8833a", "nchan"))):
            if v is None:
                continue
            h = (height - top - bottom) * v / peak
            bx = x + 10 + j * (group / 2 - 10)
            svg.append(f'<rect x="{bx:.1f}" y="{height - bottom - h:.1f}" width="{group/2 - 14:.1f}" height="{h:.1f}" fill="{color}"/>')
            svg.append(f'<text x="{bx + (group/2 - 14)/2:.1f}" y="{height - bottom - h - 4:.1f}" text-anchor="middle">{v:.2f}</text>')
        svg.append(f'<text x="{x + group/2:.1f}" y="{height - 18}" text-anchor="middle">{t}</text>')
    svg.append(f'<rect x="{width-170}" y="30" width="12" height="12" fill="#5b6cf0"/><text x="{width-152}" y="41">pushwire</text>')
    svg.append(f'<rect x="{width-90}" y="30" width="12" height="12" fill="#e8833a"/><text x="{width-72}" y="41">Nchan</text>')
    svg.append("</svg>")
    open(path, "w").write("\n".join(svg))


bars("Server CPU per delivery, as fast as accepted (lower is better)", "µs", "throughput",
     ("server_cpu_us_per_delivery",), os.path.join(results_dir, "cpu.svg"))
bars("p99 publish-to-receipt latency at 100 msg/s (lower is better)", "ms", "latency",
     ("latency_ms", "p99"), os.path.join(results_dir, "latency.svg"))
json.dump({"generated": now, "knobs": knobs, "meta": meta, "results": rows, "runs": runs}, open(os.path.join(results_dir, "latest.json"), "w"), indent=1)
open(markdown_path, "w").write("\n".join(lines) + "\n")
