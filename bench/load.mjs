// Fan-out load client: N official socket.io-client connections on one stream, lag per event.
// Env: SERVER_URL, API_TOKEN, CLIENTS, CLIENT_MODULES (dir with node_modules/socket.io-client),
// DATA_TYPE (ticker | orderbook, default ticker), VIEW (JSON merged into subscribe, e.g.
// {"format":"delta","depth":20}), JOIN (late joiners opened after the window: their
// subscribe-to-first-data latency is reported), BYTES (1: count each event's JSON size, for the
// bytes/s figures; off by default because stringifying every event delays the next ones).
// Prints READY once all are subscribed; reads "GO <startMs> <endMs>" on stdin; prints JSON:
// {received, bytes, lags, sequences, join, book}. With BYTES=1, ``book`` says where an order
// book event's bytes go (ADR 0160): per kind (full, snapshot, delta) the events, the empty
// ones, the levels listed, and the characters of the envelope (the event minus its ``data``),
// the data header (``data`` minus its two level lists) and the level lists; ``wire`` is what
// the websocket frames carried (each engine.io packet as the server wrote it: ``42["data",``,
// the server's number spelling, pings), for comparison with ``bytes``.
import { createRequire } from 'module';
import readline from 'readline';

const require = createRequire(process.env.CLIENT_MODULES + '/package.json');
const { io } = require('socket.io-client');

const url = process.env.SERVER_URL;
const token = process.env.API_TOKEN;
const count = Number(process.env.CLIENTS);
const dataType = process.env.DATA_TYPE ?? 'ticker';
const view = JSON.parse(process.env.VIEW ?? '{}');
const joiners = Number(process.env.JOIN ?? 0);
const countBytes = process.env.BYTES === '1';
const request = {
  exchangeId: 'bench', symbol: 'BTC/USDT', dataType,
  config: { exchangeId: 'bench', ccxtType: 'pro' }, ...view,
};
const lags = [];
const sequences = [];  // every ticker sequence number received (delivered % of exchange updates)
let window = null;
let subscribed = 0;
let received = 0;
let bytes = 0;
let wire = 0;
const book = {};  // kind -> {events, empty, levels, envelope, header, levelBytes}
const sockets = [];

function countBook(msg, total) {
  const d = msg.data;
  if (!d || !Array.isArray(d.bids) || !Array.isArray(d.asks)) return;
  const kind = typeof d.type === 'string' ? d.type : 'full';
  const k = book[kind] ?? (book[kind] = {
    events: 0, empty: 0, levels: 0, envelope: 0, header: 0, levelBytes: 0,
  });
  const inner = JSON.stringify(d).length;
  const levelBytes = JSON.stringify(d.bids).length + JSON.stringify(d.asks).length;
  k.events += 1;
  if (d.bids.length + d.asks.length === 0) k.empty += 1;
  k.levels += d.bids.length + d.asks.length;
  k.envelope += total - inner;
  k.header += inner - levelBytes;
  k.levelBytes += levelBytes;
}

const now = () => performance.timeOrigin + performance.now();
setTimeout(() => { console.error('load client: overall timeout'); process.exit(2); }, 120000);

if (count === 0) console.log('READY');  // a process of late joiners only
for (let i = 0; i < count; i++) {
  const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false });
  sockets.push(socket);
  if (countBytes) {
    socket.io.on('open', () => socket.io.engine.on('data', (d) => {
      const t = now();
      // + 1: the engine.io packet type the client strips before this event
      if (window && t >= window[0] && t <= window[1]) wire += 1 + (d.length ?? d.byteLength);
    }));
  }
  socket.on('connect', () => socket.emit('subscribe', request));
  socket.on('subscribed', () => {
    subscribed += 1;
    if (subscribed === count) console.log('READY');
  });
  socket.on('subscription_error', (msg) => console.error('subscription_error', msg.error));
  socket.on('data', (msg) => {
    const t = now();
    if (typeof msg.data.sequence === 'number') sequences.push(msg.data.sequence);
    if (window && t >= window[0] && t <= window[1]) {
      if (typeof msg.data.sentAt === 'number') lags.push(t - msg.data.sentAt);
      received += 1;
      if (countBytes) {
        const total = JSON.stringify(msg).length;  // the event as JSON (re-serialized here)
        bytes += total;
        if (dataType === 'orderbook') countBook(msg, total);
      }
    }
  });
}

function join(n) {
  // Late joiners on the running stream: subscribe emit to first data event, in ms.
  return new Promise((resolve) => {
    const latencies = [];
    let cached = 0;
    if (n === 0) { resolve({ latencies, cached }); return; }
    const done = () => { if (latencies.length === n) resolve({ latencies, cached }); };
    setTimeout(() => resolve({ latencies, cached, timedOut: n - latencies.length }), 10000);
    for (let i = 0; i < n; i++) {
      const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false });
      let sentAt = null;
      socket.on('connect', () => { sentAt = performance.now(); socket.emit('subscribe', request); });
      socket.once('data', (msg) => {
        latencies.push(Math.round((performance.now() - sentAt) * 100) / 100);
        if (msg.cached === true) cached += 1;
        socket.close();
        done();
      });
    }
  });
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, start, end] = line.trim().split(' ');
  if (cmd !== 'GO') return;
  window = [Number(start), Number(end)];
  setTimeout(async () => {
    const joined = await join(joiners);
    // HOLD_MS: stay subscribed while another process's late joiners measure, so they join a
    // running stream (closing would stop it and they would wait for a fresh one).
    await new Promise((r) => setTimeout(r, Number(process.env.HOLD_MS ?? 0)));
    for (const s of sockets) s.close();
    const rounded = lags.map((x) => Math.round(x * 100) / 100);
    const out = { received, bytes, lags: rounded, sequences, join: joined, book, wire };
    // Exit only once the (large) line is flushed: a pipe takes 64 KiB at a time.
    process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
  }, Math.max(0, window[1] - now()) + 300);
});
