import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect, createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import type { Address } from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';
import { boolOption, stringOption } from '../../src/fd/options.js';
import { brandStreamFD, type StreamFD } from '../../src/fd/stream-fd.js';
import { type Handshake, streamLayer } from '../../src/fd/stream-layer.js';
import type { Layer, OptionSpec } from '../../src/fd/transport.js';

const TLS_OPTIONS: readonly OptionSpec[] = [
  { name: 'cert', description: 'listener: PEM certificate chain file' },
  { name: 'cert-key', description: 'listener: PEM private key file' },
  { name: 'ca', description: 'PEM file of trusted CAs (default: the system store)' },
  { name: 'sni', description: 'client: server name to send and verify (default: the host)' },
  { name: 'insecure', description: 'client: do not verify the server certificate (default 0)' },
];

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

function secureContext(address: Address, withCert: boolean): SecureContext {
  const ca = stringOption(address, 'ca');
  const options: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (ca !== undefined) options.ca = readPem(address, 'ca', ca);
  if (withCert) {
    const cert = stringOption(address, 'cert');
    const key = stringOption(address, 'cert-key');
    if (cert === undefined || key === undefined) {
      throw new VproxyError(
        'ERR_OPTION_INVALID',
        `a ${address.scheme} listener needs the options cert=FILE and cert-key=FILE`,
      );
    }
    options.cert = readPem(address, 'cert', cert);
    options.key = readPem(address, 'cert-key', key);
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
  const clientSetup = (address: Address) => {
    const caKey = address.options.ca ?? '';
    let context = clientContexts.get(caKey);
    if (!context) {
      context = secureContext(address, false);
      clientContexts.set(caKey, context);
    }
    const sni = stringOption(address, 'sni') ?? (isIP(address.host) ? undefined : address.host);
    return {
      secureContext: context,
      rejectUnauthorized: !boolOption(address, 'insecure', false),
      ...(sni === undefined ? {} : { servername: sni }),
    };
  };
  return streamLayer('tls', TLS_OPTIONS, {
    validate: clientSetup,
    client(inner: StreamFD, address: Address, kind: string): Handshake {
      const socket = connect({ socket: inner, ...clientSetup(address) });
      return { stream: brandStreamFD(socket, kind), ready: once(socket, 'secureConnect') };
    },
    async server(address: Address, kind: string) {
      const context = secureContext(address, true);
      return (inner: StreamFD): Handshake => {
        const socket = new TLSSocket(inner, { isServer: true, secureContext: context });
        return { stream: brandStreamFD(socket, kind), ready: once(socket, 'secure') };
      };
    },
  });
}
