// A browser-like subscriber with the official client, driven line by line from pytest.
// Connects to SOCKET_URL (API_TOKEN in the handshake), subscribes SUBSCRIBE (JSON), and
// prints every server event as one JSON line `{event, at, payload}` (`at`: ms since start).
// A line "close" on stdin closes the socket and exits 0.
import { io } from 'socket.io-client';
import { createInterface } from 'node:readline';

const url = process.env.SOCKET_URL;
const token = process.env.API_TOKEN;
const request = JSON.parse(process.env.SUBSCRIBE);
const started = performance.now();
const say = (event, payload) => console.log(JSON.stringify({ event, at: performance.now() - started, payload }));

const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false });
socket.on('connect', () => socket.emit('subscribe', request));
for (const event of ['subscribed', 'subscription_error', 'data', 'error', 'status', 'disconnect']) {
  socket.on(event, (payload) => say(event, payload));
}
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'close') {
    socket.close();
    process.exit(0);
  }
});
setTimeout(() => { say('timeout', null); process.exit(1); }, Number(process.env.MAX_MS ?? 60000));
