// The backend's server API as a page sees it through the SDK (docs/api.md, docs/sdk.md),
// on a real server with an API key and tokens: `disconnect` stops the client (state
// closed, "disconnected by server") or, with reconnect, brings it back with nothing lost
// or repeated; `subscribe` adds a channel to client.onServerSubscribe / client.onMessage,
// resumed after a reconnect; `unsubscribe` ends the subscription for good; `revoke` is one
// onError token_revoked, then new tokens from getToken (a revoked one given again is
// refused with the backoff, without flapping). PUSHWIRE_TRANSPORT picks the transport
// (default: all four).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, publish, launchBrowser, openPage, waitFor, TRANSPORTS } from './harness.mjs';

const only = process.env.PUSHWIRE_TRANSPORT;
const transports = only ? [only] : TRANSPORTS;
const SECRET = 'server-api-secret-0123456789abcdef';
const API_KEY = 'server-api-key-0123456789';
const dir = mkdtempSync(path.join(os.tmpdir(), 'pushwire-server-api-'));
writeFileSync(path.join(dir, 'secret'), SECRET + '\n');
writeFileSync(path.join(dir, 'api-key'), API_KEY + '\n');
const backend = { Authorization: `ApiKey ${API_KEY}` };

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
function mint(claims) {
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);

async function api(server, method, body) {
  const res = await fetch(`${server.url}/pushwire/api/${method}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...backend }, body: JSON.stringify(body),
  });
  const answer = await res.json();
  assert.equal(res.status, 200, `${method}: ${JSON.stringify(answer)}`);
  return answer;
}

let browser;
let server;
before(async () => {
  browser = await launchBrowser();
  server = await startServer(['--token-secret-file', path.join(dir, 'secret'), '--api-key-file',
    path.join(dir, 'api-key'), '--heartbeat-ms', '1000']);
});
after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// A page whose client (user `user`) reads `channel`: window.got its seqs, window.server
// what client.onMessage got ("channel seq"), window.told the server API's events,
// window.errors the subscription's onError codes, window.states the client's states.
// Tokens come from the test (node side): `tokens.stale` makes them issued 10 s ago.
async function clientPage(transport, user, channel, stale = false) {
  const page = await openPage(browser, server);
  const tokens = { stale, asked: 0 };
  page.tokens = tokens;
  await page.exposeFunction('mintToken', () => {
    tokens.asked++;
    return mint({ sub: user, iat: tokens.stale ? now() - 10 : now(), exp: now() + 600,
      subscribe: ['chat:*', 'alerts:*'] });
  });
  await page.evaluate(({ transport, channel }) => {
    window.got = [];
    window.server = [];
    window.told = [];
    window.errors = [];
    window.states = [];
    window.client = new PushWire.Client(location.origin, {
      transport, pollIntervalMs: 100, reconnectInitialMs: 100, reconnectMaxMs: 400, getToken: () => window.mintToken(),
    });
    window.client.onStateChange((s, r) => window.states.push([s, r]));
    // (Optional calls: each case fails on its own outcome with an SDK that lacks them.)
    window.client.onServerSubscribe?.((c) => window.told.push('subscribe ' + c));
    window.client.onServerUnsubscribe?.((c) => window.told.push('unsubscribe ' + c));
    window.client.onMessage?.((m) => window.server.push(m.channel + ' ' + m.seq));
    window.sub = window.client.subscribe(channel, (m) => window.got.push(m.seq),
      { onError: (e) => window.errors.push(e.code) });
  }, { transport, channel });
  await waitFor(() => page.evaluate(() => window.client.state === 'connected' && window.sub.state === 'subscribed'),
    { what: 'connected and subscribed', timeout: 30000 });
  return page;
}

async function publishAndSee(page, channel, seqs, list = 'got') {
  for (const seq of seqs) assert.equal(await publish(server, channel, { seq }, backend), seq);
  const want = seqs[seqs.length - 1];
  await waitFor(() => page.evaluate(({ list, want }) => window[list].some((e) => e === want || e.endsWith?.(' ' + want)),
    { list, want }), { what: `${channel} #${want} in ${list}`, timeout: 30000 });
}

for (const transport of transports) {
  test(`${transport}: disconnect without reconnect closes the client, "disconnected by server"`, async () => {
    const user = `stop-${transport}`;
    const page = await clientPage(transport, user, `chat:stop-${transport}`);
    try {
      assert.ok((await api(server, 'disconnect', { user })).disconnected >= 1);
      await waitFor(() => page.evaluate(() => window.client.state === 'closed'), { what: 'closed', timeout: 30000 });
      const result = await page.evaluate(() => ({
        reason: window.client.stateReason, sub: [window.sub.state, window.sub.stateReason], states: window.states,
      }));
      assert.equal(result.reason, 'disconnected by server');
      assert.deepEqual(result.sub, ['unsubscribed', 'disconnected by server']);
      assert.deepEqual(result.states.slice(-1), [['closed', 'disconnected by server']]);
      assert.ok(!result.states.some(([s]) => s === 'reconnecting'), JSON.stringify(result.states));
    } finally {
      await page.close();
    }
  });

  test(`${transport}: disconnect with reconnect comes back and resumes, every message once`, async () => {
    const user = `back-${transport}`;
    const channel = `chat:back-${transport}`;
    const page = await clientPage(transport, user, channel);
    try {
      await publishAndSee(page, channel, [1, 2, 3]);
      assert.ok((await api(server, 'disconnect', { user, reconnect: true })).disconnected >= 1);
      await publishAndSee(page, channel, [4, 5, 6]);
      const result = await page.evaluate(() => ({ got: window.got, states: window.states, state: window.client.state }));
      assert.deepEqual(result.got, [1, 2, 3, 4, 5, 6]);
      assert.ok(result.states.some(([s, r]) => s === 'reconnecting' && r === 'disconnected by server; reconnecting'),
        JSON.stringify(result.states));
      await waitFor(() => page.evaluate(() => window.client.state === 'connected'), { what: 'connected again' });
    } finally {
      await page.close();
    }
  });

  test(`${transport}: a channel subscribed by the server reaches onServerSubscribe and onMessage, and resumes after a reconnect`, async () => {
    const user = `sub-${transport}`;
    const alerts = `alerts:${transport}`;
    const page = await clientPage(transport, user, `chat:sub-${transport}`);
    try {
      assert.ok((await api(server, 'subscribe', { user, channel: alerts })).connections >= 1);
      await waitFor(() => page.evaluate((c) => window.told.includes('subscribe ' + c), alerts),
        { what: 'onServerSubscribe', timeout: 30000 });
      await publishAndSee(page, alerts, [1, 2], 'server');
      assert.ok((await api(server, 'disconnect', { user, reconnect: true })).disconnected >= 1);
      await publishAndSee(page, alerts, [3, 4], 'server');
      const result = await page.evaluate(() => ({ server: window.server, got: window.got, told: window.told }));
      assert.deepEqual(result.server, [1, 2, 3, 4].map((n) => `${alerts} ${n}`));
      assert.deepEqual(result.got, []);
      assert.deepEqual(result.told, ['subscribe ' + alerts]);
    } finally {
      await page.close();
    }
  });

  test(`${transport}: a channel unsubscribed by the server ends its subscription and is not asked for again`, async () => {
    const user = `unsub-${transport}`;
    const channel = `chat:unsub-${transport}`;
    const page = await clientPage(transport, user, channel);
    try {
      await page.evaluate(() => {
        window.other = [];
        window.client.subscribe('chat:other-' + window.client.transport, (m) => window.other.push(m.seq));
      });
      await publishAndSee(page, channel, [1]);
      assert.ok((await api(server, 'unsubscribe', { user, channel })).connections >= 1);
      await waitFor(() => page.evaluate(() => window.sub.state === 'unsubscribed'), { what: 'unsubscribed', timeout: 30000 });
      // A reconnect: the client asks for its other channel only.
      assert.ok((await api(server, 'disconnect', { user, reconnect: true })).disconnected >= 1);
      await waitFor(() => page.evaluate(() => window.states.some(([s]) => s === 'reconnecting')), { what: 'reconnecting' });
      assert.equal(await publish(server, channel, { seq: 2 }, backend), 2);
      await publishAndSee(page, `chat:other-${transport}`, [1], 'other');
      const result = await page.evaluate(() => ({
        sub: [window.sub.state, window.sub.stateReason], got: window.got, told: window.told, errors: window.errors,
      }));
      assert.deepEqual(result.sub, ['unsubscribed', 'unsubscribed by the server']);
      assert.deepEqual(result.got, [1]);
      assert.deepEqual(result.told, ['unsubscribe ' + channel]);
      assert.deepEqual(result.errors, []);
      if (transport === 'websocket' || transport === 'sse') {
        // Its open connection does not read the channel (pollers count while they poll).
        assert.equal((await api(server, 'unsubscribe', { user, channel })).connections, 0);
      }
    } finally {
      await page.close();
    }
  });

  test(`${transport}: a revoked token is one onError token_revoked; a revoked one again waits with the backoff, a new one resumes`, async () => {
    const user = `revoke-${transport}`;
    const channel = `chat:revoke-${transport}`;
    // The token in use was issued 10 s ago; getToken goes on giving such ones (revoked
    // below) until the test says otherwise.
    const page = await clientPage(transport, user, channel, true);
    try {
      await publishAndSee(page, channel, [1, 2]);
      const before = await page.evaluate(() => window.states.length);
      await api(server, 'revoke', { user, before: now() - 5 });
      await waitFor(() => page.evaluate(() => window.errors.length > 0), { what: 'onError', timeout: 30000 });
      const asked = page.tokens.asked;
      await waitFor(() => page.tokens.asked >= asked + 3, { what: 'getToken asked again', timeout: 30000 });
      assert.equal(await publish(server, channel, { seq: 3 }, backend), 3);
      page.tokens.stale = false;
      await publishAndSee(page, channel, [4]);
      const result = await page.evaluate((n) => ({ got: window.got, errors: window.errors, states: window.states.slice(n) }),
        before);
      assert.deepEqual(result.got, [1, 2, 3, 4]);
      assert.deepEqual(result.errors, ['token_revoked']);
      // Reconnecting once, then connected: no flapping between them.
      assert.deepEqual(result.states.map(([s]) => s), ['reconnecting', 'connected'], JSON.stringify(result.states));
      assert.match(result.states[0][1], /token_revoked/);
    } finally {
      await page.close();
    }
  });
}
