// Presence under floods and bursts (issue 22; the numbers in docs/scaling.md, "Presence
// under bursts"). Starts its own servers (and redis-server) on free loopback ports.
//
//   node bench/presence_floods.mjs SERVER_BINARY SCENARIO [seconds]
//
// Scenarios (a bystander on an unrelated, non-presence channel is measured in each: a
// message published every 20 ms, latency from the publish request to its delivery on a
// WebSocket, in a process of its own):
//   memory-none   memory broker, no presence: 600 WebSockets subscribing and unsubscribing
//                 100 channels p:0..p:99 in a loop (the flood without presence's cost)
//   memory        the same with --presence 'p:*'
//   memory-jl     the same with --presence 'p:*' --join-leave 'p:*'
//   redis         two nodes on one redis-server, presence and join/leave on p:*: the flood
//                 on node A, the bystander on node B
//   burst         two nodes on Redis: 500 WebSockets x 20 presence channels (join/leave on)
//                 close on node A while 500 others join on node B; then: time until Redis
//                 and both nodes hold exactly the 500 of B, broker errors, the slowest
//                 Redis commands (SLOWLOG), Redis script calls
import { spawn, fork } from 'node:child_process';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer(binary, args) {
  const child = spawn(binary, ['--port', '0', '--max-connections-per-ip', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  child.stderr.on('data', (d) => logs.push(d.toString()));
  const port = await new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (d) => {
      logs.push(d.toString());
      text += d.toString();
      const m = /http:\/\/[^:]+:(\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error('server exited: ' + logs.join(''))));
  });
  child.stdout.resume();
  return { child, port, logs, url: `http://127.0.0.1:${port}` };
}

async function metric(server, name) {
  const text = await (await fetch(server.url + '/pushwire/metrics')).text();
  const m = new RegExp('^' + name + ' ([0-9.e+-]+)$', 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no',
    '--slowlog-log-slower-than', '5000'], { stdio: 'ignore' });
  for (let i = 0; i < 100; ++i) {
    await sleep(50);
    try {
      await redisCli(port, ['PING']);
      return { child, port, url: `redis://127.0.0.1:${port}` };
    } catch {}
  }
  throw new Error('redis-server did not start');
}

function redisCli(port, args) {
  return new Promise((resolve, reject) => {
    const c = spawn('redis-cli', ['-p', String(port), ...args]);
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error('redis-cli ' + code))));
  });
}

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('error', reject);
    ws.on('message', function first(data) {
      if (data.toString().includes('"welcome"')) {
        ws.off('message', first);
        resolve(ws);
      }
    });
  });
}

// One connection's loop: subscribe the channels, wait for the answer, unsubscribe, wait, again.
async function churn(url, channels, until) {
  let ws;
  try {
    ws = await open(url);
  } catch {
    return 0;
  }
  let id = 0;
  let cycles = 0;
  const answered = (want) =>
    new Promise((resolve) => {
      const on = (data) => {
        const text = data.toString();
        if (text.includes(`"id":${want}`) || text.includes('"type":"error"')) {
          ws.off('message', on);
          resolve();
        }
      };
      ws.on('message', on);
      ws.once('close', resolve);
      setTimeout(() => {
        ws.off('message', on);
        resolve();
      }, 1000);
    });
  while (performance.now() < until && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: 'subscribe', channels, id: ++id }));
    await answered(id);
    await sleep(50);
    ws.send(JSON.stringify({ type: 'unsubscribe', channels, id: ++id }));
    await answered(id);
    await sleep(50);
    ++cycles;
  }
  ws.close();
  return cycles;
}

// The bystander, in its own process: publish on node `pub`, receive on node `sub`.
async function bystander(pubUrl, subWsUrl, seconds) {
  const ws = await open(subWsUrl + '/pushwire/ws?channel=bystander');
  const sent = new Map();
  const latencies = [];
  ws.on('message', (data) => {
    const text = data.toString();
    const m = /"n":(\d+)/.exec(text);
    if (m && sent.has(Number(m[1]))) {
      latencies.push(performance.now() - sent.get(Number(m[1])));
      sent.delete(Number(m[1]));
    }
  });
  const until = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < until) {
    const k = ++n;
    sent.set(k, performance.now());
    fetch(pubUrl + '/pushwire/publish', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'bystander', data: { n: k } }),
    }).catch(() => {});
    await sleep(20);
  }
  await sleep(3000);
  ws.close();
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]?.toFixed(1);
  return { sent: n, received: latencies.length, p50: q(0.5), p99: q(0.99), max: latencies.at(-1)?.toFixed(1) };
}

function runBystander(pubUrl, subUrl, seconds) {
  return new Promise((resolve) => {
    const child = fork(new URL(import.meta.url).pathname, ['--bystander', pubUrl, subUrl.replace('http', 'ws'), seconds]);
    child.on('message', resolve);
  });
}

async function flood(server, seconds, connections = 600, channelCount = 100) {
  const channels = Array.from({ length: channelCount }, (_, i) => `p:${i}`);
  const until = performance.now() + seconds * 1000;
  const url = server.url.replace('http', 'ws') + '/pushwire/ws';
  const all = [];
  for (let i = 0; i < connections; ++i) {
    all.push(churn(`${url}?session=${randomBytes(16).toString('hex')}`, channels, until));
    if (i % 50 === 49) await sleep(10);
  }
  const cycles = (await Promise.all(all)).reduce((a, b) => a + b, 0);
  return { connections, channels: channelCount, cycles };
}

async function floodScenario(binary, seconds, args, twoNodes) {
  let redis = null;
  let a;
  let b;
  if (twoNodes) {
    redis = await startRedis();
    a = await startServer(binary, ['--broker', redis.url, ...args]);
    b = await startServer(binary, ['--broker', redis.url, ...args]);
  } else {
    a = await startServer(binary, args);
    b = a;
  }
  await sleep(500);
  const quiet = await runBystander(b.url, b.url, 3);
  const [during, flooded] = await Promise.all([runBystander(b.url, b.url, seconds), flood(a, seconds)]);
  const result = { args: args.join(' '), quiet, during, flood: flooded };
  if (twoNodes) result.brokerErrors = { a: await metric(a, 'pushwire_broker_errors_total'), b: await metric(b, 'pushwire_broker_errors_total') };
  for (const s of new Set([a, b])) s.child.kill('SIGTERM');
  if (redis) redis.child.kill('SIGTERM');
  return result;
}

async function members(server, channel) {
  const r = await fetch(`${server.url}/pushwire/presence?channel=${channel}`);
  const body = await r.json();
  return new Set((body.members || []).map((m) => m.client));
}

async function burst(binary, clients = Number(process.env.BURST_CLIENTS || 500)) {
  const redis = await startRedis();
  const args = ['--broker', redis.url, '--broker-prefix', 'pb', '--presence', 'p:*', '--join-leave', 'p:*',
    '--presence-ttl', '30', '--presence-grace-ms', '0', '--max-presence-members', '2000'];
  const a = await startServer(binary, args);
  const b = await startServer(binary, args);
  const channels = Array.from({ length: 20 }, (_, i) => `p:${i}`);
  const q = `?channels=${channels.join(',')}`;
  const leaving = [];
  for (let i = 0; i < clients; ++i) leaving.push(open(a.url.replace('http', 'ws') + '/pushwire/ws' + q));
  const onA = await Promise.all(leaving);
  const closes = {};
  for (const ws of onA) ws.on('close', (code) => (closes['A' + code] = (closes['A' + code] || 0) + 1));
  // Everyone on A is a member everywhere before the burst.
  const setup = performance.now() + 120000;
  while (performance.now() < setup) {
    const n = Number((await redisCli(redis.port, ['HLEN', 'pb:{p:19}:pm'])).trim());
    if (n >= onA.filter((ws) => ws.readyState === WebSocket.OPEN).length) break;
    await sleep(200);
  }
  await redisCli(redis.port, ['CONFIG', 'RESETSTAT']);
  await redisCli(redis.port, ['SLOWLOG', 'RESET']);
  const errors0 = (await metric(a, 'pushwire_broker_errors_total')) + (await metric(b, 'pushwire_broker_errors_total'));
  const t0 = performance.now();
  for (const ws of onA) ws.close();
  const joining = [];
  for (let i = 0; i < clients; ++i) joining.push(open(b.url.replace('http', 'ws') + '/pushwire/ws' + q));
  const onB = await Promise.all(joining);
  for (const ws of onB) ws.on('close', (code) => (closes['B' + code] = (closes['B' + code] || 0) + 1));
  let exactAfter = null;
  let hlen = [];
  let want = clients;
  const deadline = performance.now() + Number(process.env.BURST_WAIT_S || 300) * 1000;
  while (performance.now() < deadline) {
    hlen = [];
    for (const c of channels) hlen.push(Number((await redisCli(redis.port, ['HLEN', `pb:{${c}}:pm`])).trim()));
    // The joined that are still connected (a client too slow to read its join/leave
    // frames may be closed by the server as a slow consumer: then it left).
    want = onB.filter((ws) => ws.readyState === WebSocket.OPEN).length;
    if (hlen.every((n) => n === want)) {
      const [ma, mb] = [await members(a, 'p:7'), await members(b, 'p:7')];
      if (ma.size === want && mb.size === want) {
        exactAfter = ((performance.now() - t0) / 1000).toFixed(2);
        break;
      }
    }
    await sleep(250);
  }
  const stats = await redisCli(redis.port, ['INFO', 'commandstats']);
  const calls = (cmd) => Number((new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats) || [0, 0])[1]);
  const slow = JSON.parse(await redisCli(redis.port, ['--json', 'SLOWLOG', 'GET', '1000']));
  const durations = slow.map((e) => e[2] / 1000);
  const slowest = slow.sort((x, y) => y[2] - x[2]).slice(0, 3).map((e) => `${e[2] / 1000} ms ${String(e[3][0])} ${String(e[3][1]).slice(0, 12)}`);
  const errors = (await metric(a, 'pushwire_broker_errors_total')) + (await metric(b, 'pushwire_broker_errors_total')) - errors0;
  const downLogged = a.logs.concat(b.logs).join('').includes('broker_down');
  const result = {
    clients, changes: clients * 20 * 2,
    exactAfterSeconds: exactAfter,
    membersPerChannelInRedis: [Math.min(...hlen), Math.max(...hlen)],
    joinedStillOpen: want,
    closedByServer: closes,
    redisBusiest: [...stats.matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)].sort((x, y) => y[3] - x[3]).slice(0, 5)
      .map((m) => `${m[1]} calls=${m[2]} ms=${(m[3] / 1000).toFixed(0)}`),
    evalshaCalls: calls('evalsha') + calls('eval'),
    slowlogOver5ms: durations.length,
    slowestMs: durations.length ? Math.max(...durations) : 0,
    brokerErrors: errors,
    brokerDownLogged: downLogged,
    slowest,
    storeFailures: (await metric(a, 'pushwire_presence_store_failures_total')) + (await metric(b, 'pushwire_presence_store_failures_total')),
    storeCalls: (await metric(a, 'pushwire_presence_store_calls_total')) + (await metric(b, 'pushwire_presence_store_calls_total')),
    warnings: a.logs.concat(b.logs).join('').split('\n').filter((l) => /warn|error/i.test(l) && !/OPEN/.test(l)).slice(0, 2),
  };
  for (const ws of onB) ws.close();
  a.child.kill('SIGTERM');
  b.child.kill('SIGTERM');
  redis.child.kill('SIGTERM');
  return result;
}

if (process.argv[2] === '--bystander') {
  const [pubUrl, subUrl, seconds] = process.argv.slice(3);
  process.send(await bystander(pubUrl, subUrl, Number(seconds)));
  process.exit(0);
} else {
  const [binary, scenario, secondsText] = process.argv.slice(2);
  const seconds = Number(secondsText || 10);
  let result;
  if (scenario === 'memory-none') result = await floodScenario(binary, seconds, [], false);
  else if (scenario === 'memory') result = await floodScenario(binary, seconds, ['--presence', 'p:*'], false);
  else if (scenario === 'memory-jl') result = await floodScenario(binary, seconds, ['--presence', 'p:*', '--join-leave', 'p:*'], false);
  else if (scenario === 'redis') result = await floodScenario(binary, seconds, ['--presence', 'p:*', '--join-leave', 'p:*', '--presence-grace-ms', '0'], true);
  else if (scenario === 'burst') result = await burst(binary);
  else throw new Error('unknown scenario ' + scenario);
  console.log(JSON.stringify({ scenario, ...result }));
  process.exit(0);
}
