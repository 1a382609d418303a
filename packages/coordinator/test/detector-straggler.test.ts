import { describe, expect, it } from 'vitest';
import { StragglerDetector, type StragglerState } from '../src/health/straggler-detector';

/** Deterministic jitter (+-5%) so windows are not trivially constant. */
function jitter(step: number, rank: number): number {
  return 1 + 0.05 * Math.sin(step * 1.7 + rank * 2.3);
}

describe('StragglerDetector', () => {
  it('flags the rank with 2x compute, not the others, and un-flags it when it recovers', () => {
    const d = new StragglerDetector({ factor: 1.5, window: 5 });
    const events: { step: number; rank: number; flagged: boolean }[] = [];
    let last: StragglerState[] = [];
    const run = (from: number, to: number, slow: number) => {
      for (let step = from; step < to; step++) {
        const seconds = [0, 1, 2, 3].map((r) => 0.1 * jitter(step, r) * (r === 2 ? slow : 1));
        last = d.observe(step, seconds);
        for (const s of last) if (s.changed) events.push({ step, rank: s.rank, flagged: s.flagged });
      }
    };
    run(0, 4, 2);
    expect(events).toEqual([]); // window not full yet
    run(4, 12, 2);
    expect(events).toEqual([{ step: 4, rank: 2, flagged: true }]);
    expect(d.flaggedRanks()).toEqual([2]);
    const slow = last.find((s) => s.rank === 2)!;
    expect(slow.ratio).toBeGreaterThan(1.8);
    expect(slow.ratio).toBeLessThan(2.2);
    for (const s of last.filter((x) => x.rank !== 2)) {
      expect(s.flagged).toBe(false);
      expect(s.ratio).toBeGreaterThan(0.85);
      expect(s.ratio).toBeLessThan(1.15);
    }

    // Recovery: the window mean drops below 1.5x after a few fast steps; one event, not one per step.
    run(12, 24, 1);
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ rank: 2, flagged: false });
    expect(events[1].step).toBeGreaterThanOrEqual(13);
    expect(events[1].step).toBeLessThanOrEqual(16);
    expect(d.flaggedRanks()).toEqual([]);
  });

  it('detects a 2x straggler in a world of two ranks', () => {
    const d = new StragglerDetector({ factor: 1.5, window: 3 });
    let states: StragglerState[] = [];
    for (let step = 0; step < 3; step++) states = d.observe(step, new Map([[0, 0.2], [1, 0.4]]));
    expect(states.map((s) => [s.rank, s.flagged, s.ratio])).toEqual([[0, false, 0.5], [1, true, 2]]);
  });

  it('ignores a single slow step (GC pause) inside the window', () => {
    const d = new StragglerDetector({ factor: 1.5, window: 10 });
    const flagged: number[] = [];
    for (let step = 0; step < 30; step++) {
      const seconds = [0.1, 0.1, step === 15 ? 0.5 : 0.1];
      for (const s of d.observe(step, seconds)) if (s.flagged) flagged.push(step);
    }
    expect(flagged).toEqual([]); // one 5x step in a 10-step window = 1.4x mean
  });

  it('a single rank is never a straggler; bad input names the rank', () => {
    const d = new StragglerDetector({ factor: 1.5, window: 1 });
    expect(d.observe(0, [5])).toEqual([{ rank: 0, ratio: 1, flagged: false, changed: false, meanSeconds: 5, referenceSeconds: 5, globalStep: 0 }]);
    expect(() => d.observe(1, [0.1, Number.NaN])).toThrow(/rank 1/);
    expect(() => new StragglerDetector({ factor: 1, window: 3 })).toThrow(/factor/);
    expect(() => new StragglerDetector({ factor: 2, window: 0 })).toThrow(/window/);
  });
});
