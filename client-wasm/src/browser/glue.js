// pushwire browser glue (pre-js): the few browser objects the C++ transports drive,
// each kept in a table by id so that a late event from a closed object is dropped.
var pwXhrs = new Map();
var pwSources = new Map();
var pwSockets = new Map();

// UTF-8 to and from the module's memory, natively (copying character by character in JS
// cost the page more per message than the module's own work on it).
var pwEncoder = new TextEncoder();
var pwDecoder = new TextDecoder();

// A NUL-terminated UTF-8 copy of `text` in the module's memory; the caller frees it.
function pwAllocString(text) {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: reserve that for small texts, count a large one.
  var size = (text.length < 65536 ? text.length * 3 : lengthBytesUTF8(text)) + 1;
  var ptr = _malloc(size);
  HEAPU8[ptr + pwEncoder.encodeInto(text, HEAPU8.subarray(ptr, ptr + size - 1)).written] = 0;
  return ptr;
}

// The `size` bytes of UTF-8 at `ptr` as a string.
function pwText(ptr, size) {
  return size ? pwDecoder.decode(HEAPU8.subarray(ptr, ptr + size)) : '';
}

// Calls use with `text` as a UTF-8 pointer valid for the call (one string: the per-message path).
function pwWithString(text, use) {
  var ptr = pwAllocString(text);
  try { use(ptr); } finally { _free(ptr); }
}

// Calls fn with each string of `texts` as a UTF-8 pointer valid for the call.
function pwWithStrings(texts, fn) {
  var pointers = texts.map(pwAllocString);
  try { return fn.apply(null, pointers); } finally { pointers.forEach(function (p) { _free(p); }); }
}

// The browser objects (requests, event sources, sockets) by handle: created here, or, when
// the constructor throws (a malformed URL), `failed` on a later turn, as a network failure
// would be; null then.
function pwOpen(table, handle, create, failed) {
  var object;
  try { object = create(); } catch (e) {
    setTimeout(failed, 0);
    return null;
  }
  table.set(handle, object);
  return object;
}

// Removes the object of `handle` from its table and returns it (undefined: none).
function pwForget(table, handle) {
  var object = table.get(handle);
  if (object) table.delete(handle);
  return object;
}

function pwXhrStart(id, method, url, body, bearer, timeoutMs) {
  var xhr = new XMLHttpRequest();
  pwXhrs.set(id, xhr);
  var done = function (status, text) {
    if (pwXhrs.get(id) !== xhr) return;
    pwXhrs.delete(id);
    pwWithString(text, function (p) { _pw_xhr_done(id, status, p); });
  };
  xhr.onload = function () { done(xhr.status, xhr.responseText || ''); };
  xhr.onerror = function () { done(0, ''); };
  xhr.ontimeout = function () { done(0, ''); };
  try {
    xhr.open(method, url, true);
    if (timeoutMs > 0) xhr.timeout = timeoutMs;
    if (method === 'POST') xhr.setRequestHeader('Content-Type', 'application/json');
    if (bearer) xhr.setRequestHeader('Authorization', 'Bearer ' + bearer);
    xhr.send(method === 'POST' ? body : null);
  } catch (e) {
    setTimeout(function () { done(0, ''); }, 0);
  }
}

function pwXhrAbort(id) {
  var xhr = pwForget(pwXhrs, id);
  if (xhr) xhr.abort();
}

// Event kinds passed to _pw_sse_event: 1 welcome, 2 message, 3 gap, 4 ping, 5 failed,
// 6 the server's own `event: error` (a refused channel, an expired token).
function pwSseOpen(handle, url) {
  var source = pwOpen(pwSources, handle, function () { return new EventSource(url); },
    function () { _pw_sse_event(handle, 5, 0, 0); });
  if (!source) return;
  var forward = function (kind) {
    return function (event) {
      if (pwSources.get(handle) !== source) return;
      pwWithStrings([event.data || '', event.lastEventId || ''], function (d, i) {
        _pw_sse_event(handle, kind, d, i);
      });
    };
  };
  source.addEventListener('welcome', forward(1));
  source.addEventListener('message', forward(2));
  source.addEventListener('gap', forward(3));
  source.addEventListener('ping', forward(4));
  // The client core owns reconnection (backoff, resume cursor, fallback), so the
  // browser's own automatic reconnect is switched off by closing on the first error.
  source.onerror = function (event) {
    if (pwSources.get(handle) !== source) return;
    // The server's `event: error` arrives here too, as a MessageEvent with data.
    if (typeof event.data === 'string') { forward(6)(event); return; }
    pwSources.delete(handle);
    source.close();
    _pw_sse_event(handle, 5, 0, 0);
  };
}

function pwSseClose(handle) {
  var source = pwForget(pwSources, handle);
  if (source) source.close();
}

// WebSocket event kinds passed to _pw_ws_event: 1 a text frame, 2 closed (code, reason),
// 3 failed (refused or unreachable; the close that follows is not reported again).
function pwWsOpen(handle, url) {
  var socket = pwOpen(pwSockets, handle, function () { return new WebSocket(url); },
    function () { _pw_ws_event(handle, 3, 0, 0); });
  if (!socket) return;
  socket.onmessage = function (event) {
    if (pwSockets.get(handle) !== socket || typeof event.data !== 'string') return;
    pwWithString(event.data, function (p) { _pw_ws_event(handle, 1, 0, p); });
  };
  socket.onclose = function (event) {
    if (pwSockets.get(handle) !== socket) return;
    pwSockets.delete(handle);
    pwWithString(event.reason || '', function (p) { _pw_ws_event(handle, 2, event.code, p); });
  };
  socket.onerror = function () {
    if (pwSockets.get(handle) !== socket) return;
    pwSockets.delete(handle);
    socket.close();
    _pw_ws_event(handle, 3, 0, 0);
  };
}

function pwWsSend(handle, text) {
  var socket = pwSockets.get(handle);
  if (!socket || socket.readyState !== 1) return 0;
  socket.send(text);
  return 1;
}

function pwWsClose(handle) {
  var socket = pwForget(pwSockets, handle);
  if (socket) socket.close(1000);
}

// The network coming back or the page becoming visible: reconnect now, not after backoff.
if (typeof window !== 'undefined' && window.addEventListener) {
  window.addEventListener('online', function () { if (Module['calledRun']) _pw_page_hint(); });
  if (typeof document !== 'undefined') {
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible' && Module['calledRun']) _pw_page_hint();
    });
  }
}
