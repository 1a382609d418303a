import { describe, expect, it } from 'vitest';
import { epochOrder, initialPlanState, planEpoch, positionAfter, validationShard } from '../src/shard-plan';

function allIndices(plan: ReturnType<typeof planEpoch>): number[] {
  const out: number[] = [];
  for (let s = 0; s < plan.steps; s++) {
    for (const r of plan.ranks) out.push(...r.indices.subarray(s * plan.batchSize, (s + 1) * plan.batchSize));
  }
  return out;
}

describe('ShardPlan', () => {
  it('gives every rank the same number of steps, no duplicates in an epoch, and carries the remainder', () => {
    let state = initialPlanState(7, 103);
    const plan0 = planEpoch(state, 3, 8); // G = 24: 4 steps, 7 carried
    expect(plan0.steps).toBe(4);
    for (const r of plan0.ranks) expect(r.indices.length).toBe(32);
    const seen0 = allIndices(plan0);
    expect(new Set(seen0).size).toBe(96);
    expect(plan0.next.carryIn).toHaveLength(7);
    // the carried samples are exactly the ones epoch 0 did not train
    const missing = [...Array(103).keys()].filter((i) => !seen0.includes(i));
    expect([...plan0.next.carryIn].sort((a, b) => a - b)).toEqual(missing);
    state = plan0.next;
    const plan1 = planEpoch(state, 3, 8); // 7 + 96 = 103 again: the carry opens the epoch
    const seen1 = allIndices(plan1);
    expect(seen1.slice(0, 7)).toEqual(plan0.next.carryIn);
    expect(new Set(seen1).size).toBe(seen1.length);
    expect(plan1.epoch).toBe(1);
  });

  it('N workers × batch b see exactly the samples of 1 worker × batch N·b, step by step', () => {
    const state = initialPlanState(11, 200);
    const two = planEpoch(state, 2, 10);
    const one = planEpoch(state, 1, 20);
    expect(two.steps).toBe(one.steps);
    for (let s = 0; s < one.steps; s++) {
      const big = Array.from(one.ranks[0].indices.subarray(s * 20, (s + 1) * 20));
      const joined = [
        ...two.ranks[0].indices.subarray(s * 10, (s + 1) * 10),
        ...two.ranks[1].indices.subarray(s * 10, (s + 1) * 10),
      ];
      expect(joined).toEqual(big);
    }
  });

  it('is seeded: same seed same order, other seed or epoch another order', () => {
    const a = epochOrder(initialPlanState(1, 50));
    const b = epochOrder(initialPlanState(1, 50));
    const c = epochOrder(initialPlanState(2, 50));
    const d = epochOrder({ ...initialPlanState(1, 50), epoch: 1 });
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(Array.from(a)).not.toEqual(Array.from(d));
    expect([...a].sort((x, y) => x - y)).toEqual([...Array(50).keys()]);
  });

  it('re-shards the rest of an epoch for another world size after a mid-epoch stop', () => {
    const state = initialPlanState(3, 120);
    const full = planEpoch(state, 2, 5); // G=10, 12 steps
    const stopped = positionAfter(full, 5); // 50 consumed
    expect(stopped.consumed).toBe(50);
    const rest = planEpoch(stopped, 3, 5); // G=15: 4 steps, 10 carried
    expect(rest.steps).toBe(4);
    expect(rest.firstStepInEpoch).toBe(3);
    const before = allIndices(planEpoch(state, 2, 5)).slice(0, 50);
    const after = allIndices(rest);
    const union = [...before, ...after, ...rest.next.carryIn];
    expect(new Set(union).size).toBe(120);
    expect(union).toHaveLength(120);
  });

  it('stops at maxSteps and records the position', () => {
    const plan = planEpoch(initialPlanState(3, 100), 2, 5, 3);
    expect(plan.steps).toBe(3);
    expect(plan.next.epoch).toBe(0);
    expect(plan.next.consumed).toBe(30);
  });

  it('refuses a global batch larger than the data set', () => {
    expect(() => planEpoch(initialPlanState(3, 10), 4, 4)).toThrow(/global batch 16 \(4 workers × batch 4\) is larger than the training set \(10 samples\)/);
  });

  it('splits the validation set into contiguous blocks covering every sample once', () => {
    const parts = [0, 1, 2].map((r) => Array.from(validationShard(10, 3, r)));
    expect(parts.map((p) => p.length)).toEqual([3, 3, 4]);
    expect(parts.flat()).toEqual([...Array(10).keys()]);
  });
});
