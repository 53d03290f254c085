import { isIP } from 'node:net';
import { parseAddress } from '../../fd/address.js';
import { isVproxyError } from '../../fd/errors.js';
import { CHECK_SYNTAX, parseCheckSpec } from '../../lb/health-config.js';
import { checkSegment } from '../../mesh/keys.js';
import { SECRET_MASK } from './keywords.js';

/**
 * Checks a parameter value; returns null when it is fine, or the reason it is
 * not (the parser turns that into "invalid P: reason").
 */
export type ValueCheck = (value: string) => string | null;

export function intIn(min: number, max: number): ValueCheck {
  return (v) => {
    if (!/^[0-9]{1,10}$/.test(v)) return `expected a whole number in ${min}..${max}`;
    const n = Number(v);
    return n < min || n > max ? `expected a whole number in ${min}..${max}` : null;
  };
}

export function oneOf(...choices: string[]): ValueCheck {
  return (v) => (choices.includes(v) ? null : `expected one of ${choices.join(', ')}`);
}

export const address: ValueCheck = (v) => {
  try {
    const parsed = parseAddress(v);
    const masked = Object.keys(parsed.options).find((k) => parsed.options[k] === SECRET_MASK);
    if (masked !== undefined)
      return `${SECRET_MASK} is how a listing shows a masked ${masked}; give the real one`;
    return null;
  } catch (err) {
    if (!isVproxyError(err)) return 'not an address';
    // The parser says `invalid address "V": why`; the command parser already
    // says `invalid address V: `, so only the why is added.
    const prefix = `invalid address "${v}": `;
    return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  }
};

/** `ip/prefix` with the prefix in range for the family; host bits are checked by the security group. */
export const network: ValueCheck = (v) => {
  const slash = v.indexOf('/');
  if (slash < 0) return 'expected ip/prefix, e.g. 10.0.0.0/8';
  const ip = v.slice(0, slash);
  const prefix = v.slice(slash + 1);
  const family = isIP(ip);
  if (family === 0) return `"${ip}" is not an IP address`;
  const max = family === 4 ? 32 : 128;
  if (!/^[0-9]{1,3}$/.test(prefix) || Number(prefix) > max) return `prefix must be 0..${max}`;
  return null;
};

export const portRange: ValueCheck = (v) => {
  const m = /^([0-9]{1,5}),([0-9]{1,5})$/.exec(v);
  if (!m) return 'expected min,max';
  const min = Number(m[1]);
  const max = Number(m[2]);
  if (max > 65535 || min > max) return 'expected 0 <= min <= max <= 65535';
  return null;
};

/** A health check as src/lb parses it (its one spelling: CHECK_SYNTAX). */
export const healthCheck: ValueCheck = (v) => {
  try {
    parseCheckSpec(v);
    return null;
  } catch {
    return `expected ${CHECK_SYNTAX}`;
  }
};

/** Comma-separated, non-empty items without spaces (names, file paths). */
export const list: ValueCheck = (v) =>
  v.split(',').every((item) => item.length > 0)
    ? null
    : 'expected a comma-separated list without empty items';

/** A resource name: printable ASCII without spaces or commas, at most 128 characters. */
export const name: ValueCheck = (v) =>
  /^[\x21-\x2b\x2d-\x7e]{1,128}$/.test(v)
    ? null
    : 'expected 1-128 printable characters without spaces or commas';

/**
 * RFC 1929 UNAME / PASSWD: 1..255 bytes of UTF-8. The reason never contains
 * the value (it may be a password).
 */
export function rfc1929(what: string): ValueCheck {
  return (v) => {
    const bytes = Buffer.byteLength(v, 'utf8');
    return bytes >= 1 && bytes <= 255
      ? null
      : `a socks5 ${what} is 1-255 bytes of UTF-8 (RFC 1929), this one is ${bytes}`;
  };
}

/** A secret value: anything `inner` accepts except the mask listings show in its place. */
export function secret(inner: ValueCheck): ValueCheck {
  return (v) =>
    v === SECRET_MASK
      ? `${SECRET_MASK} is how a listing shows a masked password; give the real one`
      : inner(v);
}

/** An IP literal (v6 without brackets): what a smart-node-delegate publishes. */
export const ip: ValueCheck = (v) => (isIP(v) === 0 ? 'expected an IP address' : null);

/** A service or zone name: the registry's key segment rule, from its one source. */
export const meshSegment: ValueCheck = (v) => {
  try {
    checkSegment('service', v);
    return null;
  } catch {
    return 'expected 1-128 of A-Z a-z 0-9 . _ : @ [ ] -';
  }
};
