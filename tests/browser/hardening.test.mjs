// What a lagging client, a hostile server and a too-large publish did to the SDK, each on
// every transport it concerns: a reader megabytes behind catches up without a reconnect
// loop; a message the page cannot parse is passed over (a gap, reason "missing"); a publish above the
// server's limit is refused by the SDK itself. And clients no one here wrote (Chromium's
// own WebSocket, Node's fetch) read the server's refusals instead of a reset.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, publish, launchBrowser, openPage, waitFor, TRANSPORTS, DIST } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

for (const transport of TRANSPORTS) {
  test(`${transport}: 102 messages of 60 KB in a burst all arrive, with no reconnect loop`, async () => {
    const server = await startServer(['--max-message-bytes', '70000']);
    const page = await openPage(browser, server);
    try {
      await page.evaluate(({ url, transport }) => {
        window.got = [];
        window.states = [];
        window.client = new PushWire.Client(url, { transport, pollIntervalMs: 200 });
        window.client.onStateChange((s) => window.states.push(s));
        window.sub = window.client.subscribe('fat', (m) => window.got.push(m.seq));
      }, { url: server.url, transport });
      await waitFor(() => page.evaluate(() => window.client.state === 'connected' && window.sub.position !== ''),
        { what: 'connected, position known' });
      const big = 'x'.repeat(60000);
      await Promise.all(Array.from({ length: 102 }, () => publish(server, 'fat', big)));
      await waitFor(() => page.evaluate(() => window.got.length >= 102), { what: 'all 102', timeout: 60000 });
      await sleep(300);
      const { got, states } = await page.evaluate(() => ({ got: window.got, states: window.states }));
      assert.deepEqual(got, Array.from({ length: 102 }, (_, i) => i + 1));
      assert.ok(states.filter((s) => s === 'reconnecting').length <= 1, `states: ${states.join(' ')}`);
    } finally {
      await page.evaluate(() => window.client?.close()).catch(() => {});
      await page.close();
      await server.stop();
    }
  });
}

// A server that is not pushwire's (pushwire refuses data nested deeper than 64): its
// second message is nested 100,000 deep. The SDK once threw RangeError on it (the wasm
// rebuilt the data recursively) and its polling stopped while it said "connected". Now
// data never becomes a tree in the wasm: the page gets it (Chromium's JSON.parse takes
// any depth) or, where the page's parser cannot, a gap of reason "missing" — and the next
// messages.
const envelope = (seq, data) => `{"channel":"c","seq":${seq},"data":${data},"time":1}`;
const deep = '['.repeat(100000) + ']'.repeat(100000);
async function hostileServer(messages = [envelope(1, '"one"'), envelope(2, deep), envelope(3, '"three"'), envelope(4, '"four"')]) {
  const cors = { 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/pushwire/negotiate') {
      res.writeHead(200, { ...cors, 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ protocol: 1, transports: ['sse', 'longpoll', 'poll'], websocket_url: '',
        heartbeat_ms: 10000, epoch: 'e1', max_message_bytes: 4194304 }));
      return;
    }
    const since = url.searchParams.get('since');
    const after = since ? Number(since.split('@').pop()) : 0;
    const rest = messages.slice(after);
    if (url.pathname === '/pushwire/sse') {
      res.writeHead(200, { ...cors, 'Content-Type': 'text/event-stream' });
      res.write(`event: welcome\nid: e1~c@${after}\ndata: {}\n\n`);
      rest.forEach((m, i) => res.write(`id: e1~c@${after + i + 1}\ndata: ${m}\n\n`));
      return;  // held open
    }
    if (url.pathname === '/pushwire/poll' || url.pathname === '/pushwire/longpoll') {
      const send = () => {
        res.writeHead(200, { ...cors, 'Content-Type': 'application/json' });
        res.end(`{"messages":[${rest.join(',')}],"gaps":[],"cursor":"e1~c@${after + rest.length}","more":false}`);
      };
      if (rest.length === 0 && url.pathname === '/pushwire/longpoll') setTimeout(send, 500); else send();
      return;
    }
    const file = path.join(DIST, 'web', url.pathname);
    try {
      res.writeHead(200, { 'Content-Type': file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
      res.end(readFileSync(file));
    } catch { res.writeHead(404); res.end(); }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

// A page with the module loaded from the hostile server serving `messages`; runs `body`
// with the page and the server's URL, then closes both.
async function onHostilePage(messages, body) {
  const hostile = await hostileServer(messages);
  const page = await browser.newPage();
  try {
    await page.goto(hostile.url + '/pushwire.js');
    await page.addScriptTag({ url: '/pushwire.js' });
    await page.evaluate(async () => { window.PushWire = await createPushWire(); });
    await body(page, hostile.url);
  } finally {
    await page.close();
    hostile.server.closeAllConnections();
    hostile.server.close();
  }
}

for (const transport of ['sse', 'longpoll', 'poll']) {
  test(`${transport}: a message nested 100,000 deep does not stop delivery`, async () => {
    await onHostilePage(undefined, async (page, url) => {
      await page.evaluate(({ url, transport }) => {
        window.got = [];
        window.errors = [];
        window.client = new PushWire.Client(url, { transport, pollIntervalMs: 200 });
        const summary = (data) => {
          let depth = 0;
          for (let v = data; Array.isArray(v); v = v[0]) depth++;
          return depth ? `depth ${depth}` : data;
        };
        window.client.subscribe('c', (m) => window.got.push(summary(m.data)),
          { onError: (e) => window.errors.push(e.code) });
      }, { url, transport });
      const result = await waitFor(async () => {
        const r = await page.evaluate(() => ({ got: window.got, errors: window.errors, state: window.client.state }));
        return r.got.length + r.errors.length >= 4 ? r : null;
      }, { what: 'delivery past the deep message', timeout: 20000 });
      assert.deepEqual(result.got, ['one', 'depth 100000', 'three', 'four']);
      assert.deepEqual(result.errors, []);
      assert.equal(result.state, 'connected');
    });
  });
}

// Frames are read by the browser's JSON.parse (glue.js pwRead). One it refuses (cut short
// here) is skipped and shows as a hole, reason "missing": never a stop, never silence.
test('sse: a frame that is not JSON is a gap of reason missing, and the next ones come', async () => {
  const cut = '{"channel":"c","seq":2,"data":{"a":';
  await onHostilePage([envelope(1, '"one"'), cut, envelope(3, '"three"')], async (page, url) => {
    await page.evaluate((url) => {
      window.got = [];
      window.gaps = [];
      window.client = new PushWire.Client(url, { transport: 'sse' });
      window.client.subscribe('c', (m) => window.got.push(m.data), { onGap: (g) => window.gaps.push(g) });
    }, url);
    const result = await waitFor(async () => {
      const r = await page.evaluate(() => ({ got: window.got, gaps: window.gaps, state: window.client.state }));
      return r.got.length >= 2 ? r : null;
    }, { what: 'delivery past the cut frame' });
    assert.deepEqual(result.got, ['one', 'three']);
    assert.deepEqual(result.gaps, [{ channel: 'c', from: 2, to: 2, reason: 'missing' }]);
    assert.equal(result.state, 'connected');
  });
});

// Subscriptions of one channel on one client: each gets its own data, so one that
// changes what it got does not change what another gets.
test('three subscriptions of one channel each get their own data, on every transport', async () => {
  const server = await startServer([]);
  const page = await openPage(browser, server);
  try {
    await page.evaluate(({ url, transports }) => {
      window.got = {};
      window.subs = [];
      window.clients = transports.map((transport) => {
        const client = new PushWire.Client(url, { transport, pollIntervalMs: 200 });
        const first = [];
        const second = [];
        const third = [];
        window.got[transport] = { first, second, third };
        client.subscribe('twin', (m) => { first.push(m.data); m.data.n = 'changed by the first'; });
        client.subscribe('twin', (m) => second.push(m.data));
        window.subs.push(client.subscribe('twin', (m) => third.push(m.data)));
        return client;
      });
    }, { url: server.url, transports: TRANSPORTS });
    await waitFor(() => page.evaluate(() => window.clients.every((c) => c.state === 'connected') &&
      window.subs.every((s) => s.position !== '')), { what: 'connected, positions known' });
    await publish(server, 'twin', { n: 1 });
    await publish(server, 'twin', { n: 2 });
    await waitFor(() => page.evaluate(() => Object.values(window.got).every((g) => g.third.length >= 2)),
      { what: 'both messages on every transport' });
    const got = await page.evaluate(() => {
      const out = {};
      for (const [t, g] of Object.entries(window.got)) {
        const shared = (a, b) => a.some((d, i) => d === b[i]);
        const same = shared(g.first, g.second) || shared(g.first, g.third) || shared(g.second, g.third);
        out[t] = { second: g.second, third: g.third, same };
      }
      return out;
    });
    for (const transport of TRANSPORTS) {
      assert.deepEqual(got[transport], { second: [{ n: 1 }, { n: 2 }], third: [{ n: 1 }, { n: 2 }], same: false },
        transport);
    }
  } finally {
    await page.evaluate(() => window.clients?.forEach((c) => c.close())).catch(() => {});
    await page.close();
    await server.stop();
  }
});

test('a publish above the server limit is refused by the SDK with too_large, on every transport', async () => {
  const server = await startServer(['--max-message-bytes', '65536']);
  const page = await openPage(browser, server);
  try {
    for (const transport of TRANSPORTS) {
      const result = await page.evaluate(async ({ url, transport }) => {
        const client = new PushWire.Client(url, { transport });
        const states = [];
        client.onStateChange((s) => states.push(s));
        await new Promise((r) => { const t = setInterval(() => { if (client.state === 'connected') { clearInterval(t); r(); } }, 20); });
        let code;
        try { await client.publish('big', 'x'.repeat(100000)); code = 'accepted'; } catch (e) { code = e.code; }
        const after = await client.publish('big', 'small');
        client.close();
        return { code, after, states };
      }, { url: server.url, transport });
      assert.equal(result.code, 'too_large', transport);
      assert.equal(typeof result.after, 'number', `${transport}: the client goes on`);
      assert.ok(!result.states.includes('reconnecting'), `${transport}: no reconnect`);
    }
  } finally {
    await page.close();
    await server.stop();
  }
});

test("the browser's own WebSocket reads close code 1009 for a frame over the limit, not 1006", async () => {
  const server = await startServer(['--max-message-bytes', '1024']);
  const page = await openPage(browser, server);
  try {
    const code = await page.evaluate((url) => new Promise((resolve) => {
      const ws = new WebSocket(url.replace('http', 'ws') + '/pushwire/ws');
      ws.onopen = () => ws.send('x'.repeat(100000));
      ws.onclose = (e) => resolve(e.code);
    }), server.url);
    assert.equal(code, 1009);
  } finally {
    await page.close();
    await server.stop();
  }
});

test("Node's fetch reads the 413 for bodies of 1 MB and 10 MiB, every time", async () => {
  const server = await startServer(['--max-message-bytes', '1024']);
  try {
    for (const size of [1_000_000, 10 * 1024 * 1024]) {
      const body = JSON.stringify({ channel: 'x', data: 'y'.repeat(size) });
      let read = 0;
      const failures = [];
      for (let i = 0; i < 30; i++) {
        try {
          const res = await fetch(`${server.url}/pushwire/publish`, { method: 'POST', body });
          const answer = await res.json();
          if (res.status === 413 && answer.error.code === 'too_large') read++;
        } catch (e) { failures.push(e.cause?.code || e.message); }
      }
      assert.equal(read, 30, `${size} bytes: ${failures.join(', ')}`);
    }
  } finally { await server.stop(); }
});
