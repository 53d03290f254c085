// A TcpLB built in code: two backends in a server group with an active TCP
// health check, behind an upstream, balanced by weighted round robin. When one
// backend goes away the health check takes it out and traffic moves to the other.
// Run: node examples/tcp-lb.mjs (everything on loopback).
import { once } from 'node:events';
import net from 'node:net';
import { createDefaultRegistry, createLogger } from 'vproxy-ts';
import { ServerGroup, TcpLB, Upstream } from 'vproxy-ts/lb';

/** A backend that greets each client with its name and closes. */
async function backend(name) {
  const server = net.createServer((s) => {
    // Health probes reset their connection right after connecting (no TIME_WAIT left behind).
    s.on('error', () => {});
    s.end(`hello from ${name}`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** One client connection through the LB: what the backend said. */
async function ask(port) {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk) => {
    text += chunk;
  });
  await once(socket, 'end');
  socket.destroy();
  return text;
}

const registry = createDefaultRegistry();
// UP/DOWN transitions are logged at info; 'warn' keeps this example's output to its own lines.
const logger = createLogger({ threshold: 'warn' });
const alpha = await backend('alpha');
const beta = await backend('beta');

const group = new ServerGroup({
  name: 'web',
  method: 'wrr',
  registry,
  logger,
  // Probe every 200 ms; one success brings a server UP, one failure takes it DOWN.
  healthCheck: { timeoutMs: 500, periodMs: 200, up: 1, down: 1, check: { kind: 'tcp' } },
});
let ups = 0;
const bothUp = new Promise((resolve) => group.on('up', () => ++ups === 2 && resolve()));
group.add('alpha', `tcp://127.0.0.1:${alpha.address().port}`, 10);
group.add('beta', `tcp://127.0.0.1:${beta.address().port}`, 10);
await bothUp; // servers start DOWN until their first probe succeeds

const upstream = new Upstream('pool');
upstream.add(group);
const lb = await TcpLB.start({
  name: 'lb',
  address: 'tcp://127.0.0.1:0',
  upstream,
  registry,
  logger,
});
const port = lb.bound().port;
console.log(`tcp-lb listening on 127.0.0.1:${port} -> server group web (alpha, beta)`);

const before = [];
for (let i = 0; i < 4; i++) before.push(await ask(port));
console.log(`both up:   ${before.join(' | ')}`);

const down = once(group, 'down');
beta.close(); // stop accepting: the next probe is refused
const [gone] = await down;
console.log(`health check took ${gone.name} down`);

const after = [];
for (let i = 0; i < 3; i++) after.push(await ask(port));
console.log(`beta down: ${after.join(' | ')}`);

const count = (list, name) => list.filter((t) => t === `hello from ${name}`).length;
const ok =
  count(before, 'alpha') === 2 && count(before, 'beta') === 2 && count(after, 'alpha') === 3;
console.log(ok ? 'ok: round robin over both, then only alpha' : 'FAILED: unexpected distribution');

await lb.close();
await group.close();
alpha.close();
process.exitCode = ok ? 0 : 1;
