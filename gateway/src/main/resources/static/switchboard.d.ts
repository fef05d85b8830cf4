// Types of the Switchboard browser client, /switchboard.js (wire contract: docs/protocol.md, version 1).

/** A position in a channel's or an inbox's history. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** Any JSON value, as `data` carries it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Welcome {
  type: 'welcome';
  session: string;
  user: string;
  guest: boolean;
  resume?: string;
  resumed: boolean;
  recovered: boolean;
  inbox?: StreamPosition;
  ping: { interval: number; timeout: number };
  limits: { maxFrame: number; rate: number; burst: number; maxSubscriptions: number };
  node: string;
  [extra: string]: unknown;
}

/** A request's reply; its other fields depend on the request (offset, epoch, recovered, delivered, queued). */
export interface Ack {
  type: 'ack';
  id: number;
  channel?: string;
  offset?: number;
  epoch?: string;
  recovered?: boolean;
  delivered?: boolean;
  queued?: boolean;
  [extra: string]: unknown;
}

export type ErrorCode =
  | 'bad_request' | 'unknown_type' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict'
  | 'rate_limited' | 'too_many' | 'unavailable' | 'session_replaced' | 'internal';

export interface ErrorFrame {
  type: 'error';
  id?: number;
  code: ErrorCode | string;
  message?: string;
  retryAfter?: number;
  [extra: string]: unknown;
}

export interface MessageFrame extends StreamPosition {
  type: 'message';
  channel: string;
  /** The publishing user; absent when published through the HTTP API. */
  from?: string;
  data: Json;
}

export interface DirectFrame extends StreamPosition {
  type: 'direct';
  from?: string;
  data: Json;
}

export interface MatchFoundFrame extends StreamPosition {
  type: 'match.found';
  match: string;
  partner: string;
  initiator: boolean;
  interests: string[];
}

export interface MatchSignalFrame extends StreamPosition {
  type: 'match.signal';
  match: string;
  from: string;
  data: Json;
}

export interface MatchEndedFrame extends StreamPosition {
  type: 'match.ended';
  match: string;
  reason: 'next' | 'left' | 'disconnected' | string;
}

export interface MatchPartnerFrame {
  type: 'match.partner';
  match: string;
  state: 'reconnecting' | 'back';
}

/** A user present in a channel and its public info: the JWT claim `info`, `{}` for guests (section 10). */
export interface PresentUser {
  user: string;
  info: { [key: string]: Json };
}

/** A user became present in a channel subscribed with joinLeave. */
export interface JoinFrame {
  type: 'join';
  channel: string;
  user: string;
  info: { [key: string]: Json };
}

/**
 * A channel the application's backend subscribed this connection to (its connect hook, docs/backend.md), sent on
 * every connection before the welcome; its messages follow as `message` events. The client does not subscribe it
 * again on reconnect: the backend does.
 */
export interface SubscribedFrame {
  type: 'subscribed';
  channel: string;
  offset: number;
  epoch: string;
}

/** A user is no longer present in a channel subscribed with joinLeave. */
export interface LeaveFrame {
  type: 'leave';
  channel: string;
  user: string;
}

/** The reply to presence(): at most 1,000 users listed, `truncated` beyond. */
export interface PresenceAck {
  type: 'ack';
  id: number;
  channel: string;
  /** Every user present, listed or not. */
  count: number;
  users: PresentUser[];
  truncated: boolean;
}

/** The reply to matchStats(): users connected cluster-wide and users in the random-connect queue, at most 2 s old. */
export interface StatsAck {
  type: 'ack';
  id: number;
  online: number;
  waiting: number;
}

/** Any frame from the server that is not a reply, a welcome or a ping. */
export interface ServerFrame {
  type: string;
  [field: string]: unknown;
}

/** How a request failed: the server's error code, or 'disconnected' or 'closed'. */
export interface SwitchboardError extends Error {
  code: ErrorCode | 'disconnected' | 'closed' | string;
  /** ms to wait before trying again, with rate_limited and unavailable. */
  retryAfter?: number;
  /** The server's error frame, when there was one. */
  frame?: ErrorFrame;
}

export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed' | 'gaveup';

export interface ReconnectOptions {
  /** Cap of the first attempt's random delay, in ms. Default 500. */
  base?: number;
  /** Largest cap of the random delay, in ms. Default 20000. */
  maxDelay?: number;
  /** Consecutive failed attempts before `gaveup`. Default 10. */
  maxAttempts?: number;
  /** A connection up this long past its welcome resets the failure count when it drops, in ms. Default 30000. */
  resetAfter?: number;
}

export interface SwitchboardClientOptions {
  /** The WebSocket endpoint. Default: this page's host at /ws, wss: when the page is https:. */
  url?: string;
  /** A JWT, or a function called before every connect that returns one. Absent: a guest. */
  token?: string | (() => string | Promise<string>);
  /** Sent as hello.client. Default 'switchboard-js/1.0'. */
  client?: string;
  reconnect?: ReconnectOptions;
  /** ms for the socket to open and the welcome to arrive. Default 10000. */
  connectTimeout?: number;
  /** The WebSocket constructor to use instead of globalThis.WebSocket. */
  WebSocket?: { new (url: string, protocols?: string | string[]): WebSocket };
}

export interface SubscribeOptions {
  /** Ask for the messages after this position; the ack says whether all were recovered. */
  since?: StreamPosition;
  /** This user is present in the channel while subscribed (section 10). Kept for every reconnect. Default false. */
  presence?: boolean;
  /**
   * Emit the channel's `join` and `leave` and keep its roster (`roster(channel)`): the ack resolves once the roster
   * was read, everyone present emitted as `join`; after every reconnect the roster is read again and the difference
   * emitted before `recovered`. Kept for every reconnect. Default false.
   */
  joinLeave?: boolean;
}

export interface SwitchboardEvents {
  /** A connection attempt starts: 0 for the first connection, k for reconnect attempt k. */
  connecting: { attempt: number };
  /** Every welcome. */
  connected: { welcome: Welcome; reconnect: boolean };
  /**
   * After each reconnection, once every remembered channel was subscribed again. When `recovered` is false the
   * client missed data and must resync from its own backend.
   */
  recovered: { recovered: boolean; resumed: boolean; inboxRecovered: boolean; channelsNotRecovered: string[] };
  /** A live connection ended: 1006 when the socket just dropped, 4003 local when the heartbeat rule fired. */
  disconnected: { code: number; reason: string; local: boolean };
  /** Reconnect attempt `attempt` (from 1) is scheduled in `delay` ms. */
  reconnecting: { attempt: number; delay: number; code: number; reason: string };
  /** Terminal: a close code that does not reconnect, or maxAttempts consecutive failures. */
  gaveup: { reason: string; code: number };
  /** Terminal, after close(). */
  closed: { code: number; reason: string };
  message: MessageFrame;
  direct: DirectFrame;
  'match.found': MatchFoundFrame;
  'match.signal': MatchSignalFrame;
  'match.ended': MatchEndedFrame;
  'match.partner': MatchPartnerFrame;
  /**
   * A user joined a joinLeave channel: a change of its roster (never a user already listed, unless its info changed),
   * live or found by the read after a (re)subscribe.
   */
  join: JoinFrame;
  /** A user left a joinLeave channel: a change of its roster (only a user listed), live or found by a read. */
  leave: LeaveFrame;
  /** A channel the application's backend subscribed this connection to, before each welcome. */
  subscribed: SubscribedFrame;
  /** A server error frame without id. */
  error: ErrorFrame;
  /** Every server frame that is not a reply, a welcome or a ping; and the join and leave a roster read told. */
  frame: ServerFrame;
}

export declare class SwitchboardClient {
  constructor(options?: SwitchboardClientOptions);

  readonly state: ClientState;
  /** The user id of the last welcome. */
  readonly user: string | undefined;
  /** The connection id of the last welcome. */
  readonly session: string | undefined;
  readonly welcome: Welcome | undefined;
  /** Sent as hello.inboxSince on reconnect. */
  readonly inboxPosition: StreamPosition | undefined;

  /** Resolves with the first welcome; rejects if the client gives up or is closed before. */
  connect(): Promise<Welcome>;
  /** Terminal: emits `closed`, no reconnect; waiting and in-flight requests reject with code 'closed'. */
  close(code?: number, reason?: string): void;
  /** Remembers the channel: it is subscribed again, from its position, on every reconnect. */
  /**
   * `options.since`: a position kept from earlier (another page load, another client) to recover the messages after
   * it (section 5); used only while the client knows no position of its own for the channel.
   */
  subscribe(channel: string, options?: SubscribeOptions): Promise<Ack>;
  unsubscribe(channel: string): Promise<Ack>;
  publish(channel: string, data: Json): Promise<Ack>;
  send(to: string, data: Json): Promise<Ack>;
  /**
   * Calls a method of the application's backend through the gateway's rpc hook; resolves with its result. Rejects with
   * the backend's error code, 'unavailable' (with retryAfter) when it is slow or down, 'unknown_type' without the hook.
   */
  rpc(method: string, data?: Json): Promise<Json>;
  /** Who is present in a channel now (at most 1,000 listed); needs the right to subscribe to it. */
  presence(channel: string): Promise<PresenceAck>;
  /** How many users are present in a channel. */
  presenceCount(channel: string): Promise<number>;
  /** Users online and waiting to be matched; rejects with code 'unavailable' when the figures are over 2 s old. */
  matchStats(): Promise<StatsAck>;
  /**
   * The users present in a channel subscribed with joinLeave, as `join` and `leave` told them, in the order they
   * joined; undefined for any other channel. After a truncated read (over 1,000 present), users it did not list are
   * kept, since they may be present beyond the list.
   */
  roster(channel: string): PresentUser[] | undefined;
  /** Adds the next request id; rejects with a {@link SwitchboardError}. */
  request(frame: { type: string; [field: string]: unknown }): Promise<Ack>;
  /** The position of the last message of a remembered channel. */
  position(channel: string): StreamPosition | undefined;

  on<E extends keyof SwitchboardEvents>(event: E, handler: (detail: SwitchboardEvents[E]) => void): () => void;
  on(event: `match.${string}`, handler: (detail: ServerFrame) => void): () => void;
  off<E extends keyof SwitchboardEvents>(event: E, handler: (detail: SwitchboardEvents[E]) => void): void;
  off(event: `match.${string}`, handler: (detail: ServerFrame) => void): void;
}

/** The close codes of docs/protocol.md section 8. */
export declare const CloseCodes: {
  readonly NORMAL: 1000;
  readonly GOING_AWAY: 1001;
  readonly WEBSOCKET_PROTOCOL_ERROR: 1002;
  readonly BINARY_FRAME: 1003;
  readonly ABNORMAL: 1006;
  readonly INVALID_UTF8: 1007;
  readonly POLICY_VIOLATION: 1008;
  readonly FRAME_TOO_BIG: 1009;
  readonly INTERNAL_ERROR: 1011;
  readonly SERVICE_RESTART: 1012;
  readonly TRY_AGAIN_LATER: 1013;
  readonly PROTOCOL_ERROR: 4000;
  readonly UNAUTHORIZED: 4001;
  readonly SESSION_REPLACED: 4002;
  readonly HEARTBEAT_TIMEOUT: 4003;
  readonly SLOW_CONSUMER: 4004;
  readonly HELLO_TIMEOUT: 4005;
};

/** Whether a client reconnects after a close with this code (section 8). */
export declare function shouldReconnect(code: number): boolean;

/** Attempt `attempt` (from 1) waits uniformly in [0, min(maxDelay, base * 2^(attempt-1))] ms. */
export declare function backoffDelay(attempt: number, base: number, maxDelay: number, random?: () => number): number;
