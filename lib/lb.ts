// `vproxy-ts/lb`: load balancing built in code: server groups with health
// checks and selection methods, upstreams, security groups, and the two
// listeners (TcpLB, Socks5Server) that put them in front of the proxy engine.

export { type Cidr, formatCidr, parseCidr } from '../src/lb/cidr.js';
export { type Cancel, type Clock, systemClock } from '../src/lb/clock.js';
export { LB_ERROR_CODES, LbError, type LbErrorCode } from '../src/lb/errors.js';
export { EventLoopGroup, type EventLoopGroupOptions } from '../src/lb/event-loop-group.js';
export {
  type CheckResult,
  HealthCheckClient,
  type HealthCheckEvents,
  type HealthCheckStats,
} from '../src/lb/health-check-client.js';
export {
  type CheckRunOptions,
  createChecker,
  type HealthChecker,
} from '../src/lb/health-checkers.js';
export {
  type CheckSpec,
  DEFAULT_HEALTH_CHECK,
  type HealthCheckConfig,
  type HttpCheck,
  type NoCheck,
  type StatusExpectation,
  type TcpCheck,
} from '../src/lb/health-config.js';
export type { LbListener, ListenerLogging, ListenerSettings } from '../src/lb/lb-listener.js';
export { ServerPicker, type ServerSource } from '../src/lb/picker.js';
export {
  type PortRange,
  type Protocol,
  type RuleAction,
  SecurityGroup,
  type SecurityGroupRule,
  type SecurityGroupRuleSpec,
  type Verdict,
} from '../src/lb/security-group.js';
export { METHOD_NAMES, type MethodName } from '../src/lb/selection-method.js';
export {
  DEFAULT_WEIGHT,
  MAX_WEIGHT,
  type Server,
  type ServerStats,
} from '../src/lb/server.js';
export {
  ServerGroup,
  type ServerGroupEvents,
  type ServerGroupOptions,
} from '../src/lb/server-group.js';
export { Socks5Server, type Socks5ServerOptions } from '../src/lb/socks5-server.js';
export { type ProxyProtocolVersion, TcpLB, type TcpLbOptions } from '../src/lb/tcp-lb.js';
export {
  type BackendGroup,
  Upstream,
  type UpstreamMember,
  type UpstreamMemberOptions,
} from '../src/lb/upstream.js';
