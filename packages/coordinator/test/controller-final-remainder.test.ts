// training.finalRemainder: train under the elastic controller: the last epoch ends with one smaller
// step over its remainder, the sample ledger counts that step's uneven blocks exactly (nothing
// missing, nothing twice), also when a world change re-plans the last epoch for another size.
import { describe, expect, it } from 'vitest';
import type { PlanPosition } from '@dtrain/shared/shard-plan';
import { BATCH, controllerOptions, duplicatesIn, Sim, testSpec, TRAIN_SIZE } from './controller-sim';

const spec = testSpec({ training: { batchSize: BATCH, epochs: 2, finalRemainder: 'train' } });

describe('controller: finalRemainder train', () => {
  it('a clean 2-worker run trains the last epoch whole: one extra smaller step, ledger exact', () => {
    const sim = new Sim(controllerOptions({ spec }));
    sim.joinOk('h1');
    sim.joinOk('h1');
    const steps = sim.run();
    const full = Math.floor(TRAIN_SIZE / (2 * BATCH)); // 12 per epoch; epoch 0 carries 4 into epoch 1
    expect(steps).toBe(2 * full + 1);
    expect(sim.result).toMatchObject({ status: 'succeeded', steps: 2 * full + 1 });
    // Epoch 0: 96 due (4 carried on); epoch 1: all 100 (the carry first, then the remainder step).
    expect(sim.result!.sampleLedger).toEqual({ epochs: 2, expected: 196, trained: 196, duplicated: 0, missing: 0 });
    expect(duplicatesIn(sim.trainedByEpoch.get(1)!)).toBe(0);
    expect(new Set(sim.trainedByEpoch.get(1)!).size).toBe(TRAIN_SIZE);
    const last = sim.ofType('SendPlan').filter((p) => p.plan.epoch === 1);
    const pos = JSON.parse(last[0].plan.planStateJson) as PlanPosition;
    expect(pos.finalStepSamples).toBe(4);
    expect(last.map((p) => p.plan.indices.length)).toEqual([full * BATCH + 2, full * BATCH + 2]);
    // The progress bar's total counts the extra step from the first step on.
    const progress = sim.ofType('StepCompleted').map((c) => c.progress);
    expect(progress[0].totalSteps).toBe(2 * full + 1);
    expect(progress.at(-1)!.globalStep).toBe(2 * full + 1);
    // Epoch 0 is not the last: no remainder step there.
    const first = JSON.parse(sim.ofType('SendPlan').filter((p) => p.plan.epoch === 0)[0].plan.planStateJson) as PlanPosition;
    expect(first.finalStepSamples).toBeUndefined();
  });

  it('a join in the last epoch re-plans it for 3 ranks with its own remainder step; ledger exact', () => {
    const sim = new Sim(controllerOptions({ spec, minWorkers: 2, maxWorkers: 3, lastCallMs: 100 }));
    sim.joinOk('h1');
    sim.joinOk('h1');
    sim.advance(100);
    const full = Math.floor(TRAIN_SIZE / (2 * BATCH));
    for (let i = 0; i < full; i++) sim.step();
    sim.joinOk('h2');
    sim.step(); // epoch 1, step 0 with 2 ranks (8 samples); then the world re-forms with 3
    const g2 = sim.ofType('SendPlan').filter((p) => p.plan.generation === 2);
    expect(g2).toHaveLength(3);
    const pos = JSON.parse(g2[0].plan.planStateJson) as PlanPosition;
    // 92 left, global batch 12: 7 full steps and a final step over 8 samples (blocks 2, 3, 3).
    expect(pos.steps).toBe(8);
    expect(pos.finalStepSamples).toBe(8);
    expect(g2.map((p) => p.plan.indices.length)).toEqual([7 * BATCH + 2, 7 * BATCH + 3, 7 * BATCH + 3]);
    sim.run();
    expect(sim.result).toMatchObject({ status: 'succeeded', steps: full + 1 + 8, generations: 2 });
    expect(sim.result!.sampleLedger).toEqual({ epochs: 2, expected: 196, trained: 196, duplicated: 0, missing: 0 });
    expect(new Set(sim.trainedByEpoch.get(1)!).size).toBe(TRAIN_SIZE);
    expect(duplicatesIn(sim.trainedByEpoch.get(1)!)).toBe(0);
  });
});
