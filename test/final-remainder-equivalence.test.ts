// training.finalRemainder: train — the last epoch's leftover samples are trained as one smaller
// global step, weighted exactly: 3 workers x batch 11 (remainder blocks 0, 1, 1: one rank empty)
// end with the weights of 1 worker x batch 33, and with other weights than dropping the remainder.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lastJsonLine, REPO_ROOT, runDtrain, tempDir, writeJob } from './harness/dtrain-cli';

function finalWeights(checkpointDir: string): Float32Array {
  const steps = readdirSync(checkpointDir).filter((d) => d.startsWith('step-')).sort();
  const bytes = readFileSync(join(checkpointDir, steps[steps.length - 1], 'weights.bin'));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function maxRelativeDifference(a: Float32Array, b: Float32Array, floor = 1e-2): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(a[i]), Math.abs(b[i]), floor));
  return worst;
}

async function train(workers: number, batchSize: number, finalRemainder: 'train' | 'drop'): Promise<{ weights: Float32Array; steps: number }> {
  const dir = tempDir('dtrain-remainder-');
  const job = writeJob(dir, {
    name: 'remainder', seed: 3, backend: 'cpu',
    model: { kind: 'mlp', task: 'classification', hidden: [{ units: 8, activation: 'tanh' }] },
    // 200 rows, all trained (validationFraction 0); global batch 33: 6 full steps, 2 left over.
    dataset: { kind: 'csv', path: join(REPO_ROOT, 'examples/data/study-hours.csv'), label: 'passed', classes: 2, validationFraction: 0 },
    loss: 'categoricalCrossentropy',
    optimizer: { kind: 'sgd', learningRate: 0.5 },
    training: { batchSize, epochs: 2, finalRemainder },
    checkpoint: { dir: join(dir, 'ckpt'), keep: 1 },
  });
  const run = await runDtrain(['launch', '--workers', String(workers), job, '--json', '--no-metrics']);
  expect(run.code, run.stderr.slice(-2000)).toBe(0);
  return { weights: finalWeights(join(dir, 'ckpt')), steps: lastJsonLine(run.stdout).steps as number };
}

describe('final remainder step', () => {
  it('3 workers x 11 match 1 worker x 33 with the remainder trained; dropping it gives other weights', async () => {
    const three = await train(3, 11, 'train');
    const one = await train(1, 33, 'train');
    // Epoch 1: 6 steps (2 carried into epoch 2); epoch 2: 6 steps + the final step of 2 samples.
    expect(three.steps).toBe(13);
    expect(one.steps).toBe(13);
    const diff = maxRelativeDifference(three.weights, one.weights);
    console.info(`final remainder: 3x11 vs 1x33 max relative weight difference ${diff.toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(1e-5);
    const dropped = await train(1, 33, 'drop');
    expect(dropped.steps).toBe(12);
    expect(maxRelativeDifference(dropped.weights, one.weights)).toBeGreaterThan(1e-4);
  }, 300_000);
});
