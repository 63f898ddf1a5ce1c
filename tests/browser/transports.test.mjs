// /transports.html: the four transports side by side on one channel, fed by the page's own
// publisher; every column receives every message once, also after "Drop every connection".
// PUSHWIRE_SCREENSHOT=path saves what it shows (docs/transports.png is made this way).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, waitFor } from './harness.mjs';

let browser;
let server;
before(async () => { browser = await launchBrowser(); server = await startServer(); });
after(async () => { await browser?.close(); await server?.stop(); });

test('the transports page shows the four transports receiving the same messages, before and after a cut', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 760 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.url}/transports.html`);
  await waitFor(() => page.evaluate(() => window.pushwireTransports?.lanes.every((l) => l.client.state === 'connected')),
    { what: 'four transports connected' });
  await page.fill('#rate', '20');
  await page.click('#start');
  await new Promise((r) => setTimeout(r, 2500));
  await page.click('#cut');
  await new Promise((r) => setTimeout(r, 2500));
  await page.click('#stop');
  const published = await page.evaluate(() => window.pushwireTransports.published());
  assert.ok(published >= 60, `only ${published} published`);
  await waitFor(() => page.evaluate((n) => window.pushwireTransports.lanes.every((l) => l.received >= n), published),
    { what: 'every transport caught up', timeout: 20000 });
  const lanes = await page.evaluate(() => window.pushwireTransports.lanes.map((l) => ({
    name: l.t.name, received: l.received, repeated: l.repeated, reconnects: l.reconnects, transport: l.client.transport })));
  for (const lane of lanes) {
    assert.equal(lane.received, published, `${lane.name}: ${lane.received} of ${published}`);
    assert.equal(lane.repeated, 0, `${lane.name} repeated messages`);
    assert.equal(lane.reconnects, 1);
    assert.equal(lane.transport, lane.name);
  }
  await new Promise((r) => setTimeout(r, 600));  // one more render
  const shown = await page.evaluate(() => [...document.querySelectorAll('[data-k="received"]')].map((e) => Number(e.textContent)));
  assert.deepEqual(shown, [published, published, published, published]);
  if (process.env.PUSHWIRE_SCREENSHOT) await page.screenshot({ path: process.env.PUSHWIRE_SCREENSHOT });
  assert.deepEqual(errors, []);
  await page.close();
});
