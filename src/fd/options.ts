import type { Address } from './address.js';
import { VproxyError } from './errors.js';

// Typed readers for the string-valued options of an address, so every transport
// reports a bad value the same way: naming the option, the value and the address scheme.

function bad(address: Address, name: string, expected: string): never {
  throw new VproxyError(
    'ERR_OPTION_INVALID',
    `option "${name}=${address.options[name]}" of a ${address.scheme} address: expected ${expected}`,
  );
}

export function boolOption(address: Address, name: string, fallback: boolean): boolean {
  const v = address.options[name];
  if (v === undefined) return fallback;
  if (v === '' || v === '1' || v === 'true' || v === 'yes' || v === 'on') return true;
  if (v === '0' || v === 'false' || v === 'no' || v === 'off') return false;
  return bad(address, name, 'a boolean (1/0, true/false, yes/no, on/off)');
}

export function intOption(
  address: Address,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const v = address.options[name];
  if (v === undefined) return fallback;
  if (!/^[0-9]{1,15}$/.test(v)) return bad(address, name, `an integer in ${min}..${max}`);
  const n = Number(v);
  if (n < min || n > max) return bad(address, name, `an integer in ${min}..${max}`);
  return n;
}

export function stringOption(address: Address, name: string): string | undefined {
  const v = address.options[name];
  if (v === '') return bad(address, name, 'a non-empty value');
  return v;
}
