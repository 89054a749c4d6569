// Holds Socket.IO clients open on SOCKET_URL (one per transport in TRANSPORT_SETS, e.g.
// "websocket;polling;polling,websocket"), each subscribed to SUBSCRIBE (JSON). Prints
// {"ready": n} once every client is subscribed, then {"disconnected": reason, at: ms} per
// client when the server closes it. Exits after HOLD_MS (default 20000).
import { io } from 'socket.io-client';

const url = process.env.SOCKET_URL;
const token = process.env.API_TOKEN;
const request = JSON.parse(process.env.SUBSCRIBE);
const sets = (process.env.TRANSPORT_SETS ?? 'websocket').split(';');
let subscribed = 0;
for (const set of sets) {
  const socket = io(url, { transports: set.split(','), auth: { token }, reconnection: false });
  socket.on('connect', () => socket.emit('subscribe', request));
  socket.on('subscribed', () => {
    subscribed += 1;
    if (subscribed === sets.length) console.log(JSON.stringify({ ready: subscribed }));
  });
  socket.on('subscription_error', (msg) => console.log(JSON.stringify({ error: msg })));
  socket.on('disconnect', (reason) => console.log(JSON.stringify({ disconnected: reason, at: Date.now() })));
}
setTimeout(() => process.exit(0), Number(process.env.HOLD_MS ?? 20000));
