import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { helpLines, manLines } from '../../../src/control/command/help.js';
import { RESERVED } from '../../../src/control/command/keywords.js';
import { formatCommand, parseCommand, redactSecrets } from '../../../src/control/command/parse.js';
import { commandReferenceMarkdown } from '../../../src/control/command/reference.js';
import {
  createCommand,
  deleteCommand,
  listCommand,
  openApi,
  parseRestPath,
  updateCommand,
} from '../../../src/control/controllers/rest-routes.js';
import { parseError } from '../../helpers/command.js';

// socks5-user in the command language: the forms, the RFC 1929 limits, and a
// password that never shows in an error, an echoed line or the REST schema.

const IN_S5 = { type: 'socks5-server', name: 's5' };

describe('socks5-user: valid forms', () => {
  it('add ... to socks5-server ... password', () => {
    const cmd = parseCommand('add socks5-user alice to socks5-server s5 password s3cret');
    expect(cmd).toMatchObject({
      action: 'add',
      type: 'socks5-user',
      name: 'alice',
      preposition: 'to',
      location: [IN_S5],
      params: { password: 's3cret' },
    });
    expect(parseCommand('a s5u alice to socks5 s5 password s3cret')).toEqual(cmd);
  });

  it('update ... in, list / list-detail ... in, remove / force-remove ... from', () => {
    expect(parseCommand('update socks5-user alice in socks5-server s5 password n3w')).toMatchObject(
      {
        action: 'update',
        name: 'alice',
        location: [IN_S5],
        params: { password: 'n3w' },
      },
    );
    for (const action of ['list', 'list-detail'] as const) {
      expect(parseCommand(`${action} socks5-user in socks5-server s5`)).toMatchObject({
        action,
        name: undefined,
        location: [IN_S5],
      });
    }
    for (const action of ['remove', 'force-remove'] as const) {
      expect(parseCommand(`${action} socks5-user alice from socks5-server s5`)).toMatchObject({
        action,
        name: 'alice',
        preposition: 'from',
        location: [IN_S5],
        params: {},
      });
    }
  });

  it('takes names and passwords of exactly 1 and 255 bytes, quotes and commas included', () => {
    const long = 'p'.repeat(255);
    expect(
      parseCommand(`add socks5-user ${'u'.repeat(255)} to socks5-server s5 password ${long}`).params
        .password,
    ).toBe(long);
    expect(parseCommand('add socks5-user bob to socks5-server s5 password x').params.password).toBe(
      'x',
    );
    // No quoting: quote characters are ordinary characters of the password.
    expect(
      parseCommand(`add socks5-user o'brien,jr to socks5-server s5 password a"b'c\\`),
    ).toMatchObject({ name: "o'brien,jr", params: { password: `a"b'c\\` } });
  });

  it('formatCommand round-trips any printable password', () => {
    const password = fc.stringMatching(/^[\x21-\x7e]{1,40}$/).filter((p) => !RESERVED.has(p));
    fc.assert(
      fc.property(password, (p) => {
        const cmd = parseCommand(`add socks5-user bob to socks5-server s5 password ${p}`);
        expect(cmd.params.password).toBe(p);
        expect(parseCommand(formatCommand(cmd))).toEqual(cmd);
      }),
      { numRuns: 300 },
    );
  });
});

describe('socks5-user: errors', () => {
  it.each([
    [
      `add socks5-user bob to socks5-server s5 password ${'x'.repeat(256)}`,
      'invalid password: a socks5 password is 1-255 bytes of UTF-8 (RFC 1929), this one is 256',
    ],
    [
      `add socks5-user ${'u'.repeat(256)} to socks5-server s5 password x`,
      `invalid name ${'u'.repeat(256)}: a socks5 user name is 1-255 bytes of UTF-8 (RFC 1929), this one is 256`,
    ],
    [
      'add socks5-user bob to socks5-server s5 password',
      'unexpected end: expected a value for password',
    ],
    ['add socks5-user bob to socks5-server s5', 'missing argument password'],
    ['update socks5-user bob in socks5-server s5', 'missing argument password'],
    [
      'add socks5-user password to socks5-server s5 password x',
      'password is a key word, not a name (the name of the socks5-user is missing?)',
    ],
    [
      'add socks5-user bob to socks5-server s5 password hunter2 extra',
      'invalid password: the command language has no quoting, so a value cannot contain spaces',
    ],
    [
      'add socks5-user bob to socks5-server s5 password hünter2',
      'invalid password: only printable ASCII without spaces',
    ],
    [
      'add socks5-user bob to socks5-server s5 password weight',
      'invalid password: a key word of the command language (or the value is missing)',
    ],
    [
      'add socks5-user bob to socks5-server s5 password x weight 3',
      'weight is not a valid param when adding socks5-user',
    ],
    [
      'add socks5-user bob to server-group g password x',
      'server-group does not contain socks5-user (it is in socks5-server)',
    ],
    [
      'add socks5-user bob password x',
      'cannot find socks5-user on top level: it is in socks5-server',
    ],
    [
      'add socks5-user bob in socks5-server s5 password x',
      'cannot specify parent resource when adding socks5-user: use "to"',
    ],
    [
      'update socks5-user bob to socks5-server s5 password x',
      'cannot use to when updating socks5-user',
    ],
    ['remove socks5-user bob to socks5-server s5', 'cannot use to when removing socks5-user'],
    [
      'list-detail socks5-user bob in socks5-server s5',
      'cannot specify resource name when listing the resource (bob)',
    ],
    [
      'remove socks5-user bob from socks5-server s5 password x',
      'password is not a valid param when removing socks5-user',
    ],
  ])('%j -> %s', (line, message) => {
    expect(parseError(line)).toBe(message);
  });

  it('no error shows the password, whatever is wrong with it', () => {
    const secrets = [
      `${'Zq'.repeat(128)}`,
      'Zq9 Zq8',
      'Zq9\tZq8',
      'Zq9é',
      'Zq9 weight 3',
      'Zq9 Zq8 Zq7',
    ];
    for (const p of secrets) {
      for (const form of [
        `add socks5-user bob to socks5-server s5 password ${p}`,
        `update socks5-user bob in socks5-server s5 password ${p}`,
      ]) {
        const message = parseError(form);
        for (const part of p.split(/[ \t]/))
          if (part !== 'weight') expect(message).not.toContain(part);
        expect(message).not.toContain('Zq');
      }
    }
  });

  it('a failed line is echoed with its password masked', () => {
    expect(redactSecrets('add http-controller h address 127.0.0.1:1 token Tk9')).toBe(
      'add http-controller h address 127.0.0.1:1 token ******',
    );
    expect(redactSecrets('add resp-controller r address 127.0.0.1:1 password Pw9')).toBe(
      'add resp-controller r address 127.0.0.1:1 password ******',
    );
    expect(redactSecrets('add s5u bob to socks5 s5   password Zq9 Zq8')).toBe(
      'add s5u bob to socks5 s5 password ****** ******',
    );
    expect(redactSecrets('update socks5-user bob in socks5-server s5 password Zq9 weight 3')).toBe(
      'update socks5-user bob in socks5-server s5 password ****** weight 3',
    );
    expect(redactSecrets('add tcp-lb lb0 address 1.2.3.4:1 upstream u')).toBe(
      'add tcp-lb lb0 address 1.2.3.4:1 upstream u',
    );
  });
});

describe('socks5-user: help, man and the reference come from the model', () => {
  it('help lists the type and the password param with their descriptions', () => {
    const text = helpLines().join('\n');
    expect(text).toContain(
      'socks5-user (s5u): a username and password of a socks5-server; any user turns on RFC 1929 auth',
    );
    expect(text).toMatch(
      /\n {2}password \(pass\): a socks5 user's or a resp-controller's password: .*never listed/,
    );
  });

  it('man socks5-user shows every form', () => {
    const page = manLines('s5u').join('\n');
    for (const form of [
      'add socks5-user <name> to socks5-server <name> password <password>',
      'update socks5-user <name> in socks5-server <name> password <password>',
      'list socks5-user in socks5-server <name>',
      'list-detail socks5-user in socks5-server <name>',
      'remove socks5-user <name> from socks5-server <name>',
      'force-remove socks5-user <name> from socks5-server <name>',
    ]) {
      expect(page).toContain(form);
    }
    expect(page).toContain("password (required): a socks5 user's or a resp-controller's password");
    expect(manLines('add-to').join('\n')).toContain('add socks5-user <name> to socks5-server');
    expect(commandReferenceMarkdown()).toContain(
      '`add socks5-user <name> to socks5-server <name> password <v>`',
    );
  });
});

describe('socks5-user over REST', () => {
  const collection = parseRestPath(['socks5-server', 's5', 'socks5-user']);
  const item = parseRestPath(['socks5-server', 's5', 'socks5-user', 'alice']);

  it('routes like a server in a server group', () => {
    expect(collection).toEqual({ type: 'socks5-user', name: undefined, parent: IN_S5 });
    expect(createCommand(collection, { name: 'alice', password: 's3cret' })).toBe(
      'add socks5-user alice to socks5-server s5 password s3cret',
    );
    expect(updateCommand(item, { password: 'n3w' })).toBe(
      'update socks5-user alice in socks5-server s5 password n3w',
    );
    expect(listCommand(item)).toBe('list-detail socks5-user in socks5-server s5');
    expect(deleteCommand(item, true)).toBe('force-remove socks5-user alice from socks5-server s5');
  });

  it('refuses a password with white space without showing it', () => {
    expect(() => createCommand(collection, { name: 'alice', password: 'Zq9 Zq8' })).toThrow(
      'password must be non-empty and without white space',
    );
  });

  it('the OpenAPI document has the nested routes, the password write-only', () => {
    const paths = openApi('test').paths as Record<string, Record<string, unknown>>;
    const base = '/api/v1/module/socks5-server/{parent}/socks5-user';
    expect(Object.keys(paths[base] ?? {}).sort()).toEqual(['get', 'post']);
    expect(Object.keys(paths[`${base}/{name}`] ?? {}).sort()).toEqual(['delete', 'get', 'put']);
    for (const [path, method] of [
      [base, 'post'],
      [`${base}/{name}`, 'put'],
    ] as const) {
      const op = paths[path]?.[method] as {
        requestBody: { content: { 'application/json': { schema: Record<string, unknown> } } };
      };
      const schema = op.requestBody.content['application/json'].schema;
      expect(schema.required).toContain('password');
      expect((schema.properties as Record<string, unknown>).password).toMatchObject({
        type: 'string',
        format: 'password',
        writeOnly: true,
      });
    }
  });
});
