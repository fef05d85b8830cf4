'use strict';

// Raw wire check: speaks Engine.IO v4 / Socket.IO v5 by hand over a plain WebSocket,
// the way the benchmark's Java load generator does, and prints every frame.
//   node wire-check.js ws://127.0.0.1:PORT_A [ws://127.0.0.1:PORT_B]
// Client 1 connects to A, client 2 to B (or A again). Both subscribe to room-1,
// client 1 publishes once, then both wait for the server's first heartbeat ping
// (pingInterval = 25 s) and answer it with a pong. Exits 0 when everything expected
// was seen, 1 otherwise. Uses `ws`, which is installed as a dependency of engine.io.

const WebSocket = require('ws');

const base = process.argv[2] || 'ws://127.0.0.1:3000';
const baseB = process.argv[3] || base;
const PATH = '/socket.io/?EIO=4&transport=websocket';
const t0 = Date.now();
const ts = () => `+${String(Date.now() - t0).padStart(6)}ms`;

function client(name, url) {
  const ws = new WebSocket(url + PATH, { perMessageDeflate: false });
  const seen = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? `<binary ${data.length} bytes>` : data.toString('utf8');
    console.log(`${ts()} ${name} <- ${isBinary ? 'BINARY' : 'text  '} ${text}`);
    seen.push(text);
    for (const w of waiters.splice(0)) {
      if (w.test(text)) w.resolve(text); else waiters.push(w);
    }
  });
  ws.on('close', (code, reason) => console.log(`${ts()} ${name} -- close ${code} ${reason}`));
  ws.on('error', (err) => console.log(`${ts()} ${name} -- error ${err.message}`));
  return {
    ws,
    send(text) {
      console.log(`${ts()} ${name} -> text   ${text}`);
      ws.send(text); // a string is sent as a text frame
    },
    expect(test, what, ms = 5000) {
      const hit = seen.find(test);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { test, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`${name}: no ${what} within ${ms} ms`)), ms).unref();
      });
    },
    open: () => new Promise((r) => ws.once('open', r)),
  };
}

async function main() {
  const c1 = client('c1', base);
  const c2 = client('c2', baseB);
  await Promise.all([c1.open(), c2.open()]);

  for (const c of [c1, c2]) {
    const open = await c.expect((t) => t.startsWith('0{'), 'Engine.IO open packet');
    const hs = JSON.parse(open.slice(1));
    console.log(`${ts()}    handshake: ${JSON.stringify(hs)}`);
    c.send('40'); // Socket.IO CONNECT to the main namespace
    await c.expect((t) => t.startsWith('40{'), 'Socket.IO connect reply');
    c.send('420["subscribe","room-1"]');
    await c.expect((t) => t === '430[{"ok":true}]', 'subscribe ack');
  }

  c1.send('421["publish","room-1",{"seq":1,"text":"hi"}]');
  const bc = '42["message","room-1",{"seq":1,"text":"hi"}]';
  await Promise.all([
    c1.expect((t) => t === bc, 'broadcast to sender'),
    c1.expect((t) => t === '431[{"ok":true}]', 'publish ack'),
    c2.expect((t) => t === bc, 'broadcast to other client'),
  ]);

  console.log(`${ts()}    waiting for the server heartbeat (pingInterval 25 s)...`);
  await Promise.all([c1, c2].map(async (c) => {
    await c.expect((t) => t === '2', 'server ping', 30000);
    c.send('3');
  }));

  c1.ws.close(1000);
  c2.ws.close(1000);
  console.log('wire ok');
}

main().catch((err) => {
  console.log(`FAIL: ${err.message}`);
  process.exit(1);
});
