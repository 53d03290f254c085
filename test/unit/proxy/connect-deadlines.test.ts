import { describe, expect, it } from 'vitest';
import { ConnectDeadlines } from '../../../src/proxy/connect-deadlines.js';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await wait(10);
}

describe('ConnectDeadlines (one timer for every dial of an engine)', () => {
  it('expires what is still there, oldest first, and never what was deleted', async () => {
    const expired: string[] = [];
    const deadlines = new ConnectDeadlines<string, number>(30, (key, value) => {
      expired.push(`${key}=${value}`);
    });
    deadlines.add('a', 1);
    deadlines.add('b', 2);
    deadlines.add('c', 3);
    deadlines.delete('b');
    await until(() => expired.length === 2);
    expect(expired).toEqual(['a=1', 'c=3']);
    // The queue drained: a new entry arms the timer again.
    deadlines.add('d', 4);
    await until(() => expired.length === 3);
    expect(expired).toEqual(['a=1', 'c=3', 'd=4']);
    deadlines.clear();
  });

  it('an entry added again (a redispatch) runs from its new start', async () => {
    const expired: string[] = [];
    const deadlines = new ConnectDeadlines<string, string>(40, (key) => expired.push(key));
    deadlines.add('first', '');
    deadlines.add('second', '');
    deadlines.add('first', ''); // moved behind 'second'
    await until(() => expired.length === 2);
    expect(expired).toEqual(['second', 'first']);
  });

  it('clear() drops everything; a timeout of 0 never expires anything', async () => {
    const expired: string[] = [];
    const cleared = new ConnectDeadlines<string, null>(20, (key) => expired.push(key));
    cleared.add('x', null);
    cleared.clear();
    const never = new ConnectDeadlines<string, null>(0, (key) => expired.push(key));
    never.add('y', null);
    await wait(80);
    expect(expired).toEqual([]);
  });
});
