// Lossless failover between nodes: two servers on one Redis, a page subscribed through
// node A with both URLs, a publisher on node B; node A is killed with SIGKILL mid-stream.
// The page moves to node B and ends with every message once, in order, with no gap, on
// every transport.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startRedis, healthy, publish, launchBrowser, openPage, waitFor, TRANSPORTS } from './harness.mjs';

const only = process.env.PUSHWIRE_TRANSPORT;
const transports = only ? [only] : TRANSPORTS;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

for (const transport of transports) {
  test(`${transport}: node A killed mid-stream, the page resumes on node B with every message once, in order`, async () => {
    const redis = await startRedis();
    const broker = ['--broker', redis.url, '--heartbeat-ms', '1000'];
    const a = await startServer(broker);
    const b = await startServer(broker);
    await healthy(a);
    await healthy(b);
    const page = await openPage(browser, a);
    try {
      await page.evaluate(({ urls, transport }) => {
        window.got = [];
        window.gaps = [];
        window.client = new PushWire.Client(urls, { transport, pollIntervalMs: 100, reconnectInitialMs: 100 });
        window.sub = window.client.subscribe('failover', (m) => window.got.push(m.seq), { onGap: (g) => window.gaps.push(g) });
      }, { urls: [a.url, b.url], transport });
      await waitFor(() => page.evaluate(() => window.client.state === 'connected' && window.sub.position !== ''),
        { what: 'connected, position known' });
      const total = 120;
      for (let i = 1; i <= total; i++) {
        assert.equal(await publish(b, 'failover', { i }), i);
        if (i === 40) a.child.kill('SIGKILL');
        await sleep(15);
      }
      await waitFor(() => page.evaluate((n) => window.got.length >= n, total), { what: 'every message', timeout: 30000 });
      await sleep(300);
      const result = await page.evaluate(() => ({ got: window.got, gaps: window.gaps, server: window.client.server }));
      assert.deepEqual(result.got, Array.from({ length: total }, (_, k) => k + 1));
      assert.deepEqual(result.gaps, []);
      assert.equal(result.server, b.url);
    } finally {
      await page.evaluate(() => window.client?.close()).catch(() => {});
      await page.close();
      await a.stop();
      await b.stop();
      await redis.stop();
    }
  });
}
