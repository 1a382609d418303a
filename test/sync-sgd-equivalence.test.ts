// N workers with batch b must match 1 worker with batch N·b: same samples per step, averaged
// gradients = the gradient of the mean over the global batch. Real processes, real gRPC ring.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lastJsonLine, runDtrain, smallMnistJob, tempDir, writeJob } from './harness/dtrain-cli';

function finalWeights(checkpointDir: string): Float32Array {
  const steps = readdirSync(checkpointDir).filter((d) => d.startsWith('step-')).sort();
  const last = join(checkpointDir, steps[steps.length - 1]);
  const bytes = readFileSync(join(last, 'weights.bin'));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** max_i |a_i - b_i| / max(|a_i|, |b_i|, floor): relative where weights are not tiny. */
function maxRelativeDifference(a: Float32Array, b: Float32Array, floor = 1e-2): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / Math.max(Math.abs(a[i]), Math.abs(b[i]), floor);
    if (d > worst) worst = d;
  }
  return worst;
}

async function train(workers: number, batchSize: number, seed = 7): Promise<{ weights: Float32Array; summary: Record<string, unknown> }> {
  const dir = tempDir();
  const job = writeJob(dir, smallMnistJob({
    seed,
    training: { batchSize, epochs: 1, maxSteps: 20 },
    checkpoint: { dir: join(dir, 'ckpt'), keep: 1 },
  }));
  const run = await runDtrain(['launch', '--workers', String(workers), job, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return { weights: finalWeights(join(dir, 'ckpt')), summary: lastJsonLine(run.stdout) };
}

describe('sync-SGD equivalence', () => {
  it('2 workers x batch 16 end with the weights of 1 worker x batch 32 after 20 steps', async () => {
    const two = await train(2, 16);
    const one = await train(1, 32);
    expect(two.summary.steps).toBe(20);
    expect(one.summary.steps).toBe(20);
    expect(two.summary.workers).toBe(2);
    const diff = maxRelativeDifference(two.weights, one.weights);
    console.info(`sync-SGD equivalence: max relative weight difference ${diff.toExponential(2)} over ${one.weights.length} weights`);
    expect(diff).toBeLessThanOrEqual(1e-5);
    // The comparison can fail: other initial weights (another seed) are far away.
    const other = await train(1, 32, 8);
    expect(maxRelativeDifference(other.weights, one.weights)).toBeGreaterThan(1e-2);
  }, 480_000); // three launches; the shared machine runs at load ~35
});
