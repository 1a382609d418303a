// Every worker must hold identical weights after every step. The coordinator compares a digest of
// each rank's weights on sampled steps; replicas that drift apart fail the job with the step and the
// ranks' digests, instead of silently training different models.
import { describe, expect, it } from 'vitest';
import { lastJsonLine, runDtrain, smallMnistJob, tempDir, writeJob } from './harness/dtrain-cli';

const job = (dir: string) => writeJob(dir, smallMnistJob({
  name: 'replicas',
  training: { batchSize: 16, epochs: 1, maxSteps: 12 },
  observability: { weightsDigestEverySteps: 1 },
}));

describe('replica consistency', () => {
  it('replicas agree on every sampled step of a normal run', async () => {
    const run = await runDtrain(['launch', '--workers', '3', job(tempDir()), '--json', '--no-metrics']);
    expect(run.code, run.stderr).toBe(0);
    expect(lastJsonLine(run.stdout)).toMatchObject({ status: 'succeeded', steps: 12 });
  });

  it('a replica nudged on purpose after step 5 fails the job at that step, naming every rank digest', async () => {
    const run = await runDtrain(['launch', '--workers', '3', job(tempDir()), '--json', '--no-metrics', '--test-perturb', '1=5']);
    expect(run.code).toBe(1);
    const summary = lastJsonLine(run.stdout);
    expect(summary.errorCode).toBe('WeightsDivergedError');
    const m = String(summary.error).match(/^worker weights diverged at step (\d+): rank 0 ([0-9a-f]{16}), rank 1 ([0-9a-f]{16}), rank 2 ([0-9a-f]{16})$/);
    expect(m, String(summary.error)).not.toBeNull();
    expect(Number(m![1])).toBe(5);
    expect(m![2]).toBe(m![4]);
    expect(m![3]).not.toBe(m![2]);
  });
});
