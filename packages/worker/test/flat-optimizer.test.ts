// The flat optimizer update against tfjs's own applyGradients: two identical models get the same gradients
// every step, one through each path, and their weights and optimizer state must agree bit for bit (on the
// wasm backend, for Adam and SGD, across a learning-rate change). Plus where it must not
// apply, and that a tensor sharing a variable's storage is left alone.
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { lcgUniform } from '@dtrain/shared/seeded-random';
import { FusedGradients } from '../src/fused-gradients';
import { FLAT_MAX_PARAMETERS, flatOptimizerEnabled, flatOptimizerStep } from '../src/flat-optimizer';
import { setLearningRate } from '../src/optimizer-factory';

function mlp(): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [4], units: 16, activation: 'relu', kernelInitializer: 'glorotUniform' }),
      tf.layers.dense({ units: 3 }),
    ],
  });
  // The same weights in both models: seeded values, not the initializers' own randomness.
  model.setWeights(model.getWeights().map((w, i) => tf.tensor(lcgUniform(w.size, 11 + i), w.shape)));
  return model;
}

function bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
}

async function runBoth(backend: string, make: () => tf.Optimizer, steps: number): Promise<void> {
  await tf.setBackend(backend);
  const ref = { model: mlp(), opt: make() };
  const flatSide = { model: mlp(), opt: make() };
  const refFused = FusedGradients.forModel(ref.model);
  // A forward pass before training: the wasm backend then holds matMul operators packed with the first weights.
  const x = tf.tensor(lcgUniform(5 * 4, 7), [5, 4]);
  tf.dispose([ref.model.predict(x), flatSide.model.predict(x)]);
  const fused = FusedGradients.forModel(flatSide.model);
  const flat = flatOptimizerStep(flatSide.opt, fused, {}, backend);
  expect(flat).not.toBeNull();
  let flatSteps = 0;
  for (let s = 0; s < steps; s++) {
    if (s === Math.floor(steps / 2)) {
      setLearningRate(ref.opt, 0.003);
      setLearningRate(flatSide.opt, 0.003);
    }
    // Gradients of both signs and scales, as an all-reduce would leave them.
    const g = lcgUniform(fused.gradientLength, 100 + s).map((x) => (x - 0.5) * 10 ** ((s % 5) - 2));
    refFused.buffer.set(g);
    fused.buffer.set(g);
    const named = refFused.namedGradients();
    ref.opt.applyGradients(named);
    for (const n of named) n.tensor.dispose();
    if (flat?.apply(fused)) flatSteps += 1;
    else {
      const own = fused.namedGradients();
      flatSide.opt.applyGradients(own);
      for (const n of own) n.tensor.dispose();
    }
    // The forward pass runs on the new weights (not on operators packed with earlier ones).
    const [pa, pb] = [ref.model.predict(x) as tf.Tensor, flatSide.model.predict(x) as tf.Tensor];
    expect(bits(pb.dataSync() as Float32Array)).toEqual(bits(pa.dataSync() as Float32Array));
    tf.dispose([pa, pb]);
  }
  x.dispose();
  // Adam's first step creates its moments through tfjs; every later step is flat.
  expect(flatSteps).toBe(flat?.kind === 'adam' ? steps - 1 : steps);

  const a = ref.model.getWeights().map((w) => w.dataSync() as Float32Array);
  const b = flatSide.model.getWeights().map((w) => w.dataSync() as Float32Array);
  expect(b.map(bits)).toEqual(a.map(bits));
  const initial = lcgUniform(a[0].length, 11);
  expect(a[0].some((x, i) => x !== initial[i])).toBe(true); // the weights did move
  const stateA = await ref.opt.getWeights();
  const stateB = await flatSide.opt.getWeights();
  // Names differ only in the layers' numbering (two models).
  const unnumbered = (name: string): string => name.replace(/\d+/g, '#');
  expect(stateB.map((w) => unnumbered(w.name))).toEqual(stateA.map((w) => unnumbered(w.name)));
  expect(stateB.map((w) => bits(w.tensor.dataSync() as Float32Array)))
    .toEqual(stateA.map((w) => bits(w.tensor.dataSync() as Float32Array)));
  expect(flatSide.opt.iterations).toBe(steps);
}

describe('flat optimizer update', () => {
  afterAll(async () => { await tf.setBackend('cpu'); });

  it("Adam on wasm: weights and moments bit for bit those of tfjs's Adam", async () => {
    await runBoth('wasm', () => tf.train.adam(0.01), 30);
  });
  it("SGD on wasm: weights bit for bit those of tfjs's SGD", async () => {
    await runBoth('wasm', () => tf.train.sgd(0.05), 30);
  });

  it('applies to Adam and plain SGD on wasm up to 65,536 parameters, and can be switched off', async () => {
    await tf.setBackend('wasm');
    const F = FusedGradients.forModel(mlp());
    expect(flatOptimizerStep(tf.train.adam(0.01), F, {}, 'wasm')?.kind).toBe('adam');
    expect(flatOptimizerStep(tf.train.sgd(0.01), F, {}, 'wasm')?.kind).toBe('sgd');
    expect(flatOptimizerStep(tf.train.momentum(0.01, 0.9), F, {}, 'wasm')).toBeNull();
    expect(flatOptimizerStep(tf.train.rmsprop(0.01), F, {}, 'wasm')).toBeNull();
    expect(flatOptimizerStep(tf.train.adam(0.01), F, { DTRAIN_FLAT_OPTIMIZER: '0' }, 'wasm')).toBeNull();
    // Above FLAT_MAX_PARAMETERS tfjs's vectorized kernels are faster.
    const big = tf.sequential({ layers: [tf.layers.dense({ inputShape: [256], units: 256 })] }); // 65,792
    expect(FLAT_MAX_PARAMETERS).toBe(65_536);
    expect(flatOptimizerStep(tf.train.adam(0.01), FusedGradients.forModel(big), {}, 'wasm')).toBeNull();
    const edge = tf.sequential({ layers: [tf.layers.dense({ inputShape: [255], units: 256 })] }); // 65,536
    expect(flatOptimizerStep(tf.train.adam(0.01), FusedGradients.forModel(edge), {}, 'wasm')?.kind).toBe('adam');
    // cpu keeps the arrays tensors were made from (shared with the fused buffer); native: outside JS.
    await tf.setBackend('cpu');
    expect(flatOptimizerStep(tf.train.adam(0.01), F, {}, 'cpu')).toBeNull();
    expect(flatOptimizerStep(tf.train.adam(0.01), F, {}, 'tensorflow')).toBeNull();
    expect(flatOptimizerEnabled({ DTRAIN_FLAT_OPTIMIZER: '1' })).toBe(true);
    expect(() => flatOptimizerEnabled({ DTRAIN_FLAT_OPTIMIZER: 'fast' })).toThrow(new RangeError(
      "DTRAIN_FLAT_OPTIMIZER must be 1 (the default) or 0 (tfjs's optimizers), got 'fast'"));
  });

  it("on wasm, a tensor sharing a variable's storage keeps its values", async () => {
    await tf.setBackend('wasm');
    const model = mlp();
    const fused = FusedGradients.forModel(model);
    // A variable made from a tensor the caller keeps shares that tensor's storage.
    const kept = tf.tensor(lcgUniform(fused.variables[0].size, 5), fused.variables[0].shape);
    fused.variables[0].assign(kept);
    const before = bits(kept.dataSync() as Float32Array);
    const flat = flatOptimizerStep(tf.train.sgd(0.5), fused, {}, 'wasm');
    fused.buffer.fill(1);
    expect(flat?.apply(fused)).toBe(true);
    expect(bits(kept.dataSync() as Float32Array)).toEqual(before);
    const after = fused.variables[0].dataSync() as Float32Array;
    const keptValues = kept.dataSync() as Float32Array;
    expect(after[0]).toBe(Math.fround(Math.fround(-0.5) + keptValues[0]));
    kept.dispose();
  });
});
