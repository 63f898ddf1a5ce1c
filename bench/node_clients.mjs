// Fan-out with subscribers no one here wrote: Node's `ws` library (WebSocket) or Node's own
// http/https client reading an event stream (SSE), the way a Node backend or test rig would
// subscribe, in plaintext or over TLS (--tls: wss:// and https://, the server's certificate
// not checked). Same measurement as pushwire-bench's fanout scenario (server CPU per delivery
// from /proc, latency, loss), one JSON line on stdout.
//
// Why a second client: a server's cost per delivery depends on how its readers read. ws
// reads each socket when libuv reports it readable, one read per wake-up and socket,
// where pushwire-bench batches the reads of a wake-up in one io_uring submission.
//
//   node bench/node_clients.mjs --target pushwire|nchan --port P [--ws-port W] --pid PID...
//        [--transport websocket|sse] [--tls] [--subscribers 1000] [--messages 300] [--rate 20]
//        [--bytes 100] [--warmup 20] [--channel C]
import http from 'node:http';
import https from 'node:https';
import { readdirSync, readFileSync } from 'node:fs';
import WebSocket from 'ws';

const args = { target: 'pushwire', port: 8080, wsPort: 0, pids: [], subscribers: 1000, messages: 300, rate: 20,
  bytes: 100, warmup: 20, channel: 'nodews', transport: 'websocket', tls: false };
for (let i = 2; i < process.argv.length; i += 2) {
  const [name, value] = [process.argv[i], process.argv[i + 1]];
  if (name === '--tls') { args.tls = true; i--; continue; }
  switch (name) {
    case '--transport':
      if (value !== 'websocket' && value !== 'sse') { console.error(`node_clients: bad transport ${value}`); process.exit(2); }
      args.transport = value; break;
    case '--target': args.target = value; break;
    case '--port': args.port = Number(value); break;
    case '--ws-port': args.wsPort = Number(value); break;
    case '--pid': args.pids.push(Number(value)); break;
    case '--subscribers': args.subscribers = Number(value); break;
    case '--messages': args.messages = Number(value); break;
    case '--rate': args.rate = Number(value); break;
    case '--bytes': args.bytes = Number(value); break;
    case '--warmup': args.warmup = Number(value); break;
    case '--channel': args.channel = value; break;
    default: console.error(`node_clients: unknown option ${name}`); process.exit(2);
  }
}
const pushwire = args.target === 'pushwire';
const host = '127.0.0.1';
const ticks = 100;  // USER_HZ: /proc's clock ticks per second

// The server's CPU time as pushwire-bench reads it: the scheduler's exact on-CPU ns of every
// thread (/proc/PID/task/TID/schedstat), clock ticks (utime + stime) where there is none.
function serverCpuUs() {
  let total = 0;
  for (const pid of args.pids) {
    // A thread whose schedstat cannot be read is skipped; the ticks only when no thread's
    // can (so both samples of a run use the same clock).
    let exact = null;
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {}
    for (const task of tasks) {
      try {
        const ns = Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
        if (Number.isFinite(ns)) exact = (exact ?? 0) + ns / 1000;
      } catch {}
    }
    if (exact !== null) {
      total += exact;
      continue;
    }
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    total += ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticks;  // utime, stime
  }
  return total;
}
const nowNs = () => process.hrtime.bigint();
const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0);

// ---------------------------------------------------------------- subscribers
const wsScheme = args.tls ? 'wss' : 'ws';
const url = pushwire ? `${wsScheme}://${host}:${args.wsPort || args.port}/pushwire/ws?channel=${args.channel}`
  : `${wsScheme}://${host}:${args.port}/sub/${args.channel}`;
const web = args.tls ? https : http;
const tlsOptions = args.tls ? { rejectUnauthorized: false } : {};
const seen = [];          // per subscriber: the highest message index received
let received = 0;
let duplicates = 0;
let failed = 0;
let measuring = false;
let measuredReceived = 0;
const latencies = [];
const expectedFrom = { index: 0 };

function onData(who, text) {
  // pushwire: {"type":"message",...,"data":{"i":N,"t":T,...}}; Nchan: the published body.
  const found = /"i":(\d+),"t":(\d+)/.exec(text);
  if (!found) return;
  const body = { i: Number(found[1]), t: found[2] };
  const index = body.i;
  if (index <= seen[who]) { duplicates++; return; }
  seen[who] = index;
  received++;
  if (measuring && index >= expectedFrom.index) {
    measuredReceived++;
    latencies.push(Number(nowNs() - BigInt(body.t)) / 1e6);
  }
}

function openWebSocket(who, done, sockets) {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...tlsOptions });
  ws.on('message', (data) => {
    const text = data.toString();
    if (pushwire && text.includes('"type":"subscribed"')) done(true);
    else onData(who, text);
  });
  ws.on('open', () => { if (!pushwire) done(true); });
  ws.on('error', () => done(false));
  ws.on('close', () => done(false));
  sockets.push({ close: () => ws.terminate() });
}

// An event stream read as it arrives: events end with a blank line; a chunk may end inside one.
function openEventStream(who, done, sockets) {
  const path = pushwire ? `/pushwire/sse?channel=${args.channel}` : `/sub/${args.channel}`;
  const req = web.get({ host, port: args.port, path, headers: { Accept: 'text/event-stream' }, agent: false, ...tlsOptions },
    (res) => {
      if (res.statusCode !== 200) { res.resume(); done(false); return; }
      if (!pushwire) done(true);
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (chunk) => {
        pending += chunk;
        let end;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const event = pending.slice(0, end);
          pending = pending.slice(end + 2);
          if (pushwire && event.includes('event: welcome')) done(true);
          else onData(who, event);
        }
      });
      res.on('close', () => done(false));
    });
  req.on('error', () => done(false));
  sockets.push({ close: () => req.destroy() });
}

async function connectAll() {
  const sockets = [];
  const open = (who) => new Promise((resolve) => {
    seen[who] = -1;
    let settled = false;
    const done = (ok) => { if (!settled) { settled = true; if (!ok) failed++; resolve(); } };
    if (args.transport === 'sse') openEventStream(who, done, sockets);
    else openWebSocket(who, done, sockets);
  });
  for (let i = 0; i < args.subscribers; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, args.subscribers - i) }, (_, k) => open(i + k)));
  }
  return sockets;
}

// ---------------------------------------------------------------- publisher
// One connection: publishes are stored in the order they are sent. Over several, a publish
// answered late (a loaded machine) let the next one overtake it, which the subscribers
// counted as one lost and one repeated message.
const agent = new web.Agent({ keepAlive: true, maxSockets: 1, ...tlsOptions });
let publishErrors = 0;
function publish(index) {
  const stamp = nowNs().toString();
  const pad = Math.max(0, args.bytes - `{"i":${index},"t":${stamp},"p":""}`.length);
  const payload = `{"i":${index},"t":${stamp},"p":"${'x'.repeat(pad)}"}`;
  const body = pushwire ? `{"channel":"${args.channel}","data":${payload}}` : payload;
  const path = pushwire ? '/pushwire/publish' : `/pub/${args.channel}`;
  return new Promise((resolve) => {
    const req = web.request({ host, port: args.port, path, method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => { if (res.statusCode >= 300) publishErrors++; resolve(); });
    });
    req.on('error', () => { publishErrors++; resolve(); });
    req.end(body);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(count, ms) {
  const deadline = Date.now() + ms;
  while (received < count && Date.now() < deadline) await sleep(10);
}

const connectStart = Date.now();
const sockets = await connectAll();
const connectS = (Date.now() - connectStart) / 1000;
const live = args.subscribers - failed;

for (let i = 0; i < args.warmup; i++) await publish(i);
await waitFor(live * args.warmup, 10000);

measuring = true;
expectedFrom.index = args.warmup;
const cpuBefore = serverCpuUs();
const selfBefore = process.cpuUsage();
const started = Date.now();
const pending = [];
for (let k = 0; k < args.messages; k++) {
  const due = started + (k * 1000) / args.rate;
  const wait = due - Date.now();
  if (wait > 0) await sleep(wait);
  pending.push(publish(args.warmup + k));
}
await Promise.all(pending);
const publishSeconds = (Date.now() - started) / 1000;
await waitFor(live * (args.warmup + args.messages), 15000);
const cpuAfter = serverCpuUs();
const self = process.cpuUsage(selfBefore);
const deliveries = measuredReceived || 1;
latencies.sort((a, b) => a - b);
const expected = live * (args.warmup + args.messages);
const out = {
  scenario: 'fanout', target: args.target, transport: args.transport,
  client: args.transport === 'sse' ? 'node-http' : 'node-ws', tls: args.tls, subscribers: args.subscribers,
  messages: args.messages, bytes: args.bytes, rate: args.rate, warmup: args.warmup, expected, received,
  lost: Math.max(0, expected - received), duplicates, failed_subscribers: failed, connect_s: connectS,
  deliveries_per_s: measuredReceived / Math.max(publishSeconds, 0.001),
  server_cpu_us_per_delivery: Number(((cpuAfter - cpuBefore) / deliveries).toFixed(2)),
  bench_cpu_us_per_delivery: Number(((self.user + self.system) / deliveries).toFixed(2)),
  latency_ms: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies[latencies.length - 1] || 0 },
  publish_rate: args.messages / Math.max(publishSeconds, 0.001), publish_errors: publishErrors, error: '',
};
process.stdout.write(JSON.stringify(out) + '\n');
console.error(`node ${args.transport}${args.tls ? ' tls' : ''} ${args.target}: ${received}/${expected} delivered, server ${out.server_cpu_us_per_delivery} µs/delivery, p99 ${out.latency_ms.p99.toFixed(2)} ms`);
for (const socket of sockets) socket.close();
agent.destroy();
process.exit(0);
