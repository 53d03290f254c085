import type { ChannelOptions } from '@grpc/grpc-js';
import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IBackoff,
  retry,
} from 'cockatiel';
import { type IOptions, isRecoverableError } from 'etcd3';
import { MeshError } from './errors.js';

// The etcd client's settings, typed once, and their translation to etcd3's
// options. etcd3's defaults suit a long-lived service that can wait: a host
// breaker open for 5 s, watch reconnects backing off to 30 s, gRPC reconnects
// to 120 s. A mesh must notice an endpoint's return within about a second, so
// all three are bounded here.

export interface EtcdTlsOptions {
  /** PEM CA bundle that signed the etcd servers' certificates. */
  readonly ca: string | Buffer;
  /** Client certificate and key (PEM), for clusters with --client-cert-auth. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
}

export interface EtcdAuthOptions {
  readonly username: string;
  readonly password: string;
}

export interface EtcdConnectionOptions {
  /** `http://host:port` or `https://host:port`, all of one scheme. */
  readonly endpoints: readonly string[];
  readonly tls?: EtcdTlsOptions;
  readonly auth?: EtcdAuthOptions;
  /** Deadline of one unary call (default 2000 ms). */
  readonly requestTimeoutMs?: number;
  /** Deadline of the first connection (default 5000 ms). */
  readonly dialTimeoutMs?: number;
}

const ENDPOINT = /^(https?):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** `http://a:2379,http://b:2379` (the daemon's --etcd flag) into checked endpoints. */
export function parseEndpoints(text: string): string[] {
  const endpoints = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (endpoints.length === 0) {
    throw new MeshError('ERR_MESH_VALUE_INVALID', 'no etcd endpoint given');
  }
  return checkEndpoints(endpoints);
}

export function checkEndpoints(endpoints: readonly string[]): string[] {
  if (endpoints.length === 0)
    throw new MeshError('ERR_MESH_VALUE_INVALID', 'no etcd endpoint given');
  const schemes = new Set<string>();
  for (const e of endpoints) {
    const m = ENDPOINT.exec(e);
    const port = Number(m?.[3]);
    if (m === null || port < 1 || port > 65535) {
      throw new MeshError(
        'ERR_MESH_VALUE_INVALID',
        `invalid etcd endpoint ${JSON.stringify(e)}: expected http(s)://host:port`,
      );
    }
    schemes.add(m[1] as string);
  }
  if (schemes.size > 1) {
    // etcd3 refuses a mix too, with a less helpful message.
    throw new MeshError('ERR_MESH_VALUE_INVALID', 'etcd endpoints mix http:// and https://');
  }
  return [...endpoints];
}

const buffer = (v: string | Buffer): Buffer => (typeof v === 'string' ? Buffer.from(v) : v);

export function toEtcd3Options(options: EtcdConnectionOptions): IOptions {
  const hosts = checkEndpoints(options.endpoints);
  const requestTimeoutMs = options.requestTimeoutMs ?? 2000;
  const grpcOptions: ChannelOptions = {
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1000,
  };
  const tls = options.tls;
  return {
    hosts,
    dialTimeout: options.dialTimeoutMs ?? 5000,
    grpcOptions,
    ...(tls === undefined
      ? {}
      : {
          credentials: {
            rootCertificate: buffer(tls.ca),
            ...(tls.cert === undefined ? {} : { certChain: buffer(tls.cert) }),
            ...(tls.key === undefined ? {} : { privateKey: buffer(tls.key) }),
          },
        }),
    ...(options.auth === undefined
      ? {}
      : { auth: { username: options.auth.username, password: options.auth.password } }),
    // Streams (watch, keepalive) live long; every unary call gets a deadline,
    // so a member without quorum answers "unavailable" instead of hanging.
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs },
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: 500,
          breaker: new ConsecutiveBreaker(3),
        }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 2 }),
      // etcd3 types this as a backoff instance but calls `.next()` on it first,
      // which is what a cockatiel 3 backoff factory is.
      watchBackoff: new ExponentialBackoff({
        initialDelay: 50,
        maxDelay: 500,
      }) as unknown as IBackoff<unknown>,
    },
  };
}
