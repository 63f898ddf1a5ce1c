// Presence across nodes (issue 22): two servers on one real redis-server; a page on node A
// and a page on node B watch the same presence channel and see each other. Node A is
// killed with SIGKILL (kill -9: it sends nothing more, no leave of its own): the page on
// node B is told its member left, by node B's reaper, once node A's heartbeat is older
// than --presence-ttl (docs/scaling.md: within the TTL plus one interval, ttl/3).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startRedis, healthy, launchBrowser, openPage, waitFor } from './harness.mjs';

const TTL_S = 3;  // the smallest --presence-ttl the server takes
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function watcher(server, url) {
  const page = await openPage(browser, server);
  await page.evaluate((url) => {
    window.members = new Map();
    window.leaves = [];
    window.client = new PushWire.Client(url, { transport: 'websocket', reconnectInitialMs: 100 });
    window.sub = window.client.subscribe('lobby', () => {}, {
      onJoin: (m) => window.members.set(m.client, m),
      onLeave: (m) => { window.leaves.push(m.client); window.members.delete(m.client); },
    });
  }, url);
  page.id = await waitFor(() => page.evaluate(() => window.client.id), { what: 'client id', timeout: 30000 });
  return page;
}

const ids = (page) => page.evaluate(() => [...window.members.keys()].sort());

test('a page on a node killed with kill -9 is seen leaving by a page on the other node within the TTL', async () => {
  const redis = await startRedis();
  const flags = ['--broker', redis.url, '--heartbeat-ms', '1000', '--presence', 'lobby', '--join-leave', 'lobby',
    '--presence-ttl', String(TTL_S)];
  const a = await startServer(flags);
  const b = await startServer(flags);
  const pages = [];
  try {
    await healthy(a);
    await healthy(b);
    // The page on A knows only A: it cannot come back through B (as the same member).
    const onA = await watcher(a, a.url);
    pages.push(onA);
    const onB = await watcher(b, b.url);
    pages.push(onB);
    const both = [onA.id, onB.id].sort();
    await waitFor(async () => JSON.stringify(await ids(onB)) === JSON.stringify(both),
      { what: 'the page on B to see both members', timeout: 30000 });
    await waitFor(async () => JSON.stringify(await ids(onA)) === JSON.stringify(both),
      { what: 'the page on A to see both members', timeout: 30000 });

    const killed = Date.now();
    a.child.kill('SIGKILL');
    // The documented bound is TTL + TTL/3 (4 s here); the deadline is generous for a loaded
    // machine. Without the reaper the member would never leave (node A sends nothing).
    await waitFor(async () => JSON.stringify(await ids(onB)) === JSON.stringify([onB.id]),
      { what: "the page on B to see A's member leave", timeout: 30000 });
    const seconds = (Date.now() - killed) / 1000;
    console.log(`# leave seen ${seconds.toFixed(1)} s after kill -9 (--presence-ttl ${TTL_S})`);
    assert.deepEqual(await onB.evaluate(() => window.leaves), [onA.id], 'one leave, of the killed node\'s member');
  } finally {
    for (const page of pages) await page.close();
    await b.stop();
    await a.stop();
    await redis.stop();
  }
});
