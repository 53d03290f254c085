// `vproxy-ts/proxy`: the proxy engine (accept from any ServerFD → pick a
// backend → connect through the registry → splice), the picker contract it
// asks for backends, and the one-shot reachability probe (ConnectClient).

export {
  type Admission,
  type AdmissionFailure,
  type ClientHandshake,
  TAKEN,
} from '../src/proxy/admission.js';
export type {
  BackendChoice,
  BackendPicker,
  PickContext,
  SessionOutcome,
} from '../src/proxy/backend-picker.js';
export { type ProbeOptions, type ProbeResult, probe } from '../src/proxy/connect-client.js';
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_FIN_TIMEOUT_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_RETRIES,
  MAX_RETRIES,
  type ProxyEvents,
  type ProxyOptions,
  type ProxyStats,
} from '../src/proxy/engine-options.js';
export {
  BackendConnectError,
  PROXY_ERROR_CODES,
  ProxyError,
  type ProxyErrorCode,
} from '../src/proxy/errors.js';
export { ProxyEngine } from '../src/proxy/proxy.js';
export { RoundRobinPicker } from '../src/proxy/round-robin.js';
export type { SessionInfo, SessionLimits, SessionState } from '../src/proxy/session.js';
export {
  type CloseReason,
  SESSION_CLOSE_CHANNEL_NAME,
  SESSION_OPEN_CHANNEL_NAME,
  type SessionCloseMessage,
  type SessionOpenMessage,
} from '../src/proxy/session-events.js';
