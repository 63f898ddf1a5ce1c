// SharedNative (post-js, before api.js): NativeClient's interface for a tab that shares one
// connection with the other tabs of its origin (the `share` option, docs/sdk.md "Tabs").
//
// Tabs whose Client names the same server URLs and whose token names the same `sub`
// (anonymous tabs: with anonymous ones only) form a group: one BroadcastChannel and one Web
// Lock named after them. The tab holding the lock (the leader) runs the real NativeClient;
// every tab, the leader's own too, sends its subscribe / unsubscribe / publish / presence
// requests to it ("up" messages) and receives its subscriptions' events back (addressed
// with `to`). The leader makes one real subscription per (tab, subscription). Each tab keeps
// the last seq and position of each of its subscriptions and drops what it already has; when
// the leader goes (its lock is released when its tab closes), the next tab in the lock's
// queue takes over, collects every tab's subscriptions for a moment and subscribes each
// channel from the oldest position among them: no loss, and no repeat in any tab. A tab
// behind the connection on a channel (a saved `since` on a channel read already, a message
// missed while the leader went) reads the seqs between from history first.
//
// A frozen leader (a tab the browser froze, a debugger pause) keeps its lock: the leader
// beats every 500 ms; a tab that has heard nothing from it for ~1 s asks ("ping": a live
// leader answers from its message handler, which background timer throttling does not
// delay), and ~0.3 s later takes the lock with Web Locks' `steal: true`. A leader that
// thaws acts on nothing until it knows it still holds the lock (navigator.locks.query(),
// when its own beat is late): one whose lock was stolen, or that hears another leader,
// steps down at once, delivering and publishing nothing more, and follows the new leader.
//
// Messages on the channel come from tabs of this origin only, but not all are ours: one
// that is not an object of the expected shape is dropped, never thrown on. A tab takes the
// leader's messages only from the leader it knows (`from`: its id, as its `leader` message
// announced it when it took the lock, or as its first answer named it), and a
// subscription's events only when addressed to it (`to`); a tab that hears a request in
// its own name (its id: a tab never hears its own posts) sends its subscriptions again.
// This stops a careless or confused script, not a hostile one: any script of the origin
// can read the channel, learn the ids and forge them (docs/sdk.md, Tabs).

function pwCanShare() {
  return typeof BroadcastChannel === 'function' && typeof navigator === 'object' && !!navigator.locks &&
    typeof navigator.locks.request === 'function';
}

// The `sub` claim of a JWT, '' for none or an unreadable token.
function pwTokenSub(token) {
  try {
    var part = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    var sub = JSON.parse(atob(part + '==='.slice((part.length + 3) % 4))).sub;
    return typeof sub === 'string' ? sub : '';
  } catch (e) {
    return '';
  }
}

// The seq a saved position names (its channel's "@seq"), 0 for "0", null for none.
function pwPositionSeq(position) {
  if (position === '0') return 0;
  var m = /@(\d+)$/.exec(position || '');
  return m ? Number(m[1]) : null;
}

// Whether a message on a group's channel has the shape this file posts: anything else (a
// tab of this origin can post anything) is dropped. What each field must be, by type.
var pwString = function (v) { return typeof v === 'string'; };
var pwNumber = function (v) { return typeof v === 'number'; };
var pwId = function (v) { return pwString(v) || pwNumber(v); };
var pwPos = function (v) { return v === undefined || pwString(v); };
var PW_SHAPES = {
  up: { hello: {}, ping: {}, bye: {}, sub: { id: pwNumber, channel: pwString, since: pwString },
    unsub: { id: pwNumber }, pub: { id: pwString, channel: pwString, json: pwString },
    presence: { id: pwString, sub: pwNumber } },
  tab: { beat: {}, leader: {}, state: { state: pwString }, msg: { id: pwNumber, seq: pwNumber, pos: pwPos },
    gap: { id: pwNumber, channel: pwString, from2: pwNumber, to2: pwNumber }, err: { id: pwNumber, code: pwString },
    subd: { id: pwNumber, pos: pwPos }, ended: { id: pwNumber }, member: { id: pwNumber },
    srv: { what: function (v) { return v === 'subscribe' || v === 'unsubscribe' || v === 'message'; } },
    done: { id: pwId, args: Array.isArray } }
};
function pwWellFormed(msg) {
  if (!msg || typeof msg !== 'object' || !pwString(msg.t)) return false;
  if (!pwString(msg.from)) return false;  // the sender's id (the leader's, for a tab message)
  var shapes = msg.up ? PW_SHAPES.up : PW_SHAPES.tab;
  var shape = Object.prototype.hasOwnProperty.call(shapes, msg.t) ? shapes[msg.t] : null;
  if (!shape) return false;
  for (var field in shape) if (!shape[field](msg[field])) return false;
  return true;
}

// The groups this page's clients lead or follow: a second Client of one page with the same
// servers and user asked for a connection of its own, and has one.
var pwGroupsHere = new Set();

// key: the servers and connection options, "\n"-joined; makeNative(): the real NativeClient (made when this tab leads);
// getSub: null (anonymous) or a function giving a Promise of the token's sub.
function SharedNative(key, makeNative, getSub) {
  var self = this;
  var me = Math.random().toString(36).slice(2) + Date.now().toString(36);
  var channel = null;
  var real = null;          // the real client, while this tab leads
  var closed = false;
  var detached = false;     // disconnect(): this tab's subscriptions are off the connection
  var queue = [];           // up messages before a leader is known
  var leaderKnown = false;
  var leaderId = null;      // the leader this tab takes messages from (its `me`)
  var heard = false;        // another tab of the group spoke: a takeover gathers their subscriptions
  var name = null;
  var release = null;       // releases the lock (leader)
  var abort = null;         // aborts this tab's queued lock request
  var ticket = null;        // this tab's current lock request (an older one's outcome is ignored)
  var lastHeard = 0;        // when the leader last spoke (Date.now())
  var leaderSeen = false;   // some tab led since this one joined: a silent one may be frozen
  var pinged = 0;           // when this tab asked a silent leader whether it lives
  var watcher = null;       // the follower's watch (an interval)
  var info = { state: 'connecting', reason: '', transport: 'auto', server: '', id: '' };
  var stateListener = null;
  var subs = new Map();     // this tab's subscriptions: id -> api.js's record, with pos and last
  var nextId = 1;
  var pending = new Map();  // this tab's publishes and presence queries waiting for the leader
  var server = null;        // the server API's events of this tab (api.js)

  // ---- this tab's side
  var up = function (msg) {
    msg.up = 1;
    msg.from = me;
    if (!channel || !leaderKnown) { queue.push(msg); return; }
    send(msg);
  };
  var send = function (msg) {
    var p = msg.id !== undefined && pending.get(msg.id);
    if (p) p.sent = true;  // from now on in the hands of this leader
    if (real) Promise.resolve(msg).then(lead); else channel.postMessage(msg);
  };
  var known = function () {
    leaderKnown = true;
    queue.splice(0).forEach(send);
  };
  var subscribeUp = function (id, s) {
    up({ t: 'sub', id: id, channel: s.channel, since: s.pos, watch: !!s.onMember });
  };
  var readHistory = null;   // (channel, since, limit) -> Promise of messages (api.js history)
  var deliver = function (s, msg) {
    if (s.last !== null && msg.seq <= s.last) return;  // had it (from before a takeover)
    s.last = msg.seq;
    s.pos = msg.pos || s.pos;
    s.onMessage(s.channel, msg.seq, msg.data, msg.time);
  };
  // The messages after s.last up to seq `upto` (`pos` names a position of the channel), then
  // what came meanwhile. Seqs history no longer holds are a gap (`evicted`; join/leave entries
  // hold seqs too, and history has them); a history read that failed, a gap `missing`.
  var fill = function (id, s, upto, pos) {
    var at = function (seq) { return pos.replace(/@\d+$/, '@' + seq); };
    s.filling = [];
    readHistory(s.channel, s.pos, upto - s.last).catch(function () { return null; }).then(function (list) {
      var waiting = s.filling;
      s.filling = null;
      if (subs.get(id) !== s) return;
      var next = s.last + 1;
      var lost = function (to, reason) {
        if (to >= next) s.onGap(s.channel, next, to, reason);
      };
      (list || []).forEach(function (m) {
        if (m.seq > upto || m.seq < next) return;
        lost(m.seq - 1, 'evicted');
        next = m.seq + 1;
        if (!m.event) deliver(s, { seq: m.seq, data: m.data, time: m.time, pos: at(m.seq) });
      });
      lost(upto, list ? 'evicted' : 'missing');
      if (s.last < upto) {
        s.last = upto;
        s.pos = at(upto);
      }
      waiting.forEach(function (m) { deliver(s, m); });
    });
  };
  // A subscription's events, a request's answer: to one tab, never to all.
  var addressed = { msg: 1, gap: 1, err: 1, subd: 1, ended: 1, member: 1, done: 1 };
  var tab = function (msg) {
    if (closed || (msg.to && msg.to !== me) || (!msg.to && addressed[msg.t])) return;
    var s = msg.id !== undefined && subs.get(msg.id);
    switch (msg.t) {
      case 'beat': return;
      case 'leader':  // a new leader: it has nothing of ours yet; what the old one had is lost
        pending.forEach(function (p, id) {
          if (!p.sent) return;
          pending.delete(id);
          p.gone();
        });
        leaderKnown = true;
        if (!detached) subs.forEach(function (s2, id) { subscribeUp(id, s2); });
        known();
        return;
      case 'state':
        if (!leaderKnown) known();
        info = msg;
        if (stateListener && !detached) stateListener(msg.state, msg.reason);
        return;
      case 'msg':
        if (!s) return;
        if (s.filling) { s.filling.push(msg); return; }
        // After this tab's last message, the connection's subscription may be further on (it
        // read the channel already when this tab came, or this tab missed a message when a
        // leader went): what lies between is read from history first.
        if (s.last !== null && msg.seq > s.last + 1 && readHistory && s.pos && msg.pos) {
          fill(msg.id, s, msg.seq - 1, msg.pos);
          s.filling.push(msg);
          return;
        }
        deliver(s, msg);
        return;
      case 'gap':
        if (!s || (s.last !== null && msg.to2 >= 0 && msg.to2 <= s.last)) return;  // not ours: we had those
        if (msg.to2 < 0) s.last = null;  // a new epoch: seqs start again
        else if (s.last !== null) s.last = Math.max(s.last, msg.to2);  // lost: no hole to fill
        s.onGap(msg.channel, msg.from2, msg.to2, msg.reason);
        return;
      case 'err':
        if (!s) return;
        if (msg.code === 'bad_cursor') { s.pos = ''; s.last = null; }  // read from now (api.js says so)
        if (msg.ended) subs.delete(msg.id);
        s.onError(msg.code, msg.message, msg.ended);
        return;
      case 'subd':
        if (!s) return;
        if (s.last === null && !s.pos && msg.pos) {  // "from now": from the connection's position
          s.pos = msg.pos;
          s.last = pwPositionSeq(msg.pos);
        }
        s.onSubscribed();
        // Behind the connection (it read this channel before this subscription came): catch up.
        var at = pwPositionSeq(msg.pos);
        if (s.last !== null && at !== null && at > s.last && readHistory && s.pos && !s.filling) fill(msg.id, s, at, msg.pos);
        return;
      case 'ended':
        if (!s) return;
        subs.delete(msg.id);
        s.onEnded(msg.why);
        return;
      case 'member': if (s && s.onMember) s.onMember(msg.joined, msg.member); return;
      case 'srv': if (server) server[msg.what](msg.value); return;
      case 'done': {
        var p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        p.done.apply(null, msg.args);
      }
    }
  };

  // ---- the leader's side: requests from every tab, the real client's events to them
  var realIds = new Map();  // from + "/" + id -> real id
  var collecting = null;    // subscriptions gathered after a takeover, before subscribing
  // Channels the server serves now: a new subscription of one is served at once (the core
  // tells a channel's subscriptions when the server confirms the channel, not each one).
  var served = new Set();
  var post = function (msg) { gate(function () { postNow(msg); }); };
  var postNow = function (msg) {
    if (closed || !real) return;
    msg.from = me;
    if (msg.to !== me) {
      // A value the browser cannot clone (an array nested 100,000 deep): that tab sees a hole
      // at its next message and reads it from history.
      try { channel.postMessage(msg); } catch (e) {}
    }
    if (!msg.to || msg.to === me) Promise.resolve(msg).then(tab);
  };
  var realSubscribe = function (msg, since) {
    var key = msg.from + '/' + msg.id;
    if (realIds.has(key)) return;
    var to = msg.from;
    var id = msg.id;
    // Served, with the channel's position (a subscription "from now" starts there): read
    // once the core has taken the server's cursor in.
    var subscribedNow = function () {
      Promise.resolve().then(function () {
        if (real && realIds.get(key) === realId) post({ t: 'subd', to: to, id: id, pos: real.position(realId) });
      });
    };
    var realId = real.subscribe(msg.channel, since, {
      onMessage: function (ch, seq, data, time) {
        post({ t: 'msg', to: to, id: id, seq: seq, data: data, time: time, pos: real.position(realId) });
      },
      onGap: function (ch, from, to2, reason) {
        post({ t: 'gap', to: to, id: id, channel: ch, from2: from, to2: to2, reason: reason });
      },
      onError: function (code, message, ended) {
        if (ended) realIds.delete(key);
        post({ t: 'err', to: to, id: id, code: code, message: message, ended: ended });
      },
      onSubscribed: function () {
        served.add(msg.channel);
        subscribedNow();
      },
      onEnded: function (why) {
        realIds.delete(key);
        post({ t: 'ended', to: to, id: id, why: why });
      },
      onMember: msg.watch ? function (joined, member) {
        post({ t: 'member', to: to, id: id, joined: joined, member: member });
      } : null
    });
    if (!realId) {
      post({ t: 'err', to: to, id: id, code: real.lastErrorCode(), message: real.lastError(), ended: true });
      return;
    }
    realIds.set(key, realId);
    channelOf.set(realId, msg.channel);
    if (served.has(msg.channel)) subscribedNow();
    if (real.lastErrorCode()) {
      post({ t: 'err', to: to, id: id, code: real.lastErrorCode(), message: real.lastError(), ended: false });
    }
  };
  // Every channel from the oldest position any tab asked for (a position first, then "from
  // now"): the tabs further on drop what they had.
  var subscribeCollected = function () {
    var gathered = collecting;
    collecting = null;
    if (!real) return;
    var oldest = new Map();
    gathered.forEach(function (msg) {
      var seq = pwPositionSeq(msg.since);
      var rank = seq === null ? Infinity : seq;
      var best = oldest.get(msg.channel);
      if (!best || rank < best.rank) oldest.set(msg.channel, { rank: rank, since: msg.since });
    });
    gathered.forEach(function (msg) {
      var best = oldest.get(msg.channel);
      realSubscribe(msg, best ? best.since : msg.since);
      oldest.delete(msg.channel);
    });
  };
  var answer = function (msg) {
    return function () { post({ t: 'done', to: msg.from, id: msg.id, args: Array.prototype.slice.call(arguments) }); };
  };
  var channelOf = new Map();  // real id -> channel
  var forget = function (key) {
    var realId = realIds.get(key);
    if (realId === undefined) return;
    realIds.delete(key);
    var ch = channelOf.get(realId);
    channelOf.delete(realId);
    real.unsubscribe(realId);
    if (!Array.from(channelOf.values()).some(function (c) { return c === ch; })) served.delete(ch);
  };
  var lead = function (msg) { gate(function () { leadNow(msg); }); };
  var leadNow = function (msg) {
    if (!real || typeof msg.from !== 'string') return;
    switch (msg.t) {
      case 'hello': post(Object.assign({ t: 'state' }, info)); return;
      case 'ping': post({ t: 'beat' }); return;
      case 'sub':
        if (collecting) collecting.push(msg); else realSubscribe(msg, msg.since);
        return;
      case 'unsub':
        if (collecting) collecting = collecting.filter(function (m) { return m.from !== msg.from || m.id !== msg.id; });
        forget(msg.from + '/' + msg.id);
        return;
      case 'bye':
        if (collecting) collecting = collecting.filter(function (m) { return m.from !== msg.from; });
        Array.from(realIds.keys()).forEach(function (key) {
          if (key.indexOf(msg.from + '/') === 0) forget(key);
        });
        return;
      case 'pub': real.publish(msg.channel, msg.json, answer(msg)); return;
      case 'presence': {
        var realId = realIds.get(msg.from + '/' + msg.sub);
        if (realId === undefined) answer(msg)(false, null, 0, 0, 'unsubscribed', 'the subscription has ended');
        else real.presence(realId, msg.statsOnly, answer(msg));
      }
    }
  };
  // While this tab leads: `sure` is when it last knew it held the lock. Past 1 s (its beat
  // was late: frozen, paused, throttled) what it would do waits for navigator.locks.query():
  // done in order if the lock is still this tab's (`holder`: its clientId), dropped if not.
  var sure = 0;
  var holder = null;
  var waiting = null;
  var beat = null;
  var lastBeat = 0;
  var gate = function (fn) {
    if (!real) return;
    if (!waiting && Date.now() - sure < 1000) { fn(); return; }
    if (waiting) { waiting.push(fn); return; }
    waiting = [fn];
    var was = real;
    navigator.locks.query().then(function (st) {
      var list = waiting;
      waiting = null;
      if (real !== was) return;
      var mine = holder === null || (st.held || []).some(function (l) { return l.name === name && l.clientId === holder; });
      if (!mine) { stepDown(); return; }
      sure = Date.now();
      list.forEach(function (f) { f(); });
    }, function () { waiting = null; });
  };
  // This tab no longer leads (its lock was stolen while it was frozen, or another tab leads):
  // its connection goes without a word more; it follows, and its subscriptions go to the
  // leader from their positions.
  var stepDown = function () {
    if (!real) return;
    var old = real;
    real = null;
    waiting = null;
    clearInterval(beat);
    old.setStateListener(function () {});
    old.close();
    setTimeout(function () { old.delete(); });
    realIds.clear();
    channelOf.clear();
    served.clear();
    collecting = null;
    if (release) release();
    release = null;
    leaderKnown = false;
    leaderId = null;
    lastHeard = Date.now();
    pending.forEach(function (p, id) {
      if (!p.sent) return;
      pending.delete(id);
      p.gone();
    });
    if (!detached) subs.forEach(function (s, id) { subscribeUp(id, s); });
    channel.postMessage({ up: 1, from: me, t: 'hello' });
    requestLock(false);
  };
  // Queues for the group's lock, or (steal) takes it from a leader that does not answer.
  var requestLock = function (steal) {
    var mine = ticket = {};
    if (abort) abort.abort();  // this tab's place in the queue, if it has one
    abort = !steal && typeof AbortController === 'function' ? new AbortController() : null;
    navigator.locks.request(name, steal ? { steal: true } : abort ? { signal: abort.signal } : {}, function () {
      if (closed || ticket !== mine) return null;
      becomeLeader();
      return new Promise(function (resolve) { release = resolve; });
    }).catch(function () {  // aborted (close(), a steal of this tab's own), or stolen from this tab
      if (ticket === mine && real) stepDown();
    });
  };
  // A follower's watch: a leader silent for ~1 s is asked; one that does not answer in 0.3 s
  // is frozen, and this tab takes the lock (a random wait first: one tab of many goes).
  var patience = 900 + Math.random() * 300;
  var watch = function () {
    var now = Date.now();
    if (closed || real || !leaderSeen || !name) return;
    if (now - lastHeard < patience) { pinged = 0; return; }
    if (!pinged) {
      pinged = now;
      channel.postMessage({ up: 1, from: me, t: 'ping' });
    } else if (now - pinged > 300) {
      pinged = 0;
      lastHeard = now;
      requestLock(true);
    }
  };
  var becomeLeader = function () {
    sure = lastBeat = Date.now();
    holder = null;
    if (navigator.locks.query) {
      navigator.locks.query().then(function (st) {
        (st.held || []).forEach(function (l) { if (l.name === name) holder = l.clientId; });
      });
    }
    beat = setInterval(function () {
      var now = Date.now();
      if (now - lastBeat < 1000) sure = now;  // on time: not frozen since the last beat
      lastBeat = now;
      post({ t: 'beat' });
    }, 500);
    real = makeNative({
      subscribe: function (v) { post({ t: 'srv', what: 'subscribe', value: v }); },
      unsubscribe: function (v) { post({ t: 'srv', what: 'unsubscribe', value: v }); },
      message: function (v) { post({ t: 'srv', what: 'message', value: v }); }
    });
    real.setStateListener(function (state, reason) {
      if (state !== 'connected') served.clear();
      info = { state: state, reason: reason, transport: real.transport(), server: real.server(), id: real.id() };
      post(Object.assign({ t: 'state' }, info));
    });
    // After other tabs were heard: every tab sends its subscriptions again; a moment to
    // gather them, then one real subscription per (tab, subscription), each channel from the
    // oldest position.
    if (heard) {
      collecting = [];
      setTimeout(subscribeCollected, 150);
    }
    post({ t: 'leader', leader: me });
    // Its state again: a tab drops what came from this one before it announced itself.
    if (name) channel.postMessage(Object.assign({ t: 'state', from: me }, info));
  };

  var join = function (sub) {
    if (closed) return;
    name = 'pushwire\n' + key + '\n' + (sub === null ? 'anonymous' : 'sub:' + sub);
    if (pwGroupsHere.has(name)) {  // this page has one already: a connection of this client's own
      name = null;
      channel = { postMessage: function () {}, close: function () {} };
      becomeLeader();
      return;
    }
    pwGroupsHere.add(name);
    channel = new BroadcastChannel(name);
    channel.onmessage = function (ev) {
      var msg = ev.data;
      if (!pwWellFormed(msg)) return;  // not ours: a tab of this origin can post anything
      heard = true;
      if (msg.from === me) {  // never this tab's own post: another script in its name
        // A forged bye or unsub took this tab's subscriptions off the connection: they go
        // again from their positions, once the leader has had the forged one.
        if (msg.up && !real && !closed && !detached && (msg.t === 'bye' || msg.t === 'unsub')) {
          setTimeout(function () {
            if (closed || real || detached) return;
            subs.forEach(function (s, id) { if (msg.t === 'bye' || msg.id === id) subscribeUp(id, s); });
          }, 250);
        }
        return;
      }
      if (msg.up) {
        if (real) lead(msg);
      } else if (real) {
        // Another tab leads: this one thawed after its lock was stolen, or is the holder and
        // the other is the one that thawed. The lock says which (its next act waits on it).
        sure = 0;
        gate(function () {});
      } else {
        // The leader: as it announced itself taking the lock, or (a tab that came later)
        // the first to answer; another's messages are dropped.
        if (msg.t === 'leader' && pwString(msg.leader) && msg.leader === msg.from) leaderId = msg.from;
        else if (leaderId === null && msg.t === 'state') leaderId = msg.from;
        if (msg.from !== leaderId) return;
        lastHeard = Date.now();
        leaderSeen = true;
        tab(msg);
      }
    };
    requestLock(false);
    watcher = setInterval(watch, 200);
    channel.postMessage({ up: 1, from: me, t: 'hello' });
    // A tab that goes away without close(): its subscriptions leave the connection (and come
    // back if the page is restored from the back/forward cache).
    addEventListener('pagehide', function () {
      if (!closed && !real && leaderKnown && !detached) send({ up: 1, from: me, t: 'bye' });
    });
    addEventListener('pageshow', function (ev) {
      if (closed || real || !ev.persisted || detached) return;
      subs.forEach(function (s, id) { subscribeUp(id, s); });
    });
  };
  if (getSub) {
    getSub().then(function (sub) {
      // A token without a sub is not shared with anyone: a group of its own.
      join(sub || 'unnamed ' + me);
    });
  } else {
    join(null);
  }

  // ---- NativeClient's interface (api.js)
  this.shared = true;
  this.setServerEvents = function (events) { server = events; };
  this.setHistoryReader = function (read) { readHistory = read; };
  this.tokenReady = function (id, token) { if (real) real.tokenReady(id, token); };
  this.setStateListener = function (listener) { stateListener = listener; };
  // `s`: api.js's record of the subscription (its channel and events); this tab's position
  // and last seq are kept on it.
  this.subscribe = function (channelName, since, s) {
    var id = nextId++;
    s.pos = since;
    s.last = pwPositionSeq(since);
    subs.set(id, s);
    if (!detached) subscribeUp(id, s);
    return id;
  };
  this.unsubscribe = function (id) {
    subs.delete(id);
    up({ t: 'unsub', id: id });
  };
  var request = function (msg, done, failed) {
    var id = 'q' + nextId++;
    pending.set(id, { done: done, gone: failed });
    msg.id = id;
    up(msg);
  };
  var gone = 'the tab holding the shared connection closed before the server answered';
  this.publish = function (channelName, json, done) {
    request({ t: 'pub', channel: channelName, json: json }, done,
      function () { done(false, 0, 'publish_outcome_unknown', gone + ': the message may or may not be stored'); });
  };
  this.presence = function (sub, statsOnly, done) {
    request({ t: 'presence', sub: sub, statsOnly: statsOnly }, done,
      function () { done(false, null, 0, 0, 'disconnected', gone); });
  };
  // The leader reads its connection as it is now; the other tabs, as it was last told.
  this.state = function () { return detached ? 'disconnected' : real ? real.state() : info.state; };
  this.stateReason = function () { return real ? real.stateReason() : info.reason; };
  this.transport = function () { return real ? real.transport() : info.transport; };
  this.server = function () { return real ? real.server() : info.server; };
  this.lastError = function () { return ''; };
  this.lastErrorCode = function () { return ''; };
  this.position = function (id) { var s = subs.get(id); return s ? s.pos : ''; };
  this.token = function () { return real ? real.token() : ''; };
  this.id = function () { return real ? real.id() : info.id; };
  this.leader = function () { return !!real; };
  // disconnect(): this tab's subscriptions leave the shared connection (the other tabs keep
  // it); connect(): they come back from their positions.
  this.connect = function (on) {
    if (!on === detached) return;
    detached = !on;
    if (detached) {
      up({ t: 'bye' });
      if (stateListener) stateListener('disconnected', 'disconnected by the application');
    } else {
      subs.forEach(function (s, id) { subscribeUp(id, s); });
      up({ t: 'hello' });
    }
  };
  this.close = function () {
    if (closed) return;
    if (leaderKnown && !real) send({ up: 1, from: me, t: 'bye' });  // a leader's own go with its connection
    closed = true;
    ticket = null;
    clearInterval(watcher);
    clearInterval(beat);
    if (abort) abort.abort();
    if (name) pwGroupsHere.delete(name);
    if (real) {
      real.setStateListener(function () {});  // the other tabs are not closed: the next leader takes over
      real.close();
    }
    if (release) release();
    if (channel) channel.close();
  };
  this.delete = function () {
    if (real) real.delete();
    pending.forEach(function (p) { p.gone(); });
    pending.clear();
  };
}
