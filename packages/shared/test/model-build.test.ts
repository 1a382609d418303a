import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDataset } from '../src/data/dataset';
import { JobSpecError } from '../src/errors';
import { validateJobSpec, type JobSpec } from '../src/job-spec';
import { buildModel } from '../src/model/build-model';
import { lossFunction } from '../src/model/losses';

const DATA = fileURLToPath(new URL('../../../examples/data/', import.meta.url));
const CUSTOM = fileURLToPath(new URL('./fixtures/custom-model.ts', import.meta.url));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function job(model: unknown, dataset: unknown, loss: string, seed = 7): JobSpec {
  return validateJobSpec({
    name: 't', seed, model, dataset, loss,
    optimizer: { kind: 'adam', learningRate: 0.01 }, training: { batchSize: 16 },
  });
}

const dense = (units: number, activation: string) => ({ units, activation });

const CASES: Array<{ name: string; spec: JobSpec; layers: string[]; outputShape: number[] }> = [
  {
    name: 'perceptron on study hours (binary)',
    spec: job({ kind: 'perceptron' }, { kind: 'csv', path: `${DATA}study-hours.csv`, label: 'passed', classes: 2, labelEncoding: 'binary' }, 'binaryCrossentropy'),
    layers: ['Dense'], outputShape: [1],
  },
  {
    name: 'mlp classification on mnist (leakyRelu, prelu, swish, elu)',
    spec: job({ kind: 'mlp', hidden: [dense(16, 'leakyRelu'), dense(12, 'prelu'), dense(10, 'swish'), dense(8, 'elu')] },
      { kind: 'mnist', limit: 64 }, 'categoricalCrossentropy'),
    layers: ['Dense', 'LeakyReLU', 'Dense', 'PReLU', 'Dense', 'Dense', 'Dense'], outputShape: [10],
  },
  {
    name: 'mlp regression on house prices (tanh, sigmoid, dropout)',
    spec: job({ kind: 'mlp', task: 'regression', hidden: [{ units: 16, activation: 'tanh', dropout: 0.1 }, dense(8, 'sigmoid')] },
      { kind: 'csv', path: `${DATA}house-prices.csv`, label: 'price_k' }, 'meanSquaredError'),
    layers: ['Dense', 'Dropout', 'Dense', 'Dense'], outputShape: [1],
  },
  {
    name: 'cnn on mnist images',
    spec: job({ kind: 'cnn', conv: [{ filters: 4, kernelSize: 5, strides: 2, pool: 2 }], dense: [dense(16, 'relu')] },
      { kind: 'mnist', shape: 'image', limit: 64 }, 'categoricalCrossentropy'),
    layers: ['Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dense'], outputShape: [10],
  },
  {
    name: 'lstm on sine',
    spec: job({ kind: 'lstm', units: [8, 6] }, { kind: 'sequence', builtin: 'sine', window: 8 }, 'meanSquaredError'),
    layers: ['LSTM', 'LSTM', 'Dense'], outputShape: [1],
  },
  {
    name: 'gru on airline passengers, horizon 2',
    spec: job({ kind: 'gru', units: [8] }, { kind: 'sequence', builtin: 'airline-passengers', window: 12, horizon: 2 }, 'meanAbsoluteError'),
    layers: ['GRU', 'Dense'], outputShape: [2],
  },
  {
    name: 'bilstm on sine',
    spec: job({ kind: 'bilstm', units: [6], dense: [dense(4, 'relu')] }, { kind: 'sequence', builtin: 'sine', window: 8 }, 'meanSquaredError'),
    layers: ['Bidirectional', 'Dense', 'Dense'], outputShape: [1],
  },
  {
    name: 'custom module',
    spec: job({ kind: 'custom', module: CUSTOM, options: { units: 5 } },
      { kind: 'csv', path: `${DATA}study-hours.csv`, label: 'passed', classes: 2, labelEncoding: 'binary' }, 'binaryCrossentropy'),
    layers: ['Dense', 'Dense'], outputShape: [1],
  },
];

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

describe('buildModel: every kind builds and trains', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const ds = await openDataset(c.spec.dataset, c.spec.seed);
      const model = await buildModel({ spec: c.spec, info: ds.info, seed: c.spec.seed });
      expect(model.layers.map((l) => l.getClassName())).toEqual(c.layers);
      expect(model.outputs[0].shape.slice(1)).toEqual(c.outputShape);

      const before = tf.memory().numTensors;
      const batch = ds.batch('train', Array.from({ length: 16 }, (_, i) => i));
      const lossFn = lossFunction(c.spec.loss);
      const opt = tf.train.adam(0.01);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const lossNow = (): number => tf.tidy(() => lossFn(batch.ys, model.apply(batch.xs, { training: false }) as tf.Tensor).dataSync()[0]);
      const initial = lossNow();
      for (let step = 0; step < 8; step++) {
        const { value, grads } = tf.variableGrads(() => lossFn(batch.ys, model.apply(batch.xs, { training: true }) as tf.Tensor), vars);
        opt.applyGradients(grads as tf.NamedTensorMap as Parameters<typeof opt.applyGradients>[0]);
        tf.dispose([value, ...Object.values(grads)]);
      }
      const final = lossNow();
      expect(Number.isFinite(initial)).toBe(true);
      expect(final).toBeLessThan(initial * 0.97);
      tf.dispose([batch.xs, batch.ys]);
      opt.dispose();
      // Adam's slots are freed with the optimizer: no tensor leaks per step.
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
      ds.close();
    });
  }
});

describe('buildModel: seeded determinism', () => {
  it('same seed gives identical weights, another seed different ones (mlp, lstm, cnn)', async () => {
    for (const idx of [1, 4, 3, 6]) {
      const c = CASES[idx];
      const ds = await openDataset(c.spec.dataset, c.spec.seed);
      const a = await buildModel({ spec: c.spec, info: ds.info, seed: 11 });
      const b = await buildModel({ spec: c.spec, info: ds.info, seed: 11 });
      const d = await buildModel({ spec: c.spec, info: ds.info, seed: 12 });
      const [wa, wb, wd] = [weightsOf(a), weightsOf(b), weightsOf(d)];
      expect(wa.length).toBe(wb.length);
      wa.forEach((w, i) => expect(Buffer.from(w.buffer).equals(Buffer.from(wb[i].buffer))).toBe(true));
      // Kernels differ for another seed (biases are zeros in both).
      expect(Buffer.from(wa[0].buffer).equals(Buffer.from(wd[0].buffer))).toBe(false);
      [a, b, d].forEach((m) => m.dispose());
      ds.close();
    }
  });

  it('layers with the same shape get different initial kernels', async () => {
    const spec = job({ kind: 'mlp', hidden: [dense(10, 'relu'), dense(10, 'relu')], outputActivation: 'softmax' }, { kind: 'mnist', limit: 16 }, 'categoricalCrossentropy');
    const info = { trainSize: 16, testSize: 2, inputShape: [10], outputSize: 10, task: 'classification' as const };
    const m = await buildModel({ spec, info, seed: 3 });
    const kernels = m.getWeights().filter((w) => w.shape.length === 2).map((w) => Array.from(w.dataSync()));
    expect(kernels).toHaveLength(3);
    expect(kernels[0]).not.toEqual(kernels[1]);
    expect(kernels[1]).not.toEqual(kernels[2]);
    m.dispose();
  });
});

describe('buildModel: output activations and bad combinations', () => {
  const info = (task: 'classification' | 'regression', outputSize: number) => ({ trainSize: 10, testSize: 2, inputShape: [3], outputSize, task });
  const last = (m: tf.LayersModel): string => (m.layers[m.layers.length - 1].getConfig().activation as string);
  it('softmax for >2 classes, sigmoid for 1 output, linear for regression, explicit wins', async () => {
    const cls = job({ kind: 'mlp', hidden: [dense(4, 'relu')] }, { kind: 'mnist' }, 'categoricalCrossentropy');
    expect(last(await buildModel({ spec: cls, info: info('classification', 3), seed: 1 }))).toBe('softmax');
    expect(last(await buildModel({ spec: cls, info: info('classification', 1), seed: 1 }))).toBe('sigmoid');
    const reg = job({ kind: 'mlp', task: 'regression', hidden: [dense(4, 'relu')] }, { kind: 'mnist' }, 'meanSquaredError');
    expect(last(await buildModel({ spec: reg, info: info('regression', 1), seed: 1 }))).toBe('linear');
    const explicit = job({ kind: 'mlp', task: 'regression', hidden: [dense(4, 'relu')], outputActivation: 'relu' }, { kind: 'mnist' }, 'meanSquaredError');
    expect(last(await buildModel({ spec: explicit, info: info('regression', 1), seed: 1 }))).toBe('relu');
  });

  it('rejects a cnn on flat inputs and a task mismatch, naming the field', async () => {
    const cnn = job({ kind: 'cnn', conv: [{ filters: 2 }] }, { kind: 'mnist' }, 'categoricalCrossentropy');
    await expect(buildModel({ spec: cnn, info: info('classification', 10), seed: 1 })).rejects.toThrow(/cnn needs image inputs.*dataset.shape: image/);
    const mlp = job({ kind: 'mlp', hidden: [dense(4, 'relu')] }, { kind: 'mnist' }, 'categoricalCrossentropy');
    await expect(buildModel({ spec: mlp, info: info('regression', 1), seed: 1 })).rejects.toBeInstanceOf(JobSpecError);
  });

  it('custom module that does not exist gives CustomModelError', async () => {
    const spec = job({ kind: 'custom', module: '/nonexistent/model.ts' }, { kind: 'mnist' }, 'categoricalCrossentropy');
    await expect(buildModel({ spec, info: info('classification', 10), seed: 1 })).rejects.toThrow(/custom model module \/nonexistent\/model.ts: cannot import/);
  });
});
