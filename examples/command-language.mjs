// The daemon's command language, embedded: a ResourceStore and the executor
// that the StdIO / RESP / HTTP controllers use, driven from code. The same
// lines typed at `vproxy`'s prompt or sent with redis-cli build the same LB.
// Run: node examples/command-language.mjs (everything on loopback).
import { once } from 'node:events';
import net from 'node:net';
import { createDefaultRegistry } from 'vproxy-ts';
import { ResourceStore, StoreExecutor } from 'vproxy-ts/control';

const echo = net.createServer((s) => {
  s.on('error', () => {}); // health probes reset their connection
  s.pipe(s);
});
echo.listen(0, '127.0.0.1');
await once(echo, 'listening');

// A free port for the LB (taken and given back: the command names it).
const probe = net.createServer().listen(0, '127.0.0.1');
await once(probe, 'listening');
const lbPort = probe.address().port;
await new Promise((resolve) => probe.close(resolve));

const store = new ResourceStore(createDefaultRegistry());
const executor = new StoreExecutor({ store });
const lines = [
  'add server-group web timeout 500 period 200 up 1 down 2 method wrr',
  `add server one to server-group web address 127.0.0.1:${echo.address().port} weight 10`,
  'add upstream pool',
  'add server-group web to upstream pool weight 10',
  `add tcp-lb lb address 127.0.0.1:${lbPort} upstream pool`,
];
for (const line of lines) {
  const result = await executor.execute(line, 'stdio');
  console.log(`> ${line}\n  ${result.kind}`);
}

// Wait for the first health check to bring the server UP.
let status = '';
for (let i = 0; i < 50 && !status.includes('UP'); i++) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  const result = await executor.execute('list-detail server in server-group web', 'stdio');
  status = result.kind === 'list' ? String(result.items[0]) : '';
}
console.log(`> list-detail server in server-group web\n  ${status}`);

const client = net.connect(lbPort, '127.0.0.1');
const received = [];
client.on('data', (chunk) => received.push(chunk));
client.end('through the tcp-lb built by commands');
await once(client, 'end');
const back = Buffer.concat(received).toString();
const ok = back === 'through the tcp-lb built by commands';
console.log(ok ? `ok: ${JSON.stringify(back)} came back` : `FAILED: got ${JSON.stringify(back)}`);

await store.close();
echo.close();
process.exitCode = ok ? 0 : 1;
