import { afterEach, describe, expect, it } from 'vitest';
import { ConnectDeadlines } from '../../../src/proxy/connect-deadlines.js';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await wait(10);
}

/** A session as the deadlines see it: dialling since `dialStartedAt`, or not (null). */
class Dial {
  dialStartedAt: number | null = performance.now();
  constructor(readonly name: string) {}
}

const made: ConnectDeadlines<Dial>[] = [];
afterEach(() => {
  for (const d of made.splice(0)) d.clear();
});

function deadlines(timeoutMs: number, entries: Dial[], expired: string[]): ConnectDeadlines<Dial> {
  const d = new ConnectDeadlines<Dial>(
    timeoutMs,
    () => entries,
    (key) => {
      expired.push(key.name);
      key.dialStartedAt = null; // as the engine's expiry does: the dial fails
    },
  );
  made.push(d);
  return d;
}

describe('ConnectDeadlines (one timer for every dial of an engine, no entry per dial)', () => {
  it('expires the dials still pending, never one that ended', async () => {
    const expired: string[] = [];
    const entries = [new Dial('a'), new Dial('b'), new Dial('c')];
    const d = deadlines(30, entries, expired);
    d.started();
    (entries[1] as Dial).dialStartedAt = null; // b connected
    await until(() => expired.length === 2);
    expect(expired).toEqual(['a', 'c']);
    // Nothing pending: the timer stopped; a new dial arms it again.
    entries.push(new Dial('d'));
    d.started();
    await until(() => expired.length === 3);
    expect(expired).toEqual(['a', 'c', 'd']);
  });

  it('a dial started later (a redispatch) runs from its own start', async () => {
    const expired: string[] = [];
    const first = new Dial('first');
    const entries = [first, new Dial('second')];
    const d = deadlines(50, entries, expired);
    d.started();
    // Dialled again well after 'second' (a redispatch): not due when 'second' is.
    first.dialStartedAt = performance.now() + 1000;
    await until(() => expired.length === 1);
    expect(expired).toEqual(['second']);
    // 'first' is not expired with 'second': its new dial is younger.
    expect(first.dialStartedAt).not.toBeNull();
    await until(() => expired.length === 2);
    expect(expired).toEqual(['second', 'first']);
  });

  it('clear() stops the timer; a timeout of 0 never expires anything', async () => {
    const expired: string[] = [];
    const cleared = deadlines(20, [new Dial('x')], expired);
    cleared.started();
    cleared.clear();
    const never = deadlines(0, [new Dial('y')], expired);
    never.started();
    await wait(80);
    expect(expired).toEqual([]);
  });
});
