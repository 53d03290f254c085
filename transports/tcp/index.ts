import type { Transport } from '../../src/fd/transport.js';
import { dialTcp } from './dialer.js';
import { listenTcp } from './listener.js';
import { TCP_OPTIONS } from './options.js';

export const tcpTransport: Transport = {
  scheme: 'tcp',
  options: TCP_OPTIONS,
  connect: dialTcp,
  listen: listenTcp,
};
