// The two ends of bench/udp.mjs, each in its own process so the relay under test
// never shares a thread with them:
//
//   node bench/lib/udp-peers.mjs echo                     UDP echo on an ephemeral port; prints `echo PORT`
//   node bench/lib/udp-peers.mjs udp-lb BACKEND_PORT      a UdpLB (dist/) to 127.0.0.1:BACKEND_PORT; prints `udp-lb PORT`
//   node bench/lib/udp-peers.mjs client PORT SIZE SECONDS WINDOW
//       sends SIZE-byte datagrams to 127.0.0.1:PORT for SECONDS with at most WINDOW
//       unanswered; prints one JSON line {received, sent, lost, seconds}.
//
// The client keeps a window of datagrams in flight (a new one per answer) instead of
// sending as fast as it can: an open-loop sender on loopback measures how fast the
// kernel drops, not how fast a relay forwards. A datagram unanswered for 50 ms counts
// as lost and its slot is refilled, so one drop never stalls the run.
import { createSocket } from 'node:dgram';
import { once } from 'node:events';

const [mode, ...args] = process.argv.slice(2);
const out = (line) => process.stdout.write(`${line}\n`);

async function bound(socket) {
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket.address().port;
}

if (mode === 'echo') {
  const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  s.on('message', (d, r) => s.send(d, r.port, r.address));
  out(`echo ${await bound(s)}`);
  process.on('SIGTERM', () => s.close(() => process.exit(0)));
} else if (mode === 'udp-lb') {
  const { ServerGroup } = await import('../../dist/src/lb/server-group.js');
  const { UdpLB } = await import('../../dist/src/lb/udp-lb.js');
  const { Upstream } = await import('../../dist/src/lb/upstream.js');
  const { createDefaultRegistry } = await import('../../dist/transports/default-registry.js');
  const registry = createDefaultRegistry();
  const group = new ServerGroup({
    name: 'bench',
    registry,
    healthCheck: { timeoutMs: 1000, periodMs: 5000, up: 1, down: 3, check: { kind: 'none' } },
  });
  group.add('echo', `udp://127.0.0.1:${args[0]}`);
  const upstream = new Upstream('bench');
  upstream.add(group);
  const lb = await UdpLB.start({
    name: 'bench',
    address: 'udp://127.0.0.1:0?rcvbuf=4194304&sndbuf=4194304',
    upstream,
    registry,
  });
  out(`udp-lb ${lb.bound().port}`);
  process.on('SIGTERM', () => {
    process.stderr.write(`udp-lb stats ${JSON.stringify(lb.stats())}\n`);
    void lb.close().then(() => group.close().then(() => process.exit(0)));
  });
} else if (mode === 'client') {
  const [port, size, seconds, window] = args.map(Number);
  const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  await bound(s);
  const payload = Buffer.alloc(size, 0x61);
  let sent = 0;
  let received = 0;
  let lastAnswer = Date.now();
  const send = () => {
    sent++;
    s.send(payload, port, '127.0.0.1');
  };
  let measuring = false;
  let counted = 0;
  s.on('message', () => {
    received++;
    if (measuring) counted++;
    lastAnswer = Date.now();
    if (!stopped) send();
  });
  let stopped = false;
  for (let i = 0; i < window; i++) send();
  // Refill slots whose datagram was lost (nothing back for 50 ms).
  const watchdog = setInterval(() => {
    if (!stopped && Date.now() - lastAnswer > 50) {
      lastAnswer = Date.now();
      for (let i = 0; i < window; i++) send();
    }
  }, 25);
  // One second of warm-up (JIT, flow set-up) before counting.
  await new Promise((r) => setTimeout(r, 1000));
  measuring = true;
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  measuring = false;
  stopped = true;
  clearInterval(watchdog);
  await new Promise((r) => setTimeout(r, 200));
  out(JSON.stringify({ received: counted, sent, lost: sent - received, seconds: elapsed }));
  s.close();
} else {
  process.stderr.write(
    'usage: udp-peers.mjs echo | udp-lb BACKEND_PORT | client PORT SIZE SECONDS WINDOW\n',
  );
  process.exit(2);
}
