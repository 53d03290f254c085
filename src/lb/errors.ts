import { codedError, type ErrorCodeTable } from '../fd/errors.js';

/** Codes of load balancing (src/lb): servers, groups, health checks, security groups. */
export const LB_ERROR_CODES = {
  ERR_WEIGHT_INVALID: 'a server weight outside 0-1000',
  ERR_METHOD_INVALID: 'an unknown load-balancing method name',
  ERR_HEALTH_CHECK_INVALID: 'a health-check spec or setting that does not parse',
  ERR_HEALTH_CHECK_FAILED: 'a health-check probe got an answer that is not the expected one',
  ERR_CIDR_INVALID: 'a CIDR that does not parse',
  ERR_PORT_RANGE_INVALID: 'a security-group port range that does not parse',
  ERR_PROTOCOL_INVALID: 'a security-group protocol other than tcp or udp',
} as const satisfies ErrorCodeTable;

export type LbErrorCode = keyof typeof LB_ERROR_CODES;

export class LbError extends codedError('LbError', LB_ERROR_CODES) {}
