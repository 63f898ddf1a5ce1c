// client.publish stores a message once, however the broker fails under it: Redis frozen
// (SIGSTOP) while the page publishes, over a transport that publishes in-band (WebSocket)
// and one that publishes by HTTP (long-polling). The SDK sends an idempotency key with each
// publish and sends it again while its fate is unknown; every Promise resolves, with the
// seq under which the subscriber received the message, once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startRedis, healthy, launchBrowser, openPage, waitFor } from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

for (const transport of ['websocket', 'longpoll']) {
  test(`${transport}: publishes made while Redis is frozen are each stored and delivered once`, async () => {
    const redis = await startRedis();
    const server = await startServer(['--broker', redis.url, '--heartbeat-ms', '1000']);
    await healthy(server);
    const page = await openPage(browser, server);
    try {
      await page.evaluate((transport) => {
        window.got = [];
        window.results = [];
        window.client = new PushWire.Client(location.origin, { transport, pollIntervalMs: 100, reconnectInitialMs: 100 });
        window.client.subscribe('once', (m) => window.got.push({ seq: m.seq, n: m.data.n }));
      }, transport);
      await waitFor(() => page.evaluate(() => window.client.state === 'connected'), { what: 'connected' });
      const total = 40;
      // The page publishes one every 50 ms, without waiting for the answers.
      await page.evaluate((total) => {
        window.publishing = (async () => {
          const pending = [];
          for (let n = 1; n <= total; n++) {
            pending.push(window.client.publish('once', { n }).then(
              (seq) => window.results.push({ n, seq }),
              (e) => window.results.push({ n, error: `${e.code}: ${e.message}` })));
            await new Promise((r) => setTimeout(r, 50));
          }
          await Promise.all(pending);
        })();
      }, total);
      await waitFor(() => page.evaluate(() => window.results.length >= 10), { what: '10 publishes answered' });
      redis.pause();
      // Frozen until the server has noticed (publishes in flight time out meanwhile).
      await waitFor(async () => (await fetch(`${server.url}/pushwire/healthz`)).status === 503,
        { what: 'the broker seen down', timeout: 20000 });
      redis.resume();
      await waitFor(() => page.evaluate((n) => window.results.length >= n, total), { what: 'every publish answered', timeout: 60000 });
      await waitFor(() => page.evaluate((n) => window.got.length >= n, total), { what: 'every message delivered', timeout: 30000 });
      const { results, got } = await page.evaluate(() => ({ results: window.results, got: window.got }));
      assert.deepEqual(results.filter((r) => r.error), [], 'every publish resolved');
      const seqOf = new Map(results.map((r) => [r.n, r.seq]));
      assert.equal(new Set(seqOf.values()).size, total, 'one seq per publish');
      assert.equal(got.length, total, 'each delivered once');
      assert.deepEqual(got.map((m) => m.seq), Array.from({ length: total }, (_, k) => k + 1), 'no seq twice, none missing');
      for (const m of got) assert.equal(m.seq, seqOf.get(m.n), `message ${m.n} under the seq its publish resolved to`);
    } finally {
      await page.evaluate(() => window.client?.close()).catch(() => {});
      await page.close();
      await server.stop();
      await redis.stop();
    }
  });
}
