import { describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import { checkEndpoints, parseEndpoints, toEtcd3Options } from '../../../src/mesh/etcd-options.js';
import { instanceKey, parseInstanceKey, servicePrefix } from '../../../src/mesh/keys.js';
import { resolveNic } from '../../../src/mesh/nic.js';
import { decodeInstance, defaultNodeId, encodeInstance } from '../../../src/mesh/record.js';

// Key layout, the versioned value, NIC resolution and etcd endpoint parsing.

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return isVproxyError(err) ? err.code : `not a VproxyError: ${String(err)}`;
  }
  return undefined;
};

describe('keys', () => {
  it('lays instances out under root/services/service/zone/node-id', () => {
    expect(instanceKey('/vproxy', 'web', 'z1', '10.0.0.5:80')).toBe(
      '/vproxy/services/web/z1/10.0.0.5:80',
    );
    expect(servicePrefix('/vproxy', 'web', 'z1')).toBe('/vproxy/services/web/z1/');
    expect(parseInstanceKey('/vproxy', '/vproxy/services/web/z1/[::1]:80')).toEqual({
      service: 'web',
      zone: 'z1',
      nodeId: '[::1]:80',
    });
    expect(parseInstanceKey('/vproxy', '/vproxy/services/web/z1')).toBeUndefined();
    expect(parseInstanceKey('/vproxy', '/other/services/web/z1/n')).toBeUndefined();
  });

  it('refuses segments that would break the layout', () => {
    for (const bad of ['', 'a/b', 'a b', '..', 'x'.repeat(129)]) {
      expect(code(() => instanceKey('/vproxy', bad, 'z', 'n'))).toBe('ERR_MESH_NAME_INVALID');
    }
  });
});

describe('record', () => {
  const instance = {
    nodeId: '10.0.0.5:80',
    address: '10.0.0.5',
    port: 80,
    weight: 7,
    meta: { dc: 'a' },
  };

  it('round-trips, versioned', () => {
    const text = encodeInstance(instance);
    expect(JSON.parse(text)).toMatchObject({ v: 1, address: '10.0.0.5', port: 80, weight: 7 });
    expect(decodeInstance(text, '10.0.0.5:80')).toEqual(instance);
  });

  it('takes the node id from the key, defaults the weight, reads a negative weight as 0, ignores unknown fields', () => {
    const text = JSON.stringify({
      v: 1,
      nodeId: 'spoof',
      address: '::1',
      port: 9,
      weight: -3,
      extra: true,
    });
    expect(decodeInstance(text, 'real')).toEqual({
      nodeId: 'real',
      address: '::1',
      port: 9,
      weight: 0,
      meta: {},
    });
    expect(decodeInstance('{"v":1,"address":"1.2.3.4","port":1}', 'n').weight).toBe(10);
    expect(defaultNodeId('::1', 80)).toBe('[::1]:80');
  });

  it('refuses unknown versions and bad values', () => {
    for (const bad of [
      'nope',
      '[]',
      '{"v":2,"address":"1.1.1.1","port":1}',
      '{"v":1,"address":"host","port":1}',
      '{"v":1,"address":"1.1.1.1","port":0}',
      '{"v":1,"address":"1.1.1.1","port":1,"weight":1001}',
    ]) {
      expect(code(() => decodeInstance(bad, 'n'))).toBe('ERR_MESH_VALUE_INVALID');
    }
    expect(code(() => encodeInstance({ ...instance, weight: 1.5 }))).toBe('ERR_MESH_VALUE_INVALID');
  });
});

describe('resolveNic', () => {
  const ifaces = {
    lo: [
      {
        address: '127.0.0.1',
        family: 'IPv4',
        internal: true,
        netmask: '255.0.0.0',
        mac: '',
        cidr: null,
      },
      {
        address: '::1',
        family: 'IPv6',
        internal: true,
        netmask: '',
        mac: '',
        cidr: null,
        scopeid: 0,
      },
    ],
    eth0: [
      {
        address: 'fe80::1',
        family: 'IPv6',
        internal: false,
        netmask: '',
        mac: '',
        cidr: null,
        scopeid: 2,
      },
      {
        address: '2001:db8::5',
        family: 'IPv6',
        internal: false,
        netmask: '',
        mac: '',
        cidr: null,
        scopeid: 0,
      },
    ],
  } as unknown as Parameters<typeof resolveNic>[2];

  it('picks the address of the family, a global v6 before a link-local one', () => {
    expect(resolveNic('lo', 'v4', ifaces)).toBe('127.0.0.1');
    expect(resolveNic('lo', 'v6', ifaces)).toBe('::1');
    expect(resolveNic('eth0', 'v6', ifaces)).toBe('2001:db8::5');
  });

  it('names a missing interface or family', () => {
    expect(code(() => resolveNic('wlan9', 'v4', ifaces))).toBe('ERR_MESH_NIC_NOT_FOUND');
    expect(code(() => resolveNic('eth0', 'v4', ifaces))).toBe('ERR_MESH_NIC_NOT_FOUND');
  });

  it('resolves this machine loopback', () => {
    expect(resolveNic('lo')).toBe('127.0.0.1');
  });
});

describe('etcd endpoints and options', () => {
  it('parses the --etcd list', () => {
    expect(parseEndpoints('http://a:2379, http://10.0.0.2:2379,')).toEqual([
      'http://a:2379',
      'http://10.0.0.2:2379',
    ]);
    expect(parseEndpoints('https://[::1]:2379')).toEqual(['https://[::1]:2379']);
  });

  it('refuses empty lists, bad endpoints and mixed schemes', () => {
    for (const bad of [
      '',
      'a:2379',
      'http://a',
      'http://a:99999',
      'ftp://a:1',
      'http://a:1,https://b:1',
    ]) {
      expect(code(() => parseEndpoints(bad))).toBe('ERR_MESH_VALUE_INVALID');
    }
    expect(code(() => checkEndpoints([]))).toBe('ERR_MESH_VALUE_INVALID');
  });

  it('passes TLS and auth to etcd3 and puts a deadline on unary calls only', () => {
    const o = toEtcd3Options({
      endpoints: ['https://a:2379'],
      tls: { ca: 'CA', cert: 'CERT', key: 'KEY' },
      auth: { username: 'u', password: 'p' },
      requestTimeoutMs: 1234,
    });
    expect(o.credentials?.rootCertificate.toString()).toBe('CA');
    expect(o.credentials?.certChain?.toString()).toBe('CERT');
    expect(o.credentials?.privateKey?.toString()).toBe('KEY');
    expect(o.auth).toEqual({ username: 'u', password: 'p' });
    const factory = o.defaultCallOptions as (c: { isStream: boolean }) => { deadline?: number };
    expect(factory({ isStream: true })).toEqual({});
    // Bracketed by the clock before and after the call: no slack for a stalled process.
    const before = Date.now();
    const deadline = factory({ isStream: false }).deadline ?? 0;
    const after = Date.now();
    expect(deadline).toBeGreaterThanOrEqual(before + 1234);
    expect(deadline).toBeLessThanOrEqual(after + 1234);
  });
});
