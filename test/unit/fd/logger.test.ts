import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { VproxyError } from '../../../src/fd/errors.js';
import {
  createLogger,
  errorFields,
  LOG_CHANNEL_NAME,
  type LogRecord,
  parseLogFormat,
  parseLogLevel,
  quietLogger,
  rateLimited,
  redactSecrets,
} from '../../../src/fd/logger.js';

const clock = () => new Date('2026-12-07T03:00:00.000Z');

function capture(threshold: 'off' | 'error' | 'warn' | 'info' | 'debug', format?: 'json') {
  const lines: string[] = [];
  const log = createLogger({ threshold, format, clock, write: (l) => lines.push(l) });
  return { log, lines };
}

describe('logger', () => {
  it('writes human lines at or above its threshold, nothing below', () => {
    const { log, lines } = capture('warn');
    log.debug('d');
    log.info('i');
    log.warn('backend-connect-failed', { lb: 'web', backend: '127.0.0.1:9', attempts: 2 });
    log.error('e', { reason: 'connect ECONNREFUSED 127.0.0.1:9' });
    expect(lines).toEqual([
      '2026-12-07T03:00:00.000Z WARN  backend-connect-failed lb=web backend=127.0.0.1:9 attempts=2',
      '2026-12-07T03:00:00.000Z ERROR e reason="connect ECONNREFUSED 127.0.0.1:9"',
    ]);
    expect(log.enabled('info')).toBe(false);
    expect(log.enabled('error')).toBe(true);
  });

  it('writes one JSON object per line, fields after the fixed keys, undefined dropped', () => {
    const { log, lines } = capture('debug', 'json');
    log.info('session-closed', {
      client: '[::1]:5000',
      bytesIn: 10,
      level: 'spoof',
      gone: undefined,
    });
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      {
        time: '2026-12-07T03:00:00.000Z',
        level: 'info',
        event: 'session-closed',
        client: '[::1]:5000',
        bytesIn: 10,
      },
    ]);
  });

  it('child loggers add their bindings; event fields win over bindings', () => {
    const { log, lines } = capture('info');
    log.child({ lb: 'a', kind: 'tcp' }).child({ kind: 'kcp' }).info('x', { n: 1 });
    expect(lines[0]).toBe('2026-12-07T03:00:00.000Z INFO  x lb=a kind=kcp n=1');
  });

  it('off writes nothing', () => {
    const { log, lines } = capture('off');
    log.error('e');
    expect(lines).toEqual([]);
  });

  it('publishes every event on the diagnostics channel, whatever the threshold', () => {
    const seen: LogRecord[] = [];
    const onMessage = (m: unknown) => seen.push(m as LogRecord);
    diagnosticsChannel.subscribe(LOG_CHANNEL_NAME, onMessage);
    try {
      expect(quietLogger.enabled('debug')).toBe(true);
      quietLogger.child({ lb: 'web' }).debug('picked', { backend: 'b1' });
    } finally {
      diagnosticsChannel.unsubscribe(LOG_CHANNEL_NAME, onMessage);
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]?.event).toBe('picked');
    expect(seen[0]?.level).toBe('debug');
    expect(seen[0]?.fields).toEqual({ lb: 'web', backend: 'b1' });
    expect(quietLogger.enabled('debug')).toBe(false);
  });

  it('never prints a key, password or token carried in an address or a command line', () => {
    expect(redactSecrets('kcp://h:1?mode=fast&key=s3cret&mtu=1200')).toBe(
      'kcp://h:1?mode=fast&key=***&mtu=1200',
    );
    expect(redactSecrets('kcp://h:1?kcp.key=s3cret')).toBe('kcp://h:1?kcp.key=***');
    expect(redactSecrets('add resp-controller r address 127.0.0.1:1 password hunter2')).toBe(
      'add resp-controller r address 127.0.0.1:1 password ***',
    );
    const { log, lines } = capture('info', 'json');
    log.info('listening', { address: 'kcp://0.0.0.0:4000?key=abc' });
    log.info('cmd', { line: 'add http-controller h address 127.0.0.1:2 token t0k' });
    expect(lines.join('\n')).not.toMatch(/abc|t0k/);
    const text = capture('info');
    text.log.info('listening', { address: 'kcp://0.0.0.0:4000?key=abc' });
    expect(text.lines[0]).toContain('address="kcp://0.0.0.0:4000?key=***"');
  });

  it('parses levels and formats, naming the choices on a bad one', () => {
    expect(parseLogLevel(' WARN ')).toBe('warn');
    expect(parseLogFormat('json')).toBe('json');
    expect(() => parseLogLevel('verbose')).toThrow(/off, error, warn, info, debug/);
    expect(() => parseLogFormat('xml')).toThrow(/text or json/);
  });

  it('rate-limits each event name on its own and sums up what it dropped', async () => {
    const { log, lines } = capture('info');
    let now = 0;
    const limited = rateLimited(log, { perWindow: 3, windowMs: 1000, now: () => now });
    for (let i = 0; i < 50; i++) limited.warn('backend-connect-failed', { i });
    limited.info('no-backend');
    expect(lines.filter((l) => l.includes('backend-connect-failed'))).toHaveLength(3);
    expect(lines.filter((l) => l.includes('no-backend'))).toHaveLength(1);
    // The next window: the summary comes first, with the level of what it stands for.
    now = 1000;
    limited.child({ lb: 'x' }).warn('backend-connect-failed', { i: 50 });
    expect(lines.slice(-2)).toEqual([
      '2026-12-07T03:00:00.000Z WARN  log-suppressed lb=x event=backend-connect-failed suppressed=47',
      '2026-12-07T03:00:00.000Z WARN  backend-connect-failed lb=x i=50',
    ]);
  });

  it('sums up a flood that stopped when its window ends', async () => {
    const { log, lines } = capture('info');
    const limited = rateLimited(log, { perWindow: 1, windowMs: 30 });
    for (let i = 0; i < 5; i++) limited.info('client-handshake-failed');
    expect(lines).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 80));
    expect(lines[1]).toMatch(/INFO {2}log-suppressed event=client-handshake-failed suppressed=4$/);
  });

  it('names the OS error under a wrapper: code, errno and syscall', () => {
    const sys = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
      code: 'ECONNREFUSED',
      errno: -111,
      syscall: 'connect',
    });
    const wrapped = new VproxyError('ERR_CONNECT_REFUSED', 'backend tcp://127.0.0.1:9: refused', {
      cause: sys,
    });
    expect(errorFields(wrapped)).toEqual({
      error: 'backend tcp://127.0.0.1:9: refused',
      code: 'ECONNREFUSED',
      errno: -111,
      syscall: 'connect',
    });
    expect(errorFields(new VproxyError('ERR_HANDSHAKE_TIMEOUT', 'slow'))).toMatchObject({
      error: 'slow',
      code: 'ERR_HANDSHAKE_TIMEOUT',
    });
    expect(errorFields('text')).toEqual({ error: 'text' });
  });
});
