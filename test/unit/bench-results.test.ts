import { describe, expect, it } from 'vitest';
import { interleaved, median } from '../../bench/lib/results.mjs';

// The helpers every bench shares: a median that is one (even counts average the
// middle two, instead of taking the upper one), and runs that alternate between
// configurations instead of measuring each as one block.

describe('bench helpers', () => {
  it('median: the middle value, or the mean of the two middle values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([10, 1])).toBe(5.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it('interleaved: run 1 of every configuration, then run 2…; samples grouped per configuration', async () => {
    const order: string[] = [];
    const samples = await interleaved(3, ['a', 'b'], (config, run) => {
      order.push(`${config}${run}`);
      return `${config}${run}`;
    });
    expect(order).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
    expect(samples).toEqual([
      ['a1', 'a2', 'a3'],
      ['b1', 'b2', 'b3'],
    ]);
  });
});
