import type { TestCerts } from '../../helpers/certs.js';

/** One way to listen and to reach that listener, for the transport matrix of the LB tests. */
export interface Endpoint {
  readonly name: string;
  /** The address to listen on (port 0). */
  listen(certs: TestCerts): string;
  /** The address a client or an LB uses to reach port `port` of that listener. */
  dial(certs: TestCerts, port: number): string;
}

export const TCP: Endpoint = {
  name: 'tcp',
  listen: () => 'tcp://127.0.0.1:0',
  dial: (_c, p) => `tcp://127.0.0.1:${p}`,
};

export const TLS: Endpoint = {
  name: 'tls',
  listen: (c) => `tls://127.0.0.1:0?cert=${c.cert}&cert-key=${c.key}`,
  dial: (c, p) => `tls://localhost:${p}?ca=${c.caCert}`,
};

export const KCP: Endpoint = {
  name: 'kcp',
  listen: () => 'kcp://127.0.0.1:0?mode=fast3',
  dial: (_c, p) => `kcp://127.0.0.1:${p}?mode=fast3`,
};

export const WS: Endpoint = {
  name: 'ws',
  listen: () => 'ws://127.0.0.1:0/lb',
  dial: (_c, p) => `ws://127.0.0.1:${p}/lb`,
};

/** Where LBs listen in the matrix. */
export const FRONTS: readonly Endpoint[] = [TCP, TLS, KCP, WS];
/** Where their backends are. */
export const BACKS: readonly Endpoint[] = [TCP, KCP];
