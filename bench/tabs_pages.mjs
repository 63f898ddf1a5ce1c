// Tabs × pages (issue 23's "8 tabs × 100 pages"): USERS browser contexts (a context is one
// user's browser: its tabs share Web Locks and BroadcastChannel) of TABS tabs each, every tab
// subscribed to one channel all tabs read and to one of its own, on one transport; once with
// tabs sharing one connection per browser (the default) and once with `share: false` (one
// connection per tab). While RATE messages a second are published to the common channel for
// SECONDS, it measures the server's connections (its /pushwire/metrics), the server's CPU
// (its threads' schedstat) and headless Chromium's (every process under this one
// but the server; utime + stime) per message delivered to a tab's callback, and Chromium's memory (Pss).
// Users are opened one at a time until USERS, or until Chromium's Pss would pass
// --max-pss-gib or the machine's MemAvailable fall under --min-free-gib, or (on a loaded
// machine) opening them has taken --open-seconds (0: no limit): the users held are stated,
// and the second mode opens as many. One JSON line per mode on stdout.
//
//   node bench/tabs_pages.mjs [--users 100] [--tabs 8] [--rate 10] [--seconds 20]
//        [--transport websocket] [--max-pss-gib 12] [--min-free-gib 4] [--open-seconds 0]
//        [--modes shared,unshared]
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { startServer, launchBrowser, metrics, waitFor } from '../tests/browser/harness.mjs';

const args = { users: 100, tabs: 8, rate: 10, seconds: 20, transport: 'websocket', 'max-pss-gib': 12,
  'min-free-gib': 4, 'open-seconds': 0, modes: 'shared,unshared' };
for (let i = 2; i < process.argv.length; i += 2) {
  const name = process.argv[i].replace(/^--/, '');
  if (!(name in args) || process.argv[i + 1] === undefined) {
    console.error(`tabs_pages: unknown option ${process.argv[i]}`);
    process.exit(2);
  }
  args[name] = typeof args[name] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
const GIB = 1024 ** 3;
const TICK = 1e6 / 100;  // µs per clock tick (USER_HZ is 100 on Linux)

// CPU µs (user + system, every thread) of one process; 0 once it is gone.
function cpuUs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK;
  } catch {
    return 0;
  }
}
// Every process under `root` (children, their children...).
function descendants(root) {
  const parent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out = [];
  const walk = (pid) => { for (const [child, p] of parent) if (p === pid) { out.push(child); walk(child); } };
  walk(root);
  return out;
}
function pssBytes(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
// The server's on-CPU ns of every thread (schedstat: ns, where stat counts 10 ms ticks).
function serverCpuUs(pid) {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch { /* the thread ended */ }
  }
  return ns / 1000;
}
const memAvailable = () => Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))[1]) * 1024;

const server = await startServer(['--history', '1000', '--publish-rate', '0']);
const chromiumPids = () => descendants(process.pid).filter((pid) => pid !== server.child.pid);
const chromiumCpuUs = () => chromiumPids().reduce((sum, pid) => sum + cpuUs(pid), 0);
const chromiumPss = () => chromiumPids().reduce((sum, pid) => sum + pssBytes(pid), 0);
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
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
async function connections() {
  const m = await metrics(server);
  return m[`pushwire_connections{transport="${args.transport}"}`] ?? m.pushwire_longpolls_waiting ?? 0;
}

// One tab of `context`: reads `common` and its own channel; window.count counts `common`'s
// messages delivered to its callback.
async function openTab(context, common, own, share) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(String(err)));
  await page.goto(server.url + '/pushwire/healthz');
  await page.addScriptTag({ url: '/pushwire.js' });
  await page.evaluate(async ({ url, transport, common, own, share }) => {
    const PushWire = await createPushWire();
    window.count = 0;
    window.client = new PushWire.Client(url, { transport, share });
    window.subs = [window.client.subscribe(common, () => { window.count++; }), window.client.subscribe(own, () => {})];
  }, { url: server.url, transport: args.transport, common, own, share });
  return page;
}
const allSubscribed = (pages) => waitFor(async () => {
  for (const page of pages) {
    if (!(await page.evaluate(() => window.subs.every((s) => s.state === 'subscribed')))) return false;
  }
  return true;
}, { timeout: 300000, interval: 200, what: 'every tab subscribed' });
const delivered = async (pages) => {
  let sum = 0;
  for (const page of pages) sum += await page.evaluate(() => window.count);
  return sum;
};

const browser = await launchBrowser();
let userLimit = args.users;
let heldNote = '';
try {
  for (const mode of args.modes.split(',')) {
    const share = mode === 'shared';
    const common = `tp-${mode}`;
    const contexts = [];
    const pages = [];
    const openStart = Date.now();
    for (let u = 0; u < userLimit; u++) {
      const context = await browser.newContext();
      // A loaded machine: navigation and evaluation wait long rather than fail.
      context.setDefaultTimeout(300000);
      let tabs;
      try {
        tabs = await Promise.all(Array.from({ length: args.tabs },
          (_, t) => openTab(context, common, `tp-${mode}-u${u}-t${t}`, share)));
        await allSubscribed(tabs);
      } catch (e) {
        // The machine could not open one more: measure the users open, and say so.
        await context.close().catch(() => {});
        heldNote = `stopped at ${u} users: opening user ${u + 1}'s tabs failed (${String(e.message || e).split('\n')[0]})`;
        console.error(`tabs_pages: ${heldNote}`);
        userLimit = u;
        break;
      }
      contexts.push(context);
      pages.push(...tabs);
      const pss = chromiumPss();
      const perUser = pss / (u + 1);
      if (u + 1 < userLimit && (pss + perUser > args['max-pss-gib'] * GIB || memAvailable() - perUser < args['min-free-gib'] * GIB)) {
        heldNote = `stopped at ${u + 1} users: Chromium's Pss ${(pss / GIB).toFixed(2)} GiB, MemAvailable ` +
          `${(memAvailable() / GIB).toFixed(2)} GiB (limits --max-pss-gib ${args['max-pss-gib']}, --min-free-gib ${args['min-free-gib']})`;
        console.error(`tabs_pages: ${heldNote}`);
        userLimit = u + 1;  // the next mode opens as many
        break;
      }
      console.error(`tabs_pages: ${mode}: ${u + 1} users open, Pss ${(pss / GIB).toFixed(2)} GiB`);
      if (u + 1 < userLimit && args['open-seconds'] > 0 && Date.now() - openStart > args['open-seconds'] * 1000) {
        heldNote = `stopped at ${u + 1} users: opening them took ${((Date.now() - openStart) / 1000).toFixed(0)} s ` +
          `(--open-seconds ${args['open-seconds']}); Chromium's Pss ${(pss / GIB).toFixed(2)} GiB`;
        console.error(`tabs_pages: ${heldNote}`);
        userLimit = u + 1;
        break;
      }
    }
    const users = contexts.length;
    const openSeconds = (Date.now() - openStart) / 1000;
    await allSubscribed(pages);
    // Settled: the tabs' elections are over and each holder is connected.
    await new Promise((r) => setTimeout(r, 2000));
    const conns = await connections();
    const pss = chromiumPss();
    const messages = Math.round(args.rate * args.seconds);
    const expected = messages * pages.length;
    const server0 = serverCpuUs(server.child.pid);
    const chromium0 = chromiumCpuUs();
    const start = Date.now();
    for (let n = 0; n < messages; n++) {
      const due = start + (n * 1000) / args.rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await publish(common, { n });
    }
    let got = 0;
    try {
      await waitFor(async () => (got = await delivered(pages)) >= expected, { timeout: 300000, interval: 500, what: 'every message in every tab' });
    } catch {
      console.error(`tabs_pages: ${mode}: ${got} of ${expected} deliveries after 300 s`);
    }
    const wallS = (Date.now() - start) / 1000;
    const serverUs = serverCpuUs(server.child.pid) - server0;
    const chromiumUs = chromiumCpuUs() - chromium0;
    const errors = pages.reduce((n, p) => n + p.errors.length, 0);
    const out = { scenario: 'tabs', mode, transport: args.transport, users, tabs: args.tabs, pages: pages.length,
      rate: args.rate, messages, connections: conns, delivered: got, expected, page_errors: errors, wall_s: wallS,
      open_s: openSeconds, server_cpu_ms: serverUs / 1000, server_cpu_us_per_delivery: serverUs / Math.max(got, 1),
      chromium_cpu_ms: chromiumUs / 1000, chromium_cpu_us_per_delivery: chromiumUs / Math.max(got, 1),
      chromium_pss_mib: pss / 2 ** 20, chromium_processes: chromiumPids().length, users_requested: args.users,
      note: heldNote };
    process.stdout.write(JSON.stringify(out) + '\n');
    console.error(`tabs_pages: ${mode}: ${users} users × ${args.tabs} tabs: ${conns} connections, ${got}/${expected} delivered, ` +
      `server ${out.server_cpu_us_per_delivery.toFixed(2)} µs/delivery, Chromium ${out.chromium_cpu_us_per_delivery.toFixed(1)} µs/delivery, ` +
      `Pss ${(pss / GIB).toFixed(2)} GiB`);
    for (const context of contexts) await context.close();
  }
} finally {
  await browser.close();
  agent.destroy();
  await server.stop();
}
