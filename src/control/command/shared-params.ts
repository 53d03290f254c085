import { DEFAULT_HEALTH_CHECK } from '../../lb/health-config.js';
import { LISTENER_DEFAULTS } from '../../lb/lb-listener.js';
import { DEFAULT_METHOD, METHOD_NAMES } from '../../lb/selection-method.js';
import { UDP_ASSOCIATION_DEFAULTS } from '../../lb/socks5-front.js';
import { MAX_RETRIES } from '../../proxy/engine-options.js';
import { ACCEPTOR_ELG, ALLOW_ALL, WORKER_ELG } from '../store.js';
import type { ParamRule } from './action-rules.js';
import * as check from './values.js';

// Value bounds and parameter lists that more than one resource type or action
// takes, written once so that add and update (and every listener) agree.

export const ms = check.intIn(0, 2_147_483_647);
export const count = check.intIn(1, 1_000_000);
const bufferSize = check.intIn(1, 67_108_864);
export const weight = check.intIn(0, 1000);
const retries = check.intIn(0, MAX_RETRIES);
export const password = check.secret(check.rfc1929('password'));
/**
 * Each association is a bound UDP socket, so one local port: more than the
 * port space could never be alive, and a bound that high is a typo.
 */
export const MAX_ASSOCIATIONS_LIMIT = 65_535;
const associations = check.intIn(1, MAX_ASSOCIATIONS_LIMIT);
/** Expiry is sampled once per timeout: under a second only closes associations between datagrams. */
const udpTimeout = check.intIn(1_000, 2_147_483_647);

export const socks5Udp = (defaults: boolean): readonly ParamRule[] => [
  {
    param: 'max-associations',
    ...(defaults ? { default: String(UDP_ASSOCIATION_DEFAULTS.max) } : {}),
    check: associations,
  },
  {
    param: 'udp-timeout',
    ...(defaults ? { default: String(UDP_ASSOCIATION_DEFAULTS.idleTimeoutMs) } : {}),
    check: udpTimeout,
  },
];

/** A server's or server-group's weight unless told otherwise. */
export const DEFAULT_WEIGHT = 10;

export const listenerAdd = (extra: readonly ParamRule[]): readonly ParamRule[] => [
  { param: 'address', required: true, check: check.address },
  { param: 'upstream', required: true, check: check.name },
  { param: 'acceptor-elg', default: ACCEPTOR_ELG, check: check.name },
  { param: 'event-loop-group', default: WORKER_ELG, check: check.name },
  { param: 'in-buffer-size', default: String(LISTENER_DEFAULTS.inBufferSize), check: bufferSize },
  { param: 'out-buffer-size', default: String(LISTENER_DEFAULTS.outBufferSize), check: bufferSize },
  { param: 'timeout', default: String(LISTENER_DEFAULTS.idleTimeoutMs), check: ms },
  { param: 'fin-timeout', default: String(LISTENER_DEFAULTS.finTimeoutMs), check: ms },
  { param: 'retries', default: String(LISTENER_DEFAULTS.retries), check: retries },
  { param: 'access-log', default: 'off', check: check.oneOf('on', 'off') },
  { param: 'security-group', default: ALLOW_ALL, check: check.name },
  ...extra,
];

export const listenerUpdate: readonly ParamRule[] = [
  { param: 'in-buffer-size', check: bufferSize },
  { param: 'out-buffer-size', check: bufferSize },
  { param: 'timeout', check: ms },
  { param: 'fin-timeout', check: ms },
  { param: 'retries', check: retries },
  { param: 'access-log', check: check.oneOf('on', 'off') },
  { param: 'security-group', check: check.name },
];

export const healthParams = (required: boolean): readonly ParamRule[] => [
  { param: 'timeout', required, check: ms },
  { param: 'period', required, check: check.intIn(1, 2_147_483_647) },
  { param: 'up', required, check: count },
  { param: 'down', required, check: count },
  { param: 'method', default: DEFAULT_METHOD, check: check.oneOf(...METHOD_NAMES) },
  { param: 'check', default: DEFAULT_HEALTH_CHECK.check.kind, check: check.healthCheck },
];
