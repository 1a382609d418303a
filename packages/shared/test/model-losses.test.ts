import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { addEvalSums, evaluatePredictions, finalizeEval, lossFunction, perSampleLoss } from '../src/model/losses';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const scalar = (t: tf.Tensor): number => t.dataSync()[0];

describe('losses', () => {
  it('categorical cross-entropy = -ln p(true class)', () => {
    const y = tf.tensor2d([[0, 1, 0], [1, 0, 0]]);
    const p = tf.tensor2d([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]]);
    expect(Array.from(perSampleLoss('categoricalCrossentropy')(y, p).dataSync())).toEqual([expect.closeTo(-Math.log(0.7), 6), expect.closeTo(-Math.log(0.5), 6)]);
    expect(scalar(lossFunction('categoricalCrossentropy')(y, p))).toBeCloseTo((-Math.log(0.7) - Math.log(0.5)) / 2, 6);
    expect(scalar(lossFunction('sparseCategoricalCrossentropy')(tf.tensor1d([1, 0]), p))).toBeCloseTo((-Math.log(0.7) - Math.log(0.5)) / 2, 6);
  });

  it('binary cross-entropy, MSE, MAE', () => {
    const y = tf.tensor2d([[1], [0]]);
    const p = tf.tensor2d([[0.8], [0.3]]);
    expect(scalar(lossFunction('binaryCrossentropy')(y, p))).toBeCloseTo((-Math.log(0.8) - Math.log(0.7)) / 2, 6);
    const t = tf.tensor2d([[1, 2], [3, 4]]);
    const q = tf.tensor2d([[1.5, 2], [1, 5]]);
    expect(scalar(lossFunction('meanSquaredError')(t, q))).toBeCloseTo((0.25 + 0 + 4 + 1) / 4, 6);
    expect(scalar(lossFunction('meanAbsoluteError')(t, q))).toBeCloseTo((0.5 + 0 + 2 + 1) / 4, 6);
  });

  it('cross-entropy stays finite for p = 0 (clipped)', () => {
    expect(scalar(lossFunction('categoricalCrossentropy')(tf.tensor2d([[1, 0]]), tf.tensor2d([[0, 1]])))).toBeCloseTo(-Math.log(1e-7), 3);
  });
});

describe('validation sums combine exactly across shards', () => {
  it('classification: two shards add up to the whole batch', () => {
    const y = tf.tensor2d([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]]);
    const p = tf.tensor2d([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]]);
    const whole = evaluatePredictions(y, p, 'categoricalCrossentropy', 'classification');
    expect(whole.count).toBe(5);
    expect(whole.correct).toBe(3);
    const a = evaluatePredictions(y.slice(0, 2), p.slice(0, 2), 'categoricalCrossentropy', 'classification');
    const b = evaluatePredictions(y.slice(2, 3), p.slice(2, 3), 'categoricalCrossentropy', 'classification');
    const sum = addEvalSums(a, b);
    expect(sum.count).toBe(5);
    expect(sum.correct).toBe(3);
    expect(sum.lossSum).toBeCloseTo(whole.lossSum, 5);
    const m = finalizeEval(sum, 'classification');
    expect(m.accuracy).toBeCloseTo(0.6, 9);
    expect(m.loss).toBeCloseTo(-(Math.log(0.6) + Math.log(0.4) + Math.log(0.8) + Math.log(0.7) + Math.log(0.3)) / 5, 5);
  });

  it('binary (one sigmoid output) and regression', () => {
    const bin = evaluatePredictions(tf.tensor2d([[1], [0], [1]]), tf.tensor2d([[0.9], [0.6], [0.4]]), 'binaryCrossentropy', 'classification');
    expect(bin.correct).toBe(1);
    const reg = evaluatePredictions(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[2, 2], [3, 1]]), 'meanSquaredError', 'regression');
    expect(reg).toMatchObject({ count: 2, valueCount: 4, absErrorSum: 4, squaredErrorSum: 10 });
    expect(finalizeEval(reg, 'regression')).toMatchObject({ mse: 2.5, mae: 1 });
    expect(reg.lossSum).toBeCloseTo(0.5 + 4.5, 6);
  });
});
