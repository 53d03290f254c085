// A KCP tunnel: tcp → kcp (encrypted, over UDP) → tcp, two proxy engines and a
// registry. Run: node examples/kcp-tunnel.mjs (everything on loopback).
import { once } from 'node:events';
import net from 'node:net';
import { createDefaultRegistry } from 'vproxy-ts';
import { ProxyEngine, RoundRobinPicker } from 'vproxy-ts/proxy';

const registry = createDefaultRegistry();
const forward = async (from, to) =>
  new ProxyEngine({
    server: await registry.listen(from),
    registry,
    picker: new RoundRobinPicker([to]),
  });

const echo = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
await once(echo, 'listening');
const exit = await forward(
  'kcp://127.0.0.1:0?key=tunnel-secret',
  `tcp://127.0.0.1:${echo.address().port}`,
);
const kcpPort = exit.server.address().port;
const entry = await forward('tcp://127.0.0.1:0', `kcp://127.0.0.1:${kcpPort}?key=tunnel-secret`);
// ----- the tunnel is up: what follows only checks it -----

const client = net.connect(entry.server.address().port, '127.0.0.1');
const payload = Buffer.alloc(256 * 1024, 'kcp');
const received = [];
client.on('data', (chunk) => received.push(chunk));
client.end(payload);
await once(client, 'end');
const ok = Buffer.concat(received).equals(payload);
console.log(
  `tcp → kcp://127.0.0.1:${kcpPort} → tcp echo: ${payload.length} bytes ${ok ? 'came back intact' : 'CAME BACK WRONG'}`,
);
await Promise.all([entry.close(), exit.close()]);
echo.close();
process.exitCode = ok ? 0 : 1;
