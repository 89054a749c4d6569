// Fan-out load client: N official socket.io-client connections on one stream, lag per event.
// Env: SERVER_URL, API_TOKEN, CLIENTS, CLIENT_MODULES (dir with node_modules/socket.io-client).
// Prints READY once all are subscribed; reads "GO <startMs> <endMs>" on stdin; prints JSON.
import { createRequire } from 'module';
import readline from 'readline';

const require = createRequire(process.env.CLIENT_MODULES + '/package.json');
const { io } = require('socket.io-client');

const url = process.env.SERVER_URL;
const token = process.env.API_TOKEN;
const count = Number(process.env.CLIENTS);
const lags = [];
let window = null;
let subscribed = 0;
let received = 0;
const sockets = [];

const now = () => performance.timeOrigin + performance.now();
setTimeout(() => { console.error('load client: overall timeout'); process.exit(2); }, 120000);

for (let i = 0; i < count; i++) {
  const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false });
  sockets.push(socket);
  socket.on('connect', () => {
    socket.emit('subscribe', {
      exchangeId: 'bench', symbol: 'BTC/USDT', dataType: 'ticker',
      config: { exchangeId: 'bench', ccxtType: 'pro' },
    });
  });
  socket.on('subscribed', () => {
    subscribed += 1;
    if (subscribed === count) console.log('READY');
  });
  socket.on('subscription_error', (msg) => console.error('subscription_error', msg.error));
  socket.on('data', (msg) => {
    const t = now();
    if (window && t >= window[0] && t <= window[1]) {
      lags.push(t - msg.data.sentAt);
      received += 1;
    }
  });
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, start, end] = line.trim().split(' ');
  if (cmd !== 'GO') return;
  window = [Number(start), Number(end)];
  setTimeout(() => {
    for (const s of sockets) s.close();
    const rounded = lags.map((x) => Math.round(x * 100) / 100);
    // Exit only once the (large) line is flushed: a pipe takes 64 KiB at a time.
    process.stdout.write(JSON.stringify({ received, lags: rounded }) + '\n', () => process.exit(0));
  }, Math.max(0, window[1] - now()) + 300);
});
