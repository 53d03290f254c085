import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../src/control/command/parse.js';
import { checkLoadable, maskSecrets, referencesOf } from '../../../src/control/config.js';

// The pure parts of "a daemon never saves a config it cannot load" and "no
// secret in a network answer": what a command refers to, the name-level replay
// that save runs first, and the masking of list config for RESP/HTTP.

const S5 = ['add upstream up1', 'add socks5-server s5 address 127.0.0.1:0 upstream up1'];

function failure(lines: readonly string[]): string {
  try {
    checkLoadable(['# header', ...lines], 'f.conf');
    return 'loads';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('referencesOf', () => {
  it('names the parent, the referring params and an attached top-level resource', () => {
    const refs = (line: string) =>
      referencesOf(parseCommand(line)).map((r) => `${r.type} ${r.name}`);
    expect(
      refs(
        'add tcp-lb lb1 address tls://127.0.0.1:0 upstream up1 acceptor-elg ea event-loop-group ew security-group sg1 cert-key ck1',
      ),
    ).toEqual([
      'upstream up1',
      'event-loop-group ea',
      'event-loop-group ew',
      'security-group sg1',
      'cert-key ck1',
    ]);
    expect(refs('add server-group g1 to upstream up1 weight 3')).toEqual([
      'upstream up1',
      'server-group g1',
    ]);
    expect(refs('add server sv1 to server-group g1 address 127.0.0.1:1')).toEqual([
      'server-group g1',
    ]);
    expect(refs('add upstream up1')).toEqual([]);
  });
});

describe('checkLoadable', () => {
  it('accepts defaults, and names the first dangling or duplicated line', () => {
    expect(
      failure([
        ...S5,
        'add tcp-lb lb1 address 127.0.0.1:0 upstream up1 acceptor-elg (acceptor-elg) event-loop-group (worker-elg)',
        'add server-group g1 timeout 1 period 1 up 1 down 1 event-loop-group (control-elg)',
        'add server-group g1 to upstream up1',
      ]),
    ).toBe('loads');
    expect(failure(['add tcp-lb lb1 address 127.0.0.1:0 upstream up1'])).toBe(
      'line 2: Cannot find upstream with name up1.',
    );
    expect(failure(['add upstream up1', 'add upstream up1'])).toBe(
      'line 3: Duplicated entry for upstream with up1.',
    );
    expect(failure(['add upstream up1', 'add server-group g1 to upstream up1'])).toBe(
      'line 3: Cannot find server-group with name g1.',
    );
    expect(
      failure([
        ...S5,
        'add socks5-user al to socks5-server s5 password x',
        'add socks5-user al to socks5-server s5 password y',
      ]),
    ).toBe('line 5: Duplicated entry for socks5-user with al.');
    // The same child name in two parents is fine.
    expect(
      failure([
        'add event-loop-group e1',
        'add event-loop-group e2',
        'add event-loop el1 to event-loop-group e1',
        'add event-loop el1 to event-loop-group e2',
      ]),
    ).toBe('loads');
    expect(failure(['add cert-key ck1 cert /nonexistent/c.pem key /nonexistent/k.pem'])).toBe(
      'line 2: cert-key ck1: cannot read cert /nonexistent/c.pem: no such file',
    );
  });
});

describe('maskSecrets', () => {
  it('masks every password value, and only it', () => {
    expect(
      maskSecrets([
        '# Generated',
        ...S5,
        'add socks5-user alice to socks5-server s5 password s3cret',
        `add socks5-user o'brien to socks5-server s5 password q"u'o\\te`,
      ]),
    ).toEqual([
      '# Generated',
      ...S5,
      'add socks5-user alice to socks5-server s5 password ******',
      "add socks5-user o'brien to socks5-server s5 password ******",
    ]);
  });

  it('the mask is not a password a command accepts', () => {
    expect(() => parseCommand('add socks5-user al to socks5-server s5 password ******')).toThrow(
      /invalid password: \*{6} is how a listing shows a masked password/,
    );
  });
});
