// The two ends of bench/udp.mjs, each in its own process so the relay under test
// never shares a thread with them:
//
//   node bench/lib/udp-peers.mjs echo                     UDP echo on an ephemeral port; prints `echo PORT`
//   node bench/lib/udp-peers.mjs udp-lb BACKEND_PORT [SOCKBUF]
//       a UdpLB (dist/) to 127.0.0.1:BACKEND_PORT, rcvbuf=sndbuf=SOCKBUF (default 4 MiB); prints `udp-lb PORT`
//   node bench/lib/udp-peers.mjs client PORT SIZE SECONDS WINDOW
//       sends SIZE-byte datagrams to 127.0.0.1:PORT for SECONDS with at most WINDOW
//       unanswered; prints one JSON line {received, sent, lost, seconds}.
//
// The client keeps a window of datagrams in flight (a new one per answer) instead of
// sending as fast as it can: an open-loop sender on loopback measures how fast the
// kernel drops, not how fast a relay forwards. Each datagram carries its slot and a
// sequence number and is checked byte for byte when it comes back; one unanswered for
// 50 ms counts as lost and its slot is refilled, so a drop neither stalls the run nor
// shrinks the window, and the window never grows past WINDOW (an earlier client refilled
// the whole window only after 50 ms of total silence: every drop shrank the window for
// the rest of the run, and a stall pushed twice the window into the relay's buffers).
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
    address: `udp://127.0.0.1:0?rcvbuf=${args[1] ?? 4194304}&sndbuf=${args[1] ?? 4194304}`,
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
  if (size < 8) throw new Error('SIZE must be at least 8 (a slot and a sequence number)');
  const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  await bound(s);
  // One buffer per slot: bytes 0..3 the slot, 4..7 the datagram's sequence number, the rest
  // a pattern of the sequence number; an answer counts only if it is the datagram that slot
  // is waiting for, whole and unchanged.
  const slots = Array.from({ length: window }, (_, i) => {
    const b = Buffer.alloc(size);
    b.writeUInt32LE(i, 0);
    return b;
  });
  const seqOf = new Uint32Array(window);
  const sentAt = new Float64Array(window);
  const waiting = new Uint8Array(window);
  let nextSeq = 1;
  let now = performance.now();
  let sent = 0;
  let received = 0;
  let lost = 0;
  let late = 0;
  let corrupt = 0;
  let stopped = false;
  let measuring = false;
  let counted = 0;
  const send = (i) => {
    const b = slots[i];
    const seq = nextSeq++ >>> 0;
    b.writeUInt32LE(seq, 4);
    b.fill(seq & 0xff, 8);
    seqOf[i] = seq;
    sentAt[i] = now;
    waiting[i] = 1;
    sent++;
    s.send(b, port, '127.0.0.1');
  };
  s.on('message', (d) => {
    const i = d.length >= 8 ? d.readUInt32LE(0) : window;
    if (i >= window || d.length !== size) {
      corrupt++;
      return;
    }
    if (waiting[i] === 0 || d.readUInt32LE(4) !== seqOf[i]) {
      late++; // an answer to a datagram already counted lost: its slot was refilled
      return;
    }
    if (!d.equals(slots[i])) {
      corrupt++;
      return;
    }
    waiting[i] = 0;
    received++;
    if (measuring) counted++;
    if (!stopped) send(i);
  });
  for (let i = 0; i < window; i++) send(i);
  // A datagram unanswered for 50 ms is lost: count it and refill its slot, so the window
  // stays full and never grows beyond WINDOW datagrams in flight.
  const watchdog = setInterval(() => {
    now = performance.now();
    for (let i = 0; i < window; i++) {
      if (waiting[i] === 1 && now - sentAt[i] > 50) {
        waiting[i] = 0;
        lost++;
        if (!stopped) send(i);
      }
    }
  }, 10);
  // One second of warm-up (JIT, flow set-up) before counting.
  await new Promise((r) => setTimeout(r, 1000));
  measuring = true;
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  measuring = false;
  stopped = true;
  // Let the last answers in (or time out) before reporting.
  await new Promise((r) => setTimeout(r, 200));
  clearInterval(watchdog);
  for (let i = 0; i < window; i++) if (waiting[i] === 1) lost++;
  out(
    JSON.stringify({
      received: counted,
      sent,
      answered: received,
      lost,
      late,
      corrupt,
      seconds: elapsed,
    }),
  );
  s.close();
} else {
  process.stderr.write(
    'usage: udp-peers.mjs echo | udp-lb BACKEND_PORT [SOCKBUF] | client PORT SIZE SECONDS WINDOW\n',
  );
  process.exit(2);
}
