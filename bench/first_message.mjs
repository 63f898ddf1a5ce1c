// Time from page load (navigation start) to the first message, per transport, in
// headless Chromium: the page loads pushwire.js + pushwire.wasm, connects and subscribes
// while the server publishes every 20 ms. Also prints the module's sizes.
// Usage: node bench/first_message.mjs   (after ./build.sh build; run from the repository)
import { cpSync, mkdtempSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'tests/browser/package.json'));
const { chromium } = require('playwright-core');
const harness = await import(path.join(root, 'tests/browser/harness.mjs'));

for (const file of ['pushwire.js', 'pushwire.wasm']) {
  const bytes = readFileSync(path.join(root, 'dist/web', file));
  console.log(`${file}: ${statSync(path.join(root, 'dist/web', file)).size} bytes raw, ${gzipSync(bytes, { level: 9 }).length} gzipped`);
}

const web = mkdtempSync(path.join(os.tmpdir(), 'pushwire-first-'));
cpSync(path.join(root, 'dist/web'), web, { recursive: true });
writeFileSync(path.join(web, 'first.html'), `<!doctype html><script src="pushwire.js"></script><script>
  const transport = new URLSearchParams(location.search).get('t');
  createPushWire().then((PushWire) => {
    const client = new PushWire.Client(location.origin, { transport, pollIntervalMs: 1000 });
    client.subscribe('first', () => { if (!window.firstAt) window.firstAt = performance.now(); });
  });
</script>`);

process.env.PUSHWIRE_DIST = process.env.PUSHWIRE_DIST || path.join(root, 'dist');
const server = await harness.startServer(['--web-root', web]);
let publishing = true;
(async () => { let i = 0; while (publishing) { await harness.publish(server, 'first', i++); await new Promise((r) => setTimeout(r, 20)); } })();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
for (const transport of ['websocket', 'sse', 'longpoll', 'poll']) {
  const samples = [];
  for (let run = 0; run < 5; run++) {
    const context = await browser.newContext();  // cold: nothing cached
    const page = await context.newPage();
    await page.goto(`${server.url}/first.html?t=${transport}`);
    await harness.waitFor(() => page.evaluate(() => window.firstAt), { what: 'first message' });
    samples.push(await page.evaluate(() => window.firstAt));
    await context.close();
  }
  samples.sort((a, b) => a - b);
  console.log(`${transport}: first message ${samples[2].toFixed(0)} ms after navigation start (median of 5, min ${samples[0].toFixed(0)}, max ${samples[4].toFixed(0)})`);
}
publishing = false;
await browser.close();
await server.stop();
