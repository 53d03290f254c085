// The floor of a Node.js proxy's cost, below `net` and Node's stream layer:
// libuv's TCP handles straight from the bindings (process.binding('tcp_wrap')
// and 'stream_wrap', deprecated and undocumented). The listener's handle accepts,
// a TCP handle dials the backend, each direction reads into one static buffer
// (the handle's user buffer) and writes that read straight from it with libuv's
// own write; EOF is passed on as a shutdown, the pair closes when both directions
// ended or on any error. No net.Socket, no Readable/Writable, no allocation per
// read, no product code. A measuring instrument only (bench/accept-ab.mjs config
// `node-floor`): what it costs per request or per connection is what libuv's
// poll, the C++ → JavaScript calls and the syscalls cost, which no Node proxy avoids.
//
//   node bench/lib/node-floor-proxy.mjs 127.0.0.1:9001=127.0.0.1:8080 […]
//
// Prints `ready` once every listener is bound.
const { TCP, TCPConnectWrap, constants } = process.binding('tcp_wrap');
const { streamBaseState, WriteWrap, ShutdownWrap, kReadBytesOrError, kLastWriteWasAsync } =
  process.binding('stream_wrap');
const BUFFER = 65_536;
const UV_EOF = -4095;

const hostPort = (s) => {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
};

/** Relays `from` → `to` until EOF (then shuts `to` down: `ended`) or an error (`fail`). */
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
      if (n !== UV_EOF) return fail();
      eof = true;
      from.readStop();
      if (!pending) shutdown();
    }
  };
}

function serve(listen, backend) {
  const server = new TCP(constants.SERVER);
  const err = server.bind(listen.host, listen.port) || server.listen(511);
  if (err) throw new Error(`bind/listen ${listen.host}:${listen.port}: errno ${err}`);
  server.onconnection = (status, client) => {
    if (status !== 0 || !client) return;
    const upstream = new TCP(constants.SOCKET);
    let closed = false;
    let halves = 0;
    const close = () => {
      if (closed) return;
      closed = true;
      client.close();
      upstream.close();
    };
    const ended = (status) => {
      if (status < 0 || ++halves === 2) close();
    };
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const req = new TCPConnectWrap();
    req.oncomplete = (status) => {
      if (status !== 0 || closed) return close();
      relay(client, upstream, close, ended);
      relay(upstream, client, close, ended);
      if (client.readStart() !== 0 || upstream.readStart() !== 0) close();
    };
    if (upstream.connect(req, backend.host, backend.port) !== 0) close();
  };
  return server;
}

for (const arg of process.argv.slice(2)) {
  const [listen, backend] = arg.split('=').map(hostPort);
  serve(listen, backend);
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => process.exit(0));
