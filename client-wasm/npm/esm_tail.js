
// ---- ES module entry (dist/npm/pushwire.mjs): the classic build above, wrapped. ----
// The wasm is found next to this file: bundlers (Vite, webpack 5, esbuild with its file
// loader) see `new URL('./pushwire.wasm', import.meta.url)` and ship the file.
const pushwireWasmUrl = new URL('./pushwire.wasm', import.meta.url).href;

/** Loads the module; resolves to `{ Client }` (see index.d.ts). */
export function createPushWire(options) {
  const settings = Object.assign({}, options || {});
  if (!settings.locateFile) {
    settings.locateFile = (file, prefix) => (file.endsWith('.wasm') ? pushwireWasmUrl : prefix + file);
  }
  return createPushWireClassic(settings);
}
export default createPushWire;
