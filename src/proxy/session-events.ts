import diagnosticsChannel from 'node:diagnostics_channel';
import { isVproxyError } from '../fd/errors.js';
import { errorFields, type LogFields, type Logger } from '../fd/logger.js';
import type { Session, SessionInfo } from './session.js';

// What the engine tells the world about sessions: the access log line and, for
// embedders, typed diagnostics_channel messages. Everything here runs once per
// session, and only when someone listens (an access log, a subscriber).

/** Why a session ended, as the access log and the close message name it. */
export type CloseReason =
  /** Both sides closed cleanly. */
  | 'closed'
  | 'idle-timeout'
  | 'fin-timeout'
  /** Reset by the control plane (`kill`) or by the engine's shutdown. */
  | 'killed'
  /** No backend could be reached (after every redispatch). */
  | 'connect-failed'
  /** A stream failed (reset by a peer, broken pipe…). */
  | 'error';

/** Published on `vproxy:session-open` once a session has a backend picked (before it connects). */
export interface SessionOpenMessage {
  /** The engine's name: its listener (`tcp://127.0.0.1:8080`) or the name its owner gave it. */
  readonly listener: string;
  readonly id: number;
  /** `ip:port` of the client. */
  readonly client: string;
  /** The picked backend's address. */
  readonly backend: string;
}

/** Published on `vproxy:session-close` once both streams of a session are closed. */
export interface SessionCloseMessage {
  readonly listener: string;
  /** The final snapshot: `target` is the backend that was used (the last one tried). */
  readonly info: SessionInfo;
  readonly reason: CloseReason;
  /** What ended it, when it did not end cleanly. */
  readonly error: Error | undefined;
  readonly durationMs: number;
  /** Backends tried before the one in `info.target` (connect failures redispatched). */
  readonly redispatches: number;
}

export const SESSION_OPEN_CHANNEL_NAME = 'vproxy:session-open';
export const SESSION_CLOSE_CHANNEL_NAME = 'vproxy:session-close';
export const sessionOpenChannel = diagnosticsChannel.channel(SESSION_OPEN_CHANNEL_NAME);
export const sessionCloseChannel = diagnosticsChannel.channel(SESSION_CLOSE_CHANNEL_NAME);

export function closeReason(err: Error | undefined, connectFailed: boolean): CloseReason {
  if (err === undefined) return 'closed';
  if (connectFailed) return 'connect-failed';
  if (isVproxyError(err, 'ERR_IDLE_TIMEOUT')) return 'idle-timeout';
  if (isVproxyError(err, 'ERR_FIN_TIMEOUT')) return 'fin-timeout';
  if (isVproxyError(err, 'ERR_SESSION_KILLED')) return 'killed';
  return 'error';
}

/** The fields of one access log line (event `session`). */
export function accessLogFields(message: SessionCloseMessage): LogFields {
  const { info } = message;
  return {
    id: info.id,
    client: info.client,
    backend: info.target,
    bytesFromClient: info.bytesFromClient,
    bytesToClient: info.bytesToClient,
    durationMs: message.durationMs,
    reason: message.reason,
    redispatches: message.redispatches === 0 ? undefined : message.redispatches,
    ...(message.error === undefined || message.reason === 'closed'
      ? {}
      : errorFields(message.error)),
  };
}

/** The close event, the access log line and the debug line of a session that ended. */
export function reportClosed(
  listener: string,
  session: Session,
  err: Error | undefined,
  accessLog: Logger | undefined,
  log: Logger,
): void {
  const message: SessionCloseMessage = {
    listener,
    info: session.info(),
    reason: closeReason(err, session.connectError !== undefined),
    error: err,
    durationMs: Date.now() - session.startedAt,
    redispatches: session.redispatches,
  };
  if (sessionCloseChannel.hasSubscribers) sessionCloseChannel.publish(message);
  const fields = accessLogFields(message);
  accessLog?.info('session', fields);
  // Timeouts and resets are routine, not failures of ours: debug only (the access
  // log has them too). A failed connect was logged when it failed.
  if (err !== undefined && message.reason !== 'connect-failed' && log.enabled('debug')) {
    log.debug(`session-${message.reason}`, fields);
  }
}
