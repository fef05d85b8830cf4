// A sample backend for Switchboard's backend hooks (docs/backend.md): answers the proxy hooks and logs the
// events it receives. Node.js 18 or later, no dependencies:
//
//   node samples/backend/server.mjs                     # listens on http://127.0.0.1:3000
//   SWITCHBOARD_HOOK_URL=http://127.0.0.1:3000/switchboard scripts/run
//
// Settings (environment): PORT (default 3000; 0 picks a free one), HOOK_KEY (the gateway's SWITCHBOARD_HOOK_KEY:
// when set, calls without it are refused), WEBHOOK_SECRET (the gateway's SWITCHBOARD_WEBHOOK_SECRET: when set,
// event batches with a bad signature are refused). It prints one line per call and per event, and the line
// "sample backend listening on http://127.0.0.1:<port>" once it listens.
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

const port = Number(process.env.PORT ?? 3000);
const hookKey = process.env.HOOK_KEY || null;
const webhookSecret = process.env.WEBHOOK_SECRET || null;
const MAX_BODY = 1 << 20;
let tickets = 0;

/** Words the publish hook replaces: a moderation rule in a few lines. */
const BANNED = /\b(spam|scam)\b/i;
const BANNED_ALL = new RegExp(BANNED.source, 'gi');

function log(line) {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

/** The hooks: each gets the request body and answers an object (docs/backend.md). */
const hooks = {
  connect(body) {
    // A real backend checks the session cookie here (body.headers.cookie) and names the user.
    log(`connect: user=${body.user} guest=${body.guest} node=${body.node}`);
    return { allow: true };
  },
  subscribe(body) {
    log(`subscribe: ${body.user} to ${body.channel}`);
    return body.channel.startsWith('private:')
      ? { allow: false, code: 'forbidden', message: 'private channels are for staff' }
      : { allow: true };
  },
  publish(body) {
    const text = JSON.stringify(body.data);
    if (!BANNED.test(text)) {
      return { allow: true };
    }
    log(`publish: ${body.user} to ${body.channel}: replaced banned words`);
    return { allow: true, data: JSON.parse(text.replace(BANNED_ALL, '***')) };
  },
  rpc(body) {
    if (body.method === 'report') {
      const ticket = `r-${++tickets}`;
      const d = body.data || {};
      log(`report ${ticket}: ${body.user} reported ${d.partner} in match ${d.match}`);
      return { result: { ticket } };
    }
    return { error: { code: 'not_found', message: `no method ${body.method}` } };
  },
};

/** Checks `Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` (docs/backend.md). */
function signatureOk(header, raw) {
  if (!webhookSecret) {
    return true;
  }
  const parts = Object.fromEntries(String(header || '').split(',').map(p => p.split('=', 2)));
  const t = Number(parts.t);
  if (!parts.v1 || !Number.isFinite(t) || Math.abs(Date.now() / 1000 - t) > 300) {
    return false;
  }
  const expected = createHmac('sha256', webhookSecret).update(`${parts.t}.`).update(raw).digest();
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const seen = new Set();

function events(req, raw) {
  if (!signatureOk(req.headers['switchboard-signature'], raw)) {
    log('events: bad signature, refused');
    return [401, { error: 'bad signature' }];
  }
  for (const e of JSON.parse(raw.toString('utf8')).events || []) {
    if (seen.has(e.id)) {
      continue; // delivered at least once: the same id again is a duplicate
    }
    seen.add(e.id);
    log(`event ${e.type}: ${JSON.stringify(e)}`);
  }
  return [200, {}];
}

const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', c => {
    size += c.length;
    if (size > MAX_BODY) {
      req.destroy();
    } else {
      chunks.push(c);
    }
  });
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    let status = 200;
    let answer;
    try {
      if (req.method !== 'POST') {
        [status, answer] = [405, { error: 'POST only' }];
      } else if (req.url === '/events') {
        [status, answer] = events(req, raw);
      } else {
        const name = (req.url || '').replace(/^\/switchboard\//, '');
        const hook = Object.prototype.hasOwnProperty.call(hooks, name) ? hooks[name] : null;
        if (!hook) {
          [status, answer] = [404, { error: `no hook ${name}` }];
        } else if (hookKey && req.headers.authorization !== `Bearer ${hookKey}`) {
          [status, answer] = [401, { error: 'wrong hook key' }];
        } else {
          answer = hook(JSON.parse(raw.toString('utf8')));
        }
      }
    } catch (e) {
      [status, answer] = [400, { error: `unreadable request: ${e.message}` }];
    }
    const out = Buffer.from(JSON.stringify(answer));
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': out.length });
    res.end(out);
  });
});

server.listen(port, '127.0.0.1', () => {
  log(`sample backend listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
