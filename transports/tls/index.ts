import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect, createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import type { Address } from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';
import type { OptionSchema } from '../../src/fd/layer-options.js';
import { boolOption, stringOption } from '../../src/fd/options.js';
import { brandStreamFD, type StreamFD } from '../../src/fd/stream-fd.js';
import {
  type Handshake,
  handshakeOn,
  type LayerTarget,
  streamLayer,
} from '../../src/fd/stream-layer.js';
import type { Layer, OptionSpec } from '../../src/fd/transport.js';

const TLS_OPTIONS: readonly OptionSpec[] = [
  { name: 'cert', description: 'listener: PEM certificate chain file' },
  { name: 'cert-key', description: 'listener: PEM private key file' },
  { name: 'ca', description: 'PEM file of trusted CAs (default: the system store)' },
  { name: 'sni', description: 'client: server name to send and verify (default: the host)' },
  { name: 'insecure', description: 'client: do not verify the server certificate (default 0)' },
];

/** The tls options of an address, parsed once; files are read when a context is built. */
export interface TlsOptions {
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly certKey: string | undefined;
  readonly sni: string | undefined;
  readonly insecure: boolean;
}

export const TLS_SCHEMA: OptionSchema<TlsOptions> = {
  prefix: 'tls',
  specs: TLS_OPTIONS,
  parse: (view) => ({
    ca: stringOption(view, 'ca'),
    cert: stringOption(view, 'cert'),
    certKey: stringOption(view, 'cert-key'),
    sni: stringOption(view, 'sni'),
    insecure: boolOption(view, 'insecure', false),
  }),
};

function readPem(address: Address, option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      `option "${option}" of a ${address.scheme} address: cannot read "${path}": ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function secureContext(address: Address, opts: TlsOptions, withCert: boolean): SecureContext {
  const options: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (opts.ca !== undefined) options.ca = readPem(address, 'ca', opts.ca);
  if (withCert) {
    const { cert, certKey } = opts;
    if (cert === undefined || certKey === undefined) {
      throw new VproxyError(
        'ERR_OPTION_INVALID',
        `a ${address.scheme} listener needs the options cert=FILE and cert-key=FILE`,
      );
    }
    options.cert = readPem(address, 'cert', cert);
    options.key = readPem(address, 'cert-key', certKey);
  }
  try {
    return createSecureContext(options);
  } catch (err) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      `bad TLS material for ${address.scheme}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** TLS over any StreamFD. Client contexts are cached per CA file: reading PEM per connect is waste. */
export function tlsLayer(): Layer {
  const clientContexts = new Map<string, SecureContext>();
  const clientContext = (address: Address, opts: TlsOptions): SecureContext => {
    const caKey = opts.ca ?? '';
    let context = clientContexts.get(caKey);
    if (!context) {
      context = secureContext(address, opts, false);
      clientContexts.set(caKey, context);
    }
    return context;
  };
  return streamLayer({
    schema: TLS_SCHEMA,
    prepareClient: (opts, { address }) => void clientContext(address, opts),
    client(inner: StreamFD, opts: TlsOptions, { address, kind }: LayerTarget): Handshake {
      const sni = opts.sni ?? (isIP(address.host) ? undefined : address.host);
      const socket = connect({
        socket: inner,
        // The name the certificate must carry: sni= when given, else the target's
        // host — an IP address too, which is never sent as SNI. Without `host`,
        // Node checks an IP target's certificate against "localhost" (the socket
        // it is given is ours, not a net.Socket that knows its host), so any
        // certificate for localhost passed for every IP address.
        host: address.host,
        secureContext: clientContext(address, opts),
        rejectUnauthorized: !opts.insecure,
        ...(sni === undefined ? {} : { servername: sni }),
      });
      return handshakeOn(brandStreamFD(socket, kind), once(socket, 'secureConnect'), inner);
    },
    async server(opts: TlsOptions, { address, kind }: LayerTarget) {
      const context = secureContext(address, opts, true);
      return (inner: StreamFD): Handshake => {
        const socket = new TLSSocket(inner, { isServer: true, secureContext: context });
        return handshakeOn(brandStreamFD(socket, kind), once(socket, 'secure'), inner);
      };
    },
  });
}
