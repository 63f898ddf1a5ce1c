// Presence in the browser: pages on a presence channel see each other through onJoin,
// onLeave and sub.presence(), and a page that reconnects through a cut (a TCP proxy
// between it and the server) ends with the exact member set, told once per change.
// PUSHWIRE_TRANSPORT picks the transport of the page that is cut (default: all four).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, waitFor, freePort, TRANSPORTS } from './harness.mjs';
import { FaultProxy } from './proxy.mjs';

const only = process.env.PUSHWIRE_TRANSPORT;
const transports = only ? [only] : TRANSPORTS;
const GRACE_MS = 300;  // a WebSocket/SSE member leaves this long after its connection ends
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function presenceServer(extra = [], ports = { port: 0 }) {
  return startServer(['--heartbeat-ms', '1000', '--presence', 'room', '--join-leave', 'room',
    '--presence-grace-ms', String(GRACE_MS), ...extra], ports);
}

// A page whose client subscribes to "room" watching joins and leaves: window.members is
// the set the events add up to; a join of a member already there or a leave of one not
// there is recorded in window.repeats (the SDK must never tell one).
async function member(server, url, transport) {
  const page = await openPage(browser, server);
  await page.evaluate(({ url, transport }) => {
    window.members = new Map();
    window.events = [];
    window.repeats = [];
    window.client = new PushWire.Client(url, { transport, pollIntervalMs: 100 });
    window.sub = window.client.subscribe('room', () => {}, {
      onJoin: (m) => {
        window.events.push('+' + m.client);
        if (window.members.has(m.client)) window.repeats.push('+' + m.client);
        window.members.set(m.client, m);
      },
      onLeave: (m) => {
        window.events.push('-' + m.client);
        if (!window.members.delete(m.client)) window.repeats.push('-' + m.client);
      },
    });
  }, { url, transport });
  page.id = await waitFor(() => page.evaluate(() => window.client.id), { what: 'client id', timeout: 30000 });
  return page;
}

const setOf = (page) => page.evaluate(() => [...window.members.keys()].sort());
async function sees(page, ids, what) {
  const want = [...ids].sort();
  await waitFor(async () => JSON.stringify(await setOf(page)) === JSON.stringify(want),
    { what: `${what} to see ${want.length} members`, timeout: 30000 });
}

// Once (with the WebSocket run, or when all run): a closed tab of a poller would stay a
// member for 30 s, so the one that closes reads by WebSocket.
const pagesTest = !only || only === 'websocket' ? test : test.skip;
pagesTest('three pages on a presence channel see each other; one closes its tab and the others get onLeave', async () => {
  const server = await presenceServer();
  const pages = [];
  try {
    const kinds = ['longpoll', 'sse', 'websocket'];
    for (const transport of kinds) pages.push(await member(server, server.url, transport));
    const ids = pages.map((p) => p.id);
    assert.equal(new Set(ids).size, 3, 'three client ids');
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
    for (const [i, page] of pages.entries()) await sees(page, ids, `page ${i}`);
    // sub.presence() and presenceStats() agree, with the member's fields.
    const listed = await pages[0].evaluate(() => window.sub.presence());
    assert.deepEqual(listed.map((m) => m.client).sort(), [...ids].sort());
    for (const m of listed) assert.deepEqual(Object.keys(m).sort(), ['client', 'info', 'user']);
    const stats = await pages[1].evaluate(() => window.sub.presenceStats());
    assert.equal(stats.clients, 3);
    // The third closes its tab: the others are told it left, once.
    const gone = pages.pop();
    await gone.close();
    for (const [i, page] of pages.entries()) await sees(page, ids.slice(0, 2), `page ${i}`);
    for (const page of pages) {
      const { events, repeats } = await page.evaluate(() => ({ events: window.events, repeats: window.repeats }));
      assert.deepEqual(repeats, []);
      assert.equal(events.filter((e) => e === '-' + gone.id).length, 1);
    }
    // A client's id stays across its reconnects (the session secret).
    const before = pages[0].id;
    assert.equal(await pages[0].evaluate(() => window.client.id), before);
  } finally {
    for (const page of pages) await page.close().catch(() => {});
    await server.stop();
  }
});

for (const transport of transports) {
  test(`${transport}: a page that reconnects through a cut ends with the exact member set, each change told once`, async () => {
    const proxy = await new FaultProxy().start();
    const ports = { port: await freePort(), wsPort: await freePort() };
    const server = await presenceServer(['--public-ws-url', proxy.wsUrl], ports);
    proxy.target = { httpPort: server.httpPort, wsPort: server.wsPort };
    const pages = [];
    try {
      // The others read by SSE straight from the server (the cut is only the proxy's);
      // the page under test goes through the proxy.
      const a = await member(server, server.url, 'sse');
      const b = await member(server, server.url, 'sse');
      const cut = await member(server, proxy.url, transport);
      pages.push(a, b, cut);
      for (const page of pages) await sees(page, [a.id, b.id, cut.id], 'every page');
      // The cut: nothing gets through. Meanwhile b leaves and d joins.
      proxy.refuseAll = true;
      proxy.cutAll();
      await b.close();
      pages.splice(pages.indexOf(b), 1);
      const d = await member(server, server.url, 'sse');
      pages.push(d);
      const streaming = transport === 'websocket' || transport === 'sse';
      // The page under test: a streaming one is gone after the grace (and comes back); a
      // poller stays a member for 30 s after its last request.
      const others = streaming ? [a.id, d.id] : [a.id, d.id, cut.id];
      await sees(a, others, 'a during the cut');
      await waitFor(() => cut.evaluate(() => window.client.state !== 'connected'), { what: 'the cut noticed', timeout: 30000 });
      proxy.refuseAll = false;
      const everyone = [a.id, d.id, cut.id];
      for (const page of [a, d, cut]) await sees(page, everyone, 'every page after the cut');
      // The set agrees with the server's, and nothing was told twice.
      const listed = await cut.evaluate(() => window.sub.presence());
      assert.deepEqual(listed.map((m) => m.client).sort(), [...everyone].sort());
      for (const page of [a, d, cut]) assert.deepEqual(await page.evaluate(() => window.repeats), []);
      const events = await cut.evaluate(() => window.events);
      assert.equal(events.filter((e) => e === '-' + b.id).length, 1, 'b left, told once');
      assert.equal(events.filter((e) => e === '+' + d.id).length, 1, 'd joined, told once');
      assert.equal(await cut.evaluate(() => window.client.id), cut.id, 'the same id after the reconnect');
    } finally {
      for (const page of pages) await page.close().catch(() => {});
      await server.stop();
      await proxy.stop();
    }
  });
}
