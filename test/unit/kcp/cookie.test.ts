import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CMD_ACK, CMD_PUSH, encodeSegment } from '../../../transports/kcp/arq/index.js';
import { ClientSetup } from '../../../transports/kcp/session/client-setup.js';
import {
  admit,
  BUCKET_MS,
  CMD_ECHO,
  CMD_RETRY,
  COOKIE_HEADER_BYTES,
  CookieJar,
  CookieVerdict,
  echoPayload,
  isRetryFor,
} from '../../../transports/kcp/session/cookie.js';

// The keyless listener's stateless cookie (RETRY / ECHO): issuing, checking, the admission
// decision, the client's setup phase, and the parsers under garbage.

const HOST = '127.0.0.1';
const PORT = 40_000;
const SECRET = new Uint8Array(32).fill(7);

function start(conv: number, sn = 0, una = 0, cmd = CMD_PUSH): Uint8Array {
  return encodeSegment({ conv, cmd, frg: 0, wnd: 128, ts: 0, sn, una }, Buffer.from('hello'));
}

/** The datagram a client sends after a RETRY: the RETRY's bytes as ECHO, then the start. */
function echoOf(retry: Uint8Array, segments: Uint8Array): Buffer {
  const out = Buffer.concat([retry, segments]);
  out[4] = CMD_ECHO;
  return out;
}

function jarAt(t: { now: number }): CookieJar {
  return new CookieJar(() => t.now, SECRET);
}

describe('CookieJar', () => {
  it('a RETRY is 24 bytes, names the conv, and is never larger than the start', () => {
    const jar = jarAt({ now: 1_000_000 });
    const s = start(42);
    const retry = jar.retry(42, HOST, PORT);
    expect(retry.length).toBe(COOKIE_HEADER_BYTES);
    expect(retry.length).toBeLessThanOrEqual(s.length);
    expect(retry[4]).toBe(CMD_RETRY);
    expect(isRetryFor(retry, 42)).toBe(true);
    expect(isRetryFor(retry, 43)).toBe(false);
  });

  it('accepts its cookie in the current and the previous bucket, not later', () => {
    const t = { now: 10 * BUCKET_MS + 1 };
    const jar = jarAt(t);
    const echo = echoOf(jar.retry(42, HOST, PORT), start(42));
    expect(jar.check(echo, HOST, PORT)).toBe(CookieVerdict.Valid);
    t.now += BUCKET_MS;
    expect(jar.check(echo, HOST, PORT)).toBe(CookieVerdict.Valid);
    t.now += BUCKET_MS;
    expect(jar.check(echo, HOST, PORT)).toBe(CookieVerdict.Expired);
    // 256 buckets later the low byte matches again: the HMAC still refuses it.
    t.now = 10 * BUCKET_MS + 1 + 256 * BUCKET_MS;
    expect(jar.check(echo, HOST, PORT)).toBe(CookieVerdict.Invalid);
  });

  it('refuses a cookie for another address, port or conv, a forged one, another secret', () => {
    const t = { now: 5_000_000 };
    const jar = jarAt(t);
    const echo = echoOf(jar.retry(42, HOST, PORT), start(42));
    expect(jar.check(echo, '127.0.0.2', PORT)).toBe(CookieVerdict.Invalid);
    expect(jar.check(echo, HOST, PORT + 1)).toBe(CookieVerdict.Invalid);
    const otherConv = Buffer.from(echo);
    otherConv.writeUInt32LE(43, 0);
    expect(jar.check(otherConv, HOST, PORT)).toBe(CookieVerdict.Invalid);
    const forged = Buffer.from(echo);
    forged[COOKIE_HEADER_BYTES - 1] = (forged[COOKIE_HEADER_BYTES - 1] as number) ^ 1;
    expect(jar.check(forged, HOST, PORT)).toBe(CookieVerdict.Invalid);
    const otherListener = new CookieJar(() => t.now, new Uint8Array(32).fill(8));
    expect(otherListener.check(echo, HOST, PORT)).toBe(CookieVerdict.Invalid);
  });
});

describe('admit (keyless listener, no session for the datagram)', () => {
  const t = { now: 77 * BUCKET_MS };
  const jar = jarAt(t);

  it('answers a bare start with RETRY, a stray with CLOSE, a RETRY with nothing', () => {
    expect(admit(start(1), HOST, PORT, jar).action).toBe('retry');
    expect(admit(start(1, 5), HOST, PORT, jar).action).toBe('close');
    expect(admit(start(1, 0, 3), HOST, PORT, jar).action).toBe('close');
    expect(admit(start(1, 0, 0, CMD_ACK), HOST, PORT, jar).action).toBe('close');
    expect(admit(jar.retry(1, HOST, PORT), HOST, PORT, jar).action).toBe('drop');
  });

  it('creates only for a valid cookie on a start, and hands on the segments', () => {
    const s = start(9);
    const echo = echoOf(jar.retry(9, HOST, PORT), s);
    const ok = admit(echo, HOST, PORT, jar);
    expect(ok.action).toBe('create');
    expect(Buffer.from(ok.segments ?? []).equals(Buffer.from(s))).toBe(true);
    // Valid cookie, but a follow-up segment overtook the start: no state, no CLOSE.
    const later = echoOf(jar.retry(9, HOST, PORT), start(9, 1));
    expect(admit(later, HOST, PORT, jar)).toMatchObject({ action: 'drop', cookie: 0 });
    // From elsewhere: a fresh RETRY (an honest client recovers), counted as invalid.
    expect(admit(echo, '10.0.0.1', PORT, jar)).toMatchObject({
      action: 'retry',
      cookie: CookieVerdict.Invalid,
    });
    // Conv of the prefix and of the segments differ: malformed, dropped unanswered.
    const mixed = echoOf(jar.retry(9, HOST, PORT), start(10));
    expect(admit(mixed, HOST, PORT, jar).action).toBe('drop');
  });

  it('property: garbage never throws and never creates a session', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 24, maxLength: 200 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 0xffff }),
        (bytes, shape, port) => {
          const d = Buffer.from(bytes);
          // Steer part of the input towards the interesting shapes.
          if (shape === 1) d[4] = CMD_ECHO;
          if (shape === 2) d[4] = CMD_RETRY;
          if (shape === 3 && d.length >= 48) {
            d[4] = CMD_ECHO;
            d[6] = 0;
            d[7] = 0;
            d.copy(d, 24, 0, 4); // inner conv = prefix conv
            d[28] = CMD_PUSH;
            d.fill(0, 36, 44); // sn 0, una 0
          }
          const a = admit(d, HOST, port, jar);
          expect(a.action).not.toBe('create');
          expect(() => echoPayload(d)).not.toThrow();
          expect(() => isRetryFor(d, d.readUInt32LE(0))).not.toThrow();
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('property: any datagram the client setup sees never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 100 }), (bytes) => {
        const sent: Buffer[] = [];
        const setup = new ClientSetup(5, (b) => sent.push(b));
        setup.transmit(start(5), 29);
        const followed = setup.onRetry(bytes);
        // Only a well-formed RETRY for conv 5 is followed (and triggers a re-send).
        expect(followed).toBe(isRetryFor(bytes, 5));
        expect(sent.length).toBe(followed ? 2 : 1);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('ClientSetup', () => {
  it('holds non-starts until a RETRY, then re-sends the start and the rest behind ECHO', () => {
    const sent: Buffer[] = [];
    const setup = new ClientSetup(5, (b) => sent.push(b));
    const s = start(5);
    setup.transmit(s, s.length);
    setup.transmit(start(5, 1), s.length);
    expect(sent).toHaveLength(1); // the start only
    const jar = jarAt({ now: 1 });
    expect(setup.onRetry(jar.retry(5, HOST, PORT))).toBe(true);
    expect(sent).toHaveLength(3);
    for (const d of sent.slice(1)) {
      expect(d[4]).toBe(CMD_ECHO);
      expect(jar.check(d, HOST, PORT)).toBe(CookieVerdict.Valid);
    }
    expect(admit(sent[1] as Buffer, HOST, PORT, jar).action).toBe('create');
    // Retransmissions keep the prefix until the listener answers.
    setup.transmit(s, s.length);
    expect(sent[3]?.[4]).toBe(CMD_ECHO);
    setup.finish();
    setup.transmit(s, s.length);
    expect(sent[4]?.[4]).toBe(CMD_PUSH);
  });

  it('a listener that answers without a RETRY gets the held datagrams plain', () => {
    const sent: Buffer[] = [];
    const setup = new ClientSetup(5, (b) => sent.push(b));
    setup.transmit(start(5), 29);
    setup.transmit(start(5, 1), 29);
    setup.finish();
    expect(sent.map((d) => d.readUInt32LE(12))).toEqual([0, 1]);
    expect(sent.every((d) => d[4] === CMD_PUSH)).toBe(true);
  });
});
