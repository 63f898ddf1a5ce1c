// A fault-injecting TCP proxy between the browser and the server: it forwards one HTTP
// port and one WebSocket port, and on command cuts every live connection, refuses new
// ones, refuses only WebSocket, holds back the bytes of event streams (a buffering
// proxy), kills held long-polls, or silently stops forwarding (a dead link).
import net from 'node:net';

export class FaultProxy {
  constructor() {
    this.target = null;  // { httpPort, wsPort }
    this.refuseAll = false;
    this.refuseWs = false;
    this.holdSse = false;
    this.killHeldLongPolls = false;
    this.deadWs = false;      // WebSocket connections open and then carry nothing (an upgrade never answered)
    this.holdPrefixes = [];   // requests whose path starts with one of these get nothing back
    this.connections = new Set();
    this.cuts = 0;  // live connections closed by cutAll
    this.requests = [];  // { target, at }: every request line the clients sent, in order
    this.traps = [];     // cutNextRequest()
  }

  async start() {
    this.httpServer = await this._listen(false);
    this.wsServer = await this._listen(true);
    this.httpPort = this.httpServer.address().port;
    this.wsPort = this.wsServer.address().port;
    this.url = `http://127.0.0.1:${this.httpPort}`;
    this.wsUrl = `ws://127.0.0.1:${this.wsPort}/pushwire/ws`;
    return this;
  }

  _listen(isWs) {
    const server = net.createServer((client) => this._accept(client, isWs));
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
  }

  _accept(client, isWs) {
    if (this.refuseAll || (isWs && this.refuseWs) || !this.target) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(isWs ? this.target.wsPort : this.target.httpPort, '127.0.0.1');
    const conn = { client, upstream, held: false, dead: this.deadNew === true || (isWs && this.deadWs), isWs };
    this.connections.add(conn);
    const end = () => {
      this.connections.delete(conn);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on('data', (chunk) => {
      if (conn.dead) return;
      const head = chunk.toString('latin1', 0, Math.min(chunk.length, 2000));
      const line = /^[A-Z]+ (\S+) HTTP\/1\.1\r\n/.exec(head);
      if (line) this.requests.push({ target: line[1], at: this.requests.length });
      if (this.holdSse && head.startsWith('GET /pushwire/sse')) conn.held = true;
      if (this.holdPrefixes.some((prefix) => head.startsWith(`GET ${prefix}`))) conn.held = true;
      if (this.killHeldLongPolls && head.startsWith('GET /pushwire/longpoll') && !/timeout_ms=0(&|\s)/.test(head)) {
        end();
        return;
      }
      upstream.write(chunk);
      const trap = line && this.traps.find((t) => line[1].startsWith(t.prefix));
      if (trap) {
        this.traps.splice(this.traps.indexOf(trap), 1);
        conn.trap = { resolve: trap.resolve, request: this.requests[this.requests.length - 1] };
      }
    });
    upstream.on('data', (chunk) => {
      if (conn.dead || conn.held) return;  // held: buffered forever, as a buffering proxy would
      if (conn.trap) {
        // The answer's status line reaches the client, the rest never does: a browser does
        // not retry that on its own, its page sees a failed request.
        const eol = chunk.indexOf('\r\n');
        client.write(chunk.subarray(0, eol < 0 ? chunk.length : eol + 2), () => {
          this.cuts += 1;
          end();
          conn.trap.resolve(conn.trap.request);
        });
        return;
      }
      client.write(chunk);
    });
  }

  // Closes every live connection (both sides).
  cutAll() {
    this.cuts += this.connections.size;
    for (const conn of [...this.connections]) {
      conn.client.destroy();
      conn.upstream.destroy();
    }
    this.connections.clear();
  }

  // The next request whose target starts with `prefix` is passed to the server, and its
  // connection is closed once the answer's status line went through: a request cut in
  // flight. Resolves to that request ({ target, at }, as in `requests`).
  cutNextRequest(prefix) {
    return new Promise((resolve) => this.traps.push({ prefix, resolve }));
  }

  // Live connections stop carrying bytes but stay open: a dead link nobody reports.
  // `andNew`: connections opened from now on are dead too, until reviveNew() (a client that
  // opens a new connection per request, as polls may, would otherwise never see the dead link).
  blackholeAll({ andNew = false } = {}) {
    for (const conn of this.connections) conn.dead = true;
    this.deadNew = andNew;
  }

  reviveNew() { this.deadNew = false; }

  async stop() {
    this.cutAll();
    await Promise.all([this.httpServer, this.wsServer].map((s) => new Promise((r) => s.close(r))));
  }
}
