// The last epoch's remainder as one final smaller step: every sample trained exactly once in the
// epoch, blocks near-equal per rank (empty ones allowed), gradient weights that make the average
// exact, and the plan API (planPosition, positionAfter) still describing the position.
import { describe, expect, it } from 'vitest';
import { initialPlanState, planEpoch, planPosition, positionAfter, stepGradientWeight } from '../src/shard-plan';

describe('final remainder step', () => {
  it('trains the remainder in a last step with near-equal blocks, nothing carried', () => {
    const state = initialPlanState(5, 103); // G = 24: 4 full steps, 7 left
    const plan = planEpoch(state, 3, 8, Number.POSITIVE_INFINITY, { trainRemainder: true });
    expect(plan.steps).toBe(5);
    expect(plan.finalStepSamples).toBe(7);
    expect(plan.ranks.map((r) => r.indices.length)).toEqual([32 + 2, 32 + 2, 32 + 3]);
    const all = plan.ranks.flatMap((r) => Array.from(r.indices));
    expect(new Set(all).size).toBe(103);
    expect(plan.next).toMatchObject({ epoch: 1, carryIn: [], consumed: 0 });
    // The same samples in the same steps as without the option, plus the carry as the last step.
    const carried = planEpoch(state, 3, 8);
    expect(plan.ranks[0].indices.subarray(0, 32)).toEqual(carried.ranks[0].indices);
    expect(plan.ranks.flatMap((r) => Array.from(r.indices.subarray(32))).sort()).toEqual([...carried.next.carryIn].sort());
  });

  it('weights N·n_r/R make the average of local means the mean over the remainder', () => {
    const plan = planEpoch(initialPlanState(1, 66), 3, 11, Number.POSITIVE_INFINITY, { trainRemainder: true }); // G=33: 2 steps, 0 left
    expect(plan.finalStepSamples).toBeUndefined();
    expect(plan.steps).toBe(2);
    const odd = planEpoch(initialPlanState(1, 68), 3, 11, Number.POSITIVE_INFINITY, { trainRemainder: true }); // 2 left: blocks 0, 1, 1
    const last = odd.steps - 1;
    const blocks = odd.ranks.map((r) => r.indices.length - last * 11);
    expect(blocks).toEqual([0, 1, 1]);
    const weights = blocks.map((n) => stepGradientWeight(planPosition(odd), last, n));
    expect(weights).toEqual([0, 1.5, 1.5]);
    // sum_r w_r * mean_r / N == sum of all remainder samples / R for any per-sample values
    const perSample = [3, -7];
    const means = [Number.NaN, perSample[0], perSample[1]];
    const avg = weights.reduce((a, w, r) => a + (w === 0 ? 0 : w * means[r]), 0) / 3;
    expect(avg).toBeCloseTo((perSample[0] + perSample[1]) / 2, 12);
    expect(stepGradientWeight(planPosition(odd), 0, 11)).toBe(1);
  });

  it('maxSteps ends the epoch before the final step; positions mid-plan resume into it', () => {
    const state = initialPlanState(2, 50); // G=20: 2 full steps, 10 left
    const capped = planEpoch(state, 2, 10, 2, { trainRemainder: true });
    expect(capped.steps).toBe(2);
    expect(capped.finalStepSamples).toBeUndefined();
    const plan = planEpoch(state, 2, 10, Number.POSITIVE_INFINITY, { trainRemainder: true });
    const mid = positionAfter(planPosition(plan), 2);
    expect(mid).toMatchObject({ epoch: 0, consumed: 40 });
    // Resumed with another world size: only the final step is left, over the same 10 samples.
    const rest = planEpoch(mid, 3, 10, Number.POSITIVE_INFINITY, { trainRemainder: true });
    expect(rest.steps).toBe(1);
    expect(rest.ranks.flatMap((r) => Array.from(r.indices)).sort()).toEqual(plan.ranks.flatMap((r) => Array.from(r.indices.subarray(20))).sort());
    expect(positionAfter(planPosition(plan), 3)).toEqual(plan.next);
  });
});
