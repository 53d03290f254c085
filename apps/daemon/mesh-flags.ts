import { readFileSync } from 'node:fs';
import type { Logger } from '../../src/fd/logger.js';
import { MeshError } from '../../src/mesh/errors.js';
import { parseEndpoints } from '../../src/mesh/etcd-options.js';
import { EtcdRegistry } from '../../src/mesh/etcd-registry.js';
import { MemoryRegistry } from '../../src/mesh/memory-registry.js';
import type { ServiceRegistry } from '../../src/mesh/registry.js';
import { ETCD_PASSWORD_ENV } from '../cli-constants.js';

// The daemon's --etcd* flags into the one service registry its delegates
// share. Without --etcd the registry lives in the process (single-node use:
// delegates still work, nothing leaves the daemon).

export interface MeshFlags {
  readonly etcd?: string;
  readonly etcdCa?: string;
  readonly etcdCert?: string;
  readonly etcdKey?: string;
  readonly etcdUser?: string;
  readonly etcdPassword?: string;
  /** Whole seconds. */
  readonly etcdLeaseTtl: number;
}

function pem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new MeshError(
      'ERR_MESH_VALUE_INVALID',
      `cannot read ${what} ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** What the start-up log says about the registry: never the password. */
export function describeMesh(flags: MeshFlags): Record<string, string | number> {
  if (flags.etcd === undefined) return { backend: 'memory', leaseTtlSeconds: flags.etcdLeaseTtl };
  return {
    backend: 'etcd',
    endpoints: flags.etcd,
    tls: flags.etcdCa === undefined ? 'off' : flags.etcdCert === undefined ? 'ca' : 'client-cert',
    auth: flags.etcdUser === undefined ? 'off' : `user ${flags.etcdUser}`,
    leaseTtlSeconds: flags.etcdLeaseTtl,
  };
}

export function meshRegistry(
  flags: MeshFlags,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): ServiceRegistry {
  const ttl = flags.etcdLeaseTtl;
  if (!Number.isInteger(ttl) || ttl < 1)
    throw new MeshError('ERR_MESH_VALUE_INVALID', '--etcd-lease-ttl must be >= 1 (seconds)');
  if (flags.etcd === undefined) {
    const extra = [flags.etcdCa, flags.etcdCert, flags.etcdKey, flags.etcdUser].some(
      (v) => v !== undefined,
    );
    if (extra)
      throw new MeshError('ERR_MESH_VALUE_INVALID', '--etcd-ca/-cert/-key/-user need --etcd');
    return new MemoryRegistry({
      leaseTtlMs: ttl * 1000,
      logger: logger.child({ registry: 'memory' }),
    });
  }
  if ((flags.etcdCert === undefined) !== (flags.etcdKey === undefined))
    throw new MeshError('ERR_MESH_VALUE_INVALID', '--etcd-cert and --etcd-key go together');
  if (flags.etcdCert !== undefined && flags.etcdCa === undefined)
    throw new MeshError('ERR_MESH_VALUE_INVALID', '--etcd-cert needs --etcd-ca');
  const password = flags.etcdPassword ?? env[ETCD_PASSWORD_ENV];
  if ((flags.etcdUser === undefined) !== (password === undefined))
    throw new MeshError(
      'ERR_MESH_VALUE_INVALID',
      `--etcd-user needs a password (--etcd-password or $${ETCD_PASSWORD_ENV}) and the other way round`,
    );
  const endpoints = parseEndpoints(flags.etcd);
  if (flags.etcdCa !== undefined && !endpoints.every((e) => e.startsWith('https://')))
    throw new MeshError('ERR_MESH_VALUE_INVALID', '--etcd-ca needs https:// endpoints');
  return new EtcdRegistry({
    endpoints,
    leaseTtlSeconds: ttl,
    logger,
    ...(flags.etcdCa === undefined
      ? {}
      : {
          tls: {
            ca: pem(flags.etcdCa, 'CA file'),
            ...(flags.etcdCert === undefined ? {} : { cert: pem(flags.etcdCert, 'certificate') }),
            ...(flags.etcdKey === undefined ? {} : { key: pem(flags.etcdKey, 'key') }),
          },
        }),
    ...(flags.etcdUser === undefined || password === undefined
      ? {}
      : { auth: { username: flags.etcdUser, password } }),
  });
}
