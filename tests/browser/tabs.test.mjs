// One connection per browser: tabs of one origin (pages of one Chromium context, which share
// Web Locks and BroadcastChannel) share one connection to the server, each tab with its own
// subscriptions, positions and callbacks. PUSHWIRE_TRANSPORT picks the transport.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, publish as publishAs, launchBrowser, metrics, waitFor } from './harness.mjs';

const transport = process.env.PUSHWIRE_TRANSPORT || 'websocket';
const TABS = 8;
const SECRET = 'tabs-secret-0123456789abcdef0123456';
const API_KEY = 'tabs-api-key-0123456789';
const dir = mkdtempSync(path.join(os.tmpdir(), 'pushwire-tabs-'));
writeFileSync(path.join(dir, 'secret'), SECRET + '\n');
writeFileSync(path.join(dir, 'api-key'), API_KEY + '\n');
const backend = { Authorization: `ApiKey ${API_KEY}` };
// The backend publishes (with the API key).
const publish = (srv, channel, data) => publishAs(srv, channel, data, backend);
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
function mint(sub) {
  const claims = { sub, exp: Math.floor(Date.now() / 1000) + 3600, subscribe: [`${sub}.*`], publish: [`${sub}.*`] };
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

let browser;
let server;
before(async () => {
  browser = await launchBrowser();
  server = await startServer(['--token-secret-file', path.join(dir, 'secret'), '--api-key-file',
    path.join(dir, 'api-key'), '--public-subscribe', 'tabs-*']);
});
after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// Every poll request the tabs make, with its client's session (one per client, on each of
// its requests): contexts are made by newContext(), which records them.
const pollRequests = [];
async function newContext() {
  const context = await browser.newContext();
  context.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname === '/pushwire/poll') pollRequests.push({ at: Date.now(), session: url.searchParams.get('session') });
  });
  return context;
}

// The server's connections of this transport now: streams open, or long-polls held.
async function connections() {
  const m = await metrics(server);
  if (transport === 'longpoll') return m.pushwire_longpolls_waiting;
  if (transport === 'poll') {
    // A poll client holds no connection: count the clients that polled in 3 s (a poll a
    // second, pollIntervalMs, after the last answer). Counting the server's requests and
    // dividing by 3 was wrong on a loaded machine: two clients whose answers came late polled
    // twice each in the window (4 / 3 rounds to 1). The server's count bounds it: no more
    // than a poll a second (and one under way) per client.
    const polls = (x) => x['pushwire_requests_total{transport="poll"}'] || 0;
    const from = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    const served = polls(await metrics(server)) - polls(m);
    const clients = new Set(pollRequests.filter((r) => r.at >= from).map((r) => r.session)).size;
    assert.ok(served <= 4 * clients, `${served} polls served in 3 s to ${clients} poll clients`);
    return clients;
  }
  return m[`pushwire_connections{transport="${transport}"}`];
}

// A tab of `context` whose client (user `user`, or anonymous) reads `channels`:
// window.got[channel] the seqs it received, in order.
async function openTab(context, channels, user = null) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(String(err)));
  await page.goto(server.url + '/pushwire/healthz');
  await page.addScriptTag({ url: '/pushwire.js' });
  await page.evaluate(async ({ url, transport, channels, token }) => {
    const PushWire = await createPushWire();
    window.got = {};
    window.subs = [];
    window.client = new PushWire.Client(url, token ? { transport, getToken: async () => token } : { transport });
    for (const channel of channels) {
      window.got[channel] = [];
      window.subs.push(window.client.subscribe(channel, (m) => window.got[channel].push(m.seq)));
    }
  }, { url: server.url, transport, channels, token: user && mint(user) });
  return page;
}

// Until every subscription of every tab is served (a message published now reaches it).
async function subscribed(pages) {
  await waitFor(async () => {
    const states = await Promise.all(pages.map((p) => p.evaluate(() => window.subs.every((s) => s.state === 'subscribed'))));
    return states.every(Boolean);
  }, { timeout: 30000, what: 'every subscription of every tab served' });
}
const got = (page) => page.evaluate(() => window.got);
const upTo = (n) => Array.from({ length: n }, (_, i) => i + 1);
// Waits until every tab has `count` messages of `channel`; then checks they are 1..count.
async function allReceived(pages, channel, count) {
  for (const page of pages) {
    await waitFor(async () => ((await got(page))[channel] || []).length >= count,
      { timeout: 30000, what: `${count} messages of ${channel} in every tab` });
    assert.deepEqual((await got(page))[channel], upTo(count), `a tab's ${channel}: each message once, in order`);
  }
}
const leaderOf = async (pages) => {
  for (const page of pages) if (await page.evaluate(() => window.client._native.leader())) return page;
  return null;
};

test(`${TABS} tabs of one user on ${transport}: one connection, every tab receives its channels once, in order`, async () => {
  const context = await newContext();
  try {
    const pages = [];
    for (let i = 0; i < TABS; i++) pages.push(await openTab(context, ['carol.news', `carol.own-${i}`], 'carol'));
    await subscribed(pages);
    await publish(server, 'carol.news', 'ready');
    await allReceived(pages, 'carol.news', 1);
    assert.equal(await connections(), 1, 'the server holds one connection for all the tabs');
    for (let n = 2; n <= 20; n++) await publish(server, 'carol.news', { n });
    for (let i = 0; i < TABS; i++) for (let n = 1; n <= 3; n++) await publish(server, `carol.own-${i}`, { i, n });
    await allReceived(pages, 'carol.news', 20);
    for (let i = 0; i < TABS; i++) {
      await allReceived([pages[i]], `carol.own-${i}`, 3);
      assert.deepEqual(Object.keys(await got(pages[i])).sort(), ['carol.news', `carol.own-${i}`].sort());
    }
    // A tab publishes through the shared connection, and gets its seq.
    const seq = await pages[3].evaluate(() => window.client.publish('carol.news', 'from tab 3'));
    assert.equal(seq, 21);
    await allReceived(pages, 'carol.news', 21);
    assert.equal(await connections(), 1);
    assert.equal((await leaderOf(pages)) !== null, true);
    for (const page of pages) assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test(`the tab holding the connection closes mid-stream on ${transport}: another takes over, nothing lost or repeated`,
  async () => {
    const context = await newContext();
    try {
      const pages = [];
      for (let i = 0; i < TABS; i++) pages.push(await openTab(context, ['tabs-stream']));
      await subscribed(pages);
      await publish(server, 'tabs-stream', 0);
      await allReceived(pages, 'tabs-stream', 1);
      const TOTAL = 60;
      let published = 1;
      const stream = (async () => {
        while (published < TOTAL) {
          await publish(server, 'tabs-stream', published);
          published++;
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      await waitFor(() => published >= 20, { what: '20 published' });
      const leader = await leaderOf(pages);
      assert.ok(leader, 'a tab leads');
      await leader.close();
      const rest = pages.filter((p) => p !== leader);
      await stream;
      await allReceived(rest, 'tabs-stream', TOTAL);
      await waitFor(async () => (await leaderOf(rest)) !== null, { what: 'a new leader' });
      await waitFor(async () => (await connections()) === 1, { what: 'one connection again' });
    } finally {
      await context.close();
    }
  });

test(`two users' tabs on ${transport} never share: a connection each, each sees its own channels`, async () => {
  const context = await newContext();
  try {
    const alice = [await openTab(context, ['alice.inbox'], 'alice'), await openTab(context, ['alice.inbox'], 'alice')];
    const bob = [await openTab(context, ['bob.inbox'], 'bob'), await openTab(context, ['bob.inbox'], 'bob')];
    const all = [...alice, ...bob];
    await subscribed(all);
    await publish(server, 'alice.inbox', 'a1');
    await publish(server, 'bob.inbox', 'b1');
    await allReceived(alice, 'alice.inbox', 1);
    await allReceived(bob, 'bob.inbox', 1);
    const ids = await Promise.all(all.map((p) => p.evaluate(() => window.client.id)));
    assert.equal(ids[0], ids[1], "alice's tabs share one connection");
    assert.equal(ids[2], ids[3], "bob's tabs share one connection");
    assert.notEqual(ids[0], ids[2], 'alice and bob do not');
    assert.equal(await connections(), 2);
    // Bob's tab asking for alice's channel is refused: the connection is bob's.
    const refused = await bob[1].evaluate(() => new Promise((resolve) => {
      window.client.subscribe('alice.inbox', () => resolve('delivered'), { onError: (e) => resolve(e.code) });
    }));
    assert.equal(refused, 'forbidden');
  } finally {
    await context.close();
  }
});

test(`share: false on ${transport}: one connection per tab`, async () => {
  const context = await newContext();
  try {
    const pages = [];
    for (let i = 0; i < 2; i++) {
      const page = await context.newPage();
      await page.goto(server.url + '/pushwire/healthz');
      await page.addScriptTag({ url: '/pushwire.js' });
      await page.evaluate(async ({ url, transport }) => {
        const PushWire = await createPushWire();
        window.got = { 'tabs-alone': [] };
        window.client = new PushWire.Client(url, { transport, share: false });
        window.subs = [window.client.subscribe('tabs-alone', (m) => window.got['tabs-alone'].push(m.seq))];
      }, { url: server.url, transport });
      pages.push(page);
    }
    await subscribed(pages);
    await waitFor(async () => (await connections()) === 2, { what: 'two connections' });
    await publish(server, 'tabs-alone', 1);
    await allReceived(pages, 'tabs-alone', 1);
  } finally {
    await context.close();
  }
});

test(`a tab that comes with a saved position on ${transport} gets what it missed, though the connection reads the channel already`,
  async () => {
    const context = await newContext();
    try {
      const first = await openTab(context, ['tabs-late']);
      await subscribed([first]);
      await publish(server, 'tabs-late', 1);
      await publish(server, 'tabs-late', 2);
      await allReceived([first], 'tabs-late', 2);
      const saved = await first.evaluate(() => window.subs[0].position);
      for (let n = 3; n <= 5; n++) await publish(server, 'tabs-late', n);
      await allReceived([first], 'tabs-late', 5);
      // The second tab resumes from after seq 2: 3, 4, 5 come from history, then live ones.
      const late = await context.newPage();
      await late.goto(server.url + '/pushwire/healthz');
      await late.addScriptTag({ url: '/pushwire.js' });
      await late.evaluate(async ({ url, transport, saved }) => {
        const PushWire = await createPushWire();
        window.got = { 'tabs-late': [] };
        window.client = new PushWire.Client(url, { transport });
        window.subs = [window.client.subscribe('tabs-late', (m) => window.got['tabs-late'].push(m.seq), { since: saved })];
      }, { url: server.url, transport, saved });
      const lateGot = () => late.evaluate(() => window.got['tabs-late']);
      await waitFor(async () => (await lateGot()).length >= 3, { what: 'the messages after the saved position' });
      assert.deepEqual(await lateGot(), [3, 4, 5]);
      assert.equal(await late.evaluate(() => window.client._native.leader()), false, 'it shares the first tab\'s connection');
      await publish(server, 'tabs-late', 6);
      await allReceived([first], 'tabs-late', 6);
      await waitFor(async () => (await lateGot()).length >= 4, { what: 'the live message' });
      assert.deepEqual(await lateGot(), [3, 4, 5, 6]);
      assert.match(await late.evaluate(() => window.subs[0].position), /@6$/);
    } finally {
      await context.close();
    }
  });

// The lock's holder frozen (the browser froze its tab): it keeps the lock, so only its
// silence tells. Another tab takes the lock (steal) and resumes every tab; the holder thawed
// steps down and delivers nothing twice. The freeze is a debugger pause (CDP Debugger.pause):
// as for a frozen page, no task of it runs until it resumes (Page.setWebLifecycleState
// "frozen" leaves a visible page's timers running in headless Chromium).
test(`the tab holding the connection freezes on ${transport}: another takes over, nothing lost or repeated, the thawed one delivers nothing twice`,
  async () => {
    const context = await newContext();
    try {
      const pages = [];
      for (let i = 0; i < 4; i++) pages.push(await openTab(context, ['frank.frozen'], 'frank'));
      await subscribed(pages);
      await publish(server, 'frank.frozen', 0);
      await allReceived(pages, 'frank.frozen', 1);
      const holder = await leaderOf(pages);
      assert.ok(holder, 'a tab leads');
      const rest = pages.filter((p) => p !== holder);
      const cdp = await context.newCDPSession(holder);
      await cdp.send('Debugger.enable');
      await cdp.send('Debugger.pause');
      const frozenAt = Date.now();
      // A publish handed to the frozen holder: it cannot say whether it was stored, so the
      // takeover rejects it; the holder, thawed, must not store it then.
      const handedToFrozen = rest[0].evaluate(() => window.client.publish('frank.frozen', 'handed to the frozen holder')
        .then((seq) => `stored as ${seq}`, (e) => e.code));
      const TOTAL = 40;
      let published = 1;
      const stream = (async () => {
        while (published < TOTAL) {
          await publish(server, 'frank.frozen', published);
          published++;
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await waitFor(async () => (await leaderOf(rest)) !== null, { timeout: 30000, what: 'a new holder' });
      console.log(`# takeover from the frozen holder in ${Date.now() - frozenAt} ms (${transport})`);
      assert.equal(await handedToFrozen, 'publish_outcome_unknown');
      await stream;
      await allReceived(rest, 'frank.frozen', TOTAL);
      await cdp.send('Debugger.resume');
      // Thawed: it follows the new holder and has every message once (what it missed, from
      // the new holder; nothing its old connection still had queued).
      await allReceived([holder], 'frank.frozen', TOTAL);
      await waitFor(async () => !(await holder.evaluate(() => window.client._native.leader())), { what: 'the thawed tab follows' });
      // The next seq is TOTAL + 1: the thawed holder stored nothing of what it was handed.
      assert.equal(await holder.evaluate(() => window.client.publish('frank.frozen', 'after the thaw')), TOTAL + 1);
      await allReceived(pages, 'frank.frozen', TOTAL + 1);
      await waitFor(async () => (await connections()) === 1, { what: 'one connection again' });
      for (const page of pages) assert.deepEqual(page.errors, []);
    } finally {
      await context.close();
    }
  });

// A tab of this origin can post anything on a group's BroadcastChannel (it can find the
// group's name in navigator.locks.query()). Malformed messages are dropped by every tab; a
// forged subscribe only gets what the connection's token allows (the group is one user's).
// Well-shaped forgeries with ids read off the channel: a tab takes only its leader's
// messages, and a subscription's events only addressed to it; a bye in its name sends its
// subscriptions again (docs/sdk.md, Tabs: this stops careless scripts, not hostile ones).
test(`malformed and forged messages on the tabs' channel on ${transport}: nothing throws, nothing beyond the token, no forgery ends or silences a tab`,
  async () => {
    const context = await newContext();
    try {
      const pages = [await openTab(context, ['dave.news'], 'dave'), await openTab(context, ['dave.news'], 'dave')];
      await subscribed(pages);
      const hostile = pages[1];
      const refused = await hostile.evaluate(async () => {
        const { held } = await navigator.locks.query();
        const group = new BroadcastChannel(held.find((l) => l.name.startsWith('pushwire\n')).name);
        const answers = [];
        group.onmessage = (ev) => answers.push(ev.data);
        for (const bad of [null, 7, 'text', [], { t: 'nope' }, { up: 1, t: 'sub' }, { up: 1, from: 'x', t: 'sub', id: 'a' },
          { up: 1, from: 'x', t: 'pub', id: 'q', channel: 5, json: '1' }, { t: 'srv', what: 'constructor', value: 1 },
          { t: 'srv', what: '__proto__' }, { t: 'done', id: 'q1', args: 5 }, { t: 'msg', id: 1, seq: 'x', pos: {} },
          { t: 'gap', id: 1, channel: 'dave.news', from2: 'a', to2: null }, { t: 'subd', id: 1, pos: 3 },
          { t: 'state' }, { up: 1, from: 'x', t: 'presence', id: 'q2', sub: 'zz' }]) group.postMessage(bad);
        // Forged: a subscribe in the name of a tab that does not exist, to another user's channel.
        group.postMessage({ up: 1, from: 'forger', t: 'sub', id: 1, channel: 'erin.secret', since: '' });
        const deadline = Date.now() + 10000;
        while (Date.now() < deadline) {
          const err = answers.find((m) => m.to === 'forger' && m.t === 'err');
          if (err) return err.code;
          if (answers.some((m) => m.to === 'forger' && (m.t === 'subd' || m.t === 'msg'))) return 'subscribed';
          await new Promise((r) => setTimeout(r, 50));
        }
        return 'no answer';
      });
      assert.equal(refused, 'forbidden', "the forged subscribe is refused: the connection's token is dave's");
      // A spy on the channel, then a third tab (a follower): its id is on its requests.
      await hostile.evaluate(async () => {
        const { held } = await navigator.locks.query();
        window.spy = new BroadcastChannel(held.find((l) => l.name.startsWith('pushwire\n')).name);
        window.seen = [];
        window.spy.onmessage = (ev) => window.seen.push(ev.data);
      });
      const victim = await openTab(context, ['dave.news'], 'dave');
      await subscribed([victim]);
      pages.push(victim);
      const forged = await hostile.evaluate(async () => {
        const deadline = Date.now() + 10000;
        let beat, sub;
        while (Date.now() < deadline && !(beat && sub)) {
          beat = window.seen.find((m) => m.t === 'beat');
          sub = window.seen.find((m) => m.up && m.t === 'sub' && m.channel === 'dave.news');
          await new Promise((r) => setTimeout(r, 50));
        }
        if (!beat || !sub) return 'ids not seen';
        const leader = beat.from || 'unknown';
        const to = sub.from;
        // A message to every tab (no `to`) in the leader's name; a gap to the end of time, an
        // `ended`, from a tab that does not lead; a bye in the victim's name.
        window.spy.postMessage({ t: 'msg', from: leader, id: 1, seq: 1000, data: '"FORGED"', time: 1, pos: '' });
        window.spy.postMessage({ t: 'gap', from: 'forger', to, id: 1, channel: 'dave.news', from2: 1, to2: 1e15,
          reason: 'evicted' });
        window.spy.postMessage({ t: 'ended', from: 'forger', to, id: 1, why: 'forged' });
        window.spy.postMessage({ up: 1, from: to, t: 'bye' });
        return 'sent';
      });
      assert.equal(forged, 'sent');
      await new Promise((r) => setTimeout(r, 1000));  // the victim's subscription back on the connection
      assert.equal(await victim.evaluate(() => window.subs[0].state), 'subscribed', 'no forgery ended it');
      await publish(server, 'dave.news', 'still here');
      await publish(server, 'erin.secret', 'not for dave');
      await allReceived(pages, 'dave.news', 1);
      for (const page of pages) assert.deepEqual(page.errors, [], 'no tab threw');
    } finally {
      await context.close();
    }
  });
