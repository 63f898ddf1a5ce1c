// The SDK and the servers it is given (docs/sdk.md, docs/scaling.md): a node whose Redis
// froze answers 503 and the client goes on to the next node; connectTimeoutMs decides
// when a transport that does not open is given up, and without it each transport has its
// own time (WebSocket 2.5 s, SSE 2 s, long-poll and poll 4 s).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startRedis, healthy, publish, launchBrowser, openPage, waitFor, TRANSPORTS } from './harness.mjs';
import { FaultProxy } from './proxy.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('a node whose Redis froze answers 503, and the client connects to the next node and delivers there', async () => {
  const redis = await startRedis();
  const a = await startServer(['--broker', redis.url]);
  const b = await startServer();
  let page;
  try {
    await healthy(a);
    redis.pause();
    // Node A finds out by itself (its probe and command deadlines) and says so.
    await waitFor(async () => (await fetch(`${a.url}/pushwire/negotiate`)).status === 503,
      { what: 'node A answering 503', timeout: 20000 });
    page = await openPage(browser, b);
    await page.evaluate((urls) => {
      window.got = [];
      window.states = [];
      window.client = new PushWire.Client(urls, { transport: 'auto', reconnectInitialMs: 100 });
      window.client.onStateChange((s, reason) => window.states.push(`${s}: ${reason}`));
      window.sub = window.client.subscribe('moved', (m) => window.got.push(m.seq));
    }, [a.url, b.url]);
    await waitFor(() => page.evaluate(() => window.client.state === 'connected' && window.sub.position !== ''),
      { what: 'connected, position known' });
    assert.equal(await page.evaluate(() => window.client.server), b.url);
    // Straight on to B: A was never retried.
    assert.deepEqual((await page.evaluate(() => window.states)).filter((s) => s.startsWith('reconnecting')), []);
    await publish(b, 'moved', 'here');
    await waitFor(() => page.evaluate(() => window.got.length >= 1), { what: 'the message on node B' });
    assert.deepEqual(await page.evaluate(() => window.got), [1]);
  } finally {
    await page?.evaluate(() => window.client?.close()).catch(() => {});
    await page?.close();
    redis.resume();
    await a.stop();
    await b.stop();
    await redis.stop();
  }
});

test('connectTimeoutMs gives up a transport that does not open after that long; 0 keeps each transport\'s own time', async () => {
  // Every transport's connection opens at the TCP level and is never answered.
  const proxy = await new FaultProxy().start();
  const server = await startServer(['--public-ws-url', proxy.wsUrl]);
  proxy.target = { httpPort: server.httpPort, wsPort: server.wsPort };
  proxy.deadWs = true;
  proxy.holdPrefixes = ['/pushwire/sse', '/pushwire/longpoll', '/pushwire/poll'];
  const page = await openPage(browser, server);
  const own = { websocket: 2500, sse: 2000, longpoll: 4000, poll: 4000 };
  try {
    await page.evaluate(({ url, transports }) => {
      window.reasons = {};
      window.clients = [];
      for (const transport of transports) {
        for (const connectTimeoutMs of [0, 300]) {
          const client = new PushWire.Client(url, { transport, connectTimeoutMs });
          const key = `${transport} ${connectTimeoutMs}`;
          client.onStateChange((s, reason) => { if (s === 'reconnecting' && !window.reasons[key]) window.reasons[key] = reason; });
          client.subscribe('never', () => {});
          window.clients.push(client);
        }
      }
    }, { url: proxy.url, transports: TRANSPORTS });
    await waitFor(() => page.evaluate((n) => Object.keys(window.reasons).length === n, 2 * TRANSPORTS.length),
      { what: 'every client giving up its transport', timeout: 20000 });
    const reasons = await page.evaluate(() => window.reasons);
    for (const transport of TRANSPORTS) {
      assert.equal(reasons[`${transport} 300`], `${transport}: did not open within 300 ms`);
      assert.equal(reasons[`${transport} 0`], `${transport}: did not open within ${own[transport]} ms`);
    }
  } finally {
    await page.evaluate(() => window.clients?.forEach((c) => c.close())).catch(() => {});
    await page.close();
    await server.stop();
    await proxy.stop();
  }
});
