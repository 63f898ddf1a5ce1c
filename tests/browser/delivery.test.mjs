// Every transport runs the same scenarios: forced transport, two channels, a few
// hundred interleaved messages with non-ASCII and escaped strings, received in order
// exactly once; the page publishes and gets the seq back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, launchBrowser, openPage, waitFor, TRANSPORTS } from './harness.mjs';

const only = process.env.PUSHWIRE_TRANSPORT;
const transports = only ? [only] : TRANSPORTS;
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const payload = (i) => ({ i, text: `héllo "wörld" \\ \n\t ${i} 日本語 😀 </script>`, nested: { arr: [i, null, true] } });

for (const transport of transports) {
  test(`${transport}: two channels, 300 interleaved messages arrive in order exactly once`, async () => {
    const server = await startServer();
    const page = await openPage(browser, server);
    try {
      await page.evaluate(({ url, transport }) => {
        window.received = { a: [], b: [] };
        window.gaps = [];
        window.client = new PushWire.Client(url, { transport, pollIntervalMs: 150 });
        for (const ch of ['a', 'b']) {
          window.client.subscribe(ch, (m) => window.received[ch].push(m), { onGap: (g) => window.gaps.push(g) });
        }
      }, { url: server.url, transport });
      await waitFor(() => page.evaluate(() => window.client.state === 'connected'), { what: 'connected' });
      // Wait until the subscriptions are in place on the server (positions known).
      await new Promise((r) => setTimeout(r, transport === 'poll' ? 400 : 200));
      const total = 300;
      for (let i = 0; i < total; i++) await publish(server, i % 2 ? 'b' : 'a', payload(i));
      await waitFor(() => page.evaluate((n) => window.received.a.length + window.received.b.length >= n, total),
        { what: 'all messages', timeout: 30000 });
      await new Promise((r) => setTimeout(r, 300));  // anything extra would be a duplicate
      const got = await page.evaluate(() => ({ ...window.received, gaps: window.gaps, transport: window.client.transport }));
      assert.equal(got.transport, transport);
      assert.deepEqual(got.gaps, []);
      for (const [ch, parity] of [['a', 0], ['b', 1]]) {
        assert.equal(got[ch].length, total / 2, `${ch}: exactly once`);
        got[ch].forEach((m, k) => {
          assert.equal(m.channel, ch);
          assert.equal(m.seq, k + 1, `${ch}: in order`);
          assert.deepEqual(m.data, payload(2 * k + parity));
          assert.equal(typeof m.time, 'number');
        });
      }
      const seq = await page.evaluate(() => window.client.publish('a', { from: 'page', text: 'ünïcode' }));
      assert.equal(seq, total / 2 + 1);
      await waitFor(() => page.evaluate(() => window.received.a.length === 151), { what: 'own publish' });
      assert.deepEqual(await page.evaluate(() => window.received.a[150].data), { from: 'page', text: 'ünïcode' });
      assert.deepEqual(page.errors, []);
    } finally {
      await page.evaluate(() => window.client && window.client.close()).catch(() => {});
      await page.close();
      await server.stop();
    }
  });

  test(`${transport}: subscribing and unsubscribing while messages flow loses nothing on the other channels`, async () => {
    const server = await startServer();
    const page = await openPage(browser, server);
    try {
      await page.evaluate(({ url, transport }) => {
        window.keep = [];
        window.other = [];
        window.client = new PushWire.Client(url, { transport, pollIntervalMs: 150 });
        window.client.subscribe('keep', (m) => window.keep.push(m.seq));
      }, { url: server.url, transport });
      await waitFor(() => page.evaluate(() => window.client.state === 'connected'), { what: 'connected' });
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 60; i++) {
        await publish(server, 'keep', i);
        if (i === 10) {
          await page.evaluate(() => { window.sub = window.client.subscribe('other', (m) => window.other.push(m.seq)); });
          // A subscription "from now" starts when the server first hears of it: one
          // poll interval at most.
          await new Promise((r) => setTimeout(r, 500));
        }
        if (i === 40) {
          await waitFor(() => page.evaluate(() => window.other.length === 10), { what: 'other channel' });
          await page.evaluate(() => window.sub.unsubscribe());
        }
        if ((i >= 20 && i < 30) || i > 40) await publish(server, 'other', i);
      }
      await waitFor(() => page.evaluate(() => window.keep.length >= 60), { what: 'keep channel', timeout: 20000 });
      await new Promise((r) => setTimeout(r, 300));
      const keep = await page.evaluate(() => window.keep);
      assert.deepEqual(keep, Array.from({ length: 60 }, (_, i) => i + 1));
      const other = await page.evaluate(() => window.other);
      assert.deepEqual(other, Array.from({ length: 10 }, (_, i) => i + 1), 'nothing after unsubscribe');
    } finally {
      await page.evaluate(() => window.client && window.client.close()).catch(() => {});
      await page.close();
      await server.stop();
    }
  });
}
