import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import { parsePortRange, SecurityGroup } from '../../../src/lb/security-group.js';

describe('SecurityGroup', () => {
  it('first matching rule wins, in insertion order; no match falls back to the default', () => {
    const sg = new SecurityGroup('sg', 'deny');
    sg.addRule({
      name: 'bad-host',
      network: '10.0.0.66',
      protocol: 'tcp',
      ports: '0-65535',
      action: 'deny',
    });
    sg.addRule({
      name: 'lan',
      network: '10.0.0.0/8',
      protocol: 'tcp',
      ports: '80',
      action: 'allow',
    });
    sg.addRule({
      name: 'v6',
      network: '2001:db8::/32',
      protocol: 'tcp',
      ports: '80-90',
      action: 'allow',
    });
    expect(sg.decide('10.0.0.66', 'tcp', 80)).toEqual({ allowed: false, rule: 'bad-host' });
    expect(sg.decide('10.1.2.3', 'tcp', 80)).toEqual({ allowed: true, rule: 'lan' });
    expect(sg.decide('10.1.2.3', 'tcp', 81)).toEqual({ allowed: false, rule: null }); // port range is the LB's port
    expect(sg.decide('::ffff:10.1.2.3', 'tcp', 80)).toEqual({ allowed: true, rule: 'lan' });
    expect(sg.decide('2001:db8:1::1', 'tcp', 90)).toEqual({ allowed: true, rule: 'v6' });
    expect(sg.decide('2001:db8:1::1', 'tcp', 91).allowed).toBe(false);
    expect(sg.decide('192.0.2.1', 'tcp', 80)).toEqual({ allowed: false, rule: null });
    expect(sg.decide('10.1.2.3', 'udp', 80)).toEqual({ allowed: false, rule: null }); // rules are per protocol
    sg.defaultAction = 'allow';
    expect(sg.allows('192.0.2.1', 'tcp', 80)).toBe(true);
    expect(sg.rules().map((r) => r.name)).toEqual(['bad-host', 'lan', 'v6']);
  });

  it('unknown or non-IP client addresses match no rule (the default decides)', () => {
    const sg = new SecurityGroup('sg', 'deny');
    sg.addRule({
      name: 'all',
      network: '0.0.0.0/0',
      protocol: 'tcp',
      ports: '0-65535',
      action: 'allow',
    });
    expect(sg.allows(undefined, 'tcp', 1)).toBe(false);
    expect(sg.allows('garbage', 'tcp', 1)).toBe(false);
    expect(sg.allows('127.0.0.1', 'tcp', 1)).toBe(true);
    expect(SecurityGroup.allowAll().allows(undefined, 'udp', 53)).toBe(true);
  });

  it('port range edges are inclusive', () => {
    const sg = new SecurityGroup('sg', 'allow');
    sg.addRule({
      name: 'r',
      network: '::/0',
      protocol: 'udp',
      ports: { min: 1000, max: 2000 },
      action: 'deny',
    });
    expect(sg.allows('::1', 'udp', 999)).toBe(true);
    expect(sg.allows('::1', 'udp', 1000)).toBe(false);
    expect(sg.allows('::1', 'udp', 2000)).toBe(false);
    expect(sg.allows('::1', 'udp', 2001)).toBe(true);
  });

  it('rejects duplicates and bad rules with typed errors; rules can be removed', () => {
    const sg = new SecurityGroup('sg');
    sg.addRule({ name: 'a', network: '10.0.0.0/8', protocol: 'tcp', ports: '1-2', action: 'deny' });
    const code = (fn: () => unknown) => {
      try {
        fn();
        return 'no error';
      } catch (err) {
        return (err as { code?: string }).code;
      }
    };
    const rule = {
      name: 'b',
      network: '10.0.0.0/8',
      protocol: 'tcp',
      ports: '1-2',
      action: 'deny',
    };
    expect(code(() => sg.addRule({ ...rule, name: 'a', ports: '3' }))).toBe('ERR_ALREADY_EXISTS');
    expect(code(() => sg.addRule(rule))).toBe('ERR_ALREADY_EXISTS'); // same network+protocol+range
    expect(code(() => sg.addRule({ ...rule, network: '::ffff:10.0.0.0/104' }))).toBe(
      'ERR_ALREADY_EXISTS',
    );
    expect(code(() => sg.addRule({ ...rule, protocol: 'udp' }))).toBe('no error');
    expect(code(() => sg.addRule({ ...rule, name: 'c', network: '10.0.0.1/8' }))).toBe(
      'ERR_CIDR_INVALID',
    );
    expect(code(() => sg.addRule({ ...rule, name: 'c', protocol: 'icmp' }))).toBe(
      'ERR_PROTOCOL_INVALID',
    );
    expect(code(() => sg.addRule({ ...rule, name: 'c', ports: '2-1' }))).toBe(
      'ERR_PORT_RANGE_INVALID',
    );
    expect(code(() => sg.addRule({ ...rule, name: 'c', ports: '65536' }))).toBe(
      'ERR_PORT_RANGE_INVALID',
    );
    expect(code(() => sg.addRule({ ...rule, name: 'c', ports: { min: -1, max: 3 } }))).toBe(
      'ERR_PORT_RANGE_INVALID',
    );
    expect(code(() => sg.addRule({ ...rule, name: 'c', action: 'maybe' }))).toBe(
      'ERR_OPTION_INVALID',
    );
    expect(code(() => new SecurityGroup('x', 'permit'))).toBe('ERR_OPTION_INVALID');
    expect(code(() => sg.removeRule('zz'))).toBe('ERR_NOT_FOUND');
    sg.removeRule('a');
    expect(sg.rules().map((r) => r.name)).toEqual(['b']);
  });

  it('property: port-range parsing either succeeds within bounds or throws ERR_PORT_RANGE_INVALID', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 14 }),
          fc.string({ unit: fc.constantFrom(...'0123456789-'.split('')), maxLength: 14 }),
        ),
        (text) => {
          try {
            const r = parsePortRange(text);
            expect(r.min).toBeLessThanOrEqual(r.max);
            expect(r.min).toBeGreaterThanOrEqual(0);
            expect(r.max).toBeLessThanOrEqual(65535);
          } catch (err) {
            if (!isVproxyError(err, 'ERR_PORT_RANGE_INVALID')) throw err;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
