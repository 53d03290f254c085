import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HttpError,
  RequestHeadReader,
  ResponseHeadReader,
} from '../../../src/protocols/http-proxy/index.js';
import {
  authorizationValue,
  buildUpgradeRequest,
  checkSwitchingProtocols,
  checkUpgradeRequest,
  ReplayCache,
  verifyAuthorization,
  WebsocksError,
  WebsocksUsers,
} from '../../../src/protocols/websocks/index.js';

const NOW = 1_700_000_000_000;
const users = new WebsocksUsers([['u', 'p']]);
const valid = buildUpgradeRequest({
  host: 'h',
  port: 80,
  tls: false,
  user: 'u',
  password: 'p',
  nowMs: NOW,
});

/** Run bytes through the server's head reader and check; classify the outcome. */
function serve(bytes: Buffer, cuts: number[] = []): string {
  const reader = new RequestHeadReader({ maxHeadBytes: 4096, maxHeaders: 32 });
  const points = [
    0,
    ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b),
    bytes.length,
  ];
  try {
    for (let i = 0; i + 1 < points.length; i++) {
      const got = reader.push(bytes.subarray(points[i], points[i + 1]));
      if (got) {
        const extra = got.leftover.length + (bytes.length - (points[i + 1] as number));
        const ok = checkUpgradeRequest(got.head, extra, {
          users,
          nowMs: NOW,
          replay: new ReplayCache(),
        });
        return `ok:${ok.user}`;
      }
    }
    return 'more';
  } catch (err) {
    if (err instanceof WebsocksError) return `${err.code}:${err.check}`;
    if (err instanceof HttpError) return err.code;
    throw err;
  }
}

describe('websocks handshake fuzzing', () => {
  it('answers garbage, truncations and mutations with a typed refusal or "need more", never a crash', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
      fc.integer({ min: 0, max: valid.length }).map((n) => valid.subarray(0, n)),
      fc
        .tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }))
        .map(([at, byte]) => {
          const copy = Buffer.from(valid);
          copy[at] = byte;
          return copy;
        }),
      fc
        .nat({ max: 6000 })
        .map((n) => Buffer.concat([valid.subarray(0, 20), Buffer.alloc(n, 0x41)])),
    );
    fc.assert(
      fc.property(input, (bytes) => {
        expect(serve(bytes)).toMatch(/^(ok:u|more|ERR_[A-Z_]+(:[a-z]+)?)$/);
      }),
      { numRuns: 3000 },
    );
  });

  it('decides the same way for every split of the request', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: valid.length }), { maxLength: 10 }),
        (cuts) => {
          expect(serve(valid, cuts)).toBe('ok:u');
        },
      ),
    );
  });

  it('verifies a header exactly within ±1 minute of its salt, for any clock value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 46 }),
        fc.integer({ min: -300_000, max: 300_000 }),
        (t, skew) => {
          const header = authorizationValue('u', 'p', t);
          const minuteDelta = Math.floor((t + skew) / 60_000) - Math.floor(t / 60_000);
          const accepted = (() => {
            try {
              verifyAuthorization(header, users, t + skew);
              return true;
            } catch (err) {
              if (!(err instanceof WebsocksError)) throw err;
              return false;
            }
          })();
          expect(accepted).toBe(Math.abs(minuteDelta) <= 1);
        },
      ),
    );
  });

  it('refuses any non-101 or broken response with a typed error', () => {
    const line = fc.oneof(
      fc.constantFrom(
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
      ),
      fc.string({ maxLength: 20 }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom('101 Switching Protocols', '200 OK', '401 No', '101'),
        fc.array(line, { maxLength: 5 }),
        (status, lines) => {
          const text = `HTTP/1.1 ${status}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
          try {
            const got = new ResponseHeadReader().push(Buffer.from(text, 'latin1'));
            if (got) checkSwitchingProtocols(got.head);
          } catch (err) {
            expect(err instanceof WebsocksError || err instanceof HttpError).toBe(true);
          }
        },
      ),
    );
  });
});
