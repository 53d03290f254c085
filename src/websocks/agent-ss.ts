import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import { formatHostPort } from '../fd/address.js';
import { VproxyError } from '../fd/errors.js';
import { errorFields, type Logger } from '../fd/logger.js';
import type { BoundAddress, ServerFD, ServerFDEvents } from '../fd/server-fd.js';
import { describePeer, type StreamFD } from '../fd/stream-fd.js';
import type { FrameSpec } from '../protocols/frame-reader.js';
import { readFrame } from '../protocols/read-frame.js';
import { addressBlockLength, readEndpoint } from '../protocols/socks5/address.js';
import type { ClientHandshake } from '../proxy/admission.js';
import { WebsocksAppError } from './errors.js';
import { SsDecryptor, SsEncryptor, type SsMethod, ssMasterKey } from './ss-cipher.js';

/**
 * One client's Shadowsocks stream: reads decrypt, writes encrypt, and every
 * other member is the inner socket's, so the proxy engine pumps it like any
 * StreamFD (backpressure: a full readable side pauses the inner socket).
 */
export class SsStream extends Duplex implements StreamFD {
  readonly kind = 'ss+tcp';
  readonly #inner: StreamFD;
  readonly #enc: SsEncryptor;
  readonly #dec: SsDecryptor;
  #read = 0;
  #written = 0;

  constructor(inner: StreamFD, method: SsMethod, master: Buffer) {
    super({ allowHalfOpen: true });
    this.#inner = inner;
    this.#enc = new SsEncryptor(method, master);
    this.#dec = new SsDecryptor(method, master);
    inner.on('data', (chunk: Buffer) => {
      let plain: Buffer;
      try {
        plain = this.#dec.decrypt(chunk);
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      this.#read += plain.length;
      if (plain.length > 0 && !this.push(plain)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => this.destroy());
    inner.on('timeout', () => this.emit('timeout'));
  }

  get remoteAddress(): string | undefined {
    return this.#inner.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.#inner.remotePort;
  }
  get localAddress(): string | undefined {
    return this.#inner.localAddress;
  }
  get localPort(): number | undefined {
    return this.#inner.localPort;
  }
  /** Plaintext bytes, as the proxy's counters mean them. */
  get bytesRead(): number {
    return this.#read;
  }
  get bytesWritten(): number {
    return this.#written;
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.#inner.setTimeout(ms);
    if (callback) this.once('timeout', callback);
    return this;
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#written += chunk.length;
    this.#inner.write(this.#enc.encrypt(chunk), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#inner.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#inner.destroy(err ?? undefined);
    cb(err);
  }
}

/** A listener whose connections are Shadowsocks streams over the inner listener's. */
export class SsServerFD extends EventEmitter<ServerFDEvents> implements ServerFD {
  readonly kind = 'ss+tcp';
  readonly #inner: ServerFD;

  constructor(inner: ServerFD, method: SsMethod, password: string) {
    super();
    this.#inner = inner;
    const master = ssMasterKey(password);
    inner.on('connection', (fd) => this.emit('connection', new SsStream(fd, method, master)));
    inner.on('error', (err) => this.emit('error', err));
    inner.on('handshakeError', (err) => this.emit('handshakeError', err));
  }

  address(): BoundAddress {
    return this.#inner.address();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** `ATYP ADDR PORT`, the first plaintext of a Shadowsocks client (SOCKS5's address block). */
const targetSpec: FrameSpec<{ host: string; port: number }> = {
  maxLength: 1 + 1 + 255 + 2,
  frameLength(buf, have) {
    const atyp = buf[0] as number;
    if (atyp !== 1 && atyp !== 3 && atyp !== 4) {
      throw new WebsocksAppError('ERR_SHADOWSOCKS_MALFORMED', `shadowsocks: address type ${atyp}`);
    }
    if (atyp === 3 && have < 2) return 2;
    return addressBlockLength(atyp, atyp === 3 ? (buf[1] as number) : 0);
  },
  decode(buf) {
    const e = readEndpoint(buf, 0);
    if (e === null || e.port === 0) {
      throw new WebsocksAppError('ERR_SHADOWSOCKS_MALFORMED', 'shadowsocks: bad target');
    }
    return { host: e.host, port: e.port };
  },
  truncated: () => new VproxyError('ERR_PREMATURE_CLOSE', 'shadowsocks: closed before the target'),
};

/**
 * The Shadowsocks front end's handshake: the target header, then the engine
 * routes it like any other request (direct or through a tunnel). No reply is
 * sent: a Shadowsocks client starts its payload at once. A bad header or a
 * chunk that fails authentication closes the connection, logged once.
 */
export function ssFront(logger: Logger): ClientHandshake {
  return async (client, signal) => {
    try {
      const target = await readFrame(client, targetSpec, signal);
      return {
        requested: { scheme: 'tcp', host: target.host, port: target.port, path: '', options: {} },
        hint: formatHostPort(target.host, target.port),
      };
    } catch (err) {
      logger.info('shadowsocks-refused', { client: describePeer(client), ...errorFields(err) });
      client.destroy();
      return null;
    }
  };
}
