// pushwire browser glue (pre-js): the few browser objects the C++ transports drive,
// each kept in a table by id so that a late event from a closed object is dropped.
var pwXhrs = new Map();
var pwSources = new Map();
var pwSockets = new Map();

function pwWithString(text, use) {
  var size = lengthBytesUTF8(text) + 1;
  var ptr = _malloc(size);
  stringToUTF8(text, ptr, size);
  try { use(ptr); } finally { _free(ptr); }
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
  var xhr = pwXhrs.get(id);
  if (!xhr) return;
  pwXhrs.delete(id);
  xhr.abort();
}

// Event kinds passed to _pw_sse_event: 1 welcome, 2 message, 3 gap, 4 ping, 5 failed,
// 6 the server's own `event: error` (a refused channel, an expired token).
function pwSseOpen(handle, url) {
  var source;
  try { source = new EventSource(url); } catch (e) {
    setTimeout(function () { _pw_sse_event(handle, 5, 0, 0); }, 0);
    return;
  }
  pwSources.set(handle, source);
  var forward = function (kind) {
    return function (event) {
      if (pwSources.get(handle) !== source) return;
      pwWithString(event.data || '', function (d) {
        pwWithString(event.lastEventId || '', function (i) { _pw_sse_event(handle, kind, d, i); });
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
  var source = pwSources.get(handle);
  if (!source) return;
  pwSources.delete(handle);
  source.close();
}

// WebSocket event kinds passed to _pw_ws_event: 1 a text frame, 2 closed (code, reason),
// 3 failed (refused or unreachable; the close that follows is not reported again).
function pwWsOpen(handle, url) {
  var socket;
  try { socket = new WebSocket(url); } catch (e) {
    setTimeout(function () { _pw_ws_event(handle, 3, 0, 0); }, 0);
    return;
  }
  pwSockets.set(handle, socket);
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
  var socket = pwSockets.get(handle);
  if (!socket) return;
  pwSockets.delete(handle);
  socket.close(1000);
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
