/**
 * The Switchboard browser client: one WebSocket to a gateway that says hello, correlates requests with their
 * replies, answers pings, and reconnects by itself (docs/protocol.md sections 2, 3, 5 and 8): bounded attempts with
 * full-jitter backoff, resume of the same identity, inbox and channel recovery with duplicates dropped, and the
 * channels re-subscribed. The same behaviour and events as the Java client
 * (io.switchboard.protocol.client.ReconnectingClient).
 *
 * Presence (section 10): a channel subscribed with `joinLeave` has a roster (`roster(channel)`), and its `join` and
 * `leave` events are exactly the changes of that roster. The roster is read with `presence` when the channel is
 * subscribed and again after every reconnect, and the difference is emitted as `join` and `leave` before
 * `recovered`, so the page never keeps a roster that went stale while it was disconnected.
 *
 * One dependency-free ES module, served by the gateway at /switchboard.js; types in /switchboard.d.ts. Written in
 * ES2020 (no class fields, no private members) so that it runs unchanged in current browsers and in the mobile web
 * views of the last few years (Safari and WKWebView 13.4+, Chrome and Android WebView 80+).
 *
 * @example
 * import { SwitchboardClient } from '/switchboard.js';
 * const client = new SwitchboardClient({ token: () => fetch('/my-token').then(r => r.text()) });
 * client.on('message', m => console.log(m.channel, m.data));
 * client.on('recovered', r => { if (!r.recovered) reloadFromBackend(); });
 * await client.connect();
 * await client.subscribe('public:lobby');
 * await client.publish('public:lobby', { text: 'hi' });
 * client.on('join', j => addMember(j.user, j.info));
 * client.on('leave', l => removeMember(l.user));
 * await client.subscribe('public:room', { presence: true, joinLeave: true });
 * // with the gateway's hooks on (docs/backend.md): a call to the application's backend, and its channels
 * client.on('subscribed', s => console.log('the backend subscribed', s.channel));
 * const ticket = await client.rpc('report', { user: 'u_42' });
 *
 * @module switchboard
 */

const SUBPROTOCOL = 'switchboard.v1';
const PROTOCOL_VERSION = 1;

/** Defaults of the constructor's options (section 8 for the reconnect settings). */
const DEFAULTS = Object.freeze({
  client: 'switchboard-js/1.0',
  connectTimeout: 10000,
  reconnect: Object.freeze({ base: 500, maxDelay: 20000, maxAttempts: 10, resetAfter: 30000 }),
});

/**
 * The close codes of docs/protocol.md section 8, by name.
 * @readonly
 * @enum {number}
 */
export const CloseCodes = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  WEBSOCKET_PROTOCOL_ERROR: 1002,
  BINARY_FRAME: 1003,
  ABNORMAL: 1006,
  INVALID_UTF8: 1007,
  POLICY_VIOLATION: 1008,
  FRAME_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  PROTOCOL_ERROR: 4000,
  UNAUTHORIZED: 4001,
  SESSION_REPLACED: 4002,
  HEARTBEAT_TIMEOUT: 4003,
  SLOW_CONSUMER: 4004,
  HELLO_TIMEOUT: 4005,
});

/** Section 8's table: code → [meaning, whether the client reconnects]. */
const CLOSE_TABLE = new Map([
  [1000, ['normal closure', false]],
  [1001, ['going away', true]],
  [1002, ['WebSocket protocol error', false]],
  [1003, ['binary frame', false]],
  [1006, ['abnormal closure', true]],
  [1007, ['invalid UTF-8', false]],
  [1008, ['policy violation', false]],
  [1009, ['frame too big', false]],
  [1011, ['internal error', true]],
  [1012, ['service restart', true]],
  [1013, ['try again later', true]],
  [4000, ['protocol error', false]],
  [4001, ['unauthorized', false]],
  [4002, ['session replaced', false]],
  [4003, ['heartbeat timeout', true]],
  [4004, ['slow consumer', true]],
  [4005, ['hello timeout', true]],
]);

/**
 * Whether a client reconnects after a close with this code (the table of docs/protocol.md section 8); codes not in
 * the table do not reconnect.
 * @param {number} code
 * @returns {boolean}
 */
export function shouldReconnect(code) {
  const row = CLOSE_TABLE.get(code);
  return row !== undefined && row[1];
}

/**
 * The delay before reconnect attempt `attempt` (1-based): uniformly random in
 * [0, min(maxDelay, base * 2^(attempt-1))] ms, whole milliseconds (full jitter, section 8).
 * @param {number} attempt the attempt, from 1
 * @param {number} base the cap of the first attempt's delay, in ms
 * @param {number} maxDelay the largest cap, in ms
 * @param {() => number} [random] a source of numbers in [0, 1), Math.random by default
 * @returns {number}
 */
export function backoffDelay(attempt, base, maxDelay, random = Math.random) {
  const cap = Math.min(maxDelay, base * Math.pow(2, Math.max(0, attempt - 1)));
  return Math.min(cap, Math.floor(random() * (cap + 1)));
}

/** A monotonic clock in ms where there is one. */
function now() {
  return typeof performance !== 'undefined' && performance.now ? performance.now() : Date.now();
}

function describeClose(code) {
  const row = CLOSE_TABLE.get(code);
  return row ? `${code} (${row[0]})` : String(code);
}

/** An Error with the protocol's error code, and the server's `error` frame when there was one. */
function failure(code, message, frame) {
  const e = new Error(message);
  e.name = 'SwitchboardError';
  e.code = code;
  if (frame) {
    e.frame = frame;
    if (frame.retryAfter !== undefined) {
      e.retryAfter = frame.retryAfter;
    }
  }
  return e;
}

function isPosition(p) {
  return p != null && typeof p === 'object' && typeof p.offset === 'number' && typeof p.epoch === 'string';
}

function copy(position) {
  return position ? { offset: position.offset, epoch: position.epoch } : undefined;
}

/** Whether `frame` is at or before `position` in the same epoch: a duplicate already delivered. */
function seen(position, frame) {
  return position !== undefined && frame.epoch === position.epoch && frame.offset <= position.offset;
}

/** Whether two JSON values are equal, whatever the order of their keys. */
function sameJson(a, b) {
  if (a === b) {
    return true;
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object'
    || Array.isArray(a) !== Array.isArray(b)) {
    return false;
  }
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length
    && keys.every(k => Object.prototype.hasOwnProperty.call(b, k) && sameJson(a[k], b[k]));
}

/** Live events kept aside during one roster sync, at most; beyond, the oldest go. */
const MAX_KEPT = 10000;

/**
 * The users present in one joinLeave channel as the page was told them; each method returns the join and leave
 * events to emit, so that what the page was told always equals the roster (the same rules as the Java client's
 * PresenceRoster). A sync starts before the subscribe goes out (its own join may come before its ack); live events
 * are kept aside until the presence read answers, then applied on top of its answer in order: those from before the
 * read change nothing it did not say, those from after it are newer. A truncated answer (over 1,000 users) tells no
 * leave for known users it does not list: they may be present beyond the list, and stay.
 */
class Roster {
  constructor(channel) {
    this.channel = channel;
    /** user → info, in the order told */
    this.users = new Map();
    /** non-null while a sync is under way */
    this.kept = null;
    this.generation = 0;
  }

  startSync() {
    if (this.kept === null) {
      this.kept = [];
    }
    return ++this.generation;
  }

  live(event) {
    if (this.kept !== null) {
      if (this.kept.length === MAX_KEPT) {
        this.kept.shift();
      }
      this.kept.push(event);
      return [];
    }
    const told = [];
    Roster.apply(this.users, event, told);
    return told;
  }

  synced(token, read) {
    if (token !== this.generation || this.kept === null) {
      return [];
    }
    const next = new Map();
    for (const u of Array.isArray(read.users) ? read.users : []) {
      next.set(u.user, u.info);
    }
    if (read.truncated === true) {
      for (const [user, info] of this.users) {
        if (!next.has(user)) {
          next.set(user, info);
        }
      }
    }
    for (const event of this.kept) {
      Roster.apply(next, event, null);
    }
    this.kept = null;
    const told = [];
    for (const user of this.users.keys()) {
      if (!next.has(user)) {
        told.push({ type: 'leave', channel: this.channel, user });
      }
    }
    for (const [user, info] of next) {
      if (!this.users.has(user) || !sameJson(this.users.get(user), info)) {
        told.push({ type: 'join', channel: this.channel, user, info });
      }
    }
    this.users = next;
    return told;
  }

  unsynced(token) {
    if (token !== this.generation || this.kept === null) {
      return [];
    }
    const told = [];
    for (const event of this.kept) {
      Roster.apply(this.users, event, told);
    }
    this.kept = null;
    return told;
  }

  static apply(users, event, told) {
    if (event.type === 'join') {
      const known = users.has(event.user);
      const was = users.get(event.user);
      users.set(event.user, event.info);
      if (told && (!known || !sameJson(was, event.info))) {
        told.push(event);
      }
    } else if (event.type === 'leave' && users.delete(event.user) && told) {
      told.push(event);
    }
  }
}

/**
 * A reconnecting connection to a Switchboard gateway. Create it, listen with {@link SwitchboardClient#on}, then
 * {@link SwitchboardClient#connect}. Requests made while it is not connected wait and are sent once it is;
 * subscriptions are remembered and made again, with recovery, on every reconnect.
 */
export class SwitchboardClient {
  /**
   * @param {object} [options]
   * @param {string} [options.url] the gateway's WebSocket endpoint; default: this page's host at /ws (wss on https)
   * @param {string | (() => string | Promise<string>)} [options.token] a JWT, or a function called before every
   *   connect that returns one; absent: a guest
   * @param {string} [options.client] sent as hello.client; default 'switchboard-js/1.0'
   * @param {{base?: number, maxDelay?: number, maxAttempts?: number, resetAfter?: number}} [options.reconnect]
   *   backoff base and cap in ms (default 500 and 20000), consecutive failed attempts before giving up (10), and
   *   how long a connection must stay up past its welcome for the failure count to start again (30000 ms)
   * @param {number} [options.connectTimeout] ms for the socket to open and the welcome to arrive; default 10000
   * @param {typeof WebSocket} [options.WebSocket] the WebSocket constructor; default globalThis.WebSocket
   */
  constructor(options = {}) {
    const reconnect = Object.assign({}, DEFAULTS.reconnect, options.reconnect);
    this._url = options.url || defaultUrl();
    this._token = options.token;
    this._clientName = options.client || DEFAULTS.client;
    this._reconnect = reconnect;
    this._connectTimeout = options.connectTimeout ?? DEFAULTS.connectTimeout;
    this._WebSocket = options.WebSocket || globalThis.WebSocket;
    const problems = [];
    if (typeof this._WebSocket !== 'function') {
      problems.push('there is no WebSocket here: pass options.WebSocket');
    }
    for (const [name, value] of [['reconnect.base', reconnect.base], ['reconnect.maxDelay', reconnect.maxDelay],
      ['reconnect.maxAttempts', reconnect.maxAttempts], ['reconnect.resetAfter', reconnect.resetAfter],
      ['connectTimeout', this._connectTimeout]]) {
      if (typeof value !== 'number' || !(value >= 0)) {
        problems.push(`options.${name} must be a number >= 0, got ${JSON.stringify(value)}`);
      }
    }
    if (problems.length > 0) {
      throw new TypeError(`SwitchboardClient: ${problems.join('; ')}`);
    }

    this._state = 'idle';
    this._handlers = new Map();
    /** The current connection attempt or live connection: {ws, welcomed, welcomeAt, lastReceived, timers}. */
    this._conn = null;
    this._retryTimer = null;
    /** Consecutive failures: a scheduled reconnect is attempt _failures + 1. */
    this._failures = 0;
    this._nextId = 0;
    /** Requests sent on the current connection, by id: {frame, resolve, reject}. */
    this._pending = new Map();
    /** Requests waiting for a connection, in call order: {frame, resolve, reject}. */
    this._queue = [];
    /** The remembered channels, each with how it is subscribed ({presence, joinLeave}), and their positions. */
    this._channels = new Map();
    this._positions = new Map();
    /** The roster of each remembered joinLeave channel. */
    this._rosters = new Map();
    this._inbox = undefined;
    this._welcome = undefined;
    this._everWelcomed = false;
    this._connecting = null;
  }

  /** 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed' | 'gaveup' */
  get state() {
    return this._state;
  }

  /** The user id of the last welcome, or undefined before the first. */
  get user() {
    return this._welcome && this._welcome.user;
  }

  /** The connection id of the last welcome, or undefined before the first. */
  get session() {
    return this._welcome && this._welcome.session;
  }

  /** The last welcome frame, or undefined before the first. */
  get welcome() {
    return this._welcome;
  }

  /** The last inbox event's position (or welcome.inbox), sent as hello.inboxSince on reconnect. */
  get inboxPosition() {
    return copy(this._inbox);
  }

  /**
   * The position of the last message of a remembered channel, sent as subscribe.since on reconnect.
   * @param {string} channel
   * @returns {{offset: number, epoch: string} | undefined}
   */
  position(channel) {
    return copy(this._positions.get(channel));
  }

  /**
   * The users present in a channel subscribed with joinLeave, as the `join` and `leave` events told them, in the
   * order they joined; undefined for any other channel.
   * @param {string} channel
   * @returns {{user: string, info: object}[] | undefined}
   */
  roster(channel) {
    const roster = this._rosters.get(channel);
    return roster && Array.from(roster.users, ([user, info]) => ({ user, info }));
  }

  /**
   * Listens to an event; returns a function that stops listening.
   * @param {string} event
   * @param {(detail: any) => void} handler
   * @returns {() => void}
   */
  on(event, handler) {
    let set = this._handlers.get(event);
    if (!set) {
      set = new Set();
      this._handlers.set(event, set);
    }
    set.add(handler);
    return () => this.off(event, handler);
  }

  /**
   * @param {string} event
   * @param {(detail: any) => void} handler
   */
  off(event, handler) {
    const set = this._handlers.get(event);
    if (set) {
      set.delete(handler);
    }
  }

  /**
   * Connects (once; later calls return the same promise). Resolves with the first welcome; rejects if the client
   * gives up or is closed before, and once it has. A first connection that fails for a reconnectable cause is
   * retried like a reconnect, with `reconnecting` events.
   * @returns {Promise<object>}
   */
  connect() {
    if (this._terminal()) {
      return Promise.reject(failure('closed', `the client is ${this._state}`));
    }
    if (this._connecting) {
      return this._connecting.promise;
    }
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this._connecting = { promise, resolve, reject };
    this._open(0);
    return promise;
  }

  /**
   * Closes for good: no reconnect, requests waiting or in flight reject with code 'closed', emits `closed`.
   * @param {number} [code] 1000, or 3000 to 4999
   * @param {string} [reason]
   */
  close(code = CloseCodes.NORMAL, reason = 'bye') {
    if (this._terminal()) {
      return;
    }
    this._state = 'closed';
    this._stop(code, reason, failure('closed', `the client was closed (${reason})`));
    this._emit('closed', { code, reason });
  }

  /**
   * Subscribes to a channel and remembers it: it is subscribed again, from its position and with the same `presence`
   * and `joinLeave`, on every reconnect. `options.since`, a position kept from an earlier page or client (for
   * instance in sessionStorage), asks for the messages after it (section 5) when the client knows no position of its
   * own for the channel yet. `options.presence`: this user is present in the channel while subscribed.
   * `options.joinLeave`: the channel's `join` and `leave` events, and its roster; the ack then resolves once the
   * roster was read, everyone present having been emitted as `join` (this user included).
   * @param {string} channel
   * @param {{since?: {offset: number, epoch: string}, presence?: boolean, joinLeave?: boolean}} [options]
   * @returns {Promise<object>} the ack: {channel, offset, epoch, recovered?}
   */
  subscribe(channel, options) {
    const presence = !!(options && options.presence);
    const joinLeave = !!(options && options.joinLeave);
    this._channels.set(channel, { presence, joinLeave });
    if (joinLeave) {
      if (!this._rosters.has(channel)) {
        this._rosters.set(channel, new Roster(channel));
      }
    } else {
      this._rosters.delete(channel);
    }
    const frame = subscribeFrame(channel, presence, joinLeave);
    const since = options && options.since;
    if (isPosition(since) && !this._positions.has(channel)) {
      frame.since = { offset: since.offset, epoch: since.epoch };
    }
    return this.request(frame);
  }

  /**
   * Unsubscribes and forgets the channel, its position and its roster.
   * @param {string} channel
   * @returns {Promise<object>}
   */
  unsubscribe(channel) {
    this._channels.delete(channel);
    this._positions.delete(channel);
    this._rosters.delete(channel);
    return this.request({ type: 'unsubscribe', channel });
  }

  /**
   * Who is present in a channel now (section 10): at most 1,000 users, `truncated` beyond. Needs the right to
   * subscribe to the channel, not a subscription.
   * @param {string} channel
   * @returns {Promise<object>} the ack: {channel, count, users: [{user, info}], truncated}
   */
  presence(channel) {
    return this.request({ type: 'presence', channel });
  }

  /**
   * How many users are present in a channel.
   * @param {string} channel
   * @returns {Promise<number>}
   */
  presenceCount(channel) {
    return this.request({ type: 'presence.count', channel }).then(ack => ack.count);
  }

  /**
   * Users online cluster-wide and users waiting in the random-connect queue; rejects with code `unavailable` when the
   * gateway's figures are more than 2 s old.
   * @returns {Promise<object>} the ack: {online, waiting}
   */
  matchStats() {
    return this.request({ type: 'match.stats' });
  }

  /**
   * Calls a method of the application's backend through the gateway's rpc hook (docs/backend.md). Resolves with the
   * backend's result; rejects with the backend's error code, `unavailable` (with `retryAfter`) when the backend is
   * slow or down, or `unknown_type` when the gateway proxies no rpc. Not retried: a call the connection dropped under
   * rejects with `disconnected`.
   * @param {string} method 1 to 64 characters of A-Z a-z 0-9 _ - . :
   * @param {any} [data] any JSON value, null when left out
   * @returns {Promise<any>} the backend's result
   */
  rpc(method, data) {
    return this.request({ type: 'rpc', method, data: data === undefined ? null : data }).then(ack => ack.result);
  }

  /**
   * @param {string} channel
   * @param {any} data any JSON value
   * @returns {Promise<object>} the ack: {offset, epoch}
   */
  publish(channel, data) {
    return this.request({ type: 'publish', channel, data });
  }

  /**
   * Sends to a user's inbox.
   * @param {string} to the user id
   * @param {any} data any JSON value
   * @returns {Promise<object>} the ack: {delivered}
   */
  send(to, data) {
    return this.request({ type: 'send', to, data });
  }

  /**
   * Sends a frame with the next request id, now if connected, else once connected. Resolves with the ack; an
   * `error` reply rejects with an Error having `code`, `retryAfter` and `frame`; code 'disconnected' when the
   * connection dropped with the request in flight, 'closed' when the client gave up or was closed.
   * @param {object} frame a client frame without id, for instance {type: 'match.join', interests: ['chess']}
   * @returns {Promise<object>}
   */
  request(frame) {
    if (this._terminal()) {
      return Promise.reject(failure('closed', `the client is ${this._state}: ${frame.type} not sent`));
    }
    return new Promise((resolve, reject) => {
      const entry = { frame, resolve, reject };
      if (this._state === 'connected') {
        this._send(entry);
      } else {
        this._queue.push(entry);
      }
    });
  }

  // ---- connection lifecycle ----

  _terminal() {
    return this._state === 'closed' || this._state === 'gaveup';
  }

  /** Starts connection attempt `attempt` (0: the first connection). */
  async _open(attempt) {
    this._retryTimer = null;
    this._state = attempt === 0 ? 'connecting' : 'reconnecting';
    this._emit('connecting', { attempt });
    if (this._terminal()) {
      return;
    }
    let token = this._token;
    if (typeof token === 'function') {
      try {
        token = await token();
      } catch (e) {
        if (!this._terminal()) {
          this._failed(CloseCodes.ABNORMAL, `the token function failed: ${e && e.message}`);
        }
        return;
      }
      if (this._terminal()) {
        return;
      }
    }
    let ws;
    try {
      ws = new this._WebSocket(this._url, SUBPROTOCOL);
    } catch (e) {
      // a malformed URL: retrying cannot help
      this._giveUp(`cannot open ${this._url}: ${e && e.message}`, CloseCodes.ABNORMAL);
      return;
    }
    const conn = {
      ws, welcomed: false, welcomeAt: 0, lastReceived: now(), warned: false,
      connectTimer: null, heartbeatTimer: null,
    };
    this._conn = conn;
    conn.connectTimer = setTimeout(() => {
      conn.connectTimer = null;
      this._teardown(conn);
      this._failed(CloseCodes.ABNORMAL, `no welcome within ${this._connectTimeout} ms`);
    }, this._connectTimeout);
    ws.onopen = () => {
      const hello = { type: 'hello', v: PROTOCOL_VERSION, client: this._clientName };
      if (token != null) {
        hello.token = token;
      }
      if (this._welcome && this._welcome.resume) {
        hello.resume = this._welcome.resume;
      }
      if (this._inbox) {
        hello.inboxSince = copy(this._inbox);
      }
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = event => this._received(conn, event.data);
    ws.onclose = event => {
      this._teardown(conn);
      if (conn.welcomed) {
        this._dropped(conn, event.code, event.reason, false);
      } else {
        this._failed(event.code, event.reason || 'closed before welcome');
      }
    };
    // an error is always followed by close, which decides
    ws.onerror = () => {};
  }

  /** Stops every timer and the socket of `conn`, and forgets it; its later socket events are not heard. */
  _teardown(conn, code, reason) {
    if (conn.connectTimer !== null) {
      clearTimeout(conn.connectTimer);
      conn.connectTimer = null;
    }
    if (conn.heartbeatTimer !== null) {
      clearTimeout(conn.heartbeatTimer);
      conn.heartbeatTimer = null;
    }
    const ws = conn.ws;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (ws.readyState === 0 || ws.readyState === 1) {
      try {
        ws.close(code, reason);
      } catch (e) {
        // a code or reason the browser refuses: close without them
        ws.close();
      }
    }
    if (this._conn === conn) {
      this._conn = null;
    }
  }

  /** A connection attempt ended before its welcome. */
  _failed(code, reason) {
    if (this._terminal()) {
      return;
    }
    if (!shouldReconnect(code)) {
      this._giveUp(`closed with ${describeClose(code)}: not reconnecting`, code);
    } else {
      this._retry(code, reason);
    }
  }

  /** A live connection (past its welcome) ended. */
  _dropped(conn, code, reason, local) {
    if (now() - conn.welcomeAt >= this._reconnect.resetAfter) {
      this._failures = 0;
    }
    this._state = 'reconnecting';
    this._rejectPending(() => failure('disconnected', `the connection dropped (${describeClose(code)})`));
    this._emit('disconnected', { code, reason, local });
    if (this._terminal()) {
      return;
    }
    if (shouldReconnect(code)) {
      this._retry(code, reason);
    } else {
      this._giveUp(`closed with ${describeClose(code)}: not reconnecting`, code);
    }
  }

  /** Schedules the next attempt, or gives up after maxAttempts consecutive failures. */
  _retry(code, reason) {
    const attempt = this._failures + 1;
    if (attempt > this._reconnect.maxAttempts) {
      this._giveUp(`gave up after ${this._reconnect.maxAttempts} attempts`, code);
      return;
    }
    this._failures = attempt;
    const delay = backoffDelay(attempt, this._reconnect.base, this._reconnect.maxDelay);
    this._state = 'reconnecting';
    this._retryTimer = setTimeout(() => this._open(attempt), delay);
    this._emit('reconnecting', { attempt, delay, code, reason });
  }

  _giveUp(reason, code) {
    this._state = 'gaveup';
    this._stop(CloseCodes.NORMAL, 'gave up', failure('closed', `the client gave up: ${reason}`), reason);
    this._emit('gaveup', { reason, code });
  }

  /** The terminal cleanup of close() and gaveup: no timer, no socket, no waiting request is left. */
  _stop(code, reason, error, why) {
    if (this._retryTimer !== null) {
      clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }
    if (this._conn) {
      this._teardown(this._conn, code, reason);
    }
    this._rejectPending(() => error);
    const queued = this._queue;
    this._queue = [];
    for (const entry of queued) {
      entry.reject(error);
    }
    if (this._connecting && !this._everWelcomed) {
      this._connecting.reject(failure('closed', why || error.message));
    }
  }

  _rejectPending(errorFor) {
    const pending = Array.from(this._pending.values());
    this._pending.clear();
    for (const entry of pending) {
      entry.reject(errorFor());
    }
  }

  // ---- frames ----

  _received(conn, text) {
    conn.lastReceived = now();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch (e) {
      frame = undefined;
    }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame) || typeof frame.type !== 'string') {
      if (!conn.warned) {
        conn.warned = true;
        console.warn('switchboard: ignoring a frame that is not a JSON object with a type (once per connection):',
          typeof text === 'string' ? text.slice(0, 200) : typeof text);
      }
      return;
    }
    switch (frame.type) {
      case 'ping':
        conn.ws.send('{"type":"pong"}');
        return;
      case 'welcome':
        this._welcomed(conn, frame);
        return;
      case 'ack':
        if (frame.id != null) {
          this._reply(frame, null);
          return;
        }
        break;
      case 'error':
        if (frame.id != null) {
          this._reply(null, frame);
          return;
        }
        break;
      case 'message':
        if (this._channelMessage(frame)) {
          return;
        }
        break;
      case 'subscribed':
        // a channel the application's backend subscribed this connection to, before its welcome (not an inbox event)
        this._emit('subscribed', frame);
        break;
      case 'join':
      case 'leave':
        if (this._rosters.has(frame.channel)) {
          this._tell(this._rosters.get(frame.channel).live(frame));
          return;
        }
        if (!this._channels.has(frame.channel)) {
          return; // a channel forgotten since
        }
        break;
      default:
        if (isPosition(frame) && this._inboxEvent(frame)) {
          return;
        }
    }
    if (frame.type === 'message' || frame.type === 'direct' || frame.type === 'error' || frame.type === 'join'
      || frame.type === 'leave' || frame.type.startsWith('match.')) {
      this._emit(frame.type, frame);
    }
    this._emit('frame', frame);
  }

  /** Emits the join and leave events a roster told. */
  _tell(told) {
    for (const event of told) {
      this._emit(event.type, event);
      this._emit('frame', event);
    }
  }

  /**
   * Reads who is present in a joinLeave channel and emits the difference with what its roster knew; a failed read
   * applies what was heard meanwhile (and says so on the console unless the connection dropped). Never rejects.
   */
  _syncRoster(channel, roster, token) {
    return this.request({ type: 'presence', channel }).then(
      read => this._tell(roster.synced(token, read)),
      e => {
        if (e.code !== 'disconnected' && e.code !== 'closed') {
          console.warn(`switchboard: could not read who is present in ${channel} (${e.message}); its roster may miss`
            + ' changes made while the client was away');
        }
        this._tell(roster.unsynced(token));
      });
  }

  /** Advances the channel's position; true when the message is a duplicate, to drop. */
  _channelMessage(frame) {
    const position = this._positions.get(frame.channel);
    if (seen(position, frame)) {
      return true;
    }
    if (this._channels.has(frame.channel) && isPosition(frame)) {
      this._positions.set(frame.channel, { offset: frame.offset, epoch: frame.epoch });
    }
    return false;
  }

  /** Advances the inbox position; true when the event is a duplicate, to drop. */
  _inboxEvent(frame) {
    if (seen(this._inbox, frame)) {
      return true;
    }
    this._inbox = { offset: frame.offset, epoch: frame.epoch };
    return false;
  }

  _welcomed(conn, welcome) {
    if (conn.welcomed) {
      return;
    }
    clearTimeout(conn.connectTimer);
    conn.connectTimer = null;
    conn.welcomed = true;
    conn.welcomeAt = now();
    const reconnect = this._everWelcomed;
    this._everWelcomed = true;
    this._welcome = welcome;
    // a recovered welcome is followed by the events after our position; otherwise start from the server's
    if ((!welcome.recovered || !this._inbox) && isPosition(welcome.inbox)) {
      this._inbox = copy(welcome.inbox);
    }
    this._state = 'connected';
    if (welcome.ping && welcome.ping.interval > 0) {
      this._watch(conn, welcome.ping.interval + (welcome.ping.timeout || 0));
    }
    const resubscribed = this._resubscribe();
    this._emit('connected', { welcome, reconnect });
    if (this._connecting) {
      this._connecting.resolve(welcome);
    }
    if (reconnect) {
      resubscribed.then(notRecovered => {
        if (this._conn === conn && this._state === 'connected') {
          const resumed = welcome.resumed === true;
          const inboxRecovered = welcome.recovered === true;
          this._emit('recovered', {
            recovered: resumed && inboxRecovered && notRecovered.length === 0,
            resumed, inboxRecovered, channelsNotRecovered: notRecovered,
          });
        }
      });
    }
  }

  /**
   * Subscribes every remembered channel again (from its position when known), then sends the requests that waited.
   * Resolves with the channels that were not recovered: known position but recovered:false, or an error.
   */
  _resubscribe() {
    const queued = this._queue;
    this._queue = [];
    const covered = new Set();
    for (const entry of queued) {
      if (entry.frame.type === 'subscribe') {
        covered.add(entry.frame.channel);
      }
    }
    const results = [];
    const track = (channel, entry) => {
      const hadPosition = this._positions.has(channel);
      results.push(new Promise(resolve => {
        const { resolve: ok, reject: fail } = entry;
        entry.resolve = ack => {
          resolve(hadPosition && ack.recovered !== true ? channel : null);
          ok(ack);
        };
        entry.reject = e => {
          resolve(channel);
          fail(e);
        };
      }));
    };
    for (const [channel, how] of this._channels) {
      if (!covered.has(channel)) {
        const entry = {
          frame: subscribeFrame(channel, how.presence, how.joinLeave), resolve: () => {}, reject: () => {},
        };
        track(channel, entry);
        this._send(entry);
      }
    }
    for (const entry of queued) {
      const channel = entry.frame.channel;
      if (entry.frame.type === 'subscribe' && this._channels.has(channel) && covered.delete(channel)) {
        track(channel, entry);
      }
      this._send(entry);
    }
    return Promise.all(results).then(channels => channels.filter(c => c !== null));
  }

  /**
   * Sends a request on the live connection with the next id; a subscribe asks from the channel's position, and a
   * joinLeave subscribe starts its roster's sync before it goes out (its own join may come before its ack).
   */
  _send(entry) {
    const frame = Object.assign({}, entry.frame);
    frame.id = ++this._nextId;
    if (frame.type === 'subscribe' && frame.since === undefined && this._positions.has(frame.channel)) {
      frame.since = copy(this._positions.get(frame.channel));
    }
    let text;
    try {
      text = JSON.stringify(frame);
    } catch (e) {
      entry.reject(e);
      return;
    }
    entry.sent = frame;
    if (frame.type === 'subscribe' && frame.joinLeave === true && this._rosters.has(frame.channel)) {
      const roster = this._rosters.get(frame.channel);
      entry.roster = { roster, token: roster.startSync() };
    }
    this._pending.set(frame.id, entry);
    this._conn.ws.send(text);
  }

  _reply(ack, error) {
    const frame = ack || error;
    const entry = this._pending.get(frame.id);
    if (!entry) {
      return;
    }
    this._pending.delete(frame.id);
    if (error) {
      if (entry.roster) {
        this._tell(entry.roster.roster.unsynced(entry.roster.token));
      }
      entry.reject(failure(error.code, `${error.code}: ${error.message || entry.sent.type + ' refused'}`, error));
      return;
    }
    const sent = entry.sent;
    if (sent.type === 'subscribe' && this._channels.has(sent.channel)) {
      // recovered: the messages after `since` follow, and advance the position themselves
      if (!(sent.since && ack.recovered === true) && isPosition(ack)) {
        this._positions.set(sent.channel, { offset: ack.offset, epoch: ack.epoch });
      } else if (sent.since && ack.recovered === true && !this._positions.has(sent.channel)) {
        // a first subscribe from a given position: recovered from there, even when nothing follows
        this._positions.set(sent.channel, copy(sent.since));
      }
    }
    if (entry.roster && this._rosters.get(sent.channel) === entry.roster.roster) {
      this._syncRoster(sent.channel, entry.roster.roster, entry.roster.token).then(() => entry.resolve(ack));
      return;
    }
    entry.resolve(ack);
  }

  /** The heartbeat rule (section 3): nothing received within `limit` ms means the connection is dead. */
  _watch(conn, limit) {
    const check = () => {
      const silent = now() - conn.lastReceived;
      if (silent < limit) {
        conn.heartbeatTimer = setTimeout(check, limit - silent);
        return;
      }
      conn.heartbeatTimer = null;
      const reason = `nothing received for ${limit} ms`;
      this._teardown(conn, CloseCodes.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
      this._dropped(conn, CloseCodes.HEARTBEAT_TIMEOUT, reason, true);
    };
    conn.heartbeatTimer = setTimeout(check, limit);
  }

  _emit(event, detail) {
    const set = this._handlers.get(event);
    if (!set) {
      return;
    }
    for (const handler of Array.from(set)) {
      try {
        handler(detail);
      } catch (e) {
        // one listener's bug must not break the connection nor the other listeners
        if (typeof reportError === 'function') {
          reportError(e);
        } else {
          console.error(e);
        }
      }
    }
  }
}

/** A subscribe frame, with the presence options only when set. */
function subscribeFrame(channel, presence, joinLeave) {
  const frame = { type: 'subscribe', channel };
  if (presence) {
    frame.presence = true;
  }
  if (joinLeave) {
    frame.joinLeave = true;
  }
  return frame;
}

function defaultUrl() {
  if (typeof location === 'undefined' || !location.host) {
    throw new TypeError('SwitchboardClient: options.url is required outside a web page');
  }
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}
