// Samples/s when workers batch their step reports: steps that complete at one instant add their
// samples to the next rate with a time span, never an infinite or zero rate.
import { describe, expect, it } from 'vitest';
import { JobProgress } from '../src/controller/progress';
import type { RankedStepReport } from '../src/controller/reports';

const step = (globalStep: number, rank: number): RankedStepReport => ({
  rank, globalStep, epoch: 0, stepInEpoch: globalStep, loss: 0.5, samples: 8, computeSeconds: 0.001, allreduceSeconds: 0.001,
  stepSeconds: 0.002, allreduceBytes: 100, gradientNorms: [], weightsDigest: '',
});

describe('JobProgress samples/s', () => {
  it('counts a batch of steps completing at once over the time since the previous rate', () => {
    const p = new JobProgress(1);
    p.trainingResumed(1_000);
    // Two ranks, 8 samples each: 16 per step. Steps 0-3 arrive together 20 ms after the start.
    const rates = [0, 1, 2, 3].map((s) => p.stepCompleted(1_020, [step(s, 0), step(s, 1)], 100).samplesPerSec);
    expect(rates[0]).toBeCloseTo(16 / 0.02, 6);
    expect(rates.slice(1)).toEqual([800, 800, 800]);
    // The next batch, steps 4-7, 20 ms later: its first step carries the three earlier steps' samples too.
    const next = [4, 5, 6, 7].map((s) => p.stepCompleted(1_040, [step(s, 0), step(s, 1)], 100).samplesPerSec);
    expect(next[0]).toBeCloseTo(0.8 * 800 + 0.2 * ((3 * 16 + 16) / 0.02), 6);
    expect(p.averageSamplesPerSec()).toBeCloseTo((8 * 16) / 0.04, 6);
  });
});
