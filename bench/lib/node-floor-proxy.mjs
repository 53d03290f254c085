// The floor of a Node.js proxy's cost per read, below Node's stream layer: each
// direction reads into one static buffer (the handle's user buffer) and writes
// that read straight from it with libuv's own write (StreamBase.writeBuffer),
// through the handles' internal callbacks (process.binding('stream_wrap'), a
// deprecated, undocumented interface). No Readable/Writable, no allocation per
// read, no product code. A measuring instrument only (bench/accept-ab.mjs
// config `node-floor`): what is left here is the cost of libuv's poll, the
// C++ → JavaScript call per read and the syscalls, which no Node proxy can avoid.
//
//   node bench/lib/node-floor-proxy.mjs 127.0.0.1:9001=127.0.0.1:8080 […]
//
// Prints `ready` once every listener is bound.
import { once } from 'node:events';
import net from 'node:net';

const { streamBaseState, WriteWrap, ShutdownWrap, kReadBytesOrError, kLastWriteWasAsync } =
  process.binding('stream_wrap');
const BUFFER = 65_536;

const hostPort = (s) => {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
};

/** Relays `from` → `to` until EOF (then shuts `to` down) or an error (`fail`). */
function relay(from, to, fail, ended) {
  const buf = Buffer.allocUnsafeSlow(BUFFER);
  from.useUserBuffer(buf);
  let pending = false; // libuv holds `buf` until the write completes: no read meanwhile
  let eof = false;
  const shutdown = () => {
    const req = new ShutdownWrap();
    req.handle = to;
    req.oncomplete = ended;
    if (to.shutdown(req) !== 0) fail();
  };
  const written = (status) => {
    pending = false;
    if (status < 0) return fail();
    if (eof) return shutdown();
    from.readStart();
  };
  from.onread = () => {
    const n = streamBaseState[kReadBytesOrError];
    if (n > 0) {
      const req = new WriteWrap();
      req.handle = to;
      req.oncomplete = written;
      req.async = false;
      if (to.writeBuffer(req, n === BUFFER ? buf : buf.subarray(0, n)) !== 0) return fail();
      if (streamBaseState[kLastWriteWasAsync]) {
        pending = true;
        from.readStop();
      }
    } else if (n < 0) {
      // UV_EOF ends this direction; any other error ends both.
      if (n !== -4095) return fail();
      eof = true;
      from.readStop();
      if (!pending) shutdown();
    }
  };
}

const servers = process.argv.slice(2).map((arg) => {
  const [listen, backend] = arg.split('=').map(hostPort);
  const server = net.createServer(
    { allowHalfOpen: true, noDelay: true, pauseOnConnect: true },
    (client) => {
      const upstream = net.connect({ ...backend, allowHalfOpen: true, noDelay: true });
      let halves = 0;
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      const ended = () => {
        if (++halves === 2) close();
      };
      client.on('error', close);
      upstream.on('error', close);
      upstream.on('connect', () => {
        relay(client._handle, upstream._handle, close, ended);
        relay(upstream._handle, client._handle, close, ended);
        client._handle.readStart();
      });
    },
  );
  server.listen(listen.port, listen.host);
  return server;
});
await Promise.all(servers.map((s) => once(s, 'listening')));
process.stdout.write('ready\n');
process.on('SIGTERM', () => process.exit(0));
