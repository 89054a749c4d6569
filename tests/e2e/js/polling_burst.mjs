// Issue 10 item 9: over long-polling, socket.io-client packs the events emitted during one
// POST into the next one. Emits COUNT subscribes back to back and counts the answers.
// SERVER_URL, API_TOKEN and COUNT come from the pytest driver; prints one JSON line.
import { io } from 'socket.io-client';

const url = process.env.SERVER_URL;
const count = Number(process.env.COUNT ?? '18');
const seen = { answers: 0, symbols: [], disconnects: [], errors: [] };

const finish = (code) => {
  console.log(JSON.stringify(seen));
  socket.close();
  process.exit(code);
};
setTimeout(() => { seen.errors.push('timeout'); finish(1); }, 10000);

const socket = io(url, { transports: ['polling'], auth: { token: process.env.API_TOKEN } });

socket.on('connect', () => {
  for (let i = 0; i < count; i += 1) {
    socket.emit('subscribe', { exchangeId: 'fake', symbol: `S${i}/USDT`, dataType: 'bogus' });
  }
});
socket.on('subscription_error', (msg) => {
  seen.answers += 1;
  seen.symbols.push(msg.symbol);
  if (seen.answers === count) finish(0);
});
socket.on('disconnect', (reason) => { seen.disconnects.push(reason); });
socket.on('connect_error', (err) => { seen.errors.push(String(err)); });
