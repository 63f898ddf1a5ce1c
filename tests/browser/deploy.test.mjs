// deploy/nginx/pushwire.conf as shipped, run by Debian's nginx in front of pushwire: TLS
// ends at nginx, one port, and the SDK in Chromium receives every message on every
// transport through it. Only what a real install would change is replaced: the port, the
// certificate and the upstream address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer, openPage, waitFor, freePort, makeCertificates, TRANSPORTS } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SITE = path.resolve(here, '../../deploy/nginx/pushwire.conf');
const dir = mkdtempSync(path.join(os.tmpdir(), 'pushwire-deploy-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let certs, pushwire, nginx, nginxPort, browser;

function replaceOnce(text, from, to) {
  assert.ok(text.includes(from), `deploy/nginx/pushwire.conf no longer has "${from}"`);
  return text.replace(from, to);
}

async function portOpen(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

function request(pathName, { method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(`https://127.0.0.1:${nginxPort}${pathName}`, {
      method, ca: certs.ca, headers: body ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {},
    }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

before(async () => {
  certs = makeCertificates(dir);
  pushwire = await startServer(['--trust-proxy', '127.0.0.1', '--heartbeat-ms', '1000']);
  nginxPort = await freePort();
  let site = readFileSync(SITE, 'utf8');
  site = replaceOnce(site, 'listen 443 ssl;', `listen 127.0.0.1:${nginxPort} ssl;`);
  site = replaceOnce(site, 'server 127.0.0.1:8080;', `server 127.0.0.1:${pushwire.httpPort};`);
  site = replaceOnce(site, '/etc/letsencrypt/live/push.example.com/fullchain.pem', certs.cert);
  site = replaceOnce(site, '/etc/letsencrypt/live/push.example.com/privkey.pem', certs.key);
  writeFileSync(path.join(dir, 'site.conf'), site);
  mkdirSync(path.join(dir, 'logs'));
  // What Debian's /etc/nginx/nginx.conf provides around a site, in a temp prefix.
  writeFileSync(path.join(dir, 'nginx.conf'), `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`);
  nginx = spawn('nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir, '-e', path.join(dir, 'logs/error.log')],
    { stdio: ['ignore', 'inherit', 'inherit'] });
  for (let i = 0; i < 200 && !(await portOpen(nginxPort)); i++) await sleep(25);
  assert.ok(await portOpen(nginxPort), 'nginx did not start (see its error log above)');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', `--ignore-certificate-errors-spki-list=${certs.spki}`],
  });
});

after(async () => {
  await browser?.close();
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx.once('exit', r));
    nginx.kill('SIGQUIT');
    await exited;
  }
  await pushwire?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('negotiate through nginx announces the proxy\'s wss:// URL on its one port', async () => {
  const res = await request('/pushwire/negotiate');
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(res.body).websocket_url, `wss://127.0.0.1:${nginxPort}/pushwire/ws`);
});

for (const transport of TRANSPORTS) {
  test(`${transport} through nginx with TLS: every message once, in order`, async () => {
    const page = await openPage(browser, { url: `https://127.0.0.1:${nginxPort}` });
    const channel = `deploy-${transport}`;
    try {
      await page.evaluate(({ transport, channel }) => {
        window.got = [];
        window.client = new PushWire.Client(location.origin, { transport, pollIntervalMs: 100 });
        window.client.subscribe(channel, (m) => window.got.push(m.seq), { since: '0' });
      }, { transport, channel });
      await waitFor(() => page.evaluate(() => window.client.state === 'connected'), { what: `${transport} connected` });
      for (let i = 1; i <= 20; i++) {
        const res = await request('/pushwire/publish', { method: 'POST', body: JSON.stringify({ channel, data: { i } }) });
        assert.equal(res.status, 200, res.body);
      }
      await waitFor(() => page.evaluate(() => window.got.length >= 20), { what: `${transport} messages` });
      await sleep(200);
      const result = await page.evaluate(() => ({ got: window.got, transport: window.client.transport }));
      assert.deepEqual(result.got, Array.from({ length: 20 }, (_, k) => k + 1));
      assert.equal(result.transport, transport);
      assert.deepEqual(page.errors, []);
    } finally {
      await page.evaluate(() => window.client?.close()).catch(() => {});
      await page.close();
    }
  });
}
