// Delivery through faults, with a TCP proxy between the browser and the server. Every
// transport runs the same scenarios; "auto" runs the fallback and upgrade cases.
// PUSHWIRE_TRANSPORT picks one transport, or "auto".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { startServer, publish, launchBrowser, openPage, waitFor, freePort, TRANSPORTS } from './harness.mjs';
import { FaultProxy } from './proxy.mjs';

const only = process.env.PUSHWIRE_TRANSPORT;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const HEARTBEAT_MS = Number(process.env.PUSHWIRE_HEARTBEAT_MS || 1000);  // faster than the 10 s default, to keep tests short
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function setup({ serverArgs = [], transport, clientOptions = {} }) {
  const proxy = await new FaultProxy().start();
  const ports = { port: await freePort(), wsPort: await freePort() };
  const args = ['--heartbeat-ms', String(HEARTBEAT_MS), '--public-ws-url', proxy.wsUrl, ...serverArgs];
  const server = await startServer(args, ports);
  proxy.target = { httpPort: server.httpPort, wsPort: server.wsPort };
  // The page comes from the server itself; the client talks through the proxy.
  const page = await openPage(browser, server);
  const env = { proxy, server, page, ports, args };
  env.subscribe = () => page.evaluate(({ url, transport, options }) => {
    window.log = { msgs: [], gaps: [], states: [], first: null };
    window.client = new PushWire.Client(url, { transport, pollIntervalMs: 100, ...options });
    window.client.onStateChange((s, r) => window.log.states.push({ s, r, t: performance.now(), transport: window.client.transport }));
    window.log.subscribedAt = performance.now();
    window.sub = window.client.subscribe('c', (m) => {
      if (window.log.first === null) window.log.first = performance.now() - window.log.subscribedAt;
      window.log.msgs.push(m.seq);
    }, { onGap: (g) => window.log.gaps.push(g) });
  }, { url: proxy.url, transport, options: clientOptions });
  env.log = () => page.evaluate(() => window.log);
  env.received = (n) => waitFor(() => page.evaluate((k) => window.log.msgs.length >= k, n), { what: `${n} messages`, timeout: 30000 });
  env.state = (s) => waitFor(() => page.evaluate((want) => window.client.state === want, s), { what: `state ${s}`, timeout: 30000 });
  // Connected, and the subscription's position known: the server serves it.
  env.ready = async () => {
    await env.state('connected');
    await waitFor(() => page.evaluate(() => window.sub.position !== ''), { what: 'position known', timeout: 30000 });
  };
  // An observation window: a late repeat would come within a heartbeat (or a poll).
  env.quiet = () => sleep(HEARTBEAT_MS);
  env.teardown = async () => {
    await page.evaluate(() => window.client && window.client.close()).catch(() => {});
    await page.close();
    await env.server.stop();
    await proxy.stop();
  };
  return env;
}

const forced = only && only !== 'auto' ? [only] : only === 'auto' ? [] : TRANSPORTS;
for (const transport of forced) {
  test(`${transport}: cuts in the middle of a stream lose nothing and repeat nothing`, async () => {
    const env = await setup({ transport });
    const polling = transport === 'longpoll' || transport === 'poll';
    try {
      await env.subscribe();
      await env.ready();
      // Streams: every live connection is cut. Polls: the next request is cut in flight
      // (it reached the server, its answer is lost), so there is always something to notice.
      const cutRequests = [];
      for (let i = 1; i <= 150; i++) {
        await publish(env.server, 'c', i);
        if (i === 40 || i === 100) {
          if (polling) cutRequests.push(env.proxy.cutNextRequest(`/pushwire/${transport}?`));
          else env.proxy.cutAll();
        }
        await sleep(5);
      }
      await env.received(150);
      await env.quiet();
      const log = await env.log();
      assert.deepEqual(log.msgs, range(1, 150));
      assert.deepEqual(log.gaps, []);
      assert.ok(env.proxy.cuts >= 1, 'live connections were cut');
      if (polling) {
        // Noticed: the request whose answer was lost is asked again, from the same
        // position (by the client, or by the browser retrying on a new connection).
        for (const cut of await Promise.all(cutRequests)) {
          const since = /[?&]since=([^&]*)/.exec(cut.target)?.[1];
          assert.ok(since, `the cut request had a position: ${cut.target}`);
          assert.ok(env.proxy.requests.some((r) => r.at > cut.at && r.target.includes(`since=${since}`)),
            `the request cut in flight was asked again: ${cut.target}`);
        }
      } else {
        assert.ok(log.states.some((s) => s.s === 'reconnecting'), 'the cuts were noticed');
      }
    } finally { await env.teardown(); }
  });

  test(`${transport}: an outage that overruns the history gives exactly one gap with the lost range`, async () => {
    const env = await setup({ transport, serverArgs: ['--history', '10'] });
    try {
      await env.subscribe();
      await env.ready();
      for (let i = 1; i <= 5; i++) await publish(env.server, 'c', i);
      await env.received(5);
      env.proxy.refuseAll = true;
      env.proxy.cutAll();
      await env.state('reconnecting');
      for (let i = 6; i <= 35; i++) await publish(env.server, 'c', i);  // the server keeps 26..35
      env.proxy.refuseAll = false;
      await env.received(15);
      for (let i = 36; i <= 40; i++) await publish(env.server, 'c', i);
      await env.received(20);
      await env.quiet();
      const log = await env.log();
      assert.deepEqual(log.gaps, [{ channel: 'c', from: 6, to: 25, reason: 'evicted' }]);
      assert.deepEqual(log.msgs, [...range(1, 5), ...range(26, 40)]);
    } finally { await env.teardown(); }
  });

  test(`${transport}: a server restart gives a gap of unknown extent, then normal delivery`, async () => {
    const env = await setup({ transport });
    try {
      await env.subscribe();
      await env.ready();
      for (let i = 1; i <= 5; i++) await publish(env.server, 'c', i);
      await env.received(5);
      await env.server.stop();
      env.server = await startServer(env.args, env.ports);  // same ports, new epoch, no history
      await waitFor(() => env.page.evaluate(() => window.log.gaps.length > 0), { what: 'gap', timeout: 30000 });
      await env.ready();
      for (let i = 1; i <= 3; i++) await publish(env.server, 'c', `new ${i}`);
      await env.received(8);
      await env.quiet();
      const log = await env.log();
      assert.deepEqual(log.gaps, [{ channel: 'c', from: 6, to: null, reason: 'epoch_changed' }]);
      assert.deepEqual(log.msgs, [1, 2, 3, 4, 5, 1, 2, 3]);
    } finally { await env.teardown(); }
  });

  test(`${transport}: a silent dead link is noticed and delivery resumes`, async () => {
    const env = await setup({ transport });
    try {
      await env.subscribe();
      await env.ready();
      await publish(env.server, 'c', 1);
      await env.received(1);
      const start = await env.page.evaluate(() => performance.now());
      // The whole path goes silent (new connections too) until the client says it noticed;
      // only then can it reconnect.
      env.proxy.blackholeAll({ andNew: true });
      await env.state('reconnecting');
      env.proxy.reviveNew();
      await env.ready();
      await publish(env.server, 'c', 2);
      await env.received(2);
      const log = await env.log();
      const noticed = log.states.find((s) => s.s === 'reconnecting' && s.t >= start).t - start;
      const resumed = log.states.filter((s) => s.s === 'connected' && s.t >= start)[0].t - start;
      appendFileSync(process.env.PUSHWIRE_TIMINGS || '/tmp/pushwire-deadlink.jsonl',
        JSON.stringify({ transport, heartbeatMs: HEARTBEAT_MS, noticedMs: Math.round(noticed), resumedMs: Math.round(resumed) }) + '\n');
      console.log(`# ${transport}: dead link noticed after ${Math.round(noticed)} ms, connected again after ${Math.round(resumed)} ms (heartbeat ${HEARTBEAT_MS} ms)`);
      if (process.env.PUSHWIRE_DEBUG) console.log(JSON.stringify(log.states));
      assert.deepEqual(log.msgs, [1, 2]);
    } finally { await env.teardown(); }
  });
}

if (!only || only === 'auto') {
  // Publishes every 100 ms until stopped, so "first message after subscribe" can be reported.
  const ticker = (env) => {
    let stop = false;
    let n = 0;
    const done = (async () => { while (!stop) { await publish(env.server, 'c', ++n); await sleep(100); } })();
    return async () => { stop = true; await done; return n; };
  };

  // How fast the fallback settles is printed, not asserted (the machine is noisy): only a
  // hang fails, at the wait's timeout.
  const fallbackCase = (name, faults, expected) => test(`auto: ${name} settles on ${expected} and delivers there`, async () => {
    const env = await setup({ transport: 'auto' });
    try {
      Object.assign(env.proxy, faults);
      const stopTicker = ticker(env);
      await env.subscribe();
      // Settled: connected on the expected transport (earlier candidates may deliver a
      // first message or two on the way down the list, which is fine).
      await waitFor(() => env.page.evaluate((want) => window.client.state === 'connected' &&
        window.client.transport === want, expected), { what: `settled on ${expected}`, timeout: 15000 })
        .catch(async (e) => { throw new Error(`${e.message}: ${JSON.stringify((await env.log()).states)}`); });
      const settledCount = await env.page.evaluate(() => window.log.msgs.length);
      await env.received(settledCount + 3);  // and delivering there
      await stopTicker();
      const log = await env.log();
      const settled = log.states.find((s) => s.s === 'connected' && s.transport === expected).t - log.subscribedAt;
      console.log(`# auto (${name}): settled on ${expected} ${Math.round(settled)} ms after subscribe, first message after ${Math.round(log.first)} ms`);
      const msgs = log.msgs;
      assert.deepEqual(msgs, range(msgs[0], msgs[0] + msgs.length - 1), 'in order, no repeats');
    } finally { await env.teardown(); }
  });

  fallbackCase('WebSocket port refused', { refuseWs: true }, 'sse');
  fallbackCase('event stream held back by a buffering proxy', { refuseWs: true, holdSse: true }, 'longpoll');
  fallbackCase('held requests killed', { refuseWs: true, holdSse: true, killHeldLongPolls: true }, 'poll');

  test('auto: upgrades back to WebSocket when it becomes reachable, without loss or repeats', async () => {
    const env = await setup({ transport: 'auto', clientOptions: { upgradeIntervalMs: 1000 } });
    try {
      env.proxy.refuseWs = true;
      await env.subscribe();
      await env.ready();
      assert.equal(await env.page.evaluate(() => window.client.transport), 'sse');
      for (let i = 1; i <= 200; i++) {
        await publish(env.server, 'c', i);
        if (i === 50) env.proxy.refuseWs = false;
        await sleep(15);
      }
      await env.received(200);
      await env.quiet();
      const log = await env.log();
      assert.equal(await env.page.evaluate(() => window.client.transport), 'websocket');
      assert.deepEqual(log.msgs, range(1, 200));
      assert.deepEqual(log.gaps, []);
    } finally { await env.teardown(); }
  });
}
