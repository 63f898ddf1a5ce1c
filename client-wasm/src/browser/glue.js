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

// What the server sends, read for wire_js.cpp with the browser's own JSON.parse (the
// module carries no JSON parser): a document's fields, checked as protocol/'s decoder
// checks them, as one string in the order wire_js.cpp reads them: fields separated by
// \x1e, the first "" for a good document or an error code followed by its message.
// Kinds: 1 WebSocket frame, 2 SSE message, 3 SSE gap, 4 poll answer, 5 publish answer,
// 6 negotiate, 7 error body, 8 refusals, 9 a token's exp.
var PW_FRAME_TYPES = ['welcome', 'subscribed', 'unsubscribed', 'message', 'gap', 'ack', 'error', 'ping', 'pong', 'authorized'];
var PW_READ_WHAT = ['', 'server frame', 'message', 'gap', 'poll response', 'publish response', 'negotiate answer', 'answer', 'answer'];

// The data of the messages of the last read, by slot (wire_js.cpp puts the slot where the
// C++ decoder puts the data's JSON text), and where each came from in its text.
var pwSlots = [];
var pwSlotPaths = [];
var pwSlotSource = '';
var pwSlotGiven = [];

// A message's data for delivery: the value JSON.parse made, the first time; a fresh one
// after (each subscription of a channel gets its own, as it would from the JSON text).
function pwTake(slot) {
  if (!(slot < pwSlots.length)) return null;
  if (!pwSlotGiven[slot]) {
    pwSlotGiven[slot] = true;
    return pwSlots[slot];
  }
  var doc = JSON.parse(pwSlotSource), path = pwSlotPaths[slot];
  var data = (path < 0 ? doc : doc.messages[path]).data;
  return data === undefined ? null : data;
}

// A string field as the module takes it (the separator and NUL cannot occur in it), or null.
function pwStr(v) {
  if (typeof v !== 'string') return null;
  return /[\0\x1e]/.test(v) ? v.replace(/[\0\x1e]/g, '\ufffd') : v;
}
function pwUns(v) { return Number.isSafeInteger(v) && v >= 0 ? v : null; }
function pwInt(v) { return pwUns(v) === null ? 0 : Math.min(v, 2147483647); }
function pwObject(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }
function pwStrings(v) { return Array.isArray(v) ? v.map(pwStr).filter(function (s) { return s !== null; }) : []; }
// The document's {"error":{"code","message"}} as [code, message], or null.
function pwError(doc) {
  var e = doc.error;
  if (!pwObject(e) || typeof e.code !== 'string') return null;
  var message = pwStr(e.message);
  return [pwStr(e.code), message === null ? pwStr(e.code) : message];
}

function pwReadEnvelope(out, m, path) {
  if (!pwObject(m)) throw ['bad_type', 'message is not a JSON object'];
  var channel = pwStr(m.channel), seq = pwUns(m.seq);
  if (channel === null || seq === null) throw ['missing_field', 'message needs a string channel and a seq'];
  pwSlotPaths.push(path);
  pwSlots.push(m.data === undefined ? null : m.data);
  out.push(channel, seq, pwSlots.length - 1, Number.isSafeInteger(m.time) && m.time > 0 ? m.time : 0);
}

function pwReadGap(out, g) {
  if (!pwObject(g)) throw ['bad_type', 'gap is not a JSON object'];
  var channel = pwStr(g.channel), from = pwUns(g.from), to = pwUns(g.to);
  if (channel === null || from === null) throw ['missing_field', 'gap needs channel and from'];
  out.push(channel, from, to === null ? '' : to, g.reason === 'epoch_changed' ? 1 : '', pwStr(g.epoch) || '');
}

function pwReadRefusals(out, doc) {
  var list = [];
  (Array.isArray(doc.refused) ? doc.refused : []).forEach(function (r) {
    var e = pwObject(r) ? pwError(r) : null, channel = e ? pwStr(r.channel) : null;
    if (channel) list.push(channel, e[0], e[1]);
  });
  out.push(list.length / 3);
  list.forEach(function (v) { out.push(v); });
}

function pwReadDocument(kind, text, out) {
  if (kind === 9) {  // a JWT: its payload's exp, unverified (the server verifies)
    var parts = text.split('.');
    if (parts.length < 3) throw ['bad_request', 'not a JWT'];
    var payload = JSON.parse(atob(parts[1].replace(/-/g, '+').replace(/_/g, '/')));
    if (!pwObject(payload) || !Number.isSafeInteger(payload.exp)) throw ['missing_field', 'no exp'];
    out.push(payload.exp);
    return;
  }
  var doc;
  try { doc = JSON.parse(text); } catch (e) { throw ['bad_json', PW_READ_WHAT[kind] + ' is not valid JSON']; }
  if (!pwObject(doc)) throw ['bad_json', PW_READ_WHAT[kind] + ' is not a JSON object'];
  var e = pwError(doc);
  if (kind === 1) {
    var type = PW_FRAME_TYPES.indexOf(doc.type);
    if (typeof doc.type !== 'string') throw ['missing_field', "server frame has no 'type'"];
    if (type < 0) throw ['bad_request', "unknown server frame type '" + doc.type + "'"];
    out.push(type, doc.id === undefined ? '' : JSON.stringify(doc.id));
    if (type === 0) out.push(pwStr(doc.epoch) || '', pwInt(doc.heartbeat_ms));
    if (type === 1) {
      var names = pwStrings(doc.channels);
      out.push(pwStr(doc.cursor) || '', names.length);
      names.forEach(function (n) { out.push(n); });
    }
    if (type === 3) pwReadEnvelope(out, doc, -1);
    if (type === 4) pwReadGap(out, doc);
    if (type === 5) out.push(pwStr(doc.channel) || '', pwUns(doc.seq) || 0);
    if (type === 6) {
      e = e || ['internal', 'unknown error'];
      out.push(e[0], e[1], pwStr(doc.channel) || '');
    }
    if (type === 9) out.push(Number.isSafeInteger(doc.exp) && doc.exp > 0 ? doc.exp : 0);
  } else if (kind === 2) {
    pwReadEnvelope(out, doc, -1);
  } else if (kind === 3) {
    pwReadGap(out, doc);
  } else if (kind === 4) {
    if (e) throw e;
    var cursor = pwStr(doc.cursor);
    if (!Array.isArray(doc.messages) || cursor === null) {
      throw ['missing_field', "poll response needs 'messages' and 'cursor'"];
    }
    out.push(cursor, doc.more === true ? 1 : '', doc.messages.length);
    doc.messages.forEach(function (m, i) { pwReadEnvelope(out, m, i); });
    var gaps = Array.isArray(doc.gaps) ? doc.gaps : [];
    out.push(gaps.length);
    gaps.forEach(function (g) { pwReadGap(out, g); });
    pwReadRefusals(out, doc);
  } else if (kind === 5) {
    if (e) throw e;
    var seq = pwUns(doc.seq);
    if (seq === null) throw ['missing_field', "publish response has no 'seq'"];
    out.push(pwStr(doc.channel) || '', seq);
  } else if (kind === 6) {
    if (!Array.isArray(doc.transports)) throw ['missing_field', "negotiate answer has no 'transports' list"];
    var transports = pwStrings(doc.transports);
    out.push(pwInt(doc.protocol), pwStr(doc.websocket_url) || '', pwInt(doc.heartbeat_ms), pwStr(doc.epoch) || '',
      pwUns(doc.max_message_bytes) || 0, doc.tokens === true ? 1 : '', transports.length);
    transports.forEach(function (n) { out.push(n); });
  } else if (kind === 7) {
    out.push(e ? 1 : '', e ? e[0] : '', e ? e[1] : '', pwStr(doc.channel) || '');
  } else {
    pwReadRefusals(out, doc);
  }
}

function pwRead(kind, text) {
  if (kind <= 4) {  // the reads that carry messages start the slots again
    pwSlots = [];
    pwSlotPaths = [];
    pwSlotSource = text;
    pwSlotGiven = [];
  }
  var out = [''];
  try { pwReadDocument(kind, text, out); } catch (e) {
    if (!Array.isArray(e)) {
      if (kind !== 9) throw e;  // a bug here: let it show
      e = ['bad_request', 'not a JWT'];  // atob or JSON.parse refused the payload
    }
    out = e;
  }
  return pwAllocString(out.join('\x1e'));
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
