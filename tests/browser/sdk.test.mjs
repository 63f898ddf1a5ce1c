// The SDK as the docs describe it (docs/sdk.md): a position saved from one page resumes in
// the next on every transport, "0" reads what the server holds, and a misspelled option is a
// TypeError naming it, never silently ignored.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, launchBrowser, openPage, waitFor, TRANSPORTS } from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

for (const transport of TRANSPORTS) {
  test(`${transport}: sub.position saved in one page resumes in the next, with no loss and no repeat`, async () => {
    const server = await startServer();
    const channel = `pos-${transport}`;
    try {
      for (let i = 1; i <= 3; i++) await publish(server, channel, { i });
      let page = await openPage(browser, server);
      await page.evaluate(({ transport, channel }) => {
        window.got = [];
        window.client = new PushWire.Client(location.origin, { transport, pollIntervalMs: 100 });
        window.sub = window.client.subscribe(channel, (m) => window.got.push(m.seq), { since: '0' });
      }, { transport, channel });
      await waitFor(() => page.evaluate(() => window.got.length === 3), { what: 'the 3 held messages' });
      const saved = await page.evaluate(() => window.sub.position);
      assert.match(saved, /@3$/, `position after seq 3: ${saved}`);
      await page.evaluate(() => window.client.close());
      await page.close();

      for (let i = 4; i <= 6; i++) await publish(server, channel, { i });
      page = await openPage(browser, server);
      await page.evaluate(({ transport, channel, saved }) => {
        window.got = [];
        window.client = new PushWire.Client(location.origin, { transport, pollIntervalMs: 100 });
        window.sub = window.client.subscribe(channel, (m) => window.got.push(m.seq), { since: saved });
      }, { transport, channel, saved });
      await waitFor(() => page.evaluate(() => window.got.length >= 3), { what: 'the 3 missed messages' });
      await publish(server, channel, { i: 7 });
      await waitFor(() => page.evaluate(() => window.got.length >= 4), { what: 'the live one' });
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(await page.evaluate(() => window.got), [4, 5, 6, 7]);
      assert.match(await page.evaluate(() => window.sub.position), /@7$/);
      await page.evaluate(() => window.client.close());
      await page.close();
    } finally {
      await server.stop();
    }
  });
}

for (const transport of TRANSPORTS) {
  test(`${transport}: a publish right after subscribe() reaches that subscription (the README's example), before and after connecting`, async () => {
    const server = await startServer();
    const page = await openPage(browser, server);
    try {
      await page.evaluate((transport) => {
        window.got = [];
        window.acks = [];
        const client = new PushWire.Client(location.origin, { transport, pollIntervalMs: 100 });
        window.client = client;
        client.subscribe('chat', (m) => window.got.push(`chat ${m.data.text}`));
        client.publish('chat', { text: 'first' }).then((seq) => window.acks.push(seq));
      }, transport);
      await waitFor(() => page.evaluate(() => window.got.length >= 1), { what: 'the message published right after subscribe()' });
      await waitFor(() => page.evaluate(() => window.client.state === 'connected'), { what: 'connected' });
      // Connected now: a second channel, subscribed and published to in the same turn.
      await page.evaluate(() => {
        window.client.subscribe('news', (m) => window.got.push(`news ${m.data.text}`));
        window.client.publish('news', { text: 'second' });
      });
      await waitFor(() => page.evaluate(() => window.got.length >= 2), { what: 'the message on the channel added while connected' });
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(await page.evaluate(() => window.got), ['chat first', 'news second']);
      assert.deepEqual(await page.evaluate(() => window.acks), [1]);
      await page.evaluate(() => window.client.close());
    } finally {
      await page.close();
      await server.stop();
    }
  });
}

test('unknown options and bad values are TypeErrors naming them; a since of another channel is no throw (onError bad_cursor: firstday.test.mjs)', async () => {
  const server = await startServer();
  const page = await openPage(browser, server);
  try {
    const result = await page.evaluate(() => {
      const attempt = (fn) => { try { fn(); return 'no error'; } catch (e) { return `${e.name}: ${e.code || ''} ${e.message}`; } };
      const client = new PushWire.Client(location.origin);
      const out = {
        clientOption: attempt(() => new PushWire.Client(location.origin, { pollIntervalMS: 100 })),
        badNumber: attempt(() => new PushWire.Client(location.origin, { reconnectMaxMs: 'soon' })),
        subscribeOption: attempt(() => client.subscribe('a', () => {}, { onGapp: () => {} })),
        sinceType: attempt(() => client.subscribe('a', () => {}, { since: { seq: 1 } })),
        sinceOther: attempt(() => client.subscribe('a', () => {}, { since: 'e1~b@3' })),
        fine: attempt(() => client.subscribe('a', () => {}, { since: 'e1~a@3', onGap() {}, onError() {} })),
      };
      client.close();
      return out;
    });
    assert.match(result.clientOption, /^TypeError: .*"pollIntervalMS"/);
    assert.match(result.badNumber, /^TypeError: .*reconnectMaxMs/);
    assert.match(result.subscribeOption, /^TypeError: .*"onGapp"/);
    assert.match(result.sinceType, /^TypeError: .*since/);
    assert.equal(result.sinceOther, 'no error');
    assert.equal(result.fine, 'no error');
  } finally {
    await page.close();
    await server.stop();
  }
});

test('client.history reads what the server holds, after a position, at most a limit, across capped answers', async () => {
  const server = await startServer(['--history', '5000']);
  const page = await openPage(browser, server);
  try {
    for (let i = 1; i <= 1205; i++) await publish(server, 'hist', { i });  // more than one answer holds (1000)
    const result = await page.evaluate(async () => {
      const client = new PushWire.Client(location.origin);
      const all = await client.history('hist');
      const some = await client.history('hist', { since: 'hist@1200', limit: 3 });
      const none = await client.history('empty-channel');
      let bad = '';
      try { await client.history('hist', { sinse: 1 }); } catch (e) { bad = `${e.name}: ${e.message}`; }
      client.close();
      return { count: all.length, first: all[0].seq, last: all[all.length - 1].seq, data: all[4].data,
        some: some.map((m) => m.seq), none: none.length, bad };
    });
    assert.equal(result.count, 1205);
    assert.equal(result.first, 1);
    assert.equal(result.last, 1205);
    assert.deepEqual(result.data, { i: 5 });
    assert.deepEqual(result.some, [1201, 1202, 1203]);
    assert.equal(result.none, 0);
    assert.match(result.bad, /^TypeError: .*"sinse"/);
  } finally {
    await page.close();
    await server.stop();
  }
});
