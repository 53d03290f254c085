import { describe, expect, it } from 'vitest';
import {
  type DetailKind,
  type Details,
  detailKey,
  detailList,
  detailText,
} from '../../../src/control/details/records.js';
import { DETAIL_SCHEMAS, schemaName } from '../../../src/control/details/schemas.js';
import { validate } from '../../helpers/json-schema.js';

// The text lines RESP and StdIO print are now rendered from records; these
// pin them to the exact lines the handlers printed before (clients parse them).

const LISTENER = {
  name: 'lb0',
  'acceptor-elg': '(acceptor-elg)',
  'event-loop-group': '(worker-elg)',
  bind: '127.0.0.1:8080',
  address: '127.0.0.1:8080',
  upstream: 'ups0',
  timeout: 900000,
  'fin-timeout': 0,
  retries: 1,
  'access-log': 'off',
  'in-buffer-size': 16384,
  'out-buffer-size': 16384,
  'security-group': '(allow-all)',
} as const;
const GROUP = {
  name: 'sg0',
  timeout: 500,
  period: 1000,
  up: 2,
  down: 3,
  method: 'wrr',
  check: 'tcp',
  'event-loop-group': '(control-elg)',
};

const CASES: { [K in DetailKind]: readonly [Details[K], string | readonly string[]] } = {
  'tcp-lb': [
    { ...LISTENER, protocol: 'tcp', 'cert-key': 'ck0' },
    'lb0 -> acceptor (acceptor-elg) worker (worker-elg) bind 127.0.0.1:8080 address 127.0.0.1:8080' +
      ' backends ups0 timeout 900000 fin-timeout 0 retries 1 access-log off in-buffer-size 16384' +
      ' out-buffer-size 16384 protocol tcp security-group (allow-all) cert-key ck0',
  ],
  'socks5-server': [
    {
      ...LISTENER,
      name: 's5',
      'access-log': 'on',
      'allow-non-backend': false,
      'allow-udp': true,
      'max-associations': 256,
      'udp-timeout': 60000,
    },
    // The UDP limits come before allow-udp, which stays last.
    's5 -> acceptor (acceptor-elg) worker (worker-elg) bind 127.0.0.1:8080 address 127.0.0.1:8080' +
      ' backends ups0 timeout 900000 fin-timeout 0 retries 1 access-log on in-buffer-size 16384' +
      ' out-buffer-size 16384 security-group (allow-all) deny-non-backend' +
      ' max-associations 256 udp-timeout 60000 allow-udp',
  ],
  'udp-lb': [
    {
      name: 'dns',
      bind: '127.0.0.1:5353',
      address: 'udp://127.0.0.1:5353',
      upstream: 'ups0',
      timeout: 60000,
      'max-flows': 4096,
      'security-group': '(allow-all)',
      flows: 2,
      refused: 0,
    },
    'dns -> bind 127.0.0.1:5353 address udp://127.0.0.1:5353 backends ups0 timeout 60000' +
      ' max-flows 4096 security-group (allow-all) flows 2 refused 0',
  ],
  'event-loop-group': [{ name: 'elg0' }, 'elg0'],
  'event-loop': [{ name: 'el0' }, 'el0'],
  upstream: [{ name: 'ups0' }, 'ups0'],
  'server-group': [
    GROUP,
    'sg0 -> timeout 500 period 1000 up 2 down 3 method wrr check tcp event-loop-group (control-elg)',
  ],
  'upstream-server-group': [
    { ...GROUP, weight: 10 },
    'sg0 -> timeout 500 period 1000 up 2 down 3 method wrr check tcp event-loop-group (control-elg) weight 10',
  ],
  server: [
    { name: 's0', address: 'tcp://127.0.0.1:9001', weight: 10, status: 'UP' },
    's0 -> connect-to tcp://127.0.0.1:9001 weight 10 currently UP',
  ],
  'socks5-user': [{ name: 'alice' }, 'alice'],
  'security-group': [{ name: 'secg0', default: 'deny' }, 'secg0 -> default deny'],
  'security-group-rule': [
    {
      name: 'r0',
      default: 'allow',
      network: '10.0.0.0/8',
      protocol: 'tcp',
      'port-range': '80,443',
    },
    'r0 -> allow 10.0.0.0/8 protocol TCP port [80,443]',
  ],
  'cert-key': [
    { name: 'ck0', cert: '/etc/c.pem', key: '/etc/k.pem' },
    'ck0 -> cert /etc/c.pem key /etc/k.pem',
  ],
  'smart-node-delegate': [
    {
      name: 'snd0',
      service: 'web',
      zone: 'z1',
      nic: 'lo',
      address: '127.0.0.1',
      port: 8080,
      'ip-type': 'v4',
      weight: 10,
      state: 'connected',
      local: 'up',
      registry: 'connected',
      key: '/vproxy/services/web/z1/127.0.0.1:8080',
      revision: 7,
    },
    'snd0 -> service web zone z1 nic lo address 127.0.0.1 port 8080 ip-type v4 weight 10' +
      ' state connected local up registry connected revision 7',
  ],
  'smart-group-delegate': [
    {
      name: 'sgd0',
      service: 'web',
      zone: 'z1',
      'server-group': 'sg0',
      state: 'frozen',
      registry: 'unavailable',
      servers: 2,
      revision: 9,
      changes: 3,
      relists: 1,
      conflicts: 0,
    },
    'sgd0 -> service web zone z1 server-group sg0 state frozen registry unavailable servers 2' +
      ' revision 9 changes 3 relists 1 conflicts 0',
  ],
  'server-sock': [{ name: '127.0.0.1:8080' }, '127.0.0.1:8080'],
  connection: [{ name: '127.0.0.1:5000/127.0.0.1:8080' }, '127.0.0.1:5000/127.0.0.1:8080'],
  session: [
    { client: '127.0.0.1:5000/127.0.0.1:8080', backend: '127.0.0.1:6000/127.0.0.1:9001' },
    ['127.0.0.1:5000/127.0.0.1:8080', '127.0.0.1:6000/127.0.0.1:9001'],
  ],
  'resp-controller': [{ name: 'r', address: '127.0.0.1:16309' }, 'r -> 127.0.0.1:16309'],
  'http-controller': [{ name: 'h', address: '[::1]:18776' }, 'h -> [::1]:18776'],
};

const KINDS = Object.keys(CASES) as DetailKind[];
const DOC = {
  components: { schemas: Object.fromEntries(KINDS.map((k) => [schemaName(k), DETAIL_SCHEMAS[k]])) },
};

describe('list-detail records', () => {
  it.each(KINDS)('%s renders the line it always printed, and fits its schema', (kind) => {
    const [record, text] = CASES[kind] as readonly [Details[DetailKind], string | string[]];
    expect(detailText(kind, record)).toEqual(text);
    expect(validate(record, DETAIL_SCHEMAS[kind], DOC)).toEqual([]);
  });

  it('optional parts drop out of the text: no cert-key, no backend yet, a group the store lost', () => {
    const { 'cert-key': _ck, ...plain } = CASES['tcp-lb'][0];
    expect(detailText('tcp-lb', plain)).not.toContain('cert-key');
    expect(detailText('session', { client: 'a/b' })).toEqual(['a/b']);
    expect(detailText('upstream-server-group', { name: 'gone', weight: 5 })).toBe(
      'gone -> weight 5',
    );
  });

  it('detailList keeps the records and the text items side by side, in order', () => {
    const result = detailList('upstream', [{ name: 'a' }, { name: 'b' }]);
    expect(result.items).toEqual(['a', 'b']);
    expect(result.details).toEqual({ kind: 'upstream', records: [{ name: 'a' }, { name: 'b' }] });
    expect(detailKey({ client: 'c/d' })).toBe('c/d');
  });
});
