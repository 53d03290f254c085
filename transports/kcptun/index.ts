/**
 * kcptun compatibility: kcp-go's datagram path (raw KCP in FEC in the packet crypt,
 * sessions keyed by the client's address), smux v1/v2 over it with optional snappy
 * framing, kcptun's client connection pool and server, and the `kcptun://` transport.
 */
export {
  configError,
  defaultConfig,
  effectiveCrypt,
  KCPTUN_MODES,
  type KcptunConfig,
  type KcptunMode,
  kcpOptions,
  validateConfig,
} from './config.js';
export {
  KcptunEndpoint,
  type KcptunEndpointOptions,
  type KcptunEndpointStats,
} from './endpoint.js';
export { KcptunError, type KcptunErrorCode } from './errors.js';
export { KcptunClient, KcptunServer } from './link.js';
export { SmuxConnection, type SmuxConnectionOptions } from './smux-conn.js';
export { SmuxStream } from './smux-stream.js';
export {
  KcptunSnmp,
  kcptunSnmp,
  SNMP_FIELDS,
  type SnmpCounters,
  type SnmpField,
  snmpCsvLine,
  snmpHeaderLine,
  zeroSnmp,
} from './snmp.js';
export {
  configFor,
  KCPTUN_OPTIONS,
  KCPTUN_SCHEMA,
  type KcptunAddressOptions,
  kcptunTransport,
} from './transport.js';
