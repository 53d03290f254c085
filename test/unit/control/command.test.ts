import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { helpLines, manLines } from '../../../src/control/command/help.js';
import { ACTIONS, FLAGS, PARAMS, RESERVED, TYPES } from '../../../src/control/command/keywords.js';
import { formatCommand, parseCommand } from '../../../src/control/command/parse.js';
import { VproxyError } from '../../../src/fd/errors.js';
import { parseError } from '../../helpers/command.js';

describe('parseCommand: valid commands', () => {
  it('parses a tcp-lb with full and short spellings alike', () => {
    const full = parseCommand(
      'add tcp-lb lb0 address kcp://0.0.0.0:4000 upstream ups0 timeout 1000',
    );
    const short = parseCommand('a   tl lb0 addr kcp://0.0.0.0:4000 ups ups0 timeout 1000');
    expect(short).toEqual(full);
    expect(full).toMatchObject({
      action: 'add',
      type: 'tcp-lb',
      name: 'lb0',
      location: [],
      params: { address: 'kcp://0.0.0.0:4000', upstream: 'ups0', timeout: '1000' },
    });
  });

  it('attaches with to and detaches with from', () => {
    expect(
      parseCommand('add server s1 to server-group sg0 address 127.0.0.1:80 weight 5'),
    ).toMatchObject({
      type: 'server',
      preposition: 'to',
      location: [{ type: 'server-group', name: 'sg0' }],
      params: { address: '127.0.0.1:80', weight: '5' },
    });
    expect(parseCommand('add server-group sg0 to upstream ups0 weight 3').rule.where).toEqual([
      'upstream',
    ]);
    expect(parseCommand('r sg sg0 from ups ups0')).toMatchObject({
      action: 'remove',
      preposition: 'from',
    });
  });

  it('distinguishes a top-level server-group from one in an upstream', () => {
    const top = parseCommand(
      'add server-group sg0 timeout 1000 period 5000 up 2 down 3 method wlc',
    );
    expect(top.rule.where).toEqual(['top']);
    expect(parseError('add server-group sg0 to upstream ups0 weight 3 method wrr')).toBe(
      'method is not a valid param when adding server-group',
    );
  });

  it('parses inspection paths with in-chains, direct parent first', () => {
    expect(parseCommand('list bytes-in in server-sock 1.2.3.4:80 in tcp-lb lb0').location).toEqual([
      { type: 'server-sock', name: '1.2.3.4:80' },
      { type: 'tcp-lb', name: 'lb0' },
    ]);
    expect(parseCommand('R conn /127\\.0\\.0\\.1/ in tl lb0')).toMatchObject({
      action: 'force-remove',
      type: 'connection',
      name: '/127\\.0\\.0\\.1/',
    });
    expect(parseCommand('L sess in socks5 s0').action).toBe('list-detail');
  });

  it('takes flags', () => {
    expect(
      parseCommand('add socks5-server s0 address 127.0.0.1:1080 upstream ups0 allow-non-backend')
        .flags,
    ).toEqual(['allow-non-backend']);
  });
});

describe('parseCommand: errors name the offending token', () => {
  it.each([
    ['', 'unexpected end: expected an action'],
    ['make tcp-lb x', 'make is not a valid action'],
    ['add thing x', 'thing is not a valid resource type'],
    ['add tcp-lb', 'resource name not specified when adding the resource'],
    [
      'add tcp-lb sg address 1.2.3.4:1 upstream ups0',
      'sg is a key word, not a name (the name of the tcp-lb is missing?)',
    ],
    ['list tcp-lb lb0', 'cannot specify resource name when listing the resource (lb0)'],
    ['add tcp-lb lb0 upstream ups0', 'missing argument address'],
    [
      'add tcp-lb lb0 address nope upstream ups0',
      'invalid address nope: missing port (expected "host:port")',
    ],
    [
      'add tcp-lb lb0 address 1.2.3.4:1 upstream ups0 weight 3',
      'weight is not a valid param when adding tcp-lb',
    ],
    ['add tcp-lb lb0 address 1.2.3.4:1 upstream ups0 frob', 'frob is not a valid param or flag'],
    [
      'add tcp-lb lb0 address 1.2.3.4:1 address 1.2.3.4:2 upstream ups0',
      'param address is given twice',
    ],
    ['add tcp-lb lb0 address', 'unexpected end: expected a value for address'],
    [
      'add tcp-lb lb0 address up',
      'up is a key word, not a value (the value of address is missing?)',
    ],
    [
      'list server to server-group sg0',
      'cannot specify preposition when action is list or list-detail',
    ],
    ['add server s from server-group sg0 address 1.2.3.4:1', 'cannot use from when adding server'],
    ['remove server s to server-group sg0', 'cannot use to when removing server'],
    ['update server s to server-group sg0 weight 1', 'cannot use to when updating server'],
    [
      'add server s in server-group sg0 address 1.2.3.4:1',
      'cannot specify parent resource when adding server: use "to"',
    ],
    ['add server s address 1.2.3.4:1', 'cannot find server on top level: it is in server-group'],
    [
      'add server s to upstream ups0 address 1.2.3.4:1',
      'upstream does not contain server (it is in server-group)',
    ],
    ['update event-loop-group e', 'unsupported action update for event-loop-group'],
    ['add server-group g timeout 1 period 1 up 1', 'missing argument down'],
    [
      'update server-group g timeout 1 up 2',
      'invalid health check config: timeout, period, up, down go together',
    ],
    [
      'add server-group g timeout 1 period 1 up 1 down 1 method fastest',
      'invalid method fastest: expected one of wrr, wlc, source, random',
    ],
    [
      'add security-group-rule r0 to secg g network 10.0.0.0/33 protocol tcp port-range 1,2 default allow',
      'invalid network 10.0.0.0/33: prefix must be 0..32',
    ],
    [
      'add secgr r0 to secg g network 10.0.0.0/8 protocol tcp port-range 9,2 default allow',
      'invalid port-range 9,2: expected 0 <= min <= max <= 65535',
    ],
    [
      'add socks5 s address 1.2.3.4:1 upstream ups0 allow-non-backend deny-non-backend',
      'both allow-non-backend and deny-non-backend set',
    ],
    [
      'add tcp-lb lb0 address 1.2.3.4:1 upstream ups0 allow-non-backend',
      'allow-non-backend is not a valid flag when adding tcp-lb',
    ],
    [
      'add tcp-lb l\tb address 1.2.3.4:1 upstream ups0',
      '"l\\tb" is invalid: only printable ASCII without spaces',
    ],
  ])('%j -> %s', (line, message) => {
    expect(parseError(line)).toBe(message);
  });
});

// Generators of valid commands, from the model itself.
const nameArb = fc.stringMatching(/^[a-z0-9_$()-]{1,12}$/).filter((n) => !RESERVED.has(n));

const validLines = fc.oneof(
  fc
    .tuple(
      nameArb,
      nameArb,
      fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 1, max: 100_000 }),
    )
    .map(
      ([n, u, port, t]) => `add tcp-lb ${n} address 127.0.0.1:${port} upstream ${u} timeout ${t}`,
    ),
  fc
    .tuple(nameArb, nameArb, fc.integer({ min: 0, max: 1000 }))
    .map(([s, g, w]) => `add server ${s} to server-group ${g} address localhost:80 weight ${w}`),
  fc
    .tuple(nameArb, fc.constantFrom('wrr', 'wlc', 'source', 'random'))
    .map(([g, m]) => `add server-group ${g} timeout 1000 period 2000 up 1 down 2 method ${m}`),
  fc.tuple(nameArb, nameArb).map(([c, l]) => `force-remove connection ${c} in tcp-lb ${l}`),
  fc.tuple(nameArb, nameArb).map(([s, g]) => `update server ${s} in server-group ${g} weight 0`),
);

describe('parseCommand properties', () => {
  it('formatCommand is a fixed point for valid commands', () => {
    fc.assert(
      fc.property(validLines, (line) => {
        const cmd = parseCommand(line);
        const text = formatCommand(cmd);
        expect(parseCommand(text)).toEqual(cmd);
        expect(formatCommand(parseCommand(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  const vocabulary = [
    ...ACTIONS.keys(),
    ...TYPES.keys(),
    ...PARAMS.keys(),
    ...FLAGS.keys(),
    'in',
    'to',
    'from',
    'lb0',
    '127.0.0.1:80',
    '10',
  ];

  it('any token soup parses or throws ERR_COMMAND_INVALID, nothing else', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom(...vocabulary), fc.string({ maxLength: 8 })), {
          maxLength: 14,
        }),
        (tokens) => {
          try {
            parseCommand(tokens.join(' '));
          } catch (err) {
            expect(err).toBeInstanceOf(VproxyError);
            expect((err as VproxyError).code).toBe('ERR_COMMAND_INVALID');
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('help and man come from the model', () => {
  it('help lists every keyword with its short form', () => {
    const text = helpLines().join('\n');
    for (const k of [...TYPES.values(), ...PARAMS.values(), ...ACTIONS.values()]) {
      expect(text).toContain(k.short === undefined ? k.full : `${k.full} (${k.short})`);
    }
  });

  it('man <type> shows each action usage with required params', () => {
    const page = manLines('tl').join('\n');
    expect(page).toContain('add tcp-lb <name> address <address> upstream <upstream>');
    expect(page).toContain('timeout (default 900000)');
    expect(manLines('server', 'add').join('\n')).toContain(
      'add server <name> to server-group <name>',
    );
    expect(manLines('add-to').join('\n')).toContain(
      'add server-group <name> to upstream <name> [weight <weight>]',
    );
  });

  it('an unknown topic has no manual entry', () => {
    expect(manLines('nothing')).toEqual(['No manual entry for nothing']);
    expect(manLines('tl', 'frob')).toEqual(['No manual entry for tl frob']);
  });
});
