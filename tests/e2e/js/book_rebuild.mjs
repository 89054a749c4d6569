// Issue 13 acceptance with the official client, against the binance emulator's moving book
// (driven by the pytest side over stdin/stdout, one JSON object per line).
//
// Socket A holds `full` and `delta20` (format delta, depth 20) of the same book, socket B
// `delta` and `full20`: four subscriptions, two per socket, each with its own id and seq.
// For RUN_MS every delta event is applied to the client's book, seq/prevSeq checked, and the
// rebuilt book compared with the `full` (or `full20`) subscriber's book of the same update
// (same event timestamp). A `resync` is sent on delta20 at a third of the run, a late socket
// joins at two thirds (join-to-first-data, cached). Then:
//   out {phase: "run-done"}            -> the test pauses the emulator
//   in  {paused: u}                    -> wait for the book of update u on every view, compare
//                                         all four with the server's REST fetchOrderBook
//                                         (maxAgeMs 0: from the exchange), then wait for
//                                         `stale` and `recovering` on every subscription
//   out {phase: "stale-seen"}          -> the test waits two more watchdog restarts, resumes
//   in  {resumed: true}                -> wait for `live`, a snapshot after the restart and
//                                         more matching pairs after the resume
//   out {summary: {...}}               -> exit 0
import { io } from 'socket.io-client';
import { createInterface } from 'node:readline';

const url = process.env.SOCKET_URL;
const token = process.env.API_TOKEN;
const base = JSON.parse(process.env.SUBSCRIBE);
const runMs = Number(process.env.RUN_MS ?? 30000);
const VIEWS = {
  full: {},
  delta20: { format: 'delta', depth: 20 },
  delta: { format: 'delta' },
  full20: { depth: 20 },
};
const PAIRS = { delta: 'full', delta20: 'full20' };
const SUFFIX = { full: ':orderbook', delta20: ':orderbook:delta:depth=20', delta: ':orderbook:delta', full20: ':orderbook:depth=20' };
const started = performance.now();
const summary = {
  ids: {}, events: {}, kinds: {}, maxLevels: {}, compared: 0, comparedAfterResume: 0,
  mismatches: [], seqErrors: [], resync: null, join: null, statuses: {}, errorEvents: 0,
  rest: null, afterRestart: {}, errors: [],
};
let phase = 'run';
const books = { full: new Map(), full20: new Map() }; // timestamp -> {bids, asks}
const rebuiltAt = { delta: new Map(), delta20: new Map() };
const latest = {}; // name -> {timestamp, book, nonce}
const rebuilt = {};

const say = (obj) => console.log(JSON.stringify(obj));
const fail = (why) => { summary.errors.push(why); say({ summary }); process.exit(1); };
setTimeout(() => fail('timeout'), runMs + 60000);

function sortedSide(map, descending) {
  const rows = [...map.entries()];
  rows.sort((x, y) => (descending ? y[0] - x[0] : x[0] - y[0]));
  return rows;
}

function apply(name, data) {
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
  return { bids: sortedSide(state.bids, true), asks: sortedSide(state.asks, false) };
}

function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

function compare(deltaName, timestamp) {
  const mine = rebuiltAt[deltaName].get(timestamp);
  const theirs = books[PAIRS[deltaName]].get(timestamp);
  if (!mine || !theirs) return;
  rebuiltAt[deltaName].delete(timestamp);
  summary.compared += 1;
  if (phase === 'resumed') summary.comparedAfterResume += 1;
  if (!same(mine, theirs)) summary.mismatches.push({ deltaName, timestamp, phase });
}

function keep(map, timestamp, value) {
  map.set(timestamp, value);
  if (map.size > 400) map.delete(map.keys().next().value); // bounded: oldest first
}

function onData(name, event) {
  const data = event.data;
  summary.events[name] = (summary.events[name] ?? 0) + 1;
  summary.maxLevels[name] = Math.max(summary.maxLevels[name] ?? 0, data.bids.length, data.asks.length);
  if (name.startsWith('full')) {
    const book = { bids: data.bids, asks: data.asks };
    keep(books[name], event.timestamp, book);
    latest[name] = { timestamp: event.timestamp, book, nonce: data.nonce };
    compare(name === 'full' ? 'delta' : 'delta20', event.timestamp);
    return;
  }
  summary.kinds[name][data.type] = (summary.kinds[name][data.type] ?? 0) + 1;
  const book = apply(name, data);
  latest[name] = { timestamp: event.timestamp, book };
  // no resync after the run phase: a snapshot then is the one sent after the restart
  if (phase !== 'run' && data.type === 'snapshot') summary.afterRestart[name] = true;
  if (name === 'delta20' && summary.resync && summary.resync.answer === undefined) {
    summary.resync.eventsUntilSnapshot = (summary.resync.eventsUntilSnapshot ?? 0) + 1;
    if (data.type === 'snapshot') summary.resync.answer = 'snapshot';
  }
  keep(rebuiltAt[name], event.timestamp, book);
  compare(name, event.timestamp);
}

function open(names) {
  const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false });
  const byId = new Map();
  socket.on('connect', () => { for (const name of names) socket.emit('subscribe', { ...base, ...VIEWS[name] }); });
  socket.on('subscribed', (msg) => {
    const name = names.find((n) => msg.subscriptionId.endsWith(SUFFIX[n]));
    if (name === undefined) return summary.errors.push({ unexpectedId: msg.subscriptionId });
    byId.set(msg.subscriptionId, name);
    summary.ids[name] = msg.subscriptionId;
  });
  socket.on('subscription_error', (msg) => summary.errors.push({ names, msg }));
  socket.on('resync_error', (msg) => summary.errors.push({ names, msg }));
  socket.on('error', () => { summary.errorEvents += 1; });
  socket.on('status', (msg) => {
    const name = byId.get(msg.subscriptionId);
    (summary.statuses[name] ??= []).push({ state: msg.state, phase });
  });
  socket.on('data', (event) => {
    const name = byId.get(event.subscriptionId);
    if (name === undefined) return summary.errors.push({ dataBeforeSubscribed: event.subscriptionId });
    onData(name, event);
  });
  return socket;
}

for (const name of Object.keys(VIEWS)) summary.kinds[name] = {};
const sockets = [open(['full', 'delta20']), open(['delta', 'full20'])];

setTimeout(() => {
  summary.resync = {};
  sockets[0].emit('resync', { subscriptionId: summary.ids.delta20 });
}, runMs / 3);

setTimeout(() => {
  const late = io(url, { transports: ['websocket'], auth: { token }, reconnection: false });
  const sentAt = performance.now();
  const sentWall = Date.now();
  late.on('connect', () => late.emit('subscribe', { ...base, format: 'delta', depth: 20 }));
  late.on('data', (event) => {
    if (summary.join !== null) return;
    summary.join = {
      ms: performance.now() - sentAt, cached: event.cached === true, type: event.data.type,
      seq: event.data.seq, levels: Math.max(event.data.bids.length, event.data.asks.length),
      // a live update that reached the joiner before its greeting (then no cached one follows)
      liveAfterJoin: event.cached !== true && event.timestamp >= sentWall,
    };
    late.close();
  });
}, (2 * runMs) / 3);

async function until(predicate, ms, what) {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function compareWithRest(u) {
  const views = Object.keys(VIEWS);
  await until(() => latest.full && latest.full.nonce === u, 10000, `the full book of update ${u}`);
  const ts = () => latest.full.timestamp;
  // every view has had the same (last) update: the same event timestamp
  await until(() => views.every((n) => latest[n] && latest[n].timestamp === ts()), 10000, 'every view at the same update');
  const response = await fetch(`${url}/api/exchange/fetchOrderBook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ config: base.config, symbol: base.symbol, limit: 1000, maxAgeMs: 0 }),
  });
  const body = await response.json();
  const rest = body.data;
  const top = (n) => ({ bids: rest.bids.slice(0, n), asks: rest.asks.slice(0, n) });
  const full = latest.full.book;
  summary.rest = {
    status: response.status,
    source: response.headers.get('x-data-source'),
    nonce: rest.nonce,
    levels: full.bids.length,
    fullEqualsRest: same(full, { bids: rest.bids.slice(0, full.bids.length), asks: rest.asks.slice(0, full.asks.length) }),
    deltaEqualsRest: same(latest.delta.book, { bids: rest.bids.slice(0, full.bids.length), asks: rest.asks.slice(0, full.asks.length) }),
    full20EqualsRest: same(latest.full20.book, top(20)),
    delta20EqualsRest: same(latest.delta20.book, top(20)),
  };
}

const subscriptions = () => Object.keys(VIEWS);
const seen = (name, state, inPhase) => (summary.statuses[name] ?? []).some((s) => s.state === state && s.phase === inPhase);

const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  const msg = JSON.parse(line);
  if (msg.paused !== undefined) {
    await compareWithRest(msg.paused);
    await until(() => subscriptions().every((n) => seen(n, 'recovering', 'paused')), 15000, 'stale and recovering');
    phase = 'resumed'; // from here on: only `live` is due (no repeat while still paused)
    say({ phase: 'stale-seen' });
  } else if (msg.resumed) {
    const before = summary.compared;
    // (a book's restart fetches a REST snapshot, itself an update: `live` may come while
    // still paused, then `stale` again; what counts is that it ends live)
    const last = (n) => (summary.statuses[n] ?? []).at(-1)?.state;
    await until(() => subscriptions().every((n) => last(n) === 'live'), 15000, 'live again');
    await until(() => summary.afterRestart.delta && summary.afterRestart.delta20 && summary.compared >= before + 10, 15000, 'a snapshot and pairs after the restart');
    for (const socket of sockets) socket.close();
    summary.seconds = (performance.now() - started) / 1000;
    say({ summary });
    process.exit(0);
  }
});

setTimeout(() => {
  phase = 'paused';
  say({ phase: 'run-done', compared: summary.compared });
}, runMs);
