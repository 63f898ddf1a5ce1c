// Types of the pushwire browser SDK (docs/sdk.md has every option with its default).

export type TransportName = 'auto' | 'websocket' | 'sse' | 'longpoll' | 'poll';
/** `disconnected`: by `client.disconnect()` (`connect()` resumes); `closed`: for good. */
export type ClientState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed';
/** `subscribing` until the server serves it (and again while the client reconnects). */
export type SubscriptionState = 'subscribing' | 'subscribed' | 'unsubscribed';
/** Why messages were lost (docs/sdk.md, onGap). */
export type GapReason = 'evicted' | 'epoch_changed' | 'missing';
/** The codes the SDK and the server give; others may come from a newer server. */
export type ErrorCode =
  | 'forbidden' | 'unauthorized' | 'token_expired' | 'bad_cursor' | 'bad_channel' | 'too_large' | 'too_deep'
  | 'rate_limited' | 'overloaded' | 'broker_unavailable' | 'publish_outcome_unknown' | 'bad_json' | 'bad_type'
  | 'missing_field' | 'unknown_field' | 'bad_request' | 'not_found' | 'transport_disabled' | 'origin_not_allowed'
  | 'closed' | 'internal' | 'token_revoked' | 'disconnected'
  | (string & {});

export interface Message<T = unknown> {
  channel: string;
  /** Per channel, from 1, no holes: orders the channel. */
  seq: number;
  data: T;
  /** Server time of the publish, ms since the Unix epoch. */
  time: number;
}

export interface Gap {
  channel: string;
  /** First seq lost. */
  from: number;
  /** Last seq lost; null when the channel's stream restarted (everything before is gone). */
  to: number | null;
  reason: GapReason;
}

/** A member of a presence channel: one subscription of one connection. */
export interface Member<Info = unknown> {
  /** The connection's id (`client.id` of the client it is): 32 hex digits. */
  client: string;
  /** The token's `sub`; "" when anonymous. */
  user: string;
  /** The token's `info` claim (any JSON, set by your backend); null when none. */
  info: Info | null;
}

/** A presence channel's numbers: connections, and distinct users (several tabs of one user: one). */
export interface PresenceStats {
  clients: number;
  users: number;
}

/** An Error with the server's error code (`too_large`, `forbidden`, `rate_limited`, ...). */
export declare class PushWireError extends Error {
  constructor(code: ErrorCode, message: string);
  name: 'PushWireError';
  code: ErrorCode;
}

export interface ClientOptions {
  /** Default "auto": WebSocket, then SSE, then long polling, then polling. */
  transport?: TransportName;
  /** The "poll" transport's interval. Default 1000. */
  pollIntervalMs?: number;
  /** First reconnect delay; doubles per failure (full jitter). Default 500. */
  reconnectInitialMs?: number;
  /** Largest reconnect delay. Default 15000. */
  reconnectMaxMs?: number;
  /** A transport not open by then is given up; 0: each transport's own. Default 0. */
  connectTimeoutMs?: number;
  /** After "auto" settled below WebSocket, try better ones this often; 0: never. Default 20000. */
  upgradeIntervalMs?: number;
  /**
   * A JWT from your backend; called before connecting, ahead of exp, and on unauthorized.
   * Anything but a non-empty string (null, undefined, a rejection) means "no token now":
   * the client retries with its backoff.
   */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Log the client's decisions (transport tried, reconnect delay, cursor resumed): true for console.debug, or a function. */
  debug?: boolean | ((line: string) => void);
  /**
   * Share one connection with the other tabs of this browser that use the same servers and
   * options as the same user (token `sub`): one tab holds it (a Web Lock), the others go
   * through it (BroadcastChannel), each keeping its own subscriptions, positions and gaps.
   * Default true where the browser has both; false: a connection of this client's own.
   */
  share?: boolean;
}

export interface SubscribeOptions {
  /** A position saved earlier (`sub.position`), or "0" / 0 for the oldest held. Default: from now (this client's publishes made after subscribe() arrive). */
  since?: string | 0;
  /** Also a message the browser's JSON.parse refused (reason `missing`: skipped, the next ones come). */
  onGap?: (gap: Gap) => void;
  /**
   * `forbidden`/`unauthorized` with the channel refused: the subscription ends. `unauthorized`/
   * `token_expired` once when the server refuses the connection's token: it stays, and resumes
   * with a good one. `bad_cursor`: `since` was not a position of this channel: it reads from now.
   * Default: console.warn.
   */
  onError?: (error: PushWireError) => void;
  /**
   * Presence channels: a member joined. With onJoin or onLeave the SDK keeps the member set
   * exact: the members there when the subscription starts come as joins, and after any
   * reconnect or gap only the difference is told; each change comes once.
   */
  onJoin?: (member: Member) => void;
  /** Presence channels: a member left. */
  onLeave?: (member: Member) => void;
}

export interface Subscription {
  readonly channel: string;
  /** The position after the last message delivered: save it, give it back as `since`. */
  readonly position: string;
  readonly state: SubscriptionState;
  /** Why it is in that state ("" when subscribed). */
  readonly stateReason: string;
  /** Returns a function that removes the listener. */
  onStateChange(listener: (state: SubscriptionState, reason: string) => void): () => void;
  unsubscribe(): void;
  /** The channel's members now (at most the server's --max-presence-members). */
  presence(): Promise<Member[]>;
  /** The channel's numbers now (exact however many members). */
  presenceStats(): Promise<PresenceStats>;
}

export declare class Client {
  /** One server, or several sharing one Redis broker (failover between them). */
  constructor(url: string | string[], options?: ClientOptions);
  subscribe<T = unknown>(channel: string, onMessage: (message: Message<T>) => void,
                         options?: SubscribeOptions): Subscription;
  /** What the server holds of the channel after `since` (default "0": all), oldest first. */
  history<T = unknown>(channel: string, options?: { since?: string | 0; limit?: number }): Promise<Message<T>[]>;
  /**
   * Resolves to the seq the server gave the message, stored once: the SDK sends an
   * idempotency key with it and sends it again (6 attempts at most) while its fate is
   * unknown. Rejects with the server's code when refused.
   */
  publish(channel: string, data: unknown): Promise<number>;
  /** Returns a function that removes the listener. */
  onStateChange(listener: (state: ClientState, reason: string) => void): () => void;
  /**
   * The backend's server API (docs/api.md) subscribed this client to `channel`: its
   * messages go to `onMessage` listeners from then on, resumed across reconnects.
   * Returns a function that removes the listener.
   */
  onServerSubscribe(listener: (channel: string) => void): () => void;
  /** The messages of the channels the backend subscribed this client to. */
  onMessage<T = unknown>(listener: (message: Message<T>) => void): () => void;
  /**
   * The backend took `channel` away: its subscriptions end (state "unsubscribed",
   * reason "unsubscribed by the server") and it is not asked for again.
   */
  onServerUnsubscribe(listener: (channel: string) => void): () => void;
  readonly state: ClientState;
  readonly stateReason: string;
  /** The transport in use now. */
  readonly transport: TransportName;
  /** With several URLs, the one in use. */
  readonly server: string;
  /** This client's id as members show it (`member.client`), the same across reconnects; "" until the first connection. */
  readonly id: string;
  /** Stops the connection, keeping subscriptions and positions: state "disconnected". */
  disconnect(): void;
  /** After disconnect(): connects again and resumes. Throws once closed. */
  connect(): void;
  close(): void;
}

export interface PushWire {
  Client: typeof Client;
  PushWireError: typeof PushWireError;
}

export interface ModuleOptions {
  /** Where the wasm is; by default next to the module. */
  locateFile?: (file: string, prefix: string) => string;
}

/** Browsers only: in Node (server-side rendering) it rejects, saying so. */
export declare function createPushWire(options?: ModuleOptions): Promise<PushWire>;
export default createPushWire;
