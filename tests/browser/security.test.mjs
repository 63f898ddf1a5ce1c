// Security from a real browser: tokens that expire while the page reads (getToken gets
// new ones, nothing is lost), a channel outside the token's rights refused to that
// subscription alone, pages of allowed and other origins, and every transport over
// HTTPS/WSS with a certificate from a CA the test makes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { startServer, publish, launchBrowser, openPage, waitFor, makeCertificates, metrics, TRANSPORTS } from './harness.mjs';
import { chromium } from 'playwright-core';

const only = process.env.PUSHWIRE_TRANSPORT;
const transports = only ? [only] : TRANSPORTS;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const SECRET = 'browser-secret-0123456789abcdef0123';
const API_KEY = 'browser-api-key-0123456789';
const dir = mkdtempSync(path.join(os.tmpdir(), 'pushwire-security-'));
writeFileSync(path.join(dir, 'secret'), SECRET + '\n');
writeFileSync(path.join(dir, 'api-key'), API_KEY + '\n');
const secured = ['--token-secret-file', path.join(dir, 'secret'), '--api-key-file', path.join(dir, 'api-key'),
  '--heartbeat-ms', '1000'];
const backend = { Authorization: `ApiKey ${API_KEY}` };

const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
function mint(claims) {
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); rmSync(dir, { recursive: true, force: true }); });

for (const transport of transports) {
  test(`${transport}: tokens that expire every 3 s are replaced by getToken; every message arrives once, in order`, async () => {
    const server = await startServer(secured);
    const page = await openPage(browser, server);
    let minted = 0;
    await page.exposeFunction('mintToken', () => {
      minted++;
      return mint({ sub: 'alice', exp: now() + 3, subscribe: ['chat:*'] });
    });
    try {
      await page.evaluate(({ transport }) => {
        window.got = [];
        window.gaps = [];
        window.errors = [];
        window.client = new PushWire.Client(location.origin, {
          transport, pollIntervalMs: 100, reconnectInitialMs: 100, getToken: () => window.mintToken(),
        });
        window.sub = window.client.subscribe('chat:a', (m) => window.got.push(m.seq),
          { onGap: (g) => window.gaps.push(g), onError: (e) => window.errors.push(e.code) });
      }, { transport });
      await waitFor(() => page.evaluate(() => window.client.state === 'connected' && window.sub.position !== ''),
        { what: 'connected, position known' });
      const total = 140;  // about 8 s: the token is replaced at least twice
      for (let i = 1; i <= total; i++) {
        assert.equal(await publish(server, 'chat:a', { i }, backend), i);
        await sleep(50);
      }
      await waitFor(() => page.evaluate((n) => window.got.length >= n, total), { what: 'every message', timeout: 20000 });
      // One more: anything repeated would have come before it.
      assert.equal(await publish(server, 'chat:a', { i: total + 1 }, backend), total + 1);
      await waitFor(() => page.evaluate((n) => window.got.length >= n, total + 1), { what: 'the last message' });
      const result = await page.evaluate(() => ({ got: window.got, gaps: window.gaps, errors: window.errors }));
      assert.deepEqual(result.got, Array.from({ length: total + 1 }, (_, k) => k + 1));
      assert.deepEqual(result.gaps, []);
      assert.deepEqual(result.errors, []);
      assert.ok(minted >= 3, `getToken was called ${minted} times`);
    } finally {
      await page.evaluate(() => window.client?.close()).catch(() => {});
      await page.close();
      await server.stop();
    }
  });

  test(`${transport}: a channel outside the token's rights is refused to its subscription alone`, async () => {
    const server = await startServer(secured);
    const page = await openPage(browser, server);
    await page.exposeFunction('mintToken', () => mint({ sub: 'alice', exp: now() + 600, subscribe: ['chat:*'] }));
    try {
      await page.evaluate(({ transport }) => {
        window.got = [];
        window.refused = [];
        window.client = new PushWire.Client(location.origin, {
          transport, pollIntervalMs: 100, getToken: () => window.mintToken(),
        });
        window.chat = window.client.subscribe('chat:a', (m) => window.got.push(m.seq));
        window.bob = window.client.subscribe('user:bob', () => window.got.push('bob'),
          { onError: (e) => window.refused.push(e.code) });
      }, { transport });
      await waitFor(() => page.evaluate(() => window.refused.length === 1 && window.chat.position !== ''),
        { what: 'the refusal, and chat:a in place' });
      for (let i = 1; i <= 5; i++) {
        await publish(server, 'user:bob', i, backend);
        await publish(server, 'chat:a', i, backend);
      }
      // chat:a's last message comes after every user:bob message the page could have got.
      await waitFor(() => page.evaluate(() => window.got.length >= 5), { what: 'chat:a' });
      const result = await page.evaluate(() => ({ got: window.got, refused: window.refused }));
      assert.deepEqual(result.got, [1, 2, 3, 4, 5]);
      assert.deepEqual(result.refused, ['forbidden']);
    } finally {
      await page.evaluate(() => window.client?.close()).catch(() => {});
      await page.close();
      await server.stop();
    }
  });
}

// A page served by a plain static server on its own port: its own origin.
async function originServer() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>origin</title>');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

test('origins: a page of an allowed origin opens the WebSocket and reads a poll (with and without credentials); another page can do neither, and reads why', async () => {
  const good = await originServer();
  const evil = await originServer();
  const server = await startServer(['--allowed-origins', good.url]);
  const attempt = async (origin) => {
    const page = await browser.newPage();
    page.consoleErrors = [];
    page.on('console', (msg) => { if (msg.type() === 'error') page.consoleErrors.push(msg.text()); });
    attempt.page = page;
    try {
      await page.goto(origin.url);
      return await page.evaluate(async ({ api, ws }) => {
        const out = {};
        out.ws = await new Promise((resolve) => {
          const socket = new WebSocket(`${ws}/pushwire/ws`);
          socket.onopen = () => { socket.close(); resolve('open'); };
          socket.onerror = () => resolve('refused');
        });
        for (const credentials of ['omit', 'include']) {
          try {
            const res = await fetch(`${api}/pushwire/poll?channel=x`, { credentials });
            const body = await res.json();
            out[credentials] = body.cursor ? 'read' : `${res.status} ${body.error?.code}`;
          } catch (e) {
            out[credentials] = 'blocked';
          }
        }
        return out;
      }, { api: server.url, ws: `ws://127.0.0.1:${server.wsPort}` });
    } finally {
      await page.close();
    }
  };
  const counted = async () => {
    const m = await metrics(server);
    return { forbidden: m.pushwire_forbidden_total, polls: m['pushwire_requests_total{transport="poll"}'] };
  };
  try {
    let before = await counted();
    assert.deepEqual(await attempt(good), { ws: 'open', omit: 'read', include: 'read' });
    assert.deepEqual(await counted(), { forbidden: before.forbidden, polls: before.polls + 2 });
    before = await counted();
    // Refused by the server, which the page may read (not a CORS failure that looks like a
    // dead server): the upgrade and both polls were answered 403 origin_not_allowed...
    assert.deepEqual(await attempt(evil),
      { ws: 'refused', omit: '403 origin_not_allowed', include: '403 origin_not_allowed' });
    assert.deepEqual(await counted(), { forbidden: before.forbidden + 3, polls: before.polls });
    // ...and the browser says so too.
    const errors = attempt.page.consoleErrors.join('\n');
    assert.match(errors, /Unexpected response code: 403/);
    assert.doesNotMatch(errors, /blocked by CORS policy/);
  } finally {
    await server.stop();
    await good.close();
    await evil.close();
  }
});

function publishTls(server, ca, channel, data) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ channel, data });
    const req = https.request(`${server.url}/pushwire/publish`, { method: 'POST', ca,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text).seq) : reject(new Error(text))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('TLS: every transport over HTTPS and WSS from Chromium, with a certificate of a test CA', async () => {
  const certs = makeCertificates(dir);
  const server = await startServer(['--tls-cert', certs.cert, '--tls-key', certs.key, '--heartbeat-ms', '1000']);
  assert.ok(server.url.startsWith('https://'));
  // The browser trusts the server's key (the CA is not in its store: no NSS tools here).
  const tlsBrowser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', `--ignore-certificate-errors-spki-list=${certs.spki}`],
  });
  try {
    for (const transport of TRANSPORTS) {
      const page = await openPage(tlsBrowser, server);
      try {
        const channel = `tls-${transport}`;
        await page.evaluate(({ transport, channel }) => {
          window.got = [];
          window.client = new PushWire.Client(location.origin, { transport, pollIntervalMs: 100 });
          window.sub = window.client.subscribe(channel, (m) => window.got.push(m.seq));
        }, { transport, channel });
        await waitFor(() => page.evaluate(() => window.client.state === 'connected' && window.sub.position !== ''),
          { what: `${transport} connected` });
        for (let i = 1; i <= 20; i++) await publishTls(server, certs.ca, channel, { i });
        await waitFor(() => page.evaluate(() => window.got.length >= 20), { what: `${transport} messages` });
        const result = await page.evaluate(() => ({ got: window.got, transport: window.client.transport }));
        assert.deepEqual(result.got, Array.from({ length: 20 }, (_, k) => k + 1));
        assert.equal(result.transport, transport);
      } finally {
        await page.evaluate(() => window.client?.close()).catch(() => {});
        await page.close();
      }
    }
  } finally {
    await tlsBrowser.close();
    await server.stop();
  }
});
