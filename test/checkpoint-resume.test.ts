// Checkpoints and resume, end to end through the `dtrain` CLI: real worker processes, a real gRPC
// ring, Adam (so optimizer state matters) with a step learning-rate schedule (so the resumed step
// number matters), checkpoints on disk. Data: 400 MNIST digits, 2 workers x batch 16 = global
// batch 32, so an epoch is 12 steps with 16 samples carried into the next epoch.
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { openDataset } from '@dtrain/shared/data/dataset';
import { loadJobSpec } from '@dtrain/shared/job-spec';
import { evaluateBatch } from '@dtrain/shared/model/losses';
import { loadCheckpoint, stepDirName } from '@dtrain/worker/checkpoint/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastJsonLine, runDtrain, smallMnistJob, tempDir, writeJob } from './harness/dtrain-cli';

const TRAIN_SIZE = 400;
const BATCH = 16;

interface StateJson {
  globalStep: number;
  epoch: number;
  stepInEpoch: number;
  worldSize: number;
  planState: { seed: number; datasetSize: number; epoch: number; carryIn: number[]; consumed: number };
}

function job(checkpointDir: string): Record<string, unknown> {
  return smallMnistJob({
    name: 'test-resume',
    dataset: { kind: 'mnist', shape: 'flat', limit: TRAIN_SIZE },
    optimizer: { kind: 'adam', learningRate: 0.01, schedule: { kind: 'step', factor: 0.5, everySteps: 7 } },
    training: { batchSize: BATCH, epochs: 3 },
    validation: { metrics: ['accuracy'] },
    checkpoint: { dir: checkpointDir, everySteps: 10, keep: 10 },
  });
}

async function launch(jobPath: string, workers: number, ...extra: string[]) {
  const run = await runDtrain(['launch', '--workers', String(workers), jobPath, '--json', '--no-metrics', ...extra]);
  return { ...run, summary: run.code === 0 ? lastJsonLine(run.stdout) : null };
}

const ckpt = (dir: string, step: number): string => join(dir, stepDirName(step));
const bytes = (dir: string, step: number, file: string): Buffer => readFileSync(join(ckpt(dir, step), file));
const state = (dir: string, step: number): StateJson => JSON.parse(bytes(dir, step, 'state.json').toString('utf8')) as StateJson;
const steps = (dir: string): number[] => readdirSync(dir).filter((d) => d.startsWith('step-')).map((d) => Number(d.slice(5))).sort((a, b) => a - b);

describe('checkpoint and resume through dtrain launch', () => {
  let root: string;
  /** Run A: 30 steps uninterrupted (epoch boundaries after steps 12 and 24). */
  let dirA: string;
  let jobA: string;
  let summaryA: Record<string, unknown>;

  beforeAll(async () => {
    root = tempDir('dtrain-resume-');
    dirA = join(root, 'ckpt-a');
    jobA = writeJob(root, job(dirA), 'job-a.yaml');
    const a = await launch(jobA, 2, '--max-steps', '30');
    expect(a.code, a.stderr.slice(-3000)).toBe(0);
    summaryA = a.summary!;
    expect(summaryA.steps).toBe(30);
    expect(steps(dirA)).toEqual([10, 20, 30]);
  }, 120_000);

  afterAll(() => { if (root) rmSync(root, { recursive: true, force: true }); });

  it('stop at step 20, resume to 30: weights and Adam state are byte-identical to the uninterrupted run', async () => {
    const dirB = join(root, 'ckpt-b');
    const jobB = writeJob(root, job(dirB), 'job-b.yaml');
    const first = await launch(jobB, 2, '--max-steps', '20');
    expect(first.code, first.stderr.slice(-3000)).toBe(0);
    expect(first.summary!.steps).toBe(20);
    // Step 20 is mid-epoch (epoch 2, step 8 of 12): the plan position rides in the checkpoint.
    const s20 = state(dirB, 20);
    expect(s20).toMatchObject({ globalStep: 20, epoch: 1, stepInEpoch: 8, worldSize: 2 });
    expect(s20.planState).toMatchObject({ epoch: 1, consumed: 8 * 2 * BATCH, datasetSize: TRAIN_SIZE });
    expect(s20.planState.carryIn).toHaveLength(TRAIN_SIZE - 12 * 2 * BATCH);

    const second = await launch(jobB, 2, '--resume', dirB, '--max-steps', '30');
    expect(second.code, second.stderr.slice(-3000)).toBe(0);
    expect(second.stderr).toContain(`resuming from ${ckpt(dirB, 20)} at global step 20`);
    expect(second.stderr).toContain('epoch 2/3: 4 step(s) from global step 20 (global batch 32, steps 8..12 of the epoch)');
    expect(second.summary!.steps).toBe(30);

    // The 10 resumed steps did change the weights...
    expect(bytes(dirB, 30, 'weights.bin').equals(bytes(dirB, 20, 'weights.bin'))).toBe(false);
    // ...into exactly the uninterrupted run's, bit for bit, optimizer state included.
    expect(bytes(dirB, 20, 'weights.bin').equals(bytes(dirA, 20, 'weights.bin'))).toBe(true);
    expect(bytes(dirB, 30, 'weights.bin').equals(bytes(dirA, 30, 'weights.bin'))).toBe(true);
    expect(bytes(dirB, 30, 'optimizer.bin').equals(bytes(dirA, 30, 'optimizer.bin'))).toBe(true);
    expect(JSON.parse(bytes(dirB, 30, 'optimizer.json').toString()).extra).toEqual(JSON.parse(bytes(dirA, 30, 'optimizer.json').toString()).extra);
    expect(state(dirB, 30).planState).toEqual(state(dirA, 30).planState);
    expect(second.summary!.loss).toBe(summaryA.loss);
    expect(second.summary!.validation).toEqual(summaryA.validation);
  });

  for (const workers of [3, 1]) {
    it(`resume a 2-worker checkpoint on ${workers} worker(s): the step count continues and the rest of the epoch is re-sharded`, async () => {
      const dir = join(root, `ckpt-w${workers}`);
      cpSync(ckpt(dirA, 20), ckpt(dir, 20), { recursive: true });
      const jobW = writeJob(root, job(dir), `job-w${workers}.yaml`);
      const run = await launch(jobW, workers, '--resume', dir);
      expect(run.code, run.stderr.slice(-3000)).toBe(0);

      const G = workers * BATCH;
      const from = state(dir, 20).planState;
      const restOfEpoch = Math.floor((TRAIN_SIZE - from.consumed) / G);
      const carry = TRAIN_SIZE - from.consumed - restOfEpoch * G;
      const lastEpoch = Math.floor(TRAIN_SIZE / G);
      const total = 20 + restOfEpoch + lastEpoch;
      expect(run.stderr).toContain(`resuming from ${ckpt(dir, 20)} at global step 20`);
      expect(run.stderr).toContain(`epoch 2/3: ${restOfEpoch} step(s) from global step 20 (global batch ${G},`);
      expect(run.stderr).toContain(`epoch 3/3: ${lastEpoch} step(s) from global step ${20 + restOfEpoch} (global batch ${G}, steps 0..${lastEpoch} of the epoch)`);
      expect(run.summary).toMatchObject({ status: 'succeeded', workers, steps: total });

      const final = state(dir, total);
      expect(final).toMatchObject({ globalStep: total, worldSize: workers, epoch: 2, stepInEpoch: lastEpoch });
      expect(final.planState).toMatchObject({ epoch: 3, consumed: 0 });
      // The last epoch opens with the previous one's carry and carries its own remainder on.
      expect(final.planState.carryIn).toHaveLength(TRAIN_SIZE - lastEpoch * G);
      expect(carry).toBeLessThan(G);
      // Periodic checkpoints keep the global numbering: every 10 steps past the resume point.
      expect(steps(dir)).toEqual([20, ...[30, 40, 50].filter((s) => s < total), total]);
    });
  }

  it('a corrupt newest checkpoint is skipped with a message naming the file; training continues from the previous one', async () => {
    const dir = join(root, 'ckpt-corrupt');
    cpSync(ckpt(dirA, 10), ckpt(dir, 10), { recursive: true });
    cpSync(ckpt(dirA, 20), ckpt(dir, 20), { recursive: true });
    const weights = join(ckpt(dir, 20), 'weights.bin');
    truncateSync(weights, 100);
    const jobC = writeJob(root, job(dir), 'job-corrupt.yaml');
    const run = await launch(jobC, 2, '--resume', dir, '--max-steps', '20');
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    expect(run.stderr).toContain(`skipping checkpoint ${ckpt(dir, 20)}: checkpoint file ${weights} is corrupt`);
    expect(run.stderr).toContain(`resuming from ${ckpt(dir, 10)} at global step 10`);
    expect(run.summary!.steps).toBe(20);
    // Steps 10..20 were trained again and the damaged step-20 was replaced by a good one, equal
    // to the uninterrupted run's.
    expect(bytes(dir, 20, 'weights.bin').equals(bytes(dirA, 20, 'weights.bin'))).toBe(true);
  });

  it('resuming from a damaged checkpoint folder named explicitly fails naming the file, and trains nothing', async () => {
    const dir = join(root, 'ckpt-explicit');
    cpSync(ckpt(dirA, 20), ckpt(dir, 20), { recursive: true });
    const optimizerBin = join(ckpt(dir, 20), 'optimizer.bin');
    const damaged = readFileSync(optimizerBin);
    damaged[damaged.length >> 1] ^= 0x40; // one flipped bit, same size: only the checksum sees it
    writeFileSync(optimizerBin, damaged);
    const jobE = writeJob(root, job(dir), 'job-explicit.yaml');
    const run = await launch(jobE, 2, '--resume', ckpt(dir, 20));
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(optimizerBin);
    expect(run.stderr).toMatch(/corrupt/);
    expect(run.stderr).not.toMatch(/epoch \d+\/3:/);
    // Workers start together with the coordinator (fast start): one that cannot start stops them before
    // any world forms, so nothing is trained.
    expect(run.stderr).toContain('the coordinator did not start: stopping');
    expect(run.stderr).not.toMatch(/world generation \d+ formed/);
    expect(steps(dir)).toEqual([20]);
  });

  it('dtrain export writes model.json + weights.bin that tf.loadLayersModel loads and that predict as the checkpoint did', async () => {
    const out = join(root, 'exported');
    const run = await runDtrain(['export', dirA, out]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').pop()!)).toMatchObject({ checkpoint: ckpt(dirA, 30), globalStep: 30 });
    expect(readFileSync(join(out, 'weights.bin')).equals(bytes(dirA, 30, 'weights.bin'))).toBe(true);

    // Load as a user would without dtrain: the two files, through tf.io.fromMemory.
    await tf.setBackend('cpu');
    const modelJson = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as tf.io.ModelJSON;
    const weightData = readFileSync(join(out, 'weights.bin'));
    const exported = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest[0].weights,
      weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
    }));
    const fromCheckpoint = (await loadCheckpoint(ckpt(dirA, 30))).model;

    const spec = loadJobSpec(jobA);
    const data = await openDataset(spec.dataset, spec.seed);
    const indices = Uint32Array.from({ length: data.info.testSize }, (_, i) => i);
    const batch = data.batch('test', indices);
    try {
      const p1 = exported.predict(batch.xs) as tf.Tensor;
      const p2 = fromCheckpoint.predict(batch.xs) as tf.Tensor;
      expect(Buffer.from((await p1.data()).buffer).equals(Buffer.from((await p2.data()).buffer))).toBe(true);
      tf.dispose([p1, p2]);
      // The held-out accuracy of the exported model is what the training run reported at step 30
      // (workers computed it on wasm, here it is cpu: allow one sample of 2,000 to flip).
      const sums = evaluateBatch(exported, batch, 'categoricalCrossentropy', 'classification');
      const validation = summaryA.validation as { accuracy: number; loss: number; count: number };
      expect(sums.count).toBe(validation.count);
      expect(Math.abs(sums.correct / sums.count - validation.accuracy)).toBeLessThanOrEqual(1 / sums.count);
      expect(sums.lossSum / sums.count).toBeCloseTo(validation.loss, 4);
      expect(validation.accuracy).toBeGreaterThan(0.6);
    } finally {
      tf.dispose([batch.xs, batch.ys]);
      exported.dispose();
      fromCheckpoint.dispose();
      data.close();
    }
    expect(existsSync(join(out, 'model.json'))).toBe(true);
  });
});
