// PushWire.Client (post-js): the JS API of the spec over the module's C functions
// (bindings.cpp). Published data leaves as JSON text; received data is the value the
// browser's JSON.parse made of the frame (glue.js pwRead/pwTake); user callbacks
// are isolated so that an exception in page code never unwinds through the wasm module;
// close() frees the native client, so page authors never free anything.

// The native clients' events (bindings.cpp calls these through EM_JS), by handle.
var pwNatives = new Map();
var pwNoEvents = {
  token: function () {}, state: function () {}, message: function () {}, gap: function () {},
  error: function () {}, published: function () {}, subscribed: function () {}, debug: function () {},
  member: function () {}, presence: function () {}, server: function () {}, serverMessage: function () {}
};
function pwNative(handle) { return pwNatives.get(handle) || pwNoEvents; }

// One native client: the calls api.js makes, the events it receives.
var pwNextHandle = 1;
// `server`: the server API's events, { subscribe(channel), unsubscribe(channel), message(msg) }.
function NativeClient(urls, transport, times, tokenRequester, debug, server) {
  var handle = pwNextHandle++;
  var subscriptions = new Map();
  var publishes = new Map();
  var nextPublish = 1;
  var presenceQueries = new Map();
  var stateListener = null;
  var get = function (what, sub) { return UTF8ToString(_pw_get(handle, what, sub || 0)); };
  pwNatives.set(handle, {
    token: function (id) { if (tokenRequester) tokenRequester(id); },
    state: function (state, reason) { if (stateListener) stateListener(state, reason); },
    message: function (sub, seq, data, time) {  // the channel is the subscription's
      var s = subscriptions.get(sub);
      if (s) s.onMessage(s.channel, seq, data, time);
    },
    gap: function (sub, channel, from, to, reason) {
      var s = subscriptions.get(sub);
      if (s) s.onGap(channel, from, to, reason);
    },
    error: function (sub, code, message, ended) {
      var s = subscriptions.get(sub);
      if (ended) subscriptions.delete(sub);
      if (s) s.onError(code, message, ended);
    },
    subscribed: function (sub) {
      var s = subscriptions.get(sub);
      if (s) s.onSubscribed();
    },
    debug: function (line) { if (debug) debug(line); },
    server: function (what, sub, text) {
      if (what === 1) server.subscribe(text);
      else if (what === 2) server.unsubscribe(text);
      var s = what === 3 && subscriptions.get(sub);
      if (!s) return;
      subscriptions.delete(sub);
      s.onEnded(text);
    },
    serverMessage: function (channel, seq, data, time) {
      server.message({ channel: channel, seq: seq, data: data, time: time });
    },
    published: function (id, ok, seq, code, message) {
      var done = publishes.get(id);
      if (!done) return;
      publishes.delete(id);
      done(ok !== 0, seq, code, message);
    },
    member: function (sub, joined, client, user, info) {
      var s = subscriptions.get(sub);
      if (s && s.onMember) s.onMember(joined !== 0, { client: client, user: user, info: JSON.parse(info) });
    },
    presence: function (id, ok, members, clients, users, code, message) {
      var done = presenceQueries.get(id);
      if (!done) return;
      presenceQueries.delete(id);
      done(ok !== 0, members ? JSON.parse(members) : null, clients, users, code, message);
    }
  });
  pwWithStrings([urls, transport], function (u, t) {
    _pw_new.apply(null, [handle, u, t].concat(times, [tokenRequester ? 1 : 0, debug ? 1 : 0]));
  });
  this.tokenReady = function (id, token) {
    pwWithStrings([token], function (t) { _pw_token_ready(handle, id, t); });
  };
  this.setStateListener = function (listener) { stateListener = listener; };
  // events: api.js's record of the subscription, { channel, onMessage, onGap, ... };
  // events.onMember(joined, member) only when the page watches joins and leaves.
  this.subscribe = function (channel, since, events) {
    var id = pwWithStrings([channel, since], function (c, s) {
      return _pw_subscribe(handle, c, s, events.onMember ? 1 : 0);
    });
    if (id) subscriptions.set(id, events);
    return id;
  };
  // done(ok, members or null, clients, users, code, message)
  this.presence = function (sub, statsOnly, done) {
    var id = nextPublish++;
    presenceQueries.set(id, done);
    _pw_presence(handle, sub, statsOnly ? 1 : 0, id);
  };
  this.unsubscribe = function (id) {
    subscriptions.delete(id);
    _pw_unsubscribe(handle, id);
  };
  this.publish = function (channel, json, done) {
    var id = nextPublish++;
    publishes.set(id, done);
    pwWithStrings([channel, json], function (c, d) { _pw_publish(handle, c, d, id); });
  };
  this.state = function () { return get(0); };
  this.stateReason = function () { return get(1); };
  this.transport = function () { return get(2); };
  this.server = function () { return get(3); };
  this.lastError = function () { return get(4); };
  this.lastErrorCode = function () { return get(5); };
  this.position = function (id) { return get(6, id); };
  this.token = function () { return get(7); };
  this.id = function () { return get(8); };
  this.connect = function (on) { _pw_connect(handle, on); };
  this.close = function () { _pw_close(handle); };
  this.delete = function () {
    _pw_delete(handle);
    pwNatives.delete(handle);
    presenceQueries.forEach(function (done) { done(false, null, 0, 0, 'closed', 'the client is closed'); });
    presenceQueries.clear();
  };
}

(function () {
  var TRANSPORTS = ['auto', 'websocket', 'sse', 'longpoll', 'poll'];
  var CHANNEL = /^[A-Za-z0-9_.:\-]{1,200}$/;
  var CLIENT_OPTIONS = ['transport', 'pollIntervalMs', 'reconnectInitialMs', 'reconnectMaxMs', 'connectTimeoutMs',
    'upgradeIntervalMs', 'getToken', 'debug', 'share'];
  var SUBSCRIBE_OPTIONS = ['since', 'onGap', 'onError', 'onJoin', 'onLeave'];

  // A misspelled option would be silently ignored: name it instead.
  function checkOptions(where, given, known) {
    if (given === undefined || given === null) return;
    if (typeof given !== 'object') throw new TypeError(where + ': options must be an object');
    Object.keys(given).forEach(function (name) {
      if (known.indexOf(name) < 0) {
        throw new TypeError(where + ': unknown option "' + name + '" (known: ' + known.join(', ') + ')');
      }
    });
  }

  // The class of every error with a server code (`instanceof PushWire.PushWireError`);
  // the ES module entry passes its own, exported, in.
  var PushWireError = Module['PushWireError'] || class PushWireError extends Error {
    constructor(code, message) {
      super(message);
      this.name = 'PushWireError';
      this.code = code;
    }
  };
  function pushwireError(code, message) { return new PushWireError(code, message); }

  // A server URL the client can use, or a TypeError that says what to pass.
  function checkUrl(url) {
    var parsed = null;
    try { parsed = new URL(url); } catch (e) {}
    if (!parsed || !/^https?:$/.test(parsed.protocol) || !parsed.host) {
      throw new TypeError('new PushWire.Client: "' + url + '" is not a server URL: pass its http:// or https:// URL, ' +
        'e.g. "http://127.0.0.1:8080" or location.origin' +
        (parsed && /^wss?:$/.test(parsed.protocol) ? ' (not ws://: the client asks the server for its WebSocket URL)' : ''));
    }
    return url;
  }

  // "server unreachable at URL" from a page of another origin: the browser reports a refusal
  // without CORS headers as that network error too. Say so.
  function explain(reason) {
    var m = /^server unreachable at (\S+)$/.exec(reason);
    return m && new URL(m[1]).origin !== location.origin ? reason + ' (or it refused this page\'s origin, ' +
      location.origin + ', without CORS headers, which a browser shows as a network error: is it in the ' +
      'server\'s --allowed-origins?)' : reason;
  }

  // Adds a listener; returns the function that removes it.
  function listen(listeners, listener) {
    listeners.push(listener);
    return function () {
      var i = listeners.indexOf(listener);
      if (i >= 0) listeners.splice(i, 1);
    };
  }

  function isolate(fn) {
    var args = Array.prototype.slice.call(arguments, 1);
    try { fn.apply(null, args); } catch (e) { setTimeout(function () { throw e; }, 0); }
  }

  function Client(url, options) {
    if (!(this instanceof Client)) throw new TypeError('use new PushWire.Client(url, options)');
    checkOptions('new PushWire.Client', options, CLIENT_OPTIONS);
    ['pollIntervalMs', 'reconnectInitialMs', 'reconnectMaxMs', 'connectTimeoutMs', 'upgradeIntervalMs'].forEach(
      function (name) {
        var v = options && options[name];
        if (v !== undefined && !(typeof v === 'number' && isFinite(v) && v >= 0)) {
          throw new TypeError('new PushWire.Client: ' + name + ' must be a number of milliseconds >= 0, got ' + v);
        }
      });
    var opts = Object.assign({ transport: 'auto', pollIntervalMs: 1000 }, options || {});
    if (TRANSPORTS.indexOf(opts.transport) < 0) {
      throw new TypeError('transport must be one of ' + TRANSPORTS.join(', ') + ', got ' + opts.transport);
    }
    var self = this;
    this._closed = false;
    this._lastTransport = 'auto';
    this._listeners = [];
    // One URL, or several servers sharing channels (failover between them).
    var urls = (Array.isArray(url) ? url.map(String) : [String(url)]).map(checkUrl);
    if (urls.length === 0) throw new TypeError('new PushWire.Client(urls): at least one server URL is needed');
    var debug = opts.debug === true ? function (line) { console.debug('pushwire: ' + line); } : opts.debug;
    if (debug && typeof debug !== 'function') {
      throw new TypeError('new PushWire.Client: debug must be a boolean or a function');
    }
    if (opts.getToken !== undefined && typeof opts.getToken !== 'function') {
      throw new TypeError('getToken must be a function returning a token (or a Promise of one)');
    }
    // getToken: async () => token. Asked before connecting, ahead of exp and on a 401;
    // a rejection or a non-string is "no token now" (the client retries with backoff).
    this._urls = urls;
    this._getToken = opts.getToken;
    var requester;
    if (opts.getToken) {
      var getToken = opts.getToken;
      requester = function (id) {
        // The token `share` read for its user, if fresh: getToken is not asked twice at start.
        var given = self._firstToken && Date.now() - self._firstToken.at < 5000 ? self._firstToken.token : null;
        self._firstToken = null;
        Promise.resolve().then(function () { return given !== null ? given : getToken(); }).then(function (token) {
          if (!self._closed) self._native.tokenReady(id, typeof token === 'string' ? token : '');
        }, function (e) {
          console.warn('pushwire: getToken failed: ' + (e && e.message ? e.message : e));
          if (!self._closed) self._native.tokenReady(id, '');
        });
      };
    }
    // In bindings.cpp's order; -1: the default.
    var times = ['pollIntervalMs', 'reconnectInitialMs', 'reconnectMaxMs', 'connectTimeoutMs', 'upgradeIntervalMs'].map(
      function (name) { return opts[name] === undefined ? -1 : Math.round(opts[name]); });
    this._subs = new Set();  // the subscriptions' state setters, while active
    // The server API's: client.onServerSubscribe, onServerUnsubscribe, onMessage.
    this._server = { subscribe: [], unsubscribe: [], message: [] };
    var tell = function (list) {
      return function (value) { list.slice().forEach(function (f) { isolate(f, value); }); };
    };
    var serverEvents = {
      subscribe: tell(this._server.subscribe), unsubscribe: tell(this._server.unsubscribe),
      message: tell(this._server.message)
    };
    var makeNative = function (events) {
      return new NativeClient(urls.join('\n'), String(opts.transport), times, requester, debug || null, events);
    };
    if (opts.share !== undefined && typeof opts.share !== 'boolean') {
      throw new TypeError('new PushWire.Client: share must be true or false');
    }
    // One connection for the tabs of this browser that use the same servers as the same
    // user (shared.js), where the browser has Web Locks and BroadcastChannel.
    if (opts.share !== false && pwCanShare()) {
      var getSub = opts.getToken ? function () {
        return Promise.resolve().then(function () { return opts.getToken(); }).then(function (token) {
          if (typeof token === 'string' && token) self._firstToken = { token: token, at: Date.now() };
          return pwTokenSub(token);
        }, function () { return ''; });
      } : null;
      this._native = new SharedNative(urls.concat(opts.transport, times).join('\n'), makeNative, getSub);
      this._native.setServerEvents(serverEvents);
      this._native.setHistoryReader(function (channel, since, limit) {
        return self.history(channel, { since: since, limit: limit });
      });
    } else {
      this._native = makeNative(serverEvents);
    }
    this._native.setStateListener(function (state, reason) {
      reason = explain(reason);
      // Not connected: what was subscribed waits to be served again; closed (by the
      // server): it ends.
      self._subs.forEach(function (set) {
        if (state === 'closed' && !self._closed) set('unsubscribed', reason);
        else if (state !== 'connected') set('subscribing', reason, true);
      });
      // With `debug`: the transport, and where each subscription resumes (nothing is
      // delivered before this call).
      if (debug) {
        debug(state === 'connected' ? 'connected over ' + self.transport + Array.from(self._subs, function (set) {
          var p = set.sub.position;
          return p ? ', resuming ' + set.sub.channel + ' from ' + p : '';
        }).join('') : state + (reason && ': ' + reason));
      }
      self._listeners.slice().forEach(function (f) { isolate(f, state, reason); });
    });
  }

  Client.prototype.subscribe = function (channel, onMessage, options) {
    if (this._closed) throw pushwireError('closed', 'the client is closed');
    if (typeof onMessage !== 'function') throw new TypeError('subscribe(channel, onMessage): onMessage must be a function');
    channel = String(channel);
    if (!CHANNEL.test(channel)) {
      throw pushwireError('bad_channel', 'channel name "' + channel + '" is invalid: expected 1-200 characters of A-Z a-z 0-9 _ - . :');
    }
    checkOptions('subscribe', options, SUBSCRIBE_OPTIONS);
    var opts = options || {};
    ['onGap', 'onError', 'onJoin', 'onLeave'].forEach(function (name) {
      if (opts[name] !== undefined && typeof opts[name] !== 'function') {
        throw new TypeError('subscribe: ' + name + ' must be a function');
      }
    });
    var since = opts.since === undefined || opts.since === null ? '' : opts.since;
    if (since === 0) since = '0';
    if (typeof since !== 'string') {
      throw new TypeError('subscribe: since must be a position string (sub.position) or "0", got ' + since);
    }
    var native = this._native;
    var self = this;
    var active = true;
    var lastPosition = since;
    var state = 'subscribing';
    var reason = '';
    var listeners = [];
    // sub.state: subscribing (until the server serves it, and again while the client
    // reconnects), subscribed, unsubscribed (for good).
    var setState = function (next, why, onlyIfSubscribed) {
      if (state === 'unsubscribed' || state === next || (onlyIfSubscribed && state !== 'subscribed')) return;
      state = next;
      reason = why;
      if (next === 'unsubscribed') self._subs.delete(setState);
      listeners.slice().forEach(function (f) { isolate(f, next, why); });
    };
    var reportError = function (error) {
      if (opts.onError) isolate(opts.onError, error);
      else console.warn('pushwire: ' + channel + ': ' + error.message);
    };
    var id = native.subscribe(channel, since, {
      channel: channel,
      onMessage: function (ch, seq, data, time) {
        isolate(onMessage, { channel: ch, seq: seq, data: data, time: time });
      },
      onGap: function (ch, from, to, reason) {
        if (opts.onGap) isolate(opts.onGap, { channel: ch, from: from, to: to < 0 ? null : to, reason: reason });
      },
      onError: function (code, message, ended) {
        if (ended) {
          lastPosition = native.position(id) || lastPosition;
          active = false;
          setState('unsubscribed', code + ': ' + message);
        }
        reportError(pushwireError(code, message));
      },
      onSubscribed: function () { setState('subscribed', ''); },
      // The backend took the channel away (server API `unsubscribe`).
      onEnded: function (why) {
        lastPosition = native.position(id) || lastPosition;
        active = false;
        setState('unsubscribed', why);
      },
      onMember: opts.onJoin || opts.onLeave ? function (joined, member) {
        var handler = joined ? opts.onJoin : opts.onLeave;
        if (handler) isolate(handler, member);
      } : null
    });
    if (id === 0) throw pushwireError(native.lastErrorCode(), native.lastError());
    // `since` not understood (a bad saved value): read from now, and say so after return.
    if (native.lastErrorCode()) {
      var late = pushwireError(native.lastErrorCode(), native.lastError());
      lastPosition = '';
      setTimeout(function () { reportError(late); }, 0);
    }
    // A presence query as a Promise: `pick` makes the value of the answer.
    var ask = function (statsOnly, pick) {
      return new Promise(function (resolve, reject) {
        if (self._closed) { reject(pushwireError('closed', 'the client is closed')); return; }
        if (!active) { reject(pushwireError('unsubscribed', 'the subscription has ended')); return; }
        native.presence(id, statsOnly, function (ok, members, clients, users, code, message) {
          if (ok) resolve(pick(members, clients, users)); else reject(pushwireError(code, message));
        });
      });
    };
    var subscription = {
      channel: channel,
      unsubscribe: function () {
        if (!active || self._closed) return;
        lastPosition = native.position(id) || lastPosition;
        active = false;
        native.unsubscribe(id);
        setState('unsubscribed', 'unsubscribed by the application');
      },
      onStateChange: function (listener) { return listen(listeners, listener); },
      // The channel's members now: [{ client, user, info }].
      presence: function () { return ask(false, function (members) { return members; }); },
      // { clients, users }
      presenceStats: function () {
        return ask(true, function (members, clients, users) { return { clients: clients, users: users }; });
      }
    };
    // The position after the last message delivered: save it, give it back as `since`.
    Object.defineProperty(subscription, 'position', {
      enumerable: true,
      get: function () {
        if (active && !self._closed) lastPosition = native.position(id) || lastPosition;
        return lastPosition;
      }
    });
    Object.defineProperty(subscription, 'state', { enumerable: true, get: function () { return state; } });
    Object.defineProperty(subscription, 'stateReason', { enumerable: true, get: function () { return reason; } });
    setState.sub = subscription;
    this._subs.add(setState);
    return subscription;
  };

  // What the server holds of a channel, oldest first: read through GET /pushwire/poll (the
  // answers are capped; `more` asks again), at most `limit` messages after `since`.
  Client.prototype.history = function (channel, options) {
    checkOptions('history', options, ['since', 'limit']);
    var opts = options || {};
    var since = opts.since === undefined || opts.since === null || opts.since === 0 ? '0' : opts.since;
    var limit = opts.limit === undefined ? Infinity : opts.limit;
    if (typeof since !== 'string') return Promise.reject(new TypeError('history: since must be a position string or "0"'));
    if (!(limit === Infinity || (typeof limit === 'number' && limit >= 0 && Math.floor(limit) === limit))) {
      return Promise.reject(new TypeError('history: limit must be a whole number >= 0'));
    }
    channel = String(channel);
    if (!CHANNEL.test(channel)) {
      return Promise.reject(pushwireError('bad_channel', 'channel name "' + channel + '" is invalid'));
    }
    if (this._closed) return Promise.reject(pushwireError('closed', 'the client is closed'));
    var base = (this._native.server() || this._urls[0]).replace(/\/+$/, '');
    var getToken = this._getToken;
    var out = [];
    // The connection's token while it lasts; getToken only without one.
    var held = this._native.token();
    var token = getToken && !held ? Promise.resolve().then(function () { return getToken(); }) : Promise.resolve(held);
    return token.then(function (bearer) {
      var headers = typeof bearer === 'string' && bearer ? { Authorization: 'Bearer ' + bearer } : {};
      var page = function (cursor) {
        var url = base + '/pushwire/poll?channel=' + encodeURIComponent(channel) + '&since=' + encodeURIComponent(cursor);
        return fetch(url, { headers: headers }).then(function (res) {
          return res.json().then(function (body) {
            if (!res.ok || body.error) {
              var e = body.error || {};
              throw pushwireError(e.code || 'http_' + res.status, e.message || 'history: status ' + res.status);
            }
            for (var i = 0; i < body.messages.length && out.length < limit; i++) out.push(body.messages[i]);
            if (body.more && out.length < limit) return page(body.cursor);
            return out;
          });
        });
      };
      return limit === 0 ? out : page(since);
    });
  };

  Client.prototype.publish = function (channel, data) {
    var native = this._native;
    var closed = this._closed;
    return new Promise(function (resolve, reject) {
      if (closed) { reject(pushwireError('closed', 'the client is closed')); return; }
      var json;
      try { json = JSON.stringify(data === undefined ? null : data); } catch (e) {
        reject(pushwireError('bad_json', 'data cannot be serialized to JSON: ' + e.message));
        return;
      }
      native.publish(String(channel), json, function (ok, seq, code, message) {
        if (ok) resolve(seq); else reject(pushwireError(code, message));
      });
    });
  };

  Client.prototype.onStateChange = function (listener) { return listen(this._listeners, listener); };
  // The backend's server API (docs/api.md): a channel it subscribed this client to, its
  // messages, and a channel it took away. Each returns the function that removes it.
  Client.prototype.onServerSubscribe = function (listener) { return listen(this._server.subscribe, listener); };
  Client.prototype.onServerUnsubscribe = function (listener) { return listen(this._server.unsubscribe, listener); };
  Client.prototype.onMessage = function (listener) { return listen(this._server.message, listener); };

  Object.defineProperty(Client.prototype, 'transport', {
    get: function () {
      if (!this._closed) this._lastTransport = this._native.transport();
      return this._lastTransport;
    }
  });
  // This client's id as members show it (member.client); "" until the first connection.
  Object.defineProperty(Client.prototype, 'id', {
    get: function () {
      if (!this._closed) this._lastId = this._native.id() || this._lastId;
      return this._lastId || '';
    }
  });
  Object.defineProperty(Client.prototype, 'server', {
    get: function () { return this._closed ? '' : this._native.server(); }
  });
  Object.defineProperty(Client.prototype, 'state', {
    get: function () { return this._closed ? 'closed' : this._native.state(); }
  });
  Object.defineProperty(Client.prototype, 'stateReason', {
    get: function () { return this._closed ? 'closed by the application' : explain(this._native.stateReason()); }
  });

  // Stops the connection without closing: subscriptions and positions stay, connect()
  // resumes from them. state "disconnected" meanwhile.
  Client.prototype.disconnect = function () { if (!this._closed) this._native.connect(0); };
  Client.prototype.connect = function () {
    if (this._closed) throw pushwireError('closed', 'the client is closed: make a new one');
    this._native.connect(1);
  };

  Client.prototype.close = function () {
    if (this._closed) return;
    this._lastTransport = this._native.transport();
    this._closed = true;  // first: the subscriptions end with this reason, below
    this._native.close();
    this._subs.forEach(function (set) { set('unsubscribed', 'the client was closed'); });
    var native = this._native;
    // Free on a later turn: close() may run inside one of this client's callbacks.
    setTimeout(function () { native.delete(); }, 0);
  };

  Module['Client'] = Client;
  Module['PushWireError'] = PushWireError;
})();
