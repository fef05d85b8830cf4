// Test helper of BrowserClientIntegrationTests, run in the page before a client is made (not part of the product).
// Recorder keeps a SwitchboardClient's events in order and lets a test await one without sleeping: each wait
// resolves on the event it waits for, or rejects after its timeout listing what happened instead. The page's
// timers are counted so that a test can check the client left none running.
(() => {
  const realSetTimeout = globalThis.setTimeout.bind(globalThis);
  const realClearTimeout = globalThis.clearTimeout.bind(globalThis);
  const realSetInterval = globalThis.setInterval.bind(globalThis);
  const realClearInterval = globalThis.clearInterval.bind(globalThis);
  const live = new Set();
  globalThis.setTimeout = (fn, ms, ...args) => {
    const handle = realSetTimeout(() => {
      live.delete(handle);
      fn(...args);
    }, ms);
    live.add(handle);
    return handle;
  };
  globalThis.clearTimeout = handle => {
    live.delete(handle);
    realClearTimeout(handle);
  };
  globalThis.setInterval = (fn, ms, ...args) => {
    const handle = realSetInterval(fn, ms, ...args);
    live.add(handle);
    return handle;
  };
  globalThis.clearInterval = handle => {
    live.delete(handle);
    realClearInterval(handle);
  };
  /** How many timers of the page are scheduled and not yet run or cleared. */
  globalThis.liveTimers = () => live.size;

  /** Resolves after `ms`: only to check that something does NOT happen within a window. */
  globalThis.quietFor = ms => new Promise(resolve => realSetTimeout(resolve, ms));

  const LIFECYCLE = ['connecting', 'connected', 'recovered', 'disconnected', 'reconnecting', 'gaveup', 'closed'];
  const FRAMES = ['message', 'direct', 'error', 'match.found', 'match.signal', 'match.ended', 'match.partner',
    'join', 'leave', 'frame'];
  const EVENTS = LIFECYCLE.concat(FRAMES);

  class Recorder {
    constructor(client) {
      this.events = [];
      this.byName = new Map(EVENTS.map(name => [name, []]));
      this.taken = new Map();
      this.waiters = new Set();
      for (const name of EVENTS) {
        client.on(name, detail => this.add(name, detail));
      }
    }

    add(name, detail) {
      const event = { name, detail, at: Date.now() };
      this.events.push(event);
      this.byName.get(name).push(event);
      for (const waiter of Array.from(this.waiters)) {
        waiter();
      }
    }

    /** The events named `name` so far: {name, detail, at} with `at` from Date.now(). */
    named(name) {
      return this.byName.get(name);
    }

    /** The details of the events named `name` so far. */
    details(name) {
      return this.named(name).map(e => e.detail);
    }

    /** The connection events so far, in order, as {name, detail, at}: the frames left out. */
    lifecycle() {
      return this.events.filter(e => LIFECYCLE.includes(e.name));
    }

    /** Resolves with probe()'s value once it is truthy, checked now and after every event. */
    until(what, probe, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        let timer;
        const waiter = () => {
          let value;
          try {
            value = probe();
          } catch (e) {
            done();
            reject(e);
            return;
          }
          if (value) {
            done();
            resolve(value);
          }
        };
        const done = () => {
          realClearTimeout(timer);
          this.waiters.delete(waiter);
        };
        timer = realSetTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`no ${what} within ${timeoutMs} ms; the events were: ${this.summary()}`));
        }, timeoutMs);
        this.waiters.add(waiter);
        waiter();
      });
    }

    /** The detail of the next event named `name` that no earlier next(name) returned. */
    next(name, timeoutMs = 10000) {
      const index = this.taken.get(name) || 0;
      this.taken.set(name, index + 1);
      return this.until(`${name} event #${index + 1}`, () => this.named(name)[index], timeoutMs)
        .then(event => event.detail);
    }

    summary() {
      const lines = this.lifecycle().map(e => `${e.name} ${JSON.stringify(e.detail, (k, v) =>
        k === 'welcome' ? { user: v.user, resumed: v.resumed, recovered: v.recovered } : v)}`);
      return `[${lines.join(', ')}] and ${this.named('message').length} messages, `
        + `${this.named('direct').length} directs, ${this.named('error').length} errors`;
    }
  }

  globalThis.Recorder = Recorder;
})();
