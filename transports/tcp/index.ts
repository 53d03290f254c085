import type { Transport } from '../../src/fd/transport.js';
import { dialTcp, dialTcpNow } from './dialer.js';
import { listenTcp } from './listener.js';
import { TCP_OPTIONS, TCP_SCHEMA } from './options.js';

export const tcpTransport: Transport = {
  scheme: 'tcp',
  options: TCP_OPTIONS,
  schema: TCP_SCHEMA,
  connect: dialTcp,
  dial: dialTcpNow,
  listen: listenTcp,
};
