/**
 * The demo page of Switchboard (served at /): random connect with a WebRTC call and a text chat signalled through
 * match.signal, how many are online and waiting (match.stats), the public:lobby chat recovered after a reload with
 * its member list (presence with join and leave), and the connection's state, all on /switchboard.js.
 *
 * Query parameters for tests and development (docs/protocol.md is the contract, not these): `ws` is the WebSocket URL to
 * use instead of this host's /ws (e.g. ?ws=ws://127.0.0.1:9000/ws through a proxy); `reconnectBase` and
 * `maxAttempts` set the client's reconnect options.
 */
import { SwitchboardClient } from '/switchboard.js';

const LOBBY = 'public:lobby';
/** Where this tab keeps the lobby's last messages and its position, so that a reload shows them again. */
const LOBBY_KEY = 'switchboard.demo.lobby';
/** Lobby lines kept on screen and in sessionStorage. */
const LOBBY_KEEP = 100;
const CHAT_KEEP = 200;
/** How often the online and waiting figures are asked for, in ms (the gateway refreshes them every second). */
const STATS_EVERY = 2000;

const $ = id => document.getElementById(id);
const ui = {
  status: $('status'), node: $('node'), retry: $('retry'),
  joinForm: $('join-form'), interests: $('interests'), start: $('start'), next: $('next'), stop: $('stop'),
  report: $('report'), reportState: $('report-state'),
  partner: $('partner-state'), media: $('media-state'), localVideo: $('local-video'), remoteVideo: $('remote-video'),
  chatForm: $('chat-form'), chatInput: $('chat-input'), chatLog: $('chat-log'),
  lobbyForm: $('lobby-form'), lobbyInput: $('lobby-input'), lobbyLog: $('lobby-log'), lobbyNote: $('lobby-note'),
  lobbyMembers: $('lobby-members'), lobbyCount: $('lobby-count'), matchStats: $('match-stats'),
};

const params = new URLSearchParams(location.search);
let iceServers = [];
let client = null;
let statusTimer = null;
let statsAsked = false;
/** The random-connect state: 'idle' | 'queued' | 'matched'. */
let phase = 'idle';
let match = null;
let pc = null;
let localStream = null;
let mediaTried = false;
/** Remote ICE candidates that came before the remote description. */
let pendingCandidates = [];
/** Signals are handled one after the other: WebRTC's calls are asynchronous and order matters. */
let signalChain = Promise.resolve();

function clientOptions() {
  const options = { reconnect: {} };
  if (params.get('ws')) {
    options.url = params.get('ws');
  }
  for (const [param, option] of [['reconnectBase', 'base'], ['maxAttempts', 'maxAttempts']]) {
    const n = Number(params.get(param));
    if (params.has(param) && Number.isFinite(n) && n > 0) {
      options.reconnect[option] = n;
    }
  }
  return options;
}

// ---- connection status ----

function setStatus(state, text) {
  clearInterval(statusTimer);
  statusTimer = null;
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  ui.retry.hidden = state !== 'gaveup';
}

function showReconnecting(attempt, delay) {
  const at = Date.now() + delay;
  const render = () => {
    const left = Math.max(0, Math.ceil((at - Date.now()) / 1000));
    ui.status.textContent = `Reconnecting: attempt ${attempt}, next try in ${left} s`;
  };
  setStatus('reconnecting', '');
  render();
  statusTimer = setInterval(render, 250);
}

function wire(c) {
  c.on('connecting', ({ attempt }) => {
    if (attempt > 0) {
      setStatus('reconnecting', `Reconnecting: attempt ${attempt}, connecting…`);
    } else {
      setStatus('connecting', 'Connecting…');
    }
  });
  c.on('connected', ({ welcome, reconnect }) => {
    ui.node.textContent = welcome.node;
    if (!reconnect) {
      setStatus('connected', `Connected as ${welcome.user}`);
    }
  });
  c.on('recovered', r => {
    ui.status.dataset.recovered = String(r.recovered);
    setStatus('connected', r.recovered
      ? 'Connected again: recovered, nothing was lost'
      : 'Connected again: not recovered, some messages or the match may be lost');
    if (!r.resumed && phase !== 'idle') {
      // a new identity: the queue entry or the match of the old one is gone
      endCall();
      setPhase('idle');
      setPartner('none', 'The connection came back too late: the match is over. Press Start to meet someone.');
    } else if (phase === 'queued') {
      // a queued user whose connection drops leaves the queue at once (docs/protocol.md section 6): join again
      join().catch(() => {});
    }
    if (r.channelsNotRecovered.includes(LOBBY)) {
      ui.lobbyNote.textContent = 'Some lobby messages were missed while the connection was down.';
    }
  });
  c.on('reconnecting', ({ attempt, delay }) => showReconnecting(attempt, delay));
  c.on('gaveup', ({ reason }) => {
    setStatus('gaveup', `Gave up: ${reason}. Press Retry to connect again.`);
    showStats('unknown', 'Not connected: nobody counted.');
    renderMembers();
    endCall();
    setPhase('idle');
    setPartner('none', 'Not connected.');
  });
  c.on('closed', () => setStatus('closed', 'Closed'));
  c.on('message', m => {
    if (m.channel === LOBBY) {
      lobbyMessage(m);
    }
  });
  for (const event of ['join', 'leave']) {
    c.on(event, e => {
      if (e.channel === LOBBY && c === client) {
        renderMembers();
      }
    });
  }
  c.on('match.found', found);
  c.on('match.signal', s => {
    if (match && s.match === match.match) {
      signalChain = signalChain.then(() => signal(s.data)).catch(e => note(`Call problem: ${e.message}`));
    }
  });
  c.on('match.ended', e => {
    if (match && e.match === match.match) {
      const why = { next: 'moved on to someone else', left: 'left', disconnected: 'lost the connection' };
      endCall();
      setPhase('idle');
      setPartner('left', `Your partner ${why[e.reason] || 'left'}. Press Start to meet someone new.`);
      chatLine('system', `The partner ${why[e.reason] || 'left'}.`);
    }
  });
  c.on('match.partner', p => {
    if (match && p.match === match.match) {
      setPartner(p.state, p.state === 'back' ? 'Your partner is back.'
        : 'Your partner is reconnecting…');
    }
  });
}

async function connect() {
  client = new SwitchboardClient(clientOptions());
  wire(client);
  renderMembers();
  try {
    await client.connect();
  } catch (e) {
    return; // gaveup already said why
  }
  refreshStats();
  await subscribeLobby(client);
}

// ---- online and waiting (match.stats) ----

function showStats(state, text) {
  ui.matchStats.dataset.state = state;
  ui.matchStats.textContent = text;
}

/** Asks for the figures when connected (a request made while reconnecting would only wait), one at a time. */
async function refreshStats() {
  const c = client;
  if (!c || c.state !== 'connected' || statsAsked) {
    return;
  }
  statsAsked = true;
  try {
    const { online, waiting } = await c.matchStats();
    if (c === client) {
      ui.matchStats.dataset.online = String(online);
      ui.matchStats.dataset.waiting = String(waiting);
      showStats('shown', `${online} online, ${waiting} waiting`);
    }
  } catch (e) {
    if (c === client && e.code === 'unavailable') {
      showStats('unavailable', 'Online figures unavailable right now.');
    }
    // disconnected or closed: the status line says so, the next refresh asks again
  } finally {
    statsAsked = false;
  }
}

ui.retry.addEventListener('click', () => {
  ui.retry.hidden = true;
  connect();
});

// ---- lobby ----

function loadLobby() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(LOBBY_KEY) || 'null');
    if (stored && Array.isArray(stored.lines)) {
      return stored;
    }
  } catch (e) {
    // nothing usable stored
  }
  return { lines: [] };
}

const lobby = loadLobby();

function saveLobby() {
  try {
    sessionStorage.setItem(LOBBY_KEY, JSON.stringify(lobby));
  } catch (e) {
    // storage full or disabled: the lobby still works, only a reload forgets it
  }
}

function renderLobbyLine(line) {
  const li = document.createElement('li');
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = line.from ? `${line.from}:` : 'gateway:';
  li.append(who, document.createTextNode(line.text));
  li.dataset.offset = String(line.offset);
  ui.lobbyLog.append(li);
  while (ui.lobbyLog.children.length > LOBBY_KEEP) {
    ui.lobbyLog.firstElementChild.remove();
  }
  ui.lobbyLog.scrollTop = ui.lobbyLog.scrollHeight;
}

function lobbyMessage(m) {
  const data = m.data;
  const text = data && typeof data === 'object' && typeof data.text === 'string' ? data.text : JSON.stringify(data);
  const line = { offset: m.offset, from: m.from || null, text };
  if (lobby.epoch !== m.epoch) {
    lobby.epoch = m.epoch;
  }
  lobby.offset = m.offset;
  lobby.lines.push(line);
  lobby.lines = lobby.lines.slice(-LOBBY_KEEP);
  saveLobby();
  renderLobbyLine(line);
}

/** A member's name: info.name when it is a non-empty string, else the user id. */
function memberName(member) {
  const name = member.info && typeof member.info === 'object' ? member.info.name : undefined;
  return typeof name === 'string' && name.trim() ? name.trim() : member.user;
}

/** Shows the lobby's roster as the client keeps it (it is changed by every join and leave). */
function renderMembers() {
  // given up: nobody is known to be here any more
  const members = (client && client.state !== 'gaveup' && client.roster(LOBBY)) || [];
  const me = client && client.user;
  const items = members.map(m => {
    const li = document.createElement('li');
    li.dataset.user = m.user;
    li.textContent = memberName(m);
    if (m.user === me) {
      li.className = 'me';
      li.append(document.createTextNode(' (you)'));
    }
    return li;
  });
  ui.lobbyMembers.replaceChildren(...items);
  ui.lobbyCount.textContent = members.length ? `(${members.length})` : '';
}

async function subscribeLobby(c) {
  const since = lobby.epoch !== undefined && lobby.offset !== undefined
    ? { offset: lobby.offset, epoch: lobby.epoch } : undefined;
  const options = { presence: true, joinLeave: true };
  if (since) {
    options.since = since;
  }
  try {
    const ack = await c.subscribe(LOBBY, options);
    if (since && ack.recovered !== true) {
      ui.lobbyNote.textContent = 'Messages sent while this page was away could not all be recovered.';
    }
    if (!since || ack.recovered !== true) {
      lobby.epoch = ack.epoch;
      lobby.offset = ack.offset;
      saveLobby();
    }
  } catch (e) {
    ui.lobbyNote.textContent = `Cannot join the lobby: ${e.message}`;
  }
}

ui.lobbyForm.addEventListener('submit', async event => {
  event.preventDefault();
  const text = ui.lobbyInput.value.trim();
  if (!text || !client) {
    return;
  }
  ui.lobbyInput.value = '';
  try {
    await client.publish(LOBBY, { text });
  } catch (e) {
    ui.lobbyNote.textContent = `Not sent: ${e.message}`;
    ui.lobbyInput.value = text;
  }
});

// ---- random connect ----

/**
 * Report: an rpc call (docs/protocol.md section 11) that the gateway proxies to the application's backend, here the
 * sample backend of samples/backend (docs/backend.md). Without an rpc hook the gateway answers unknown_type.
 */
function setReport(state, text) {
  ui.reportState.dataset.state = state;
  ui.reportState.textContent = text;
}

ui.report.addEventListener('click', () => {
  if (phase !== 'matched' || !match || !client) {
    return;
  }
  const reported = match;
  ui.report.disabled = true;
  setReport('sending', `Reporting ${reported.partner}…`);
  client.rpc('report', { match: reported.match, partner: reported.partner })
    .then(result => {
      const ticket = result && typeof result === 'object' && result.ticket ? ` (ticket ${result.ticket})` : '';
      setReport('reported', `Reported ${reported.partner}: thank you${ticket}.`);
    })
    .catch(e => {
      const code = e && e.code;
      setReport('failed', code === 'unknown_type'
        ? 'Reporting is not set up on this gateway (no rpc hook).'
        : code === 'unavailable'
          ? 'Reporting is unavailable right now; try again in a moment.'
          : `The report was refused: ${(e && e.message) || code || 'error'}.`);
      ui.report.disabled = phase !== 'matched';
    });
});

function setPhase(p) {
  phase = p;
  ui.start.disabled = p !== 'idle';
  ui.next.disabled = p === 'idle';
  ui.stop.disabled = p === 'idle';
  ui.report.disabled = p !== 'matched';
  ui.interests.disabled = p !== 'idle';
  if (p !== 'matched') {
    match = null;
  }
}

function setPartner(state, text) {
  ui.partner.dataset.state = state;
  ui.partner.textContent = text;
}

function note(text) {
  ui.media.textContent = text;
}

function chatLine(who, text) {
  const li = document.createElement('li');
  if (who === 'system') {
    li.className = 'system';
    li.textContent = text;
  } else {
    const name = document.createElement('span');
    name.className = 'who';
    name.textContent = who === 'me' ? 'You:' : 'Partner:';
    li.append(name, document.createTextNode(text));
  }
  ui.chatLog.append(li);
  while (ui.chatLog.children.length > CHAT_KEEP) {
    ui.chatLog.firstElementChild.remove();
  }
  ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
}

/** Asks once for the camera and the microphone; without them the call receives only, or there is text only. */
async function media() {
  if (mediaTried) {
    return;
  }
  mediaTried = true;
  if (typeof RTCPeerConnection === 'undefined') {
    note('Text only: this browser has no WebRTC.');
    return;
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    note('Receive only: this page cannot use a camera here (it needs https or localhost).');
    return;
  }
  try {
    localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    ui.localVideo.srcObject = localStream;
    note('Camera and microphone on.');
  } catch (e) {
    try {
      localStream = await navigator.mediaDevices.getUserMedia({ video: false, audio: true });
      note('Microphone only: no camera allowed or found.');
    } catch (e2) {
      localStream = null;
      note('Receive only: camera and microphone not allowed or not found. You still see and hear your partner.');
    }
  }
}

ui.joinForm.addEventListener('submit', async event => {
  event.preventDefault();
  if (phase !== 'idle' || !client) {
    return;
  }
  setPhase('queued');
  setPartner('waiting', 'Looking for a partner…');
  await media();
  try {
    await join();
  } catch (e) {
    if (e.code !== 'conflict') {
      setPhase('idle');
      setPartner('none', `Could not join: ${e.message}`);
    }
  }
});

/** Joins the random-connect queue with the interests typed in. */
function join() {
  const interests = ui.interests.value.split(/[,\s]+/).map(s => s.trim().toLowerCase()).filter(Boolean)
    .slice(0, 10);
  return client.request(interests.length ? { type: 'match.join', interests } : { type: 'match.join' });
}

ui.next.addEventListener('click', async () => {
  if (phase === 'idle') {
    return;
  }
  const wasMatched = phase === 'matched';
  endCall();
  setPhase('queued');
  setPartner('waiting', 'Looking for someone new…');
  if (wasMatched) {
    chatLine('system', 'You moved on.');
  }
  try {
    await client.request({ type: wasMatched ? 'match.next' : 'match.join' });
  } catch (e) {
    if (e.code !== 'conflict') {
      setPhase('idle');
      setPartner('none', `Could not look for someone new: ${e.message}`);
    }
  }
});

ui.stop.addEventListener('click', async () => {
  endCall();
  setPhase('idle');
  setPartner('none', 'Stopped. Press Start to meet someone.');
  if (localStream) {
    localStream.getTracks().forEach(t => t.stop());
    localStream = null;
    ui.localVideo.srcObject = null;
    mediaTried = false;
  }
  try {
    await client.request({ type: 'match.leave' });
  } catch (e) {
    // already out of the queue and of any match
  }
});

ui.chatForm.addEventListener('submit', async event => {
  event.preventDefault();
  const text = ui.chatInput.value.trim();
  if (!text) {
    return;
  }
  if (phase !== 'matched' || !match) {
    chatLine('system', 'Not sent: you have no partner right now. Press Start.');
    return;
  }
  ui.chatInput.value = '';
  chatLine('me', text);
  try {
    await sendSignal({ chat: text });
  } catch (e) {
    chatLine('system', `Not delivered: ${e.message}`);
  }
});

function sendSignal(data) {
  return client.request({ type: 'match.signal', match: match.match, data });
}

function setRtc(state) {
  document.body.dataset.rtc = state;
}

function found(f) {
  if (match && match.match === f.match) {
    return; // announced again (docs/protocol.md section 6): the call goes on
  }
  endCall();
  match = f;
  setPhase('matched');
  ui.chatLog.replaceChildren();
  const shared = f.interests && f.interests.length ? ` You both like ${f.interests.join(', ')}.` : '';
  setPartner('matched', `Matched with ${f.partner}.${shared}`);
  chatLine('system', `You are talking to ${f.partner}.${shared}`);
  if (typeof RTCPeerConnection === 'undefined') {
    return;
  }
  const peer = new RTCPeerConnection({ iceServers });
  pc = peer;
  pendingCandidates = [];
  setRtc(peer.connectionState);
  peer.addEventListener('connectionstatechange', () => {
    if (pc === peer) {
      setRtc(peer.connectionState);
    }
  });
  peer.addEventListener('icecandidate', e => {
    if (e.candidate && pc === peer && match) {
      sendSignal({ candidate: e.candidate.toJSON() }).catch(() => {});
    }
  });
  peer.addEventListener('track', e => {
    if (pc === peer) {
      ui.remoteVideo.srcObject = e.streams[0] || new MediaStream([e.track]);
      ui.remoteVideo.play().catch(() => {});
    }
  });
  const kinds = new Set();
  if (localStream) {
    for (const track of localStream.getTracks()) {
      peer.addTrack(track, localStream);
      kinds.add(track.kind);
    }
  }
  for (const kind of ['audio', 'video']) {
    if (!kinds.has(kind)) {
      peer.addTransceiver(kind, { direction: 'recvonly' });
    }
  }
  if (f.initiator) {
    signalChain = signalChain.then(async () => {
      const offer = await peer.createOffer();
      if (pc !== peer) {
        return;
      }
      await peer.setLocalDescription(offer);
      await sendSignal({ sdp: peer.localDescription.toJSON() });
    }).catch(e => note(`Call problem: ${e.message}`));
  }
}

async function signal(data) {
  if (!data || typeof data !== 'object') {
    return;
  }
  if (typeof data.chat === 'string') {
    chatLine('partner', data.chat);
    return;
  }
  const peer = pc;
  if (!peer) {
    return;
  }
  if (data.sdp) {
    await peer.setRemoteDescription(data.sdp);
    for (const c of pendingCandidates) {
      await peer.addIceCandidate(c);
    }
    pendingCandidates = [];
    if (data.sdp.type === 'offer') {
      const answer = await peer.createAnswer();
      await peer.setLocalDescription(answer);
      await sendSignal({ sdp: peer.localDescription.toJSON() });
    }
  } else if (data.candidate) {
    if (peer.remoteDescription) {
      await peer.addIceCandidate(data.candidate);
    } else {
      pendingCandidates.push(data.candidate);
    }
  }
}

function endCall() {
  if (pc) {
    const peer = pc;
    pc = null;
    peer.close();
  }
  pendingCandidates = [];
  ui.remoteVideo.srcObject = null;
  setRtc('none');
}

// ---- start ----

lobby.lines.forEach(renderLobbyLine);
setInterval(refreshStats, STATS_EVERY);
setPhase('idle');
setRtc('none');
fetch('/demo/config')
  .then(r => (r.ok ? r.json() : { iceServers: [] }))
  .catch(() => ({ iceServers: [] }))
  .then(config => {
    iceServers = Array.isArray(config.iceServers) ? config.iceServers : [];
    return connect();
  });
