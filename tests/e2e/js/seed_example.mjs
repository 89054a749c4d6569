// The product owner's Socket.IO example (seed-server-api.txt), run with the official client.
// SERVER_URL and API_TOKEN come from the pytest driver; prints one JSON line with what it saw.
import { io } from 'socket.io-client';

const url = process.env.SERVER_URL ?? 'http://localhost:3001';
const token = process.env.API_TOKEN ?? 'your-secret-token';
const transports = process.env.TRANSPORTS ? process.env.TRANSPORTS.split(',') : undefined;
const seen = { authenticated: false, subscribed: null, data: null, unsubscribed: null, errors: [] };

const finish = (code) => {
  console.log(JSON.stringify(seen));
  socket.close();
  process.exit(code);
};
setTimeout(() => { seen.errors.push('timeout'); finish(1); }, 10000);

const socket = io(url, transports ? { transports } : undefined);

// Authenticate
socket.emit('authenticate', { token });

socket.on('authenticated', () => {
  seen.authenticated = true;
  // Subscribe to BTC/USDT ticker on Binance
  socket.emit('subscribe', {
    exchangeId: 'binance',
    symbol: 'BTC/USDT',
    dataType: 'ticker',
    config: {
      exchangeId: 'binance',
      marketType: 'spot',
      ccxtType: 'pro'
    }
  });
});

socket.on('subscribed', (msg) => { seen.subscribed = msg; });

socket.on('data', (msg) => {
  console.error(`${msg.dataType} update:`, msg.data.last);
  if (seen.data) return;
  seen.data = msg;
  socket.emit('unsubscribe', { subscriptionId: msg.subscriptionId });
});

socket.on('unsubscribed', (msg) => { seen.unsubscribed = msg; finish(0); });

socket.on('error', (msg) => {
  console.error(`Stream error:`, msg.error);
  seen.errors.push(msg);
});
socket.on('subscription_error', (msg) => { seen.errors.push(msg); finish(1); });
socket.on('auth_error', (msg) => { seen.errors.push(msg); finish(1); });
socket.on('connect_error', (err) => { seen.errors.push(String(err)); });
