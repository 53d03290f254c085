// The floor any Node.js proxy starts from: net.createServer + net.connect +
// pipe() both ways, no product code. bench/lb.mjs runs it beside TcpLB so the
// report separates what Node's socket layer costs from what TcpLB adds.
//
//   node bench/lib/node-pipe-proxy.mjs 127.0.0.1:9001=127.0.0.1:5201 […]
//
// Prints `ready` once every listener is bound.
import { once } from 'node:events';
import net from 'node:net';

const hostPort = (s) => {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
};

const servers = process.argv.slice(2).map((arg) => {
  const [listen, backend] = arg.split('=').map(hostPort);
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = net.connect({ ...backend, allowHalfOpen: true, noDelay: true });
    client.pipe(upstream);
    upstream.pipe(client);
    const both = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', both);
    upstream.on('error', both);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(listen.port, listen.host);
  return server;
});
await Promise.all(servers.map((s) => once(s, 'listening')));
process.stdout.write('ready\n');
process.on('SIGTERM', () => process.exit(0));
