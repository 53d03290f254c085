import type { Address } from '../../src/fd/address.js';
import type { OptionSchema } from '../../src/fd/layer-options.js';
import { boolOption, intOption } from '../../src/fd/options.js';
import type { OptionSpec } from '../../src/fd/transport.js';

export const TCP_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'nodelay',
    description: 'disable Nagle (default 1): proxies forward what they get at once',
  },
  { name: 'keepalive', description: 'TCP keepalive idle seconds, 0 = off (default 0)' },
  { name: 'backlog', description: 'listen backlog (default 511)' },
];

export interface TcpOptions {
  readonly noDelay: boolean;
  readonly keepAliveSeconds: number;
  readonly backlog: number;
}

export function tcpOptions(address: Address): TcpOptions {
  return {
    noDelay: boolOption(address, 'nodelay', true),
    keepAliveSeconds: intOption(address, 'keepalive', 0, 0, 86_400),
    backlog: intOption(address, 'backlog', 511, 1, 65_535),
  };
}

/** `tcp.nodelay=`, `tcp.keepalive=`, `tcp.backlog=` (bare where no other layer knows them). */
export const TCP_SCHEMA: OptionSchema<TcpOptions> = {
  prefix: 'tcp',
  specs: TCP_OPTIONS,
  parse: tcpOptions,
};
