import { expect } from 'vitest';
import { VproxyError } from '../../../src/fd/errors.js';
import { proxyHeaderSpec } from '../../../src/protocols/proxy-protocol/index.js';
import { feedInPieces, hexBytes } from './frame-helpers.js';

/** Shared PROXY protocol test vectors, written by hand from doc/proxy-protocol.txt. */

export const spec = proxyHeaderSpec();
export const SIG = '0d0a0d0a000d0a515549540a';
export const ascii = (s: string) => Buffer.from(s, 'latin1');
export const v2 = (rest: string) => hexBytes(SIG + rest.replace(/\s+/g, ''));

export const MAX_UNKNOWN = `PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`;
export const MAX_TCP6 = `PROXY TCP6 ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`;

export const TCP4_V2 = v2('21 11 000c c0a80001 c0a8000b dc04 01bb');
export const TCP6_V2 = v2(
  '21 21 0024 20010db8000000000000000000000001 00000000000000000000000000000001 3039 0050',
);

export interface Bad {
  readonly name: string;
  readonly bytes: Buffer;
  readonly code: 'ERR_PROXY_HEADER_INVALID' | 'ERR_PROXY_HEADER_TOO_LONG';
  readonly message: RegExp;
}

export function expectError(bytes: Buffer, code: string, message: RegExp, using = spec): void {
  const outcome = feedInPieces(using, bytes);
  expect(outcome.kind).toBe('error');
  const err = (outcome as { error: unknown }).error;
  expect(err).toBeInstanceOf(VproxyError);
  expect((err as VproxyError).code).toBe(code);
  expect((err as Error).message).toMatch(/^PROXY header: /);
  expect((err as Error).message).toMatch(message);
}
