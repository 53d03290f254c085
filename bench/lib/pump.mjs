// One-shot TCP byte pump for bench/kcp.mjs, run inside a network namespace.
//
//   node pump.mjs recv HOST PORT BYTES   listen, print READY, accept one connection, count
//                                        bytes; when BYTES have arrived print
//                                        RESULT {"bytes":…,"tLast":"<ns>"} (or an early end;
//                                        on SIGUSR2 the partial count, error "timeout")
//   node pump.mjs send HOST PORT BYTES   print T0 <ns>, connect, write BYTES, end, print SENT
//
// Both then stay alive until killed, so neither side's exit can cut a transfer short.
// Timestamps are process.hrtime (CLOCK_MONOTONIC), which every process on the host shares
// across network namespaces, so the bench can subtract the sender's T0 from the receiver's
// tLast: the time to move BYTES, connection set-up included.
import { connect, createServer } from 'node:net';

const [mode, host, portText, bytesText] = process.argv.slice(2);
const port = Number(portText);
const total = Number(bytesText);
const now = () => process.hrtime.bigint().toString();
const CHUNK = 64 * 1024;

function receive() {
  let count = 0;
  let reported = false;
  const report = (extra) => {
    if (reported) return;
    reported = true;
    process.stdout.write(`RESULT ${JSON.stringify({ bytes: count, tLast: now(), ...extra })}\n`);
  };
  // The bench's per-transfer deadline: report what has arrived so far.
  process.on('SIGUSR2', () => report({ error: 'timeout', partial: true }));
  const server = createServer((sock) => {
    server.close(); // one transfer per process
    sock.on('data', (chunk) => {
      count += chunk.length;
      if (count >= total) report({});
    });
    sock.on('end', () => report({ error: `stream ended after ${count} bytes` }));
    sock.on('error', (err) => report({ error: `${err.code ?? err.message} after ${count} bytes` }));
  });
  server.listen(port, host, () => process.stdout.write('READY\n'));
}

function send() {
  // Incompressible content, though no compressor is on the path (--nocomp).
  const block = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i += 4) block.writeUInt32LE((Math.imul(i, 2654435761) ^ i) >>> 0, i);
  process.stdout.write(`T0 ${now()}\n`);
  const sock = connect(port, host);
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(CHUNK, left);
      left -= n;
      if (!sock.write(n === CHUNK ? block : block.subarray(0, n))) return sock.once('drain', pump);
    }
    sock.end(() => process.stdout.write('SENT\n'));
  };
  sock.once('connect', pump);
  sock.on('error', (err) => process.stdout.write(`SEND_ERROR ${err.code ?? err.message}\n`));
}

if (mode === 'recv') receive();
else if (mode === 'send') send();
else throw new Error(`usage: pump.mjs recv|send HOST PORT BYTES (got ${mode})`);
setInterval(() => {}, 1 << 30); // stay alive until the bench kills us
