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
  // UTF-8 takes at most 3 bytes per UTF-16 unit: reserve that for small texts; encode a
  // large one first, to take only what it needs.
  var bytes = text.length < 65536 ? null : pwEncoder.encode(text);
  var size = (bytes ? bytes.length : text.length * 3) + 1;
  var ptr = _malloc(size);
  if (bytes) HEAPU8.set(bytes, ptr);
  HEAPU8[ptr + (bytes ? bytes.length : pwEncoder.encodeInto(text, HEAPU8.subarray(ptr, ptr + size - 1)).written)] = 0;
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
// checks them, as one string in the order of the document's schema below: fields
// separated by \x1e, the first "" for a good document or an error code followed by its
// message. Kinds: 1 WebSocket frame, 2 SSE message, 3 SSE gap, 4 poll answer, 5 publish
// answer, 6 negotiate, 7 error body, 8 refusals, 9 a token's exp, 10 presence answer,
// 11 SSE welcome, 12 what the server API did (SSE subscribed/unsubscribed/disconnect data,
// a 409 disconnected body: its error object's fields).
//
// A schema is `name kind` pairs; a capital kind is required (the document is refused
// without it). s a string ("" when absent); u a whole number >= 0 (0); o the same, ""
// when absent; i a whole number up to 2^31-1 (0); t a time (0 unless a whole number > 0);
// b true (1) or not (""); r 1 for "epoch_changed"; d the data (its slot, see pwTake);
// a strings (their count, then each); e the document's error (1 or "", code, message);
// x the document's error refuses the document; m messages, g gaps, f refusals (their
// count, then each by its own schema); v a stream entry's event (1 join, 2 leave, "" a
// message); n the entry's member (client, user, info as JSON text), needed when the entry
// has an event; w members (their count, "" when absent, then each); j any JSON value as
// its text ("null" when absent).
var PW_MESSAGE = 'channel S seq U data d time t event v member n';
var PW_GAP = 'channel S from U to o reason r epoch s';
var PW_MEMBER = 'client S user s info j';
var PW_PRESENCE = 'channel s members w position s truncated b';
var PW_FRAMES = {  // by type, in the order of protocol::ServerFrameType
  welcome: 'epoch s heartbeat_ms i client s', subscribed: 'cursor s channels a server b',
  unsubscribed: 'channels a server b', message: PW_MESSAGE,
  gap: PW_GAP, ack: 'channel s seq u', error: 'error e channel s', ping: '', pong: '', authorized: 'exp t',
  join: PW_MESSAGE, leave: PW_MESSAGE, presence: PW_PRESENCE, presence_stats: 'channel s clients u users u'
};
var PW_READ = [, ['server frame'], ['message', PW_MESSAGE], ['gap', PW_GAP],
  ['poll response', 'error x messages M cursor S gaps g refused f more b client s subscribed a unsubscribed a'],
  ['publish response', 'error x seq U channel s'],
  ['negotiate answer', 'transports A protocol i websocket_url s heartbeat_ms i epoch s max_message_bytes u tokens b'],
  ['answer', 'error e channel s'], ['answer', 'refused f'], ,
  ['presence answer', 'error x ' + PW_PRESENCE + ' clients o users o'], ['welcome', 'epoch s heartbeat_ms i client s'],
  ['server action', 'channels a reconnect b']];

// The messages of the last read, by slot (wire_js.cpp puts the slot where the C++ decoder
// puts the data's JSON text): where each sits in the document (-1: the document is the
// message, else its index in `messages`), how many times each was given out, the text,
// and the document as pwRead parsed it followed by the text parsed again, once per take
// after the first.
var pwSlotPaths = [];
var pwSlotGiven = [];
var pwSlotSource = '';
var pwSlotCopies = [];

// A message's data for delivery: the value JSON.parse made, the first time; a fresh one
// after (each subscription of a channel gets its own, as it would from the JSON text).
// The n-th take of every slot comes from the same n-th parse: a poll answer of many
// messages is parsed once more per extra subscription, not once per message.
function pwTake(slot) {
  if (!(slot < pwSlotPaths.length)) return null;
  var given = pwSlotGiven[slot] || 0, path = pwSlotPaths[slot];
  pwSlotGiven[slot] = given + 1;
  var doc = pwSlotCopies[given] = pwSlotCopies[given] || JSON.parse(pwSlotSource);
  var data = (path < 0 ? doc : doc.messages[path]).data;
  return data === undefined ? null : data;
}

// A string as the module takes it (the separator and NUL cannot occur in it), or null.
function pwStr(v) {
  if (typeof v !== 'string') return null;
  return /[\0\x1e]/.test(v) ? v.replace(/[\0\x1e]/g, '\ufffd') : v;
}
function pwUns(v) { return Number.isSafeInteger(v) && v >= 0 ? v : null; }
function pwObject(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }
// The document's {"error":{"code","message"}} as [code, message], or null.
function pwError(doc) {
  var e = doc.error;
  if (!pwObject(e) || typeof e.code !== 'string') return null;
  var message = pwStr(e.message);
  return [pwStr(e.code), message === null ? pwStr(e.code) : message];
}

// Appends the fields of `doc` by `schema` to `out`; `path`: where a message's data sits.
function pwFields(out, doc, schema, what, path) {
  if (!pwObject(doc)) throw ['bad_type', what + ' is not a JSON object'];
  var list = schema ? schema.split(' ') : [];
  for (var i = 0; i < list.length; i += 2) {
    var name = list[i], kind = list[i + 1].toLowerCase(), v = doc[name], x;
    var ok = kind === 's' ? typeof v === 'string' : kind === 'u' ? pwUns(v) !== null
      : 'amgf'.indexOf(kind) >= 0 ? Array.isArray(v) : true;
    if (!ok && kind !== list[i + 1]) throw ['missing_field', what + " needs '" + name + "'"];
    if (kind === 's') out.push(pwStr(v) || '');
    else if (kind === 'u') out.push(ok ? v : 0);
    else if (kind === 'o') out.push(pwUns(v) === null ? '' : v);
    else if (kind === 'i') out.push(pwUns(v) === null ? 0 : Math.min(v, 2147483647));
    else if (kind === 't') out.push(Number.isSafeInteger(v) && v > 0 ? v : 0);
    else if (kind === 'b') out.push(v === true ? 1 : '');
    else if (kind === 'r') out.push(v === 'epoch_changed' ? 1 : '');
    else if (kind === 'd') {
      out.push(pwSlotPaths.push(path) - 1);
    } else if (kind === 'a') {
      x = ok ? v.map(pwStr).filter(function (s) { return s !== null; }) : [];
      out.push(x.length);
      x.forEach(function (s) { out.push(s); });
    } else if (kind === 'v') {
      x = v === undefined ? '' : v === 'join' ? 1 : v === 'leave' ? 2 : null;
      if (x === null) throw ['bad_type', "an entry's 'event' must be \"join\" or \"leave\""];
      out.push(x);
    } else if (kind === 'n') {
      if (pwObject(v) && typeof v.client === 'string') pwFields(out, v, PW_MEMBER, 'member', path);
      else if (doc.event !== undefined) throw ['missing_field', "a join or leave entry needs a 'member' with a 'client'"];
      else out.push('', '', 'null');
    } else if (kind === 'w') {
      if (!Array.isArray(v)) { out.push(''); continue; }
      out.push(v.length);
      v.forEach(function (m, k) {
        if (!pwObject(m) || typeof m.client !== 'string') throw ['missing_field', "each member needs a string 'client'"];
        pwFields(out, m, PW_MEMBER, 'members[' + k + ']', path);
      });
    } else if (kind === 'j') {
      out.push(v === undefined ? 'null' : pwStr(JSON.stringify(v)));
    } else if (kind === 'e' || kind === 'x') {
      x = pwError(doc);
      if (x && kind === 'x') throw x;
      if (kind === 'e') out.push(x ? 1 : '', x ? x[0] : '', x ? x[1] : '');
    } else {
      x = ok ? v : [];
      if (kind === 'f') x = x.filter(function (r) { return pwObject(r) && pwError(r) && pwStr(r.channel); });
      out.push(x.length);
      x.forEach(function (item, k) {
        pwFields(out, item, kind === 'm' ? PW_MESSAGE : kind === 'g' ? PW_GAP : 'channel s error e', name + '[' + k + ']', k);
      });
    }
  }
}

function pwRead(kind, text) {
  var slots = kind <= 4;  // the reads that carry messages start the slots again
  if (slots) {
    pwSlotPaths = [];
    pwSlotGiven = [];
    pwSlotSource = text;
    pwSlotCopies = [];
  }
  var out = [''], doc;
  try {
    if (kind === 9) {  // a JWT: its payload's exp, unverified (the server verifies)
      try { doc = JSON.parse(atob(text.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))); } catch (e) {}
      pwFields(out, doc, 'exp U', 'token', -1);
    } else {
      var read = PW_READ[kind], schema = read[1];
      try { doc = JSON.parse(text); } catch (e) { throw ['bad_json', read[0] + ' is not valid JSON']; }
      if (slots) pwSlotCopies[0] = doc;
      if (kind === 12 && pwObject(doc) && pwObject(doc.error)) doc = doc.error;
      if (kind === 1 && pwObject(doc)) {
        var types = Object.keys(PW_FRAMES), type = types.indexOf(doc.type);
        if (type < 0) throw ['bad_request', "unknown server frame type '" + doc.type + "'"];
        out.push(type, doc.id === undefined ? '' : JSON.stringify(doc.id));
        schema = PW_FRAMES[doc.type];
      }
      pwFields(out, doc, schema, read[0], -1);
    }
  } catch (e) {
    if (!Array.isArray(e)) throw e;  // a bug here: let it show
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
// 6 the server's own `event: error` (a refused channel, an expired token), also a refused
// token learnt as below; 7 join, 8 leave; the server API's 9 subscribed, 10 unsubscribed,
// 11 disconnect.
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
  var opened = false;
  source.addEventListener('welcome', function (event) { opened = true; forward(1)(event); });
  source.addEventListener('message', forward(2));
  source.addEventListener('gap', forward(3));
  source.addEventListener('ping', forward(4));
  source.addEventListener('join', forward(7));
  source.addEventListener('leave', forward(8));
  source.addEventListener('subscribed', forward(9));
  source.addEventListener('unsubscribed', forward(10));
  source.addEventListener('disconnect', forward(11));
  // The client core owns reconnection (backoff, resume cursor, fallback), so the
  // browser's own automatic reconnect is switched off by closing on the first error.
  source.onerror = function (event) {
    if (pwSources.get(handle) !== source) return;
    // The server's `event: error` arrives here too, as a MessageEvent with data.
    if (typeof event.data === 'string') { forward(6)(event); return; }
    pwSources.delete(handle);
    source.close();
    // EventSource hides why a stream was refused: before its first event, the same
    // question as a poll (answered at once, 5 s at most) tells a refused token (401).
    Promise.race([opened ? '' : fetch(url.replace('/sse?', '/poll?')).then(function (r) {
      return r.status === 401 ? r.text() : '';
    }, function () { return ''; }), new Promise(function (r) { setTimeout(r, 5000, ''); })]).then(function (text) {
      if (text) pwWithStrings([text, ''], function (d, i) { _pw_sse_event(handle, 6, d, i); });
      else _pw_sse_event(handle, 5, 0, 0);
    });
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

// The wasm, fetched once: a failure rejects createPushWire() with a sentence naming the
// URL (Emscripten's loader tried three times, then said "both async and sync fetching of
// the wasm failed"). Runs before Emscripten's code sets wasmBinaryFile, called after.
if (!Module['instantiateWasm']) {
  Module['instantiateWasm'] = function (imports, receive) {
    var url = new URL(wasmBinaryFile, location.href).href;
    fetch(url).then(function (response) {
      if (!response.ok) throw Error('HTTP ' + response.status);
      return response.arrayBuffer();
    }).then(function (bytes) { return WebAssembly.instantiate(bytes, imports); }).then(function (result) {
      receive(result.instance);
    }, function (e) {
      readyPromiseReject(Error('pushwire: could not load ' + url + ' (' + e.message + '): serve pushwire.wasm ' +
        'beside pushwire.js, or give createPushWire({ locateFile }) its URL'));
    });
    return {};
  };
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
