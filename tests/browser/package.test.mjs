// dist/npm as a web team would use it: `npm pack`, installed into a fresh app, its types
// checked by `tsc --strict`, a Vite production build with a plain
// `import { createPushWire } from 'pushwire'`, and a plain <script> page from the same
// tarball — each page receiving messages in headless Chromium from the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIST, startServer, publish, launchBrowser, waitFor } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = (name) => path.join(here, 'node_modules/.bin', name);
const dir = mkdtempSync(path.join(os.tmpdir(), 'pushwire-npm-'));
const app = path.join(dir, 'app');
let browser;

before(async () => {
  // The tarball, installed as any app would install it.
  const packed = execFileSync('npm', ['pack', path.join(DIST, 'npm'), '--pack-destination', dir, '--silent'],
    { cwd: dir }).toString().trim().split('\n').pop();
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', path.join(dir, packed)], { cwd: app });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the package has what it says: ESM entry, classic script, wasm, types, README, LICENSE', () => {
  const files = readdirSync(path.join(app, 'node_modules/pushwire')).sort();
  for (const name of ['LICENSE', 'README.md', 'index.d.ts', 'package.json', 'pushwire.js', 'pushwire.mjs', 'pushwire.wasm']) {
    assert.ok(files.includes(name), `${name} missing from the package: ${files}`);
  }
});

test('tsc --strict accepts the documented use and refuses a misspelled option', () => {
  writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler',
      lib: ['es2022', 'dom'] },
    files: ['use.ts'],
  }));
  writeFileSync(path.join(app, 'use.ts'), `
import createDefault, { createPushWire, PushWireError, type Message, type Gap, type Subscription,
  type SubscriptionState } from 'pushwire';
const PushWire = await createPushWire();
const client = new PushWire.Client(['https://a.example', 'https://b.example'], {
  transport: 'sse', pollIntervalMs: 500, reconnectInitialMs: 100, reconnectMaxMs: 5000, connectTimeoutMs: 0,
  upgradeIntervalMs: 0, getToken: async () => (Math.random() > 0.5 ? 'token' : null), debug: true,
});
new PushWire.Client('https://a.example', { getToken: () => undefined, debug: (line: string) => { void line; } });
const sub: Subscription = client.subscribe<{ text: string }>('chat', (m: Message<{ text: string }>) => {
  const text: string = m.data.text;
  const seq: number = m.seq;
  void text; void seq;
}, { since: '0', onGap: (g: Gap) => {
  const to: number | null = g.to;
  const reason: 'evicted' | 'epoch_changed' | 'missing' = g.reason;
  void to; void reason;
}, onError: (e) => {
  const c: string = e.code;
  const isClass: boolean = e instanceof PushWireError && e instanceof PushWire.PushWireError;
  if (e.code === 'forbidden' || e.code === 'bad_cursor') void c;
  void isClass;
} });
const saved: string = sub.position;
const subState: SubscriptionState = sub.state;
const offSub: () => void = sub.onStateChange((state, reason) => { void state; void reason; });
offSub(); void subState;
client.disconnect(); client.connect();
const state: 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed' = client.state;
void state;
const seq: number = await client.publish('chat', { text: 'hi' });
const held: Message<{ text: string }>[] = await client.history<{ text: string }>('chat', { since: '0', limit: 10 });
void held;
const off: () => void = client.onStateChange((state, reason) => { void state; void reason; });
off(); sub.unsubscribe(); client.close();
void saved; void seq; void createDefault;
`);
  const ok = spawnSync(bin('tsc'), ['-p', app], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  writeFileSync(path.join(app, 'use.ts'), `
import { createPushWire } from 'pushwire';
const PushWire = await createPushWire();
new PushWire.Client('https://a.example', { pollIntervalMS: 500 });
`);
  const bad = spawnSync(bin('tsc'), ['-p', app], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0, 'a misspelled option type-checked');
  assert.match(bad.stdout, /pollIntervalMS/);
});

async function receives(webRoot, what) {
  const appServer = await startServer(['--web-root', webRoot]);
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  try {
    await page.goto(`${appServer.url}/index.html`);
    await waitFor(() => page.evaluate(() => window.ready === true), { what: `${what}: the page's client connected` });
    for (let i = 1; i <= 5; i++) await publish(appServer, 'npm', { i });
    await waitFor(() => page.evaluate(() => window.got.length >= 5), { what: `${what}: messages` });
    assert.deepEqual(await page.evaluate(() => window.got), [1, 2, 3, 4, 5]);
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await appServer.stop();
  }
}

const pageScript = `
  window.got = [];
  const client = new PushWire.Client(location.origin);
  client.subscribe('npm', (m) => window.got.push(m.seq), { since: '0' });
  client.onStateChange((s) => { if (s === 'connected') window.ready = true; });
`;

test('a Vite app importing { createPushWire } from "pushwire" builds, ships the wasm, and receives', async () => {
  const vite = path.join(dir, 'vite-app');
  mkdirSync(vite);
  copyFileSync(path.join(app, 'package.json'), path.join(vite, 'package.json'));
  execFileSync('cp', ['-r', path.join(app, 'node_modules'), vite]);
  writeFileSync(path.join(vite, 'index.html'), '<!doctype html><link rel="icon" href="data:,"><title>vite app</title><script type="module" src="/main.js"></script>\n');
  writeFileSync(path.join(vite, 'main.js'), `import { createPushWire } from 'pushwire';
createPushWire().then((PushWire) => { ${pageScript} });`);
  const built = spawnSync(bin('vite'), ['build', vite, '--outDir', path.join(vite, 'dist'), '--logLevel', 'warn'],
    { encoding: 'utf8', cwd: vite });
  assert.equal(built.status, 0, built.stdout + built.stderr);
  // Not a single warning. The entry is a plain ES module: the classic build's CommonJS/AMD
  // tail (`module.exports = ...`, `define(...)`), which Vite with Rolldown warns about twice
  // per build (COMMONJS_VARIABLE_IN_ESM), is gone; this Vite (5, Rollup) did not warn even so.
  assert.equal((built.stdout + built.stderr).trim(), '', 'vite printed warnings');
  const entry = readFileSync(path.join(app, 'node_modules/pushwire/pushwire.mjs'), 'utf8');
  assert.doesNotMatch(entry, /module\.exports|define\(|exports\[/, 'a CommonJS/AMD tail in the ES module entry');
  assert.match(entry, /export\s*\{[^}]*createPushWire/);
  const assets = readdirSync(path.join(vite, 'dist/assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `no wasm among the built assets: ${assets}`);
  await receives(path.join(vite, 'dist'), 'vite');
});

test('a plain <script src="pushwire.js"> page from the same package receives', async () => {
  const root = path.join(dir, 'plain');
  mkdirSync(root);
  for (const f of ['pushwire.js', 'pushwire.wasm']) copyFileSync(path.join(app, 'node_modules/pushwire', f), path.join(root, f));
  writeFileSync(path.join(root, 'index.html'), `<!doctype html><link rel="icon" href="data:,"><title>plain</title>
<script src="pushwire.js"></script>
<script>createPushWire().then((PushWire) => { ${pageScript} });</script>
`);
  await receives(root, 'plain script');
});

test('in Node (server-side rendering) createPushWire() rejects with one sentence saying where the module runs', () => {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', `
import { createPushWire } from 'pushwire';
createPushWire().then(() => console.log('loaded'), (e) => console.log(e.message));`], { encoding: 'utf8', cwd: app });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout.trim(), /^pushwire runs in browsers \(.*\), so call createPushWire\(\) in code that runs there, not during server-side rendering$/);
});
