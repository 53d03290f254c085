// A custom transport registered by scheme: `mem://name:port` moves bytes through
// in-process pipes instead of sockets. Once registered, everything that takes
// an address string works over it unchanged: the proxy engine listens on it,
// clients connect to it, and the shipped layers stack on it (`mux+mem://`).
// Run: node examples/custom-transport.mjs
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { createDefaultRegistry } from 'vproxy-ts';
import { ProxyEngine, RoundRobinPicker } from 'vproxy-ts/proxy';

/**
 * One end of an in-memory pipe: a Duplex with the few net.Socket members the
 * StreamFD contract adds (kind, addresses, byte counts, setTimeout).
 */
class MemStream extends Duplex {
  kind = 'mem';
  bytesRead = 0;
  bytesWritten = 0;
  /** The other end; set by `pipePair`. */
  peer = null;
  /** A write callback held back until the peer reads again: backpressure, not a growing queue. */
  #unblock = null;
  #idleMs = 0;
  #idleTimer = null;

  constructor(local, remote) {
    // Half-close: our `end()` is the peer's 'end', and the peer may still write.
    super({ allowHalfOpen: true });
    this.localAddress = local.host;
    this.localPort = local.port;
    this.remoteAddress = remote.host;
    this.remotePort = remote.port;
  }

  _write(chunk, _encoding, callback) {
    const peer = this.peer;
    if (peer.destroyed) {
      callback(socketError('EPIPE', 'the other end is closed'));
      return;
    }
    this.bytesWritten += chunk.length;
    peer.bytesRead += chunk.length;
    this.#touch();
    peer.#touch();
    if (peer.push(chunk)) callback();
    else peer.#unblock = callback;
  }

  _read() {
    const callback = this.#unblock;
    this.#unblock = null;
    callback?.();
  }

  _final(callback) {
    this.peer.push(null);
    callback();
  }

  _destroy(err, callback) {
    clearTimeout(this.#idleTimer);
    // A write the peer was holding back fails, as on a closed socket.
    const held = this.#unblock;
    this.#unblock = null;
    held?.(socketError('EPIPE', 'the other end is closed'));
    // As a socket's close(): the peer still reads what was sent, then 'end' (a FIN).
    // Destroyed with an error (an abort), the peer is reset instead (an RST).
    const peer = this.peer;
    if (!peer.destroyed) {
      if (err) peer.destroy(socketError('ECONNRESET', 'the other end was reset'));
      else if (!this.writableFinished) peer.push(null);
    }
    callback(err);
  }

  /** As net.Socket#setTimeout: emit 'timeout' after `ms` without traffic (0 = never). */
  setTimeout(ms, callback) {
    if (callback) this.once('timeout', callback);
    this.#idleMs = ms;
    this.#touch();
    return this;
  }

  #touch() {
    clearTimeout(this.#idleTimer);
    this.#idleTimer =
      this.#idleMs > 0 ? setTimeout(() => this.emit('timeout'), this.#idleMs).unref() : null;
  }
}

/** An error shaped like the OS's, so code that branches on `err.code` treats it alike. */
function socketError(code, message) {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

function pipePair(a, b) {
  const left = new MemStream(a, b);
  const right = new MemStream(b, a);
  left.peer = right;
  right.peer = left;
  return [left, right];
}

/** The ServerFD of `mem://`: 'connection' events, address(), close(). */
class MemServer extends EventEmitter {
  kind = 'mem';
  constructor(host, port, onClose) {
    super();
    this.host = host;
    this.port = port;
    this.onClose = onClose;
  }
  address() {
    return { host: this.host, port: this.port };
  }
  async close() {
    this.onClose();
  }
}

const listeners = new Map(); // 'host:port' -> MemServer
let nextPort = 1000; // for port 0 listeners and for the client ends

/** The Transport: a scheme, the query options it takes, connect and listen. */
const memTransport = {
  scheme: 'mem',
  options: [],
  async connect(address) {
    const server = listeners.get(`${address.host}:${address.port}`);
    if (server === undefined) {
      throw socketError('ECONNREFUSED', `nothing listens on mem://${address.host}:${address.port}`);
    }
    const [client, accepted] = pipePair(
      { host: 'mem-client', port: nextPort++ },
      { host: address.host, port: address.port },
    );
    // Accepted on the next turn, as a socket would be: the caller holds its end first.
    setImmediate(() => server.emit('connection', accepted));
    return client;
  },
  async listen(address) {
    const port = address.port === 0 ? nextPort++ : address.port;
    const key = `${address.host}:${port}`;
    if (listeners.has(key)) throw new Error(`mem://${key} is in use`);
    const server = new MemServer(address.host, port, () => listeners.delete(key));
    listeners.set(key, server);
    return server;
  },
};

const registry = createDefaultRegistry().registerTransport(memTransport);

/** Send `payload` to `address` (any scheme), half-close, and collect what comes back. */
async function roundTrip(address, payload) {
  const fd = await registry.connect(address);
  const chunks = [];
  fd.on('data', (chunk) => chunks.push(chunk));
  fd.end(payload);
  await once(fd, 'end');
  fd.destroy();
  return Buffer.concat(chunks);
}

const echo = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
await once(echo, 'listening');
const backend = `tcp://127.0.0.1:${echo.address().port}`;

let ok = true;
for (const front of ['mem://front:80', 'mux+mem://front:81']) {
  const engine = new ProxyEngine({
    server: await registry.listen(front),
    registry,
    picker: new RoundRobinPicker([backend]),
  });
  const payload = Buffer.alloc(1024 * 1024, front);
  const back = await roundTrip(front, payload);
  const same = back.equals(payload);
  ok &&= same;
  console.log(
    `${front} -> ${backend}: ${payload.length} bytes ${same ? 'echoed intact' : 'WRONG'}`,
  );
  await engine.close();
}
echo.close();
console.log(ok ? 'ok: the proxy stack ran unchanged over a transport it has never seen' : 'FAILED');
process.exitCode = ok ? 0 : 1;
