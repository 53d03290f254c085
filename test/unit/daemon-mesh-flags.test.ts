import { describe, expect, it } from 'vitest';
import { describeMesh, meshRegistry } from '../../apps/daemon/mesh-flags.js';
import { quietLogger } from '../../src/fd/logger.js';

// The daemon's --etcd* flags: what they refuse (by name), the in-process
// registry without --etcd, and that the password never reaches a log line.

const base = { etcdLeaseTtl: 10 };

function refusal(flags: Parameters<typeof meshRegistry>[0], env: NodeJS.ProcessEnv = {}): string {
  try {
    meshRegistry(flags, quietLogger, env);
  } catch (err) {
    expect(err).toMatchObject({ code: 'ERR_MESH_VALUE_INVALID' });
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('daemon mesh flags', () => {
  it('without --etcd: an in-process registry with the lease TTL', async () => {
    const r = meshRegistry({ etcdLeaseTtl: 3 }, quietLogger, {});
    expect(r.backend).toBe('memory');
    expect(r.leaseTtlMs).toBe(3000);
    await r.close();
  });

  it('refuses what cannot work, naming the flag', () => {
    expect(refusal({ ...base, etcdCa: '/ca.pem' })).toMatch(/need --etcd/);
    expect(refusal({ ...base, etcd: 'a:2379' })).toMatch(/invalid etcd endpoint "a:2379"/);
    expect(refusal({ ...base, etcd: 'http://a:1,https://b:2' })).toMatch(/mix/);
    expect(refusal({ ...base, etcd: 'http://a:1', etcdCert: '/c.pem' })).toMatch(
      /--etcd-cert and --etcd-key go together/,
    );
    expect(refusal({ ...base, etcd: 'http://a:1', etcdCa: '/nope.pem' })).toMatch(
      /--etcd-ca needs https/,
    );
    expect(refusal({ ...base, etcd: 'https://a:1', etcdCa: '/nope/ca.pem' })).toMatch(
      /cannot read CA file \/nope\/ca\.pem/,
    );
    expect(refusal({ ...base, etcd: 'http://a:1', etcdUser: 'u' })).toMatch(
      /--etcd-user needs a password \(--etcd-password or \$VPROXY_ETCD_PASSWORD\)/,
    );
    expect(refusal({ ...base, etcd: 'http://a:1', etcdPassword: 'p' })).toMatch(/--etcd-user/);
    expect(refusal({ etcdLeaseTtl: 0 })).toMatch(/--etcd-lease-ttl must be >= 1/);
  });

  it('takes the password from the environment; the log line never has it', async () => {
    const flags = { ...base, etcd: 'http://127.0.0.1:1', etcdUser: 'root' };
    const r = meshRegistry(flags, quietLogger, { VPROXY_ETCD_PASSWORD: 's3cret-pw' });
    expect(r.backend).toBe('etcd');
    await r.close({ graceful: false });
    const shown = JSON.stringify(describeMesh({ ...flags, etcdPassword: 's3cret-pw' }));
    expect(shown).not.toContain('s3cret-pw');
    expect(shown).toContain('user root');
  });
});
