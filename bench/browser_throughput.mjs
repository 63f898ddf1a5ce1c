// In-browser delivery: messages per second handed to a JS callback by the SDK over
// WebSocket, against a raw WebSocket + JSON.parse in the same page on the same server, and
// the time from navigation to the first message delivered by the SDK (module fetched,
// compiled, negotiated, connected). Headless Chromium; one JSON line per measurement.
//
//   node bench/browser_throughput.mjs [--messages 20000] [--bytes 100] [--repeat 3]
import http from 'node:http';
import { startServer, launchBrowser, openPage, waitFor } from '../tests/browser/harness.mjs';

const args = { messages: 20000, bytes: 100, repeat: 3 };
for (let i = 2; i < process.argv.length; i += 2) {
  const [name, value] = [process.argv[i], Number(process.argv[i + 1])];
  if (name === '--messages') args.messages = value;
  else if (name === '--bytes') args.bytes = value;
  else if (name === '--repeat') args.repeat = value;
  else { console.error(`browser_throughput: unknown option ${name}`); process.exit(2); }
}

const server = await startServer(['--history', '200000', '--publish-rate', '0', '--max-history-bytes', '0']);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function publish(channel, data) {
  const body = JSON.stringify({ channel, data });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.httpPort, path: '/pushwire/publish', method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`publish ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}
async function publishAll(channel, count) {
  const pad = 'x'.repeat(Math.max(0, args.bytes - 30));
  let next = 0;
  const worker = async () => { while (next < count) { const i = next++; await publish(channel, { i, p: pad }); } };
  await Promise.all(Array.from({ length: 16 }, worker));
}

const browser = await launchBrowser();
const results = [];
try {
  for (let round = 0; round < args.repeat; round++) {
    for (const client of ['sdk', 'raw']) {
      const page = await openPage(browser, server);
      const channel = `bt-${client}-${round}`;
      // Published first, then read from the start: the server sends as fast as the page
      // takes it, so the page's own delivery is what is measured (not the publisher).
      await publishAll(channel, args.messages);
      await page.evaluate(({ client, channel, total }) => new Promise((ready) => {
        window.bt = { count: 0, first: 0, last: 0, total };
        const seen = () => {
          const now = performance.now();
          if (window.bt.count === 0) window.bt.first = now;
          window.bt.count++;
          window.bt.last = now;
        };
        if (client === 'sdk') {
          window.c = new PushWire.Client(location.origin, { transport: 'websocket' });
          window.c.subscribe(channel, () => seen(), { since: '0' });
        } else {
          const ws = new WebSocket(`ws://${location.host}/pushwire/ws?channel=${channel}&since=0`);
          ws.onmessage = (e) => { const f = JSON.parse(e.data); if (f.type === 'message') seen(); };
          window.ws = ws;
        }
        ready();
      }), { client, channel, total: args.messages });
      await waitFor(() => page.evaluate(() => window.bt.count >= window.bt.total), { timeout: 120000, what: `${client} deliveries` });
      const bt = await page.evaluate(() => window.bt);
      const seconds = (bt.last - bt.first) / 1000;
      results.push({ client, round, messages: bt.count, per_s: bt.count / Math.max(seconds, 1e-3) });
      await page.evaluate(() => { window.c?.close(); window.ws?.close(); });
      await page.close();
    }
  }
  // Time to first message: a fresh page, the module fetched over HTTP and compiled, while a
  // message is published every 20 ms.
  const ticker = setInterval(() => { publish('bt-first', { t: Date.now() }).catch(() => {}); }, 20);
  const firsts = [];
  for (let round = 0; round < args.repeat; round++) {
    const context = await browser.newContext();  // a cold HTTP cache
    const page = await context.newPage();
    await page.goto(`${server.url}/pushwire/healthz`);
    const ms = await page.evaluate(() => new Promise((resolve) => {
      const start = performance.now();
      const script = document.createElement('script');
      script.src = '/pushwire.js';
      script.onload = async () => {
        const PushWire = await createPushWire();
        const c = new PushWire.Client(location.origin);
        c.subscribe('bt-first', () => { resolve(performance.now() - start); c.close(); });
      };
      document.head.appendChild(script);
    }));
    firsts.push(ms);
    await context.close();
  }
  clearInterval(ticker);
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
  const sdk = median(results.filter((r) => r.client === 'sdk').map((r) => r.per_s));
  const raw = median(results.filter((r) => r.client === 'raw').map((r) => r.per_s));
  const out = { scenario: 'browser', messages: args.messages, bytes: args.bytes, repeat: args.repeat,
    sdk_per_s: sdk, raw_per_s: raw, ratio: sdk / raw, first_message_ms: median(firsts), samples: results, firsts };
  process.stdout.write(JSON.stringify(out) + '\n');
  console.error(`browser: SDK ${sdk.toFixed(0)} msg/s, raw WebSocket ${raw.toFixed(0)} msg/s (${(sdk / raw).toFixed(2)}x), first message ${median(firsts).toFixed(0)} ms`);
} finally {
  await browser.close();
  agent.destroy();
  await server.stop();
}
