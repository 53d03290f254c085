import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { manLines } from '../../../src/control/command/help.js';
import { RESERVED } from '../../../src/control/command/keywords.js';
import { formatCommand, parseCommand } from '../../../src/control/command/parse.js';
import { createCommand, updateCommand } from '../../../src/control/controllers/rest-routes.js';
import { planReload } from '../../../src/control/reload.js';
import { parseError } from '../../helpers/command.js';

// The socks5-server's UDP limits in the command language: max-associations
// (1..65535, default 256) and udp-timeout (1000..2^31-1 ms, default 60000),
// on add and update, in both spellings, through REST bodies and SIGHUP's plan.

const ADD = 'add socks5-server s5 address 127.0.0.1:1080 upstream u0';
const MAX_MS = 2_147_483_647;

/** Text that is not a whole number in min..max (or not a number at all). */
function outside(min: number, max: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.integer({ min: 0, max: min - 1 }).map(String),
    fc.integer({ min: max + 1, max: 9_999_999_999 }).map(String),
    fc.integer({ min: 1, max: 1e6 }).map((n) => `-${n}`),
    fc.tuple(fc.nat(1e5), fc.integer({ min: 1, max: 99 })).map(([a, b]) => `${a}.${b}`),
    fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/).filter((t) => !RESERVED.has(t)),
  );
}

describe('max-associations and udp-timeout', () => {
  it('add fills in the defaults of today: 256 associations, 60000 ms', () => {
    const cmd = parseCommand(`${ADD} allow-udp`);
    expect(cmd.values).toMatchObject({ 'max-associations': 256, 'udp-timeout': 60000 });
  });

  it('any bound in 1..65535 and timeout in 1000..2^31-1 parses, in either spelling, and formats back', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 65_535 }),
        fc.integer({ min: 1000, max: MAX_MS }),
        fc.boolean(),
        (max, ms, short) => {
          const [m, t] = short
            ? ['maxassociations', 'udptimeout']
            : ['max-associations', 'udp-timeout'];
          for (const line of [
            `${ADD} ${m} ${max} ${t} ${ms}`,
            `update socks5-server s5 ${m} ${max} ${t} ${ms}`,
          ]) {
            const cmd = parseCommand(line);
            expect(cmd.values['max-associations']).toBe(max);
            expect(cmd.values['udp-timeout']).toBe(ms);
            expect(parseCommand(formatCommand(cmd)).values).toEqual(cmd.values);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('anything else is ERR_COMMAND_INVALID naming the param, the value and the range', () => {
    fc.assert(
      fc.property(outside(1, 65_535), (v) => {
        for (const line of [
          `${ADD} max-associations ${v}`,
          `update socks5-server s5 max-associations ${v}`,
        ]) {
          expect(parseError(line)).toBe(
            `invalid max-associations ${v}: expected a whole number in 1..65535`,
          );
        }
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(outside(1000, MAX_MS), (v) => {
        expect(parseError(`update socks5-server s5 udp-timeout ${v}`)).toBe(
          `invalid udp-timeout ${v}: expected a whole number in 1000..${MAX_MS}`,
        );
      }),
      { numRuns: 200 },
    );
  });

  it('only a socks5-server takes them', () => {
    expect(parseError('update tcp-lb lb1 max-associations 3')).toMatch(
      /max-associations is not a valid param when updating tcp-lb/,
    );
    expect(parseError('update udp-lb ul1 udp-timeout 3000')).toMatch(
      /udp-timeout is not a valid param when updating udp-lb/,
    );
    expect(parseError('update socks5-server s5 max-associations')).toMatch(/max-associations/);
  });

  it('man socks5-server documents both with their defaults', () => {
    const man = manLines('socks5-server', 'add').join('\n');
    expect(man).toContain('max-associations (default 256): socks5: UDP associations alive at once');
    expect(man).toContain('udp-timeout (default 60000): socks5: milliseconds');
  });

  it('REST bodies carry them as JSON numbers', () => {
    const collection = { type: 'socks5-server' as const, name: undefined, parent: undefined };
    expect(
      createCommand(collection, {
        name: 's5',
        address: '127.0.0.1:1080',
        upstream: 'u0',
        'max-associations': 8,
        'udp-timeout': 5000,
      }),
    ).toBe(`${ADD} max-associations 8 udp-timeout 5000`);
    expect(updateCommand({ ...collection, name: 's5' }, { 'max-associations': 9 })).toBe(
      'update socks5-server s5 max-associations 9',
    );
  });

  it('SIGHUP: a changed bound in the file is an update, not a replacement', () => {
    const running = ['add upstream u0', `${ADD} max-associations 256 udp-timeout 60000 allow-udp`];
    expect(planReload(running, ['add upstream u0', `${ADD} allow-udp`], 'f')).toEqual([]);
    const steps = planReload(
      running,
      ['add upstream u0', `${ADD} max-associations 9 udp-timeout 2000 allow-udp`],
      'f',
    );
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ kind: 'updated' });
    expect(steps[0]?.line).toMatch(
      /^update socks5-server s5 .*max-associations 9 udp-timeout 2000/,
    );
  });
});
