import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CORE_ERROR_CODES, connectFailureCode, VproxyError } from '../../src/fd/errors.js';
import { KCP_ERROR_CODES } from '../../transports/kcp/errors.js';

/** Codes that are Node's, not ours (read from errors Node raises). */
const NODE_CODES = new Set(['ERR_BUFFER_TOO_LARGE']);

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

const FILES = ['src', 'transports', 'apps', 'lib'].flatMap(sources);
const TEXT = new Map(FILES.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));

/**
 * Every module's table, by the file that owns it: found, not listed, so a module
 * that adds an `errors.ts` is checked without touching this test.
 */
const TABLES: Record<string, Readonly<Record<string, string>>> = {};
for (const [file, text] of TEXT) {
  if (file.startsWith('lib/')) continue;
  for (const m of text.matchAll(/^export const ([A-Z0-9_]+_ERROR_CODES) = \{/gm)) {
    const mod = (await import(join(ROOT, file))) as Record<string, Record<string, string>>;
    TABLES[file] = mod[m[1] as string] as Record<string, string>;
  }
}

/** Quoted uses of a code that only test for it (`=== 'X'`, `case 'X'`, isVproxyError(e, 'X')). */
const TEST_ONLY = /(===\s*|case\s+|isVproxyError\([^,()]*,\s*)$/;

describe('error codes (issue 11 item 3)', () => {
  it('every code is in exactly one table, and every table lives in the file that owns it', () => {
    const owner = new Map<string, string>();
    for (const [file, table] of Object.entries(TABLES)) {
      expect(TEXT.has(file), file).toBe(true);
      for (const code of Object.keys(table)) {
        expect(owner.get(code), `${code} in ${file} and ${owner.get(code)}`).toBeUndefined();
        owner.set(code, file);
        expect(code).toMatch(/^ERR_[A-Z0-9_]+$/);
        expect(table[code]?.length ?? 0, `${code} says what it means`).toBeGreaterThan(10);
      }
    }
    expect(TABLES['src/fd/errors.ts']).toBe(CORE_ERROR_CODES);
    expect(Object.keys(TABLES).length).toBeGreaterThan(20);
    expect(owner.size).toBeGreaterThan(80);
  });

  it('every code is raised somewhere (a quoted use that is not only a comparison)', () => {
    const unused: string[] = [];
    for (const table of Object.values(TABLES)) {
      for (const code of Object.keys(table)) {
        const quoted = `'${code}'`;
        const raised = [...TEXT.values()].some((text) => {
          for (let at = text.indexOf(quoted); at >= 0; at = text.indexOf(quoted, at + 1)) {
            if (!TEST_ONLY.test(text.slice(Math.max(0, at - 80), at))) return true;
          }
          return false;
        });
        if (!raised) unused.push(code);
      }
    }
    expect(unused).toEqual([]);
  });

  it('every ERR_ literal in the code is a code of some table (no typos, no strays)', () => {
    const known = new Set(Object.values(TABLES).flatMap((t) => Object.keys(t)));
    const strays: string[] = [];
    for (const [file, text] of TEXT) {
      for (const m of text.matchAll(/'(ERR_[A-Z0-9_]+)'/g)) {
        const code = m[1] as string;
        if (!known.has(code) && !NODE_CODES.has(code)) strays.push(`${file}: ${code}`);
      }
    }
    expect(strays).toEqual([]);
  });

  it('docs/library.md lists every code with its meaning', () => {
    const docs = readFileSync(join(ROOT, 'docs/library.md'), 'utf8');
    const missing: string[] = [];
    for (const table of Object.values(TABLES)) {
      for (const [code, meaning] of Object.entries(table)) {
        if (!docs.includes(`\`${code}\``)) missing.push(code);
        else if (docs.includes(`| \`${code}\` |`) && !docs.includes(`| \`${code}\` | ${meaning} |`))
          missing.push(`${code} (meaning differs)`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('ERR_KCP_INPUT_INVALID (never raised) is gone', () => {
    expect(Object.keys(KCP_ERROR_CODES)).not.toContain('ERR_KCP_INPUT_INVALID');
  });

  it('a plain VproxyError takes only generic codes (checked by the compiler)', () => {
    // @ts-expect-error ERR_MUX_RESET belongs to transports/mux (MuxError)
    const e = new VproxyError('ERR_MUX_RESET', 'x');
    expect(e.code).toBe('ERR_MUX_RESET');
  });

  it('connectFailureCode names what happened: OS codes through causes, our codes as they are', () => {
    const os = (code: string) => Object.assign(new Error(code), { code });
    expect(connectFailureCode(os('ECONNREFUSED'))).toBe('ERR_CONNECT_REFUSED');
    expect(connectFailureCode(os('ECONNRESET'))).toBe('ERR_CONNECTION_RESET');
    expect(connectFailureCode(os('EHOSTUNREACH'))).toBe('ERR_HOST_UNREACHABLE');
    expect(connectFailureCode(os('ENOTFOUND'))).toBe('ERR_HOST_NOT_FOUND');
    expect(connectFailureCode(os('EMFILE'))).toBe('ERR_CONNECT_FAILED');
    expect(connectFailureCode(new Error('x', { cause: os('ECONNREFUSED') }))).toBe(
      'ERR_CONNECT_REFUSED',
    );
    expect(connectFailureCode(new VproxyError('ERR_CONNECT_TIMEOUT', 't'))).toBe(
      'ERR_CONNECT_TIMEOUT',
    );
  });
});
