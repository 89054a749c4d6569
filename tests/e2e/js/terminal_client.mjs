// The profitmaker terminal's current server client flow, with the official socket.io-client:
// Socket.IO at SOCKET_URL (the server's port + 1), websocket transport only, `authenticate`,
// one `subscribe` (SUBSCRIBE, JSON), the first `data`, then `unsubscribe` by the short id
// "<exchangeId>:<symbol>:<dataType>[:<timeframe>]" (no socket id prefix), as the terminal does.
// With NAMESPACE set, it then also connects to that namespace and records the connect_error.
// Prints one JSON line with what it saw.
import { io } from 'socket.io-client';

const url = process.env.SOCKET_URL;
const token = process.env.API_TOKEN;
const request = JSON.parse(process.env.SUBSCRIBE);
const namespace = process.env.NAMESPACE;
const seen = { connected: false, authenticated: false, subscribed: null, data: null,
  unsubscribeId: null, unsubscribed: null, namespaceError: null, errors: [] };

let socket;
const finish = (code) => {
  console.log(JSON.stringify(seen));
  if (socket) socket.close();
  process.exit(code);
};
setTimeout(() => { seen.errors.push('timeout'); finish(1); }, 15000);

const checkNamespace = () => {
  if (!namespace) return finish(0);
  const other = io(url + namespace, { transports: ['websocket'], reconnection: false });
  other.on('connect', () => { seen.errors.push('connected to ' + namespace); finish(1); });
  other.on('connect_error', (err) => { seen.namespaceError = err.message; other.close(); finish(0); });
};

socket = io(url, { transports: ['websocket'], reconnection: false });
socket.on('connect', () => { seen.connected = true; socket.emit('authenticate', { token }); });
socket.on('authenticated', () => { seen.authenticated = true; socket.emit('subscribe', request); });
socket.on('subscribed', (msg) => { seen.subscribed = msg; });
socket.on('data', (msg) => {
  if (seen.data) return;
  seen.data = msg;
  const tf = request.timeframe ? `:${request.timeframe}` : '';
  seen.unsubscribeId = `${request.exchangeId}:${request.symbol}:${request.dataType}${tf}`;
  socket.emit('unsubscribe', { subscriptionId: seen.unsubscribeId });
});
socket.on('unsubscribed', (msg) => { seen.unsubscribed = msg; checkNamespace(); });
socket.on('error', (msg) => { seen.errors.push(msg); });
socket.on('subscription_error', (msg) => { seen.errors.push(msg); finish(1); });
socket.on('auth_error', (msg) => { seen.errors.push(msg); finish(1); });
socket.on('connect_error', (err) => { seen.errors.push(String(err)); finish(1); });
