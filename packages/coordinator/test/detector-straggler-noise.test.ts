import { describe, expect, it } from 'vitest';
import { StragglerDetector } from '../src/health/straggler-detector';

describe('StragglerDetector noise floor', () => {
  it('does not flag a rank that is 1.5x slower by only milliseconds, but flags a real straggler', () => {
    const d = new StragglerDetector({ factor: 1.5, window: 5 });
    let last: ReturnType<StragglerDetector['observe']> = [];
    for (let s = 0; s < 10; s++) last = d.observe(s, [0.009, 0.006]);
    expect(last[0].ratio).toBeCloseTo(1.5, 5);
    expect(last[0].flagged).toBe(false);
    for (let s = 10; s < 20; s++) last = d.observe(s, [0.306, 0.006]);
    expect(last[0].flagged).toBe(true);
    expect(last[1].flagged).toBe(false);
  });
});
