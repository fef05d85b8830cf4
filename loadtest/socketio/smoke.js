'use strict';

// Self-check for server.js.
//   node smoke.js http://127.0.0.1:PORT_A http://127.0.0.1:PORT_B
// Connects 10 clients to each server (websocket transport only), subscribes all 20 to
// room-1, publishes 20 messages from one client of server A, and checks that every
// client received all 20, in order, and nothing else. Prints `ok` and exits 0, or
// prints the failure and exits 1. Pass the same URL twice to test a single server.

const { io } = require('socket.io-client');

const CLIENTS_PER_SERVER = 10;
const MESSAGES = 20;
const CHANNEL = 'room-1';
const TIMEOUT_MS = 15000;

const [urlA, urlB] = process.argv.slice(2);
if (!urlA || !urlB) {
  console.error('usage: node smoke.js <server A url> <server B url>');
  process.exit(2);
}

const clients = [];

function fail(msg) {
  console.log(`FAIL: ${msg}`);
  for (const c of clients) c.socket.disconnect();
  process.exit(1);
}

const watchdog = setTimeout(() => {
  const counts = clients.map((c) => `${c.name}=${c.received.length}`).join(' ');
  fail(`timed out after ${TIMEOUT_MS} ms; messages received: ${counts || '(no clients connected)'}`);
}, TIMEOUT_MS);

function connect(url, name) {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 5000,
    });
    const client = { name, url, socket, received: [] };
    socket.on('message', (channel, data) => client.received.push({ channel, data }));
    socket.once('connect', () => resolve(client));
    socket.once('connect_error', (err) => reject(new Error(`${name} (${url}): connect_error: ${err.message}`)));
  });
}

async function main() {
  const pending = [];
  for (let i = 0; i < CLIENTS_PER_SERVER; i++) pending.push(connect(urlA, `A${i}`));
  for (let i = 0; i < CLIENTS_PER_SERVER; i++) pending.push(connect(urlB, `B${i}`));
  clients.push(...(await Promise.all(pending)));

  const subAcks = await Promise.all(clients.map((c) =>
    c.socket.timeout(5000).emitWithAck('subscribe', CHANNEL)));
  subAcks.forEach((ack, i) => {
    if (!ack || ack.ok !== true) fail(`${clients[i].name}: bad subscribe ack ${JSON.stringify(ack)}`);
  });

  // Fire all publishes back to back (no waiting between them) from client A0.
  const publisher = clients[0];
  const pubAcks = [];
  for (let seq = 0; seq < MESSAGES; seq++) {
    pubAcks.push(publisher.socket.timeout(5000)
      .emitWithAck('publish', CHANNEL, { seq, from: publisher.name, text: `hello ${seq}` }));
  }
  (await Promise.all(pubAcks)).forEach((ack, seq) => {
    if (!ack || ack.ok !== true) fail(`publish ${seq}: bad ack ${JSON.stringify(ack)}`);
  });

  // Wait until every client has MESSAGES messages (or the watchdog fires).
  while (clients.some((c) => c.received.length < MESSAGES)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  // Grace period to catch duplicates / stray extra messages.
  await new Promise((r) => setTimeout(r, 300));

  for (const c of clients) {
    if (c.received.length !== MESSAGES) {
      fail(`${c.name}: expected ${MESSAGES} messages, got ${c.received.length}`);
    }
    c.received.forEach((m, i) => {
      if (m.channel !== CHANNEL || !m.data || m.data.seq !== i || m.data.text !== `hello ${i}`) {
        fail(`${c.name}: message #${i} wrong or out of order: ${JSON.stringify(m)}`);
      }
    });
  }

  clearTimeout(watchdog);
  for (const c of clients) c.socket.disconnect();
  console.log('ok');
  process.exit(0);
}

main().catch((err) => fail(err && err.message ? err.message : String(err)));
