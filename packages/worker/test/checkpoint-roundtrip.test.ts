import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointCorruptError } from '@dtrain/shared/errors';
import { createOptimizer, loadCheckpoint, restoreOptimizer, saveCheckpoint } from '../src/checkpoint/index';
import { batch, buildMlp, state, train, useCpu, weightBits, withTempDir } from './checkpoint-fixtures';

beforeAll(useCpu);

// 8 steps before the save: Adam's accBeta as a float32 running product differs from tfjs's
// pow(beta, iter + 1) at step 8 (and most later ones), which the control test below relies on.
const STEPS_BEFORE = 8;
const STEPS_AFTER = 5;

// tfjs's Adadelta divides by the *old* accumulated gradient, so its two accumulators stay equal
// and the state has no effect on the update: a fresh optimizer continues identically.
const STATE_FREE = new Set(['sgd', 'adadelta']);

const OPTIMIZERS: Record<string, () => tf.Optimizer> = {
  adam: () => tf.train.adam(0.01),
  sgd: () => tf.train.sgd(0.1),
  momentum: () => tf.train.momentum(0.05, 0.9),
  nesterov: () => tf.train.momentum(0.05, 0.9, true),
  rmsprop: () => tf.train.rmsprop(0.01, 0.9, 0.5),
  // Not here: centered RMSProp, which tfjs 4.22 computes as sqrt(ms - mg^2 - eps) and which goes
  // NaN on this model's small gradients before any checkpoint is involved.
  adagrad: () => tf.train.adagrad(0.1),
  adadelta: () => tf.train.adadelta(1, 0.95),
};

function countDifferentWeights(a: Uint32Array[], b: Uint32Array[]): number {
  let n = 0;
  a.forEach((w, i) => w.forEach((bits, k) => { if (bits !== b[i][k]) n++; }));
  return n;
}

describe('checkpoint round trip: continuing from a checkpoint is bit-identical', () => {
  for (const [name, make] of Object.entries(OPTIMIZERS)) {
    it(name, async () => {
      await withTempDir(async (dir) => {
        const a = buildMlp();
        const optA = make();
        train(a, optA, 0, STEPS_BEFORE);
        const beforeSave = tf.memory().numTensors;
        const info = await saveCheckpoint({ dir, model: a, optimizer: optA, state: state(STEPS_BEFORE), keep: 2 });
        expect(tf.memory().numTensors).toBe(beforeSave);
        expect(info.globalStep).toBe(STEPS_BEFORE);

        const loaded = await loadCheckpoint(info.path);
        expect(loaded.state).toEqual(state(STEPS_BEFORE));
        expect(loaded.optimizer.className).toBe(optA.getClassName());
        const b = loaded.model;
        expect(weightBits(b)).toEqual(weightBits(a));

        const optB = make();
        await restoreOptimizer(optB, loaded, { model: b });
        expect(optB.iterations).toBe(STEPS_BEFORE);

        // Control: same weights, fresh optimizer state. For stateful optimizers this must diverge,
        // otherwise the equality below would not prove anything about the restored state.
        const c = buildMlp(7);
        await loadCheckpoint(info.path, { into: c });
        const optC = make();

        const saved = weightBits(a);
        train(a, optA, STEPS_BEFORE, STEPS_AFTER);
        train(b, optB, STEPS_BEFORE, STEPS_AFTER);
        train(c, optC, STEPS_BEFORE, STEPS_AFTER);
        const bitsA = weightBits(a);
        expect(countDifferentWeights(bitsA, saved)).toBeGreaterThan(0);
        expect(weightBits(b)).toEqual(bitsA);
        if (!STATE_FREE.has(name)) expect(countDifferentWeights(weightBits(c), bitsA)).toBeGreaterThan(0);

        for (const m of [a, b, c]) m.dispose();
        for (const o of [optA, optB, optC]) o.dispose();
      });
    });
  }

  it("adam: tfjs's own setWeights loses accBeta bits; restoreOptimizer keeps them", async () => {
    await withTempDir(async (dir) => {
      const a = buildMlp();
      const optA = tf.train.adam(0.01);
      train(a, optA, 0, STEPS_BEFORE);
      const info = await saveCheckpoint({ dir, model: a, optimizer: optA, state: state(STEPS_BEFORE), keep: 1 });
      const loaded = await loadCheckpoint(info.path);
      const accBeta = (o: tf.Optimizer) => {
        const h = o as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
        return [h.accBeta1.dataSync()[0], h.accBeta2.dataSync()[0]];
      };
      const running = accBeta(optA);
      // Adam's running float32 products beta^(steps+1), saved as extras.
      expect([loaded.optimizer.extra.accBeta1, loaded.optimizer.extra.accBeta2]).toEqual(running);
      expect(running[0]).toBeCloseTo(0.9 ** (STEPS_BEFORE + 1), 6);

      const plain = tf.train.adam(0.01);
      const weights = loaded.optimizerWeights();
      await plain.setWeights(weights);
      tf.dispose(weights.map((w) => w.tensor));
      expect(accBeta(plain)[0]).not.toBe(running[0]); // pow(0.9, 9) != 0.9*0.9*...*0.9 in float32

      const restored = tf.train.adam(0.01);
      await restoreOptimizer(restored, loaded);
      expect(accBeta(restored)).toEqual(running);
      loaded.model.dispose();
      for (const o of [optA, plain, restored]) o.dispose();
      a.dispose();
    });
  });

  it('restores into an optimizer that already stepped, without leaking its old state', async () => {
    await withTempDir(async (dir) => {
      const a = buildMlp();
      const optA = tf.train.adam(0.01);
      train(a, optA, 0, 3);
      const info = await saveCheckpoint({ dir, model: a, optimizer: optA, state: state(3), keep: 1 });
      const b = buildMlp(5);
      const optB = tf.train.adam(0.01);
      train(b, optB, 100, 4); // different history, state variables exist
      const before = tf.memory().numTensors;
      const loaded = await loadCheckpoint(info.path, { into: b });
      await restoreOptimizer(optB, loaded, { model: b });
      expect(tf.memory().numTensors).toBe(before);
      expect(optB.iterations).toBe(3);
      train(a, optA, 3, 4);
      train(b, optB, 3, 4);
      expect(weightBits(b)).toEqual(weightBits(a));
      for (const m of [a, b]) m.dispose();
      for (const o of [optA, optB]) o.dispose();
    });
  });

  it('compiled model with trainOnBatch continues bit-identically, optimizer built by createOptimizer', async () => {
    await withTempDir(async (dir) => {
      const a = buildMlp();
      a.compile({ optimizer: tf.train.adam(0.02, 0.8, 0.99), loss: 'meanSquaredError' });
      const fit = async (m: tf.LayersModel, from: number, n: number) => {
        for (let i = from; i < from + n; i++) {
          const { x, y } = batch(i);
          await m.trainOnBatch(x, y);
          tf.dispose([x, y]);
        }
      };
      await fit(a, 0, 6);
      const info = await saveCheckpoint({ dir, model: a, optimizer: a.optimizer, state: state(6), keep: 1 });
      const loaded = await loadCheckpoint(info.path);
      const opt = createOptimizer(loaded.optimizer);
      expect(opt.getConfig()).toEqual(a.optimizer.getConfig());
      loaded.model.compile({ optimizer: opt, loss: 'meanSquaredError' });
      await restoreOptimizer(loaded.model.optimizer, loaded, { model: loaded.model });
      await fit(a, 6, STEPS_AFTER);
      await fit(loaded.model, 6, STEPS_AFTER);
      expect(weightBits(loaded.model)).toEqual(weightBits(a));
      for (const m of [a, loaded.model]) {
        m.optimizer.dispose();
        m.dispose();
      }
    });
  });

  it('loads weights into an existing model by position, and rejects a model of another shape', async () => {
    await withTempDir(async (dir) => {
      const a = buildMlp();
      const opt = tf.train.sgd(0.1);
      train(a, opt, 0, 2);
      const info = await saveCheckpoint({ dir, model: a, optimizer: opt, state: state(2), keep: 1 });
      const fresh = buildMlp(9);
      expect(weightBits(fresh)).not.toEqual(weightBits(a));
      const loaded = await loadCheckpoint(info.path, { into: fresh });
      expect(loaded.model).toBe(fresh);
      expect(weightBits(fresh)).toEqual(weightBits(a));

      const other = buildMlp(1, 10);
      const before = tf.memory().numTensors;
      const err = await loadCheckpoint(info.path, { into: other }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointCorruptError);
      expect((err as CheckpointCorruptError).file).toBe(`${info.path}/model.json`);
      expect((err as Error).message).toMatch(/\[6,12\].*\[6,10\]/);
      expect(tf.memory().numTensors).toBe(before);

      const wrongOpt = tf.train.adam(0.1);
      await expect(restoreOptimizer(wrongOpt, loaded)).rejects.toThrow(/checkpoint holds SGD state, optimizer is Adam/);
      for (const m of [a, fresh, other]) m.dispose();
      for (const o of [opt, wrongOpt]) o.dispose();
    });
  });
});
