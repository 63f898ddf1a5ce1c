
// ---- ES module entry (dist/npm/pushwire.mjs): the classic build above, wrapped. ----
// The wasm is found next to this file: bundlers (Vite, webpack 5, esbuild with its file
// loader) see `new URL('./pushwire.wasm', import.meta.url)` and ship the file.
const pushwireWasmUrl = new URL('./pushwire.wasm', import.meta.url).href;

/** The errors with a server code the SDK gives (`error instanceof PushWireError`). */
export class PushWireError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'PushWireError';
    this.code = code;
  }
}

/** Loads the module; resolves to `{ Client, PushWireError }` (see index.d.ts). */
export function createPushWire(options) {
  if (typeof window === 'undefined' || typeof document === 'undefined') {
    return Promise.reject(new Error('pushwire runs in browsers (it needs a page: WebSocket, EventSource, ' +
      'fetch and WebAssembly), so call createPushWire() in code that runs there, not during server-side rendering'));
  }
  const settings = Object.assign({ PushWireError }, options || {});
  if (!settings.locateFile) {
    settings.locateFile = (file, prefix) => (file.endsWith('.wasm') ? pushwireWasmUrl : prefix + file);
  }
  return createPushWireClassic(settings);
}
export default createPushWire;
