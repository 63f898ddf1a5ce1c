// The JS API's contract: errors a developer can act on, state reporting, the demo page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, launchBrowser, openPage, waitFor } from './harness.mjs';

let browser;
let server;
before(async () => { browser = await launchBrowser(); server = await startServer(['--max-message-bytes', '256']); });
after(async () => { await browser?.close(); await server?.stop(); });

test('the demo page loads without console errors and connects', async () => {
  const page = await openPage(browser, server, '/');
  await waitFor(() => page.evaluate(() => window.pushwireDemo?.client?.state === 'connected'), { what: 'demo connected' });
  await page.fill('#message', 'from the test');
  await page.click('button[type=submit]');
  await waitFor(() => page.evaluate(() => document.querySelectorAll('#messages li').length === 1), { what: 'row' });
  const row = await page.textContent('#messages li');
  assert.match(row, /#1/);
  assert.match(row, /from the test/);
  assert.equal(await page.textContent('#active-transport'), 'websocket');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the demo page keeps a refused channel\'s error on screen, and its counter and list start over together', async () => {
  const page = await openPage(browser, server, '/');
  await waitFor(() => page.evaluate(() => window.pushwireDemo?.client?.state === 'connected'), { what: 'demo connected' });
  await page.fill('#message', 'one');
  await page.click('button[type=submit]');
  await waitFor(() => page.evaluate(() => document.querySelectorAll('#messages li').length === 1), { what: 'row' });
  await page.fill('#channel', 'bad channel!');
  // Every text the state shows from now on, so that a late change that paints over the
  // error (even one changed back) is seen.
  await page.evaluate(() => {
    window.stateTexts = [];
    new MutationObserver(() => window.stateTexts.push(document.getElementById('state').textContent))
      .observe(document.getElementById('state'), { childList: true, characterData: true, subtree: true });
  });
  await page.click('#connect');
  await waitFor(() => page.evaluate(() => document.getElementById('state').textContent === 'error'), { what: 'the error shown' });
  // An observation window, not a wait for something: the closed clients stay silent.
  await new Promise((r) => setTimeout(r, 1000));
  const after = await page.evaluate(() => window.stateTexts);
  assert.equal(after[after.length - 1], 'error', `states shown: ${after}`);
  assert.ok(!after.slice(after.indexOf('error')).some((t) => t !== 'error'), `states shown: ${after}`);
  assert.equal(await page.textContent('#state'), 'error');
  assert.match(await page.textContent('#reason'), /invalid/);
  assert.equal(await page.textContent('#count'), '0');
  assert.equal(await page.evaluate(() => document.querySelectorAll('#messages li').length), 0);
  await page.close();
});

test('an invalid channel name throws a PushWireError with code bad_channel', async () => {
  const page = await openPage(browser, server);
  const result = await page.evaluate((url) => {
    const c = new PushWire.Client(url);
    try { c.subscribe('no spaces allowed', () => {}); return 'no error'; } catch (e) { return { code: e.code, message: e.message }; }
    finally { c.close(); }
  }, server.url);
  assert.equal(result.code, 'bad_channel');
  assert.match(result.message, /invalid/);
  await page.close();
});

test('a refused publish rejects its Promise with the server code and sentence', async () => {
  for (const transport of ['websocket', 'sse']) {
    const page = await openPage(browser, server);
    const result = await page.evaluate(async ({ url, transport }) => {
      const c = new PushWire.Client(url, { transport });
      await new Promise((r) => c.onStateChange((s) => s === 'connected' && r()));
      try { await c.publish('big', 'x'.repeat(1000)); return 'resolved'; } catch (e) { return { code: e.code, message: e.message }; }
      finally { c.close(); }
    }, { url: server.url, transport });
    assert.equal(result.code, 'too_large', transport);
    assert.match(result.message, /at most 256/);
    await page.close();
  }
});

test('a bad URL is a TypeError (firstday.test.mjs has the cases); an unreachable server reports reconnecting', async () => {
  const page = await openPage(browser, server);
  const bad = await page.evaluate(() => {
    try { new PushWire.Client('not a url'); return 'accepted'; } catch (e) { return e instanceof TypeError; }
  });
  assert.equal(bad, true);
  const unreachable = await page.evaluate(async () => {
    const c = new PushWire.Client('http://127.0.0.1:9', { reconnectInitialMs: 50 });
    const seen = await new Promise((r) => c.onStateChange((s, reason) => r({ s, reason })));
    c.close();
    return seen;
  });
  assert.equal(unreachable.s, 'reconnecting');
  assert.match(unreachable.reason, /unreachable/);
  await page.close();
});

test('an unknown transport option is a TypeError; a forced transport the server lacks closes the client', async () => {
  const limited = await startServer(['--transports', 'sse,poll']);
  const page = await openPage(browser, limited);
  const result = await page.evaluate(async (url) => {
    let typeError = null;
    try { new PushWire.Client(url, { transport: 'carrier-pigeon' }); } catch (e) { typeError = e instanceof TypeError; }
    const c = new PushWire.Client(url, { transport: 'websocket' });
    const closed = await new Promise((r) => c.onStateChange((s, reason) => s === 'closed' && r(reason)));
    const auto = new PushWire.Client(url);
    await new Promise((r) => auto.onStateChange((s) => s === 'connected' && r()));
    const chosen = auto.transport;
    auto.close();
    return { typeError, closed, chosen };
  }, limited.url);
  assert.equal(result.typeError, true);
  assert.match(result.closed, /does not offer the websocket transport/);
  assert.equal(result.chosen, 'sse');
  await page.close();
  await limited.stop();
});

test('an exception thrown by page code in a callback does not break delivery', async () => {
  const page = await openPage(browser, server);
  const seqs = await page.evaluate(async (url) => {
    const c = new PushWire.Client(url, { transport: 'websocket' });
    const got = [];
    const sub = c.subscribe('throwing', (m) => { got.push(m.seq); throw new Error('page bug'); });
    const until = async (condition) => { while (!condition()) await new Promise((r) => setTimeout(r, 10)); };
    await until(() => c.state === 'connected' && sub.position !== '');
    for (let i = 0; i < 4; i++) await c.publish('throwing', i);
    await until(() => got.length >= 4);
    c.close();
    return got;
  }, server.url);
  assert.deepEqual(seqs, [1, 2, 3, 4]);
  await page.close();
});

test('the C++ example program (C++ API built to wasm) subscribes, publishes and receives', async () => {
  const page = await openPage(browser, server, '/example-cpp.html');
  await waitFor(() => page.evaluate(() => /published as seq \d+/.test(document.getElementById('log').textContent)),
    { what: 'the C++ program publishing' });
  await waitFor(() => page.evaluate(() => /#\d+ \{"from":"C\+\+"/.test(document.getElementById('log').textContent)),
    { what: 'the C++ program receiving its message' });
  const log = await page.textContent('#log');
  assert.match(log, /state: connected/);
  assert.match(log, /transport: websocket/);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a plain EventSource and a plain WebSocket work without the SDK, as docs/protocol.md says', async () => {
  const page = await openPage(browser, server);
  const wsUrl = (await (await fetch(`${server.url}/pushwire/negotiate`)).json()).websocket_url;
  await page.evaluate((url) => {
    window.plain = { sse: [], ws: [], gaps: 0, lastId: '' };
    const es = new EventSource('/pushwire/sse?channel=plain');
    es.onmessage = (e) => { window.plain.sse.push(JSON.parse(e.data)); window.plain.lastId = e.lastEventId; };
    es.addEventListener('gap', () => { window.plain.gaps += 1; });
    window.plainEs = es;
    const ws = new WebSocket(url + '?channel=plain');
    window.plainWs = ws;
    // Both in place: the stream's welcome, and the socket's subscribed frame.
    return new Promise((r) => { let n = 0; const both = () => { if (++n === 2) r(); };
      es.addEventListener('welcome', both);
      ws.onmessage = (e) => {
        const f = JSON.parse(e.data);
        if (f.type === 'message') window.plain.ws.push(f);
        if (f.type === 'subscribed') both();
      };
    });
  }, wsUrl);
  for (let i = 1; i <= 3; i++) await publish(server, 'plain', { n: i });
  await waitFor(() => page.evaluate(() => window.plain.sse.length === 3 && window.plain.ws.length === 3), { what: 'plain clients' });
  const got = await page.evaluate(() => window.plain);
  assert.deepEqual(got.sse.map((m) => m.data.n), [1, 2, 3]);
  assert.deepEqual(got.ws.map((m) => [m.channel, m.seq, m.data.n]), [['plain', 1, 1], ['plain', 2, 2], ['plain', 3, 3]]);
  assert.match(got.lastId, /~plain@3$/);
  // Resume from the id the page saw, as a reconnecting EventSource would (query form).
  await page.evaluate(() => { window.plainEs.close(); window.plainWs.close(); });
  await publish(server, 'plain', { n: 4 });
  const resumed = await page.evaluate((id) => new Promise((r) => {
    const es = new EventSource('/pushwire/sse?channel=plain&last_event_id=' + encodeURIComponent(id));
    es.onmessage = (e) => { es.close(); r(JSON.parse(e.data)); };
  }), got.lastId);
  assert.equal(resumed.seq, 4);
  assert.deepEqual(resumed.data, { n: 4 });
  assert.equal(got.gaps, 0);
  assert.deepEqual(page.errors, []);
  await page.close();
});
