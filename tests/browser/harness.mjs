// Browser test harness: the real pushwire-server (from dist/) on free loopback ports,
// and Debian's headless chromium driven by playwright-core.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DIST = process.env.PUSHWIRE_DIST || path.resolve(here, '../../dist');
export const TRANSPORTS = ['websocket', 'sse', 'longpoll', 'poll'];

// Servers this process started die with it, even when a test is cut short.
const children = new Set();
process.on('exit', () => { for (const child of children) child.kill('SIGKILL'); });
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

// ports: { port, wsPort } to pin them (a restart on the same ports); default: free ones.
export async function startServer(args = [], ports = { port: 0 }) {
  const bin = path.join(DIST, 'bin/pushwire-server');
  if (!existsSync(bin)) throw new Error(`${bin} missing: run ./build.sh build first`);
  // One port, as the server runs by default; a second WebSocket port only when pinned.
  const portArgs = ['--port', String(ports.port)];
  if (ports.wsPort !== undefined) portArgs.push('--ws-port', String(ports.wsPort));
  const child = track(spawn(bin, [...portArgs, '--web-root', path.join(DIST, 'web'), ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] }));
  const line = await new Promise((resolve, reject) => {
    let out = '';
    // 30 s: a guard against a server that never starts; a loaded CI machine took over 5 s.
    const timer = setTimeout(() => reject(new Error('server did not start: ' + out)), 30000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) { clearTimeout(timer); resolve(out); }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  // No ws:// URL when WebSocket is off (--transports): its port is the HTTP port.
  const m = /(https?):\/\/[^:/]+:(\d+)(?:.*?wss?:\/\/[^:/]+:(\d+))?/.exec(line);
  const server = {
    httpPort: Number(m[2]),
    wsPort: Number(m[3] ?? m[2]),
    url: `${m[1]}://127.0.0.1:${m[2]}`,
    child,
    // SIGTERM and wait. Throws when the server did not exit with status 0 (a crash, at
    // shutdown or before): the test that owns it fails. A SIGKILL the test sent is not
    // counted; stopping a stopped server is fine.
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (child.signalCode === 'SIGKILL' || child.exitCode === 0) return;
      throw new Error(`pushwire-server (${m[1]}://127.0.0.1:${m[2]}) ended with ${child.signalCode ?? `status ${child.exitCode}`}`);
    },
  };
  return server;
}

export async function publish(server, channel, data, headers = {}) {
  const res = await fetch(`${server.url}/pushwire/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ channel, data }),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`publish failed: ${JSON.stringify(body)}`);
  return body.seq;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

// A page on the server's origin with pushwire.js loaded; console errors are collected.
export async function openPage(browser, server, pathName = '/pushwire/healthz') {
  const page = await browser.newPage();
  page.errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') page.errors.push(msg.text()); });
  page.on('pageerror', (err) => page.errors.push(String(err)));
  await page.goto(server.url + pathName);
  if (pathName === '/pushwire/healthz') {
    await page.addScriptTag({ url: '/pushwire.js' });
    await page.evaluate(async () => { window.PushWire = await createPushWire(); });
  }
  return page;
}

// Metrics of a server, parsed: { 'pushwire_connections{transport="sse"}': 1, ... }.
export async function metrics(server) {
  const text = await (await fetch(`${server.url}/pushwire/metrics`)).text();
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

export async function waitFor(fn, { timeout = 15000, interval = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

// A real redis-server on a free port in a temporary directory, stopped by stop().
export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pushwire-redis-'));
  const child = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'], { stdio: 'ignore' }));
  for (let i = 0; i < 1200; i++) {  // up to 30 s
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    // SIGSTOP / SIGCONT: a Redis that holds its connections open and answers nothing.
    pause() { child.kill('SIGSTOP'); },
    resume() { child.kill('SIGCONT'); },
    async stop() {
      child.kill('SIGCONT');
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Waits until the server's health is 200 (its broker connected).
export async function healthy(server) {
  await waitFor(async () => {
    try { return (await fetch(`${server.url}/pushwire/healthz`)).status === 200; } catch { return false; }
  }, { what: `${server.url} healthy` });
}

// A CA and a certificate for 127.0.0.1 signed by it, made with the openssl command.
export function makeCertificates(dir) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.pem', '-days', '2', '-subj', '/CN=pushwire test CA');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key',
    '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  const spki = execFileSync('sh', ['-c',
    'openssl x509 -in server.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64'],
  { cwd: dir }).toString().trim();
  return { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key'), ca: readFileSync(path.join(dir, 'ca.pem')), spki };
}

// redis-cli against a port; its output ('' when it fails).
export function redisCli(port, ...args) {
  try {
    return execFileSync('redis-cli', ['-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString();
  } catch { return ''; }
}

// The Redis Cluster slot of a channel's keys (CRC16/XMODEM of the hash tag: the channel).
export function clusterSlot(channel) {
  let crc = 0;
  for (const byte of Buffer.from(channel)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

// A real Redis Cluster (as tests/support/redis_cluster.cpp makes it): `masters` masters with
// `replicas` replicas each, every node a redis-server on free ports in a temporary directory,
// joined by `redis-cli --cluster create`; ready once every node says cluster_state:ok and
// every replica's link to its master is up (a replica that never synced is not promoted).
export async function startRedisCluster({ masters = 3, replicas = 1 } = {}) {
  const nodes = [];
  for (let i = 0; i < masters * (1 + replicas); i++) {
    const port = await freePort();
    const busPort = await freePort();  // not port + 10000, which may pass 65535
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pushwire-cluster-'));
    const child = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no', '--cluster-enabled', 'yes',
      '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000',
      '--cluster-require-full-coverage', 'no', '--cluster-port', String(busPort),
      '--repl-diskless-sync-delay', '0'], { stdio: 'ignore' }));
    nodes.push({ port, dir, child });
  }
  await waitFor(() => nodes.every((n) => redisCli(n.port, 'PING').startsWith('PONG')), { what: 'cluster nodes up' });
  execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`),
    '--cluster-replicas', String(replicas), '--cluster-yes'], { stdio: 'ignore', timeout: 30000 });
  const running = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  const isMaster = (n) => redisCli(n.port, 'ROLE').startsWith('master');
  const cluster = {
    url: `redis+cluster://127.0.0.1:${nodes[0].port},127.0.0.1:${nodes[1].port}`,
    nodes,
    masters: () => running().filter(isMaster),
    // The master that owns `slot` now, by its own CLUSTER SLOTS (start, end, host, port per line).
    masterOf(slot) {
      for (const node of cluster.masters()) {
        const lines = redisCli(node.port, 'CLUSTER', 'SLOTS').split('\n');
        for (let i = 0; i + 3 < lines.length; i++) {
          if (lines[i + 2] === '127.0.0.1' && Number(lines[i + 3]) === node.port &&
              Number(lines[i]) <= slot && slot <= Number(lines[i + 1]) && /^\d+$/.test(lines[i])) return node;
        }
      }
      return null;
    },
    healthy() {
      return running().every((n) => redisCli(n.port, 'CLUSTER', 'INFO').includes('cluster_state:ok') &&
        (isMaster(n) || redisCli(n.port, 'INFO', 'replication').includes('master_link_status:up')));
    },
    async stop() {
      for (const n of nodes) {
        if (n.child.exitCode === null && n.child.signalCode === null) {
          const exited = new Promise((r) => n.child.once('exit', r));
          n.child.kill('SIGKILL');
          await exited;
        }
        rmSync(n.dir, { recursive: true, force: true });
      }
    },
  };
  await waitFor(() => cluster.healthy(), { timeout: 30000, interval: 100, what: 'the Redis Cluster ok' });
  return cluster;
}
