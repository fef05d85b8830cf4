'use strict';

// Socket.IO 4 comparison baseline for the Switchboard benchmark.
//
// One process, or several sharing rooms through Redis (@socket.io/redis-adapter).
// Settings come from the environment, or from --port/--host/--redis-url/--node-id
// flags (flags win):
//   PORT       listen port, 0 = any free port        (default 0)
//   HOST       listen address                         (default 127.0.0.1)
//   REDIS_URL  redis://host:port; when set, rooms are shared through Redis
//   NODE_ID    name reported by GET /health           (default sio-1)
//
// stdout carries exactly one line, `listening on http://HOST:PORT`, printed once the
// server listens (and, with Redis, once both clients are connected and the adapter's
// subscriptions are active). Everything else goes to stderr.

const http = require('node:http');
const { Server } = require('socket.io');

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument: ${argv[i]}`);
    const value = m[2] !== undefined ? m[2] : argv[++i];
    if (value === undefined) throw new Error(`missing value for --${m[1]}`);
    out[m[1]] = value;
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const PORT = Number(args.port ?? process.env.PORT ?? 0);
const HOST = args.host ?? process.env.HOST ?? '127.0.0.1';
const REDIS_URL = args['redis-url'] ?? process.env.REDIS_URL ?? '';
const NODE_ID = args['node-id'] ?? process.env.NODE_ID ?? 'sio-1';
// Heartbeat, as the gateway's SWITCHBOARD_PING_INTERVAL_MS / _TIMEOUT_MS (the benchmark shortens both alike).
const PING_INTERVAL_MS = Number(process.env.PING_INTERVAL_MS ?? 25000);
const PING_TIMEOUT_MS = Number(process.env.PING_TIMEOUT_MS ?? 10000);

if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  console.error(`[${NODE_ID}] invalid PORT: ${args.port ?? process.env.PORT}`);
  process.exit(2);
}

function log(msg) {
  console.error(`${new Date().toISOString()} [${NODE_ID}] ${msg}`);
}

let io; // set below; the HTTP handler only runs once the server listens

// Plain HTTP handler. Socket.IO (engine.io) takes over requests under /socket.io/ and
// hands every other request to the listeners already registered here.
const httpServer = http.createServer((req, res) => {
  const path = req.url.split('?', 1)[0];
  if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
    const body = JSON.stringify({
      status: 'UP',
      node: NODE_ID,
      connections: io ? io.engine.clientsCount : 0,
    });
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found\n');
});

io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  pingInterval: PING_INTERVAL_MS,
  pingTimeout: PING_TIMEOUT_MS,
  serveClient: false,
  maxHttpBufferSize: 65536,
  // connectionStateRecovery is deliberately not set (off): plain baseline.
});

function isChannel(c) {
  return typeof c === 'string' && c.length > 0;
}

io.on('connection', (socket) => {
  // subscribe(channel, ack?)
  socket.on('subscribe', (channel, ack) => {
    if (typeof ack !== 'function') ack = undefined;
    if (!isChannel(channel)) {
      if (ack) ack({ ok: false, error: 'channel must be a non-empty string' });
      return;
    }
    // join() is synchronous for the in-memory and Redis adapters; stay generic anyway.
    const r = socket.join(channel);
    if (r && typeof r.then === 'function') {
      r.then(() => ack && ack({ ok: true }),
        (err) => ack && ack({ ok: false, error: String(err && err.message) }));
    } else if (ack) {
      ack({ ok: true });
    }
  });

  // publish(channel, data, ack?) -- broadcast to the room, sender included if it joined.
  socket.on('publish', (channel, data, ack) => {
    if (typeof data === 'function' && ack === undefined) {
      ack = data; // publish(channel, ack): no payload
      data = undefined;
    }
    if (typeof ack !== 'function') ack = undefined;
    if (!isChannel(channel)) {
      if (ack) ack({ ok: false, error: 'channel must be a non-empty string' });
      return;
    }
    io.to(channel).emit('message', channel, data);
    if (ack) ack({ ok: true });
  });
});

// ---------------------------------------------------------------- Redis (optional)

let pubClient = null;
let subClient = null;
let shuttingDown = false;

// One log line per outage per client: the first error/reconnect after being healthy,
// then one line when it is ready again. node-redis retries on its own.
function watchRedis(client, name) {
  let down = false;
  const lost = (why) => {
    if (shuttingDown || down) return;
    down = true;
    log(`redis ${name}: ${why}; reconnecting`);
  };
  client.on('error', (err) => {
    const code = err && err.code ? `${err.code} ` : '';
    lost(`error: ${code}${(err && err.message) || String(err)}`.trim());
  });
  client.on('reconnecting', () => lost('connection lost'));
  client.on('ready', () => {
    if (down && !shuttingDown) log(`redis ${name}: connected`);
    down = false;
  });
}

async function setupRedis() {
  const { createClient } = require('redis');
  const { createAdapter } = require('@socket.io/redis-adapter');
  pubClient = createClient({ url: REDIS_URL });
  subClient = pubClient.duplicate();
  watchRedis(pubClient, 'pub');
  watchRedis(subClient, 'sub');
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));

  // The adapter sends PSUBSCRIBE/SUBSCRIBE without waiting for the replies. Wait until
  // Redis reports this node's own response channel as subscribed (it is sent after the
  // room pattern on the same connection), so nothing published right after the
  // "listening" line is missed by this node.
  const channel = io.of('/').adapter.specificResponseChannel;
  if (typeof channel === 'string') {
    const deadline = Date.now() + 10000;
    for (;;) {
      const counts = await pubClient.pubSubNumSub(channel);
      if (Number(counts[channel]) > 0) break;
      if (Date.now() > deadline) throw new Error('redis adapter subscriptions not active after 10 s');
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

// ---------------------------------------------------------------- start / stop

async function main() {
  if (REDIS_URL) await setupRedis();
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(PORT, HOST, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const { port } = httpServer.address();
  process.stdout.write(`listening on http://${HOST}:${port}\n`);
  log(`adapter=${REDIS_URL ? 'redis' : 'memory'}`);
}

async function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`${signal}: shutting down`);
  // Hard limit: never take more than 5 s.
  setTimeout(() => {
    log('shutdown timed out, exiting');
    process.exit(1);
  }, 4500).unref();

  try {
    await io.close(); // disconnects sockets, closes the adapter and the HTTP server
  } catch (err) {
    log(`close error: ${err && err.message}`);
  }
  await Promise.allSettled([pubClient, subClient].filter(Boolean).map((c) =>
    (c.isReady ? c.quit() : c.disconnect())));
  process.exit(0);
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

main().catch((err) => {
  log(`startup failed: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
