// A new user's first day (issue 25): every misuse of the SDK answered at once, where the
// user looks. A URL the client cannot use throws; a refused token is one onError per
// subscription and a steady "reconnecting" with the reason, not a flapping status; a bad
// saved `since` is an onError, not a throw; the errors are a class; subscriptions have a
// state; connect()/disconnect(); the debug option; a page of another origin is told why;
// a missing wasm names its URL after one fetch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { DIST, TRANSPORTS, startServer, publish, launchBrowser, openPage, waitFor, metrics } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const SECRET = 'firstday-secret-0123456789abcdef0123';
const dir = mkdtempSync(path.join(os.tmpdir(), 'pushwire-firstday-'));
writeFileSync(path.join(dir, 'secret'), SECRET + '\n');
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
function mint(claims, secret = SECRET) {
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);

let browser;
let server;
before(async () => { browser = await launchBrowser(); server = await startServer(); });
after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a URL the client cannot use throws a TypeError that says what to pass', async () => {
  const page = await openPage(browser, server);
  const result = await page.evaluate((good) => {
    const attempt = (url) => {
      try { new PushWire.Client(url).close(); return 'accepted'; } catch (e) {
        return { type: e instanceof TypeError, message: e.message };
      }
    };
    return {
      bare: attempt('127.0.0.1:8080'),
      ws: attempt('ws://127.0.0.1:8080'),
      words: attempt('not a url'),
      empty: attempt(''),
      inList: attempt([good, 'localhost:8080']),
      good: attempt(good),
      goodWithPath: attempt(good + '/'),
    };
  }, server.url);
  for (const what of ['bare', 'ws', 'words', 'empty', 'inList']) {
    assert.equal(result[what].type, true, `${what}: ${JSON.stringify(result[what])}`);
    assert.match(result[what].message, /is not a server URL: pass its http:\/\/ or https:\/\/ URL/, what);
  }
  assert.match(result.ws.message, /not ws:\/\//);
  assert.equal(result.good, 'accepted');
  assert.equal(result.goodWithPath, 'accepted');
  await page.close();
});

for (const transport of TRANSPORTS) {
  test(`${transport}: a refused token: one onError per subscription, "reconnecting" with the reason and no flapping, getToken asked again with backoff; a good token then connects and delivers`, async () => {
    const secured = await startServer(['--token-secret-file', path.join(dir, 'secret'), '--heartbeat-ms', '1000']);
    const page = await openPage(browser, secured);
    let good = false;
    let asked = 0;
    await page.exposeFunction('mintToken', () => {
      asked++;
      const claims = { sub: 'alice', exp: now() + 60, subscribe: ['chat:*'] };
      return good ? mint(claims) : mint(claims, 'not-the-server-secret-0123456789abcdef');
    });
    try {
      await page.evaluate(({ transport }) => {
        window.states = [];
        window.errors = { a: [], b: [] };
        window.got = [];
        window.client = new PushWire.Client(location.origin, {
          transport, pollIntervalMs: 100, reconnectInitialMs: 200, reconnectMaxMs: 1000, getToken: () => window.mintToken(),
        });
        window.client.onStateChange((s) => window.states.push(s));
        window.subA = window.client.subscribe('chat:a', (m) => window.got.push(m.seq), { onError: (e) => window.errors.a.push(e.code) });
        window.client.subscribe('chat:b', () => {}, { onError: (e) => window.errors.b.push(e.code) });
      }, { transport });
      await waitFor(() => page.evaluate(() => window.errors.a.length > 0), { what: 'the refusal' });
      // An observation window, not a wait for something: what the refusal does over 3 s.
      await sleep(3000);
      const seen = await page.evaluate(() => ({
        states: window.states, errors: window.errors, state: window.client.state, reason: window.client.stateReason,
        sub: window.subA.state,
      }));
      assert.deepEqual(seen.states, ['reconnecting'], `states: ${seen.states}`);
      assert.deepEqual(seen.errors, { a: ['unauthorized'], b: ['unauthorized'] });
      assert.equal(seen.state, 'reconnecting');
      assert.match(seen.reason, /^unauthorized: invalid token: bad signature; getToken is asked again/);
      assert.equal(seen.sub, 'subscribing');
      // At once, then with the backoff (200 ms doubling to 1 s, full jitter): a handful in
      // 3 s, not the dozens of a loop.
      assert.ok(asked >= 3 && asked <= 16, `getToken asked ${asked} times`);
      good = true;
      await waitFor(() => page.evaluate(() => window.client.state === 'connected' && window.subA.state === 'subscribed'),
        { what: 'connected with a good token' });
      await publish(secured, 'chat:a', { hello: 1 }, { Authorization: `Bearer ${mint({ sub: 'backend', exp: now() + 60, publish: ['*'] })}` });
      await waitFor(() => page.evaluate(() => window.got.length === 1), { what: 'the message' });
      assert.deepEqual(await page.evaluate(() => window.states), ['reconnecting', 'connected']);
    } finally {
      await page.evaluate(() => window.client?.close()).catch(() => {});
      await page.close();
      await secured.stop();
    }
  });
}

test('a garbage or foreign `since` does not throw: onError bad_cursor, and the subscription reads from now', async () => {
  const page = await openPage(browser, server);
  await page.evaluate(async () => {
    window.client = new PushWire.Client(location.origin, { transport: 'websocket' });
    const other = window.client.subscribe('fd-other', () => {});
    await new Promise((r) => { const t = setInterval(() => { if (other.position) { clearInterval(t); r(); } }, 10); });
    window.foreign = other.position;
    window.got = { garbage: [], foreign: [] };
    window.errors = { garbage: [], foreign: [] };
    window.subs = {};
    for (const [what, since] of [['garbage', '{"oops":1}'], ['foreign', window.foreign]]) {
      window.subs[what] = window.client.subscribe(`fd-${what}`, (m) => window.got[what].push(m.data),
        { since, onError: (e) => window.errors[what].push([e.code, e.message]) });
    }
  });
  await publish(server, 'fd-garbage', 'before');  // may arrive or not: "from now" is the server's moment
  await waitFor(() => page.evaluate(() => window.subs.garbage.state === 'subscribed' && window.subs.foreign.state === 'subscribed'),
    { what: 'both subscribed' });
  await publish(server, 'fd-garbage', 'after');
  await publish(server, 'fd-foreign', 'after');
  await waitFor(() => page.evaluate(() => window.got.garbage.includes('after') && window.got.foreign.includes('after')),
    { what: 'messages from now' });
  const errors = await page.evaluate(() => window.errors);
  assert.equal(errors.garbage.length, 1);
  assert.equal(errors.garbage[0][0], 'bad_cursor');
  assert.match(errors.garbage[0][1], /is not a position of 'fd-garbage'.*reading from now/);
  assert.deepEqual(errors.foreign.map((e) => e[0]), ['bad_cursor']);
  await page.evaluate(() => window.client.close());
  await page.close();
});

test('errors are PushWireError instances, exported with the module; history() reuses the unexpired token', async () => {
  const secured = await startServer(['--token-secret-file', path.join(dir, 'secret')]);
  const page = await openPage(browser, secured);
  let asked = 0;
  await page.exposeFunction('mintToken', () => {
    asked++;
    return mint({ sub: 'alice', exp: now() + 600, subscribe: ['chat:*'], publish: ['chat:*'] });
  });
  try {
    const result = await page.evaluate(async () => {
      const client = new PushWire.Client(location.origin, { getToken: () => window.mintToken() });
      await new Promise((r) => client.onStateChange((s) => s === 'connected' && r()));
      await client.publish('chat:a', 1);
      const lengths = [];
      for (let i = 0; i < 3; i++) lengths.push((await client.history('chat:a')).length);
      let refused;
      try { await client.publish('elsewhere', 1); } catch (e) { refused = e; }
      client.close();
      return {
        lengths, instance: refused instanceof PushWire.PushWireError, error: refused instanceof Error,
        name: refused.name, code: refused.code,
      };
    });
    assert.deepEqual(result, { lengths: [1, 1, 1], instance: true, error: true, name: 'PushWireError', code: 'forbidden' });
    assert.equal(asked, 1, `getToken asked ${asked} times for one connection and three history() calls`);
  } finally {
    await page.close();
    await secured.stop();
  }
});

test('sub.state: subscribing, subscribed, subscribing while the client reconnects, unsubscribed with the reason', async () => {
  const page = await openPage(browser, server);
  const result = await page.evaluate(async () => {
    const client = new PushWire.Client(location.origin, { transport: 'sse', reconnectInitialMs: 50 });
    const sub = client.subscribe('fd-state', () => {});
    const seen = [[sub.state, sub.stateReason]];
    sub.onStateChange((state, reason) => seen.push([state, reason]));
    const until = async (f) => { while (!f()) await new Promise((r) => setTimeout(r, 10)); };
    await until(() => sub.state === 'subscribed');
    client.disconnect();
    const whileDown = [client.state, sub.state];
    client.connect();
    await until(() => sub.state === 'subscribed' && client.state === 'connected');
    sub.unsubscribe();
    const open = client.subscribe('fd-state-2', () => {});
    client.close();
    return { seen, whileDown, closedSub: [open.state, open.stateReason] };
  });
  assert.deepEqual(result.seen, [
    ['subscribing', ''], ['subscribed', ''], ['subscribing', 'disconnected by the application'], ['subscribed', ''],
    ['unsubscribed', 'unsubscribed by the application'],
  ]);
  assert.deepEqual(result.whileDown, ['disconnected', 'subscribing']);
  assert.deepEqual(result.closedSub, ['unsubscribed', 'the client was closed']);
  await page.close();
});

test('a channel the token does not cover: that subscription alone ends, its state unsubscribed with the reason', async () => {
  const secured = await startServer(['--token-secret-file', path.join(dir, 'secret')]);
  const page = await openPage(browser, secured);
  await page.exposeFunction('mintToken', () => mint({ sub: 'alice', exp: now() + 600, subscribe: ['chat:*'] }));
  try {
    const result = await page.evaluate(async () => {
      const client = new PushWire.Client(location.origin, { getToken: () => window.mintToken() });
      const ok = client.subscribe('chat:a', () => {});
      const refused = client.subscribe('secret', () => {}, { onError: () => {} });
      const until = async (f) => { while (!f()) await new Promise((r) => setTimeout(r, 10)); };
      await until(() => ok.state === 'subscribed' && refused.state === 'unsubscribed');
      client.close();
      return { reason: refused.stateReason };
    });
    assert.match(result.reason, /^forbidden: /);
  } finally {
    await page.close();
    await secured.stop();
  }
});

test('a channel refused while a long-poll is held reaches onError at once, not when the hold ends; the other channel goes on', async () => {
  // Held requests of 30 s: a refusal that waited for the hold to end would miss the wait below.
  const secured = await startServer(['--token-secret-file', path.join(dir, 'secret'), '--heartbeat-ms', '30000']);
  const page = await openPage(browser, secured);
  await page.exposeFunction('mintToken', () => mint({ sub: 'alice', exp: now() + 600, subscribe: ['chat:*'] }));
  try {
    await page.evaluate(() => {
      window.errors = [];
      window.got = [];
      window.client = new PushWire.Client(location.origin, { transport: 'longpoll', getToken: () => window.mintToken() });
      window.ok = window.client.subscribe('chat:a', (m) => window.got.push(m.seq));
    });
    await waitFor(() => page.evaluate(() => window.ok.state === 'subscribed'), { what: 'chat:a subscribed' });
    await sleep(200);  // the next request is held by now
    await page.evaluate(() => {
      window.refused = window.client.subscribe('secret', () => {}, { onError: (e) => window.errors.push(e.code) });
    });
    await waitFor(() => page.evaluate(() => window.errors.length === 1), { what: 'the refusal', timeout: 10000 });
    assert.deepEqual(await page.evaluate(() => [window.errors, window.refused.state, window.ok.state]),
      [['forbidden'], 'unsubscribed', 'subscribed']);
  } finally {
    await page.evaluate(() => window.client?.close()).catch(() => {});
    await page.close();
    await secured.stop();
  }
});

// Every channel of a request refused: an EventSource cannot read a 403, so on SSE the
// refusal comes in a 200 stream that ends (docs/protocol.md): the SDK's onError comes as on
// the other transports, and nothing asks again; a raw EventSource reads it too.
test('a request whose every channel is forbidden: onError on every transport (SSE too), no reconnect loop, and a raw EventSource reads the refusal', async () => {
  const secured = await startServer(['--token-secret-file', path.join(dir, 'secret')]);
  const page = await openPage(browser, secured);
  await page.exposeFunction('mintToken', () => mint({ sub: 'alice', exp: now() + 600, subscribe: ['chat:*'] }));
  const refusals = async () => (await metrics(secured)).pushwire_forbidden_total || 0;
  try {
    for (const transport of TRANSPORTS) {
      const before = await refusals();
      const result = await page.evaluate(async (transport) => {
        const errors = [];
        const client = new PushWire.Client(location.origin, { transport, getToken: () => window.mintToken() });
        const refused = client.subscribe('secret', () => {}, { onError: (e) => errors.push(e.code) });
        const deadline = Date.now() + 15000;
        while (refused.state !== 'unsubscribed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 1500));  // time for a reconnect loop to show
        client.close();
        return { errors, state: refused.state };
      }, transport);
      assert.deepEqual(result, { errors: ['forbidden'], state: 'unsubscribed' }, transport);
      assert.equal(await refusals(), before + 1, `${transport}: refused once, not asked again and again`);
    }
    const before = await refusals();
    const raw = await page.evaluate(async () => {
      const token = await window.mintToken();
      return new Promise((resolve) => {
        const seen = [];
        const es = new EventSource(`/pushwire/sse?channels=secret,other&token=${token}`);
        es.addEventListener('error', (ev) => {
          if (ev.data) { seen.push(JSON.parse(ev.data)); return; }  // the server's refusals
          es.close();  // the end of the stream (the next try would be an hour away)
          resolve(seen.map((e) => [e.channel, e.error.code]));
        });
      });
    });
    assert.deepEqual(raw, [['secret', 'forbidden'], ['other', 'forbidden']]);
    assert.equal(await refusals(), before + 2, 'one request: its two channels');
  } finally {
    await page.close();
    await secured.stop();
  }
});

test('client.disconnect() and connect(): the same client resumes where it was, nothing lost or repeated', async () => {
  for (const transport of TRANSPORTS) {
    const page = await openPage(browser, server);
    await page.evaluate(async (transport) => {
      window.got = [];
      window.client = new PushWire.Client(location.origin, { transport, pollIntervalMs: 100 });
      window.sub = window.client.subscribe(`fd-dc-${transport}`, (m) => window.got.push(m.seq));
    }, transport);
    await waitFor(() => page.evaluate(() => window.sub.state === 'subscribed'), { what: `${transport}: subscribed` });
    await publish(server, `fd-dc-${transport}`, 1);
    await waitFor(() => page.evaluate(() => window.got.length === 1), { what: `${transport}: first` });
    await page.evaluate(() => window.client.disconnect());
    assert.equal(await page.evaluate(() => window.client.state), 'disconnected');
    await publish(server, `fd-dc-${transport}`, 2);
    await publish(server, `fd-dc-${transport}`, 3);
    await page.evaluate(() => window.client.connect());
    await waitFor(() => page.evaluate(() => window.got.length >= 3), { what: `${transport}: resumed` });
    await publish(server, `fd-dc-${transport}`, 4);
    await waitFor(() => page.evaluate(() => window.got.length >= 4), { what: `${transport}: after` });
    assert.deepEqual(await page.evaluate(() => window.got), [1, 2, 3, 4], transport);
    await page.evaluate(() => window.client.close());
    await page.close();
  }
});

test('the debug option logs the transport tried, the reconnect delay and the cursor resumed', async () => {
  const page = await openPage(browser, server);
  await page.evaluate(async () => {
    window.lines = [];
    window.client = new PushWire.Client(location.origin, { transport: 'longpoll', reconnectInitialMs: 50,
      debug: (line) => window.lines.push(line) });
    window.sub = window.client.subscribe('fd-debug', () => {});
  });
  await waitFor(() => page.evaluate(() => window.sub.state === 'subscribed'), { what: 'subscribed' });
  await page.evaluate(() => { window.client.disconnect(); window.client.connect(); });
  await waitFor(() => page.evaluate(() => window.lines.some((l) => /resuming/.test(l))), { what: 'the resume line' });
  const lines = await page.evaluate(() => window.lines);
  assert.deepEqual(lines.slice(0, 2), ['connected over longpoll', 'disconnected: disconnected by the application'], lines.join('\n'));
  assert.match(lines[lines.length - 1], /^connected over longpoll, resuming fd-debug from \S*fd-debug@\d+$/, lines.join('\n'));
  // A server that is not there: the reconnect delay.
  const unreachable = await page.evaluate(async () => {
    const lines = [];
    const c = new PushWire.Client('http://127.0.0.1:9', { reconnectInitialMs: 50, debug: (l) => lines.push(l) });
    while (!lines.some((l) => /^reconnecting in \d+ ms/.test(l))) await new Promise((r) => setTimeout(r, 10));
    c.close();
    return lines;
  });
  assert.ok(unreachable.some((l) => /^reconnecting in \d+ ms \(server unreachable at http:\/\/127\.0\.0\.1:9\b/.test(l)),
    unreachable.join('\n'));
  await page.evaluate(() => window.client.close());
  await page.close();
});

// A page served by a plain static server on its own port (its own origin), with the module.
async function originServer() {
  const files = { '/pushwire.js': 'text/javascript', '/pushwire.wasm': 'application/wasm' };
  const requests = [];
  const web = http.createServer((req, res) => {
    requests.push(req.url);
    const type = files[req.url];
    if (type) {
      res.writeHead(200, { 'Content-Type': type });
      res.end(readFileSync(path.join(DIST, 'web', req.url)));
    } else if (req.url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><link rel="icon" href="data:,"><title>origin</title><script src="/pushwire.js"></script>');
    } else {
      res.writeHead(404);
      res.end('not here');
    }
  });
  await new Promise((r) => web.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${web.address().port}`, requests, close: () => new Promise((r) => web.close(r)) };
}

test('a page of an origin the server does not allow: stateReason names the refusal (origin_not_allowed), or, where the browser hides it, says it may be one', async () => {
  const origin = await originServer();
  const strict = await startServer(['--allowed-origins', 'https://app.example']);
  // A server that answers without CORS headers: the page sees a network error only.
  const silent = http.createServer((req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{}'); });
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  const page = await browser.newPage();
  try {
    await page.goto(origin.url + '/');
    const reasons = await page.evaluate(async (urls) => {
      const PushWire = await createPushWire();
      const out = [];
      for (const url of urls) {
        const c = new PushWire.Client(url, { reconnectInitialMs: 50 });
        out.push(await new Promise((r) => c.onStateChange((s, reason) => s === 'reconnecting' && r([reason, c.stateReason]))));
        c.close();
      }
      return out;
    }, [strict.url, `http://127.0.0.1:${silent.address().port}`]);
    const [refused, hidden] = reasons;
    assert.equal(refused[0], refused[1]);
    assert.equal(refused[0], `negotiate answered HTTP 403 origin_not_allowed: pages of origin '${origin.url}' may not use this server: its operator must add it to --allowed-origins`);
    assert.equal(hidden[0], hidden[1]);
    assert.ok(hidden[0].startsWith(`server unreachable at http://127.0.0.1:${silent.address().port} (or it refused this page's origin, ${origin.url}, without CORS headers`) &&
      hidden[0].endsWith('--allowed-origins?)'), hidden[0]);
  } finally {
    await page.close();
    await strict.stop();
    await origin.close();
    await new Promise((r) => silent.close(r));
  }
});

test('a wasm that cannot be loaded: createPushWire() rejects naming its URL, after one fetch', async () => {
  const origin = await originServer();
  const page = await browser.newPage();
  try {
    await page.goto(origin.url + '/');
    const message = await page.evaluate(async () => {
      try {
        await createPushWire({ locateFile: (f) => '/missing/' + f });
        return 'loaded';
      } catch (e) { return e.message; }
    });
    assert.match(message, new RegExp(`could not load ${origin.url}/missing/pushwire\\.wasm \\(HTTP 404\\)`));
    assert.deepEqual(origin.requests.filter((u) => u.startsWith('/missing/')), ['/missing/pushwire.wasm']);
  } finally {
    await page.close();
    await origin.close();
  }
});
