// Issue 13 acceptance with the official client: order book deltas rebuilt in the browser's way.
// Four sockets on one running book stream (SOCKET_URL, API_TOKEN, SUBSCRIBE = base payload):
// full, full depth 20, delta, delta depth 20. For RUN_MS it rebuilds each delta book from its
// snapshot + deltas, checks seq/prevSeq, and compares it with the full subscriber's book of the
// same update (same event timestamp). Halfway it sends `resync` on the delta depth-20 socket.
// Then a late socket joins and measures join-to-first-data. Prints one JSON summary line.
import { io } from 'socket.io-client';

const url = process.env.SOCKET_URL;
const token = process.env.API_TOKEN;
const base = JSON.parse(process.env.SUBSCRIBE);
const runMs = Number(process.env.RUN_MS ?? 3000);
const views = {
  full: {},
  full20: { depth: 20 },
  delta: { format: 'delta' },
  delta20: { format: 'delta', depth: 20 },
};
const summary = {
  events: {}, compared: 0, mismatches: [], seqErrors: [], maxLevels: {}, kinds: {},
  resync: null, join: null, errors: [],
};
const fullBooks = { full: new Map(), full20: new Map() };  // timestamp -> {bids, asks}
const rebuilt = {};

function connect(name, payload, onData) {
  const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false });
  socket.on('connect', () => {
    socket.sentAt = performance.now();
    socket.sentWall = Date.now();
    socket.emit('subscribe', payload);
  });
  socket.on('subscription_error', (msg) => summary.errors.push({ name, msg }));
  socket.on('resync_error', (msg) => summary.errors.push({ name, msg }));
  socket.on('data', (event) => onData(socket, event));
  return socket;
}

function sorted(side, descending) {
  const rows = [...side.entries()].map(([p, a]) => [p, a]);
  rows.sort((x, y) => (descending ? y[0] - x[0] : x[0] - y[0]));
  return rows;
}

function applyDelta(name, data) {
  const state = rebuilt[name] ?? (rebuilt[name] = { seq: 0, bids: new Map(), asks: new Map() });
  if (data.seq !== state.seq + 1) summary.seqErrors.push({ name, got: data.seq, want: state.seq + 1 });
  if (data.type === 'snapshot') {
    if (data.prevSeq !== null) summary.seqErrors.push({ name, snapshotPrev: data.prevSeq });
    state.bids = new Map(); state.asks = new Map();
  } else if (data.prevSeq !== state.seq) {
    summary.seqErrors.push({ name, prevSeq: data.prevSeq, want: state.seq });
  }
  for (const [side, levels] of [[state.bids, data.bids], [state.asks, data.asks]]) {
    for (const [price, amount] of levels) {
      if (amount === 0) side.delete(price); else side.set(price, amount);
    }
  }
  state.seq = data.seq;
  return { bids: sorted(state.bids, true), asks: sorted(state.asks, false) };
}

const pendingCompare = { delta: new Map(), delta20: new Map() };
function compare(deltaName, fullName, timestamp) {
  const mine = pendingCompare[deltaName].get(timestamp);
  const theirs = fullBooks[fullName].get(timestamp);
  if (!mine || !theirs) return;
  pendingCompare[deltaName].delete(timestamp);
  summary.compared += 1;
  if (JSON.stringify(mine) !== JSON.stringify(theirs)) {
    summary.mismatches.push({ deltaName, timestamp });
  }
}

const sockets = [];
for (const [name, view] of Object.entries(views)) {
  summary.events[name] = 0;
  summary.maxLevels[name] = 0;
  summary.kinds[name] = {};
  sockets.push(connect(name, { ...base, ...view }, (socket, event) => {
    summary.events[name] += 1;
    const data = event.data;
    summary.maxLevels[name] = Math.max(summary.maxLevels[name], data.bids.length, data.asks.length);
    if (name.startsWith('full')) {
      fullBooks[name].set(event.timestamp, { bids: data.bids, asks: data.asks });
      const deltaName = name === 'full' ? 'delta' : 'delta20';
      compare(deltaName, name, event.timestamp);
      return;
    }
    summary.kinds[name][data.type] = (summary.kinds[name][data.type] ?? 0) + 1;
    const book = applyDelta(name, data);
    if (name === 'delta20' && summary.resync && summary.resync.answer === undefined) {
      summary.resync.answer = data.type;
    }
    if (!event.cached) {
      pendingCompare[name].set(event.timestamp, book);
      compare(name, name === 'delta' ? 'full' : 'full20', event.timestamp);
    }
    if (name === 'delta20' && summary.resync === null && summary.events[name] === 10) {
      summary.resync = {};
      socket.emit('resync', { subscriptionId: event.subscriptionId });
    }
  }));
}

setTimeout(() => {
  connect('late', { ...base, format: 'delta', depth: 20 }, (socket, event) => {
    if (summary.join !== null) return;
    summary.join = {
      ms: performance.now() - socket.sentAt, cached: event.cached === true, type: event.data.type,
      // a live update that reached the joiner before its greeting (then no cached one follows)
      liveAfterJoin: event.cached !== true && event.timestamp >= socket.sentWall,
    };
    socket.close();
  });
}, runMs - 800);

setTimeout(() => {
  for (const socket of sockets) socket.close();
  console.log(JSON.stringify(summary));
  process.exit(0);
}, runMs);
