import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One capture written by test/fixtures/kcptun/capture.mjs. */
export interface KcptunFixture {
  name: string;
  flags: {
    key: string;
    crypt: string;
    nocomp: boolean;
    smuxver: number;
    ds: number;
    ps: number;
  };
  payload: Buffer;
  datagrams: { dir: 'c2s' | 's2c'; bytes: Buffer }[];
}

interface RawFixture {
  name: string;
  flags: KcptunFixture['flags'];
  payloadHex: string;
  datagrams: { dir: 'c2s' | 's2c'; hex: string }[];
}

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/kcptun');

export function loadFixtures(): KcptunFixture[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const raw = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as RawFixture;
      return {
        name: raw.name,
        flags: raw.flags,
        payload: Buffer.from(raw.payloadHex, 'hex'),
        datagrams: raw.datagrams.map((d) => ({ dir: d.dir, bytes: Buffer.from(d.hex, 'hex') })),
      };
    });
}

/**
 * The cipher a fixture's datagrams are really encrypted with: Debian's 20210922 build
 * does not know `null` and falls back to `aes` (while logging "encryption: null").
 */
export function effectiveCrypt(f: KcptunFixture): string {
  return f.flags.crypt === 'null' ? 'aes' : f.flags.crypt;
}
