// Every transport runs the same scenarios: forced transport, two channels, a few
// hundred interleaved messages with non-ASCII and escaped strings, received in order
// exactly once; the page publishes and gets the seq back. "Exactly once" is checked after
// the end condition and again one heartbeat later (a late repeat would come by then),
// behind a last message that every earlier one must precede.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, launchBrowser, openPage, waitFor, TRANSPORTS } from './harness.mjs';

const only = process.env.PUSHWIRE_TRANSPORT;
const transports = only ? [only] : TRANSPORTS;
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const HEARTBEAT_MS = 1000;  // the server's, and so the WebSocket and SSE heartbeats and the long-poll's hold
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const payload = (i) => ({ i, text: `héllo "wörld" \\ \n\t ${i} 日本語 😀 </script>`, nested: { arr: [i, null, true] } });

for (const transport of transports) {
  test(`${transport}: two channels, 300 interleaved messages arrive in order exactly once`, async () => {
    const server = await startServer(['--heartbeat-ms', String(HEARTBEAT_MS)]);
    const page = await openPage(browser, server);
    try {
      await page.evaluate(({ url, transport }) => {
        window.received = { a: [], b: [] };
        window.gaps = [];
        window.subs = {};
        window.client = new PushWire.Client(url, { transport, pollIntervalMs: 150 });
        for (const ch of ['a', 'b']) {
          window.subs[ch] = window.client.subscribe(ch, (m) => window.received[ch].push(m), { onGap: (g) => window.gaps.push(g) });
        }
      }, { url: server.url, transport });
      await waitFor(() => page.evaluate(() => window.client.state === 'connected'), { what: 'connected' });
      // The subscriptions are in place on the server once their positions are known.
      await waitFor(() => page.evaluate(() => window.subs.a.position !== '' && window.subs.b.position !== ''),
        { what: 'positions known' });
      const total = 300;
      for (let i = 0; i < total; i++) await publish(server, i % 2 ? 'b' : 'a', payload(i));
      await waitFor(() => page.evaluate((n) => window.received.a.length + window.received.b.length >= n, total),
        { what: 'all messages', timeout: 30000 });
      await sleep(HEARTBEAT_MS);  // an observation window: a late repeat would come within a heartbeat
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
      // The page's own publish comes after all the others: nothing repeated slipped in before it.
      await waitFor(() => page.evaluate(() => window.received.a.length >= 151), { what: 'own publish' });
      assert.deepEqual(await page.evaluate(() => window.received.a.map((m) => m.seq)), Array.from({ length: 151 }, (_, k) => k + 1));
      assert.deepEqual(await page.evaluate(() => window.received.a[150].data), { from: 'page', text: 'ünïcode' });
      assert.equal(await page.evaluate(() => window.received.b.length), total / 2);
      assert.deepEqual(page.errors, []);
    } finally {
      await page.evaluate(() => window.client && window.client.close()).catch(() => {});
      await page.close();
      await server.stop();
    }
  });

  test(`${transport}: subscribing and unsubscribing while messages flow loses nothing on the other channels`, async () => {
    const server = await startServer(['--heartbeat-ms', String(HEARTBEAT_MS)]);
    const page = await openPage(browser, server);
    try {
      await page.evaluate(({ url, transport }) => {
        window.keep = [];
        window.other = [];
        window.client = new PushWire.Client(url, { transport, pollIntervalMs: 150 });
        window.keepSub = window.client.subscribe('keep', (m) => window.keep.push(m.seq));
      }, { url: server.url, transport });
      await waitFor(() => page.evaluate(() => window.client.state === 'connected' && window.keepSub.position !== ''),
        { what: 'connected, position known' });
      for (let i = 0; i < 60; i++) {
        await publish(server, 'keep', i);
        if (i === 10) {
          await page.evaluate(() => { window.sub = window.client.subscribe('other', (m) => window.other.push(m.seq)); });
          // A subscription "from now" starts when the server first hears of it: when its
          // position is known.
          await waitFor(() => page.evaluate(() => window.sub.position !== ''), { what: 'other position known' });
        }
        if (i === 40) {
          await waitFor(() => page.evaluate(() => window.other.length === 10), { what: 'other channel' });
          await page.evaluate(() => window.sub.unsubscribe());
        }
        if ((i >= 20 && i < 30) || i > 40) await publish(server, 'other', i);
      }
      await waitFor(() => page.evaluate(() => window.keep.length >= 60), { what: 'keep channel', timeout: 20000 });
      await sleep(HEARTBEAT_MS);  // an observation window: a late repeat would come within a heartbeat
      await publish(server, 'keep', 'last');
      await waitFor(() => page.evaluate(() => window.keep.length >= 61), { what: 'the last message' });
      const keep = await page.evaluate(() => window.keep);
      assert.deepEqual(keep, Array.from({ length: 61 }, (_, i) => i + 1));
      const other = await page.evaluate(() => window.other);
      assert.deepEqual(other, Array.from({ length: 10 }, (_, i) => i + 1), 'nothing after unsubscribe');
    } finally {
      await page.evaluate(() => window.client && window.client.close()).catch(() => {});
      await page.close();
      await server.stop();
    }
  });
}
