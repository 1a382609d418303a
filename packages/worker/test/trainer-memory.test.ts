// A training step must not leak tensors: over 100 steps (plus validation passes) the live tensor
// count stays exactly flat. Real model, real MNIST shard, real (world size 1) gRPC collective.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset } from '@dtrain/shared/data/dataset';
import { validateJobSpec } from '@dtrain/shared/job-spec';
import { buildModel } from '@dtrain/shared/model/build-model';
import { selectBackend } from '../src/backend/select-backend';
import { createRingCollective, startPeerServer } from '../src/collective/index';
import type { PeerServer } from '../src/collective/api';
import { createOptimizer } from '../src/optimizer-factory';
import { Trainer } from '../src/trainer';

let server: PeerServer | null = null;
afterAll(async () => { await server?.close(); });

describe('Trainer memory', () => {
  it('keeps tf.memory().numTensors flat over 100 steps and validation', async () => {
    await selectBackend({ requested: 'wasm', localRank: 0 });
    const spec = validateJobSpec({
      name: 'memory', seed: 3, backend: 'wasm',
      model: { kind: 'mlp', task: 'classification', hidden: [{ units: 32, activation: 'relu' }, { units: 16, activation: 'prelu' }] },
      dataset: { kind: 'mnist', shape: 'flat', limit: 1000 },
      loss: 'categoricalCrossentropy',
      optimizer: { kind: 'adam', learningRate: 0.001 },
      training: { batchSize: 32 },
    });
    const dataset = await openDataset(spec.dataset, spec.seed);
    const model = await buildModel({ spec, info: dataset.info, seed: spec.seed });
    const optimizer = createOptimizer(spec.optimizer);
    server = await startPeerServer({ host: '127.0.0.1', port: 0 });
    const collective = createRingCollective(server, {
      jobId: 'memory', generation: 1, rank: 0, worldSize: 1, ring: [server.address], chunkBytes: 1 << 20, timeoutMs: 10_000,
    });
    const trainer = new Trainer({ model, optimizer, loss: spec.loss, collective, task: 'classification' });
    await trainer.broadcastInitialWeights();
    const counts: number[] = [];
    const losses: number[] = [];
    const validation = Uint32Array.from({ length: 100 }, (_, i) => i);
    for (let step = 0; step < 100; step++) {
      const indices = Uint32Array.from({ length: 32 }, (_, i) => (step * 32 + i) % dataset.info.trainSize);
      const batch = dataset.batch('train', indices);
      const outcome = await trainer.step(batch, step, { stop: false, checkpoint: false });
      batch.xs.dispose();
      batch.ys.dispose();
      losses.push(outcome.localLoss);
      expect(outcome.applied).toBe(true);
      if (step % 25 === 24) trainer.evaluate((idx) => dataset.batch('test', idx), validation);
      counts.push(tf.memory().numTensors);
    }
    // Adam creates its slot variables on the first step; from then on nothing may accumulate.
    expect(counts[99]).toBe(counts[1]);
    expect(new Set(counts.slice(1)).size).toBe(1);
    // It did train: the loss fell.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(90))).toBeLessThan(mean(losses.slice(0, 10)) * 0.7);
    await collective.close();
    dataset.close();
  });
});
