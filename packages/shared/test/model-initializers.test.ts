// Per-layer initializers: the values each layer starts from follow its spec (kernel, recurrent,
// bias), are seeded per layer (same seed: same weights on every rank), and defaults are unchanged.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../src/model/build-model';
import { validateJobSpec } from '../src/job-spec';
import type { DatasetInfo } from '../src/data/api';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function job(model: unknown, loss = 'meanSquaredError') {
  return validateJobSpec({
    name: 'init', model, dataset: { kind: 'mnist' }, loss, optimizer: { kind: 'sgd', learningRate: 0.1 }, training: { batchSize: 2 },
  });
}
const seqInfo: DatasetInfo = { trainSize: 10, testSize: 2, inputShape: [6, 1], outputSize: 1, task: 'regression' };
const flatInfo: DatasetInfo = { trainSize: 10, testSize: 2, inputShape: [5], outputSize: 1, task: 'regression' };
const imgInfo: DatasetInfo = { trainSize: 10, testSize: 2, inputShape: [6, 6, 1], outputSize: 2, task: 'classification' };

/** Weights by tfjs name suffix, e.g. 'kernel', 'recurrent_kernel', 'bias', per layer in order. */
function weights(m: tf.LayersModel): { name: string; values: number[] }[] {
  return m.weights.map((w) => ({ name: w.originalName, values: Array.from(w.read().dataSync()) }));
}

describe('per-layer initializers', () => {
  it('lstm: kernel, recurrent and bias per layer (PyTorch-style uniform), seeded per layer', async () => {
    const k = 1 / Math.sqrt(4);
    const u = { kind: 'uniform', min: -k, max: k };
    const spec = job({
      kind: 'lstm', task: 'regression',
      units: [{ units: 4, kernelInitializer: u, recurrentInitializer: u, biasInitializer: u }, { units: 3, biasInitializer: { kind: 'constant', value: 0.25 } }],
    });
    const m = await buildModel({ spec, info: seqInfo, seed: 5 });
    const w = weights(m);
    const first = w.filter((x) => x.name.startsWith(m.layers[0].name));
    expect(first.map((x) => x.name.split('/').pop())).toEqual(['kernel', 'recurrent_kernel', 'bias']);
    for (const x of first) {
      expect(Math.min(...x.values)).toBeGreaterThanOrEqual(-k);
      expect(Math.max(...x.values)).toBeLessThanOrEqual(k);
      // Uniform over [-0.5, 0.5]: far from glorot's/orthogonal's spread and from zeros.
      expect(new Set(x.values).size).toBe(x.values.length);
    }
    const second = w.filter((x) => x.name.startsWith(m.layers[1].name));
    expect(second.find((x) => x.name.endsWith('bias'))!.values).toEqual(new Array(12).fill(0.25));
    // The recurrent default stays orthogonal: the 3x12 recurrent kernel's rows are orthonormal.
    const rec = tf.tensor(second.find((x) => x.name.endsWith('recurrent_kernel'))!.values, [3, 12]);
    const gram = Array.from(tf.matMul(rec, rec, false, true).dataSync());
    gram.forEach((v, i) => expect(v).toBeCloseTo(i % 4 === 0 ? 1 : 0, 4));
    const again = weights(await buildModel({ spec, info: seqInfo, seed: 5 }));
    expect(again.map((x) => x.values)).toEqual(w.map((x) => x.values));
    const other = weights(await buildModel({ spec, info: seqInfo, seed: 6 }));
    expect(other[0].values).not.toEqual(w[0].values);
  });

  it('gru and lstm unitForgetBias; dense and conv kernel + bias', async () => {
    const gru = await buildModel({ spec: job({ kind: 'gru', units: [{ units: 2, kernelInitializer: 'zeros', biasInitializer: 'ones' }] }), info: seqInfo, seed: 1 });
    const g = weights(gru);
    expect(g[0].values.every((v) => v === 0)).toBe(true);
    expect(g[2].values.every((v) => v === 1)).toBe(true);
    const lstm = await buildModel({ spec: job({ kind: 'lstm', units: [{ units: 2, unitForgetBias: true }] }), info: seqInfo, seed: 1 });
    // Gates i, f, c, o: the forget gate's bias starts at 1, the others at 0.
    expect(weights(lstm)[2].values).toEqual([0, 0, 1, 1, 0, 0, 0, 0]);

    const mlp = await buildModel({
      spec: job({ kind: 'mlp', task: 'regression', hidden: [{ units: 3, kernelInitializer: { kind: 'normal', stddev: 1e-3 }, biasInitializer: { kind: 'constant', value: -2 } }] }),
      info: flatInfo, seed: 1,
    });
    const d = weights(mlp);
    expect(Math.max(...d[0].values.map(Math.abs))).toBeLessThan(0.01);
    expect(d[1].values).toEqual([-2, -2, -2]);
    expect(d[3].values).toEqual([0]);

    const cnn = await buildModel({
      spec: job({ kind: 'cnn', conv: [{ filters: 2, kernelSize: 3, pool: 0, kernelInitializer: 'ones', biasInitializer: { kind: 'constant', value: 0.5 } }] }, 'categoricalCrossentropy'),
      info: imgInfo, seed: 1,
    });
    const c = weights(cnn);
    expect(c[0].values).toEqual(new Array(18).fill(1));
    expect(c[1].values).toEqual([0.5, 0.5]);
  });

  it('a bad initializer is a named job-spec error', () => {
    expect(() => job({ kind: 'lstm', units: [{ units: 2, recurrentInitializer: 'fancy' }] })).toThrow(/model.units.0/);
    expect(() => job({ kind: 'lstm', units: [{ units: 2, biasInitializer: { kind: 'uniform', min: 1, max: 0 } }] })).toThrow(/min must be below max/);
  });
});
