import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeDataset, openDataset } from '../src/data/dataset';
import { AIRLINE_PASSENGERS, sineSeries } from '../src/data/series';
import { DataFileError } from '../src/errors';

const DATA = fileURLToPath(new URL('../../../examples/data/', import.meta.url));
const base = { kind: 'sequence' as const, horizon: 1, standardize: true, testFraction: 0.2 };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('sequence windows', () => {
  it('sine: 1000 values, window 8 -> 992 windows, last 198 held out', async () => {
    const info = await describeDataset({ ...base, builtin: 'sine', window: 8 });
    expect(info).toMatchObject({ trainSize: 794, testSize: 198, inputShape: [8, 1], outputSize: 1, task: 'regression' });
  });

  it('airline passengers: chronological split, standardized on the training part only', async () => {
    expect(AIRLINE_PASSENGERS.reduce((a, b) => a + b, 0)).toBe(40363);
    const ds = await openDataset({ ...base, builtin: 'airline-passengers', window: 12, horizon: 2 }, 5);
    // 144 - 12 - 2 + 1 = 131 windows; round(26.2) = 26 test windows.
    expect([ds.info.trainSize, ds.info.testSize]).toEqual([105, 26]);
    // Training windows touch values 0 .. 104 + 12 + 2 - 1 = 117: 118 values.
    const used = AIRLINE_PASSENGERS.slice(0, 118);
    const mean = used.reduce((a, b) => a + b, 0) / used.length;
    const std = Math.sqrt(used.reduce((a, b) => a + (b - mean) ** 2, 0) / used.length);
    expect(ds.info.standardization!.featureMean[0]).toBeCloseTo(mean, 9);
    expect(ds.info.standardization!.featureStd[0]).toBeCloseTo(std, 9);
    const z = (v: number): number => (v - mean) / std;
    const b = ds.batch('test', [0, 25]);
    expect(b.xs.shape).toEqual([2, 12, 1]);
    const xs = Array.from(b.xs.dataSync());
    const ys = Array.from(b.ys.dataSync());
    // Test window 0 is window 105: inputs series[105..116], targets series[117..118].
    AIRLINE_PASSENGERS.slice(105, 117).forEach((v, i) => expect(xs[i]).toBeCloseTo(z(v), 5));
    expect(ys[0]).toBeCloseTo(z(AIRLINE_PASSENGERS[117]), 5);
    expect(ys[1]).toBeCloseTo(z(AIRLINE_PASSENGERS[118]), 5);
    // The last test window ends on the last value (Dec 1960: 432).
    expect(ys[3]).toBeCloseTo(z(432), 5);
    expect(() => ds.batch('test', [26])).toThrow(/out of range/);
  });

  it('a CSV column gives the same series as the builtin', async () => {
    const a = await openDataset({ ...base, path: `${DATA}airline-passengers.csv`, column: 'passengers', window: 6 }, 1);
    const b = await openDataset({ ...base, builtin: 'airline-passengers', window: 6 }, 1);
    const idx = [0, 50, a.info.trainSize - 1];
    expect(Array.from(a.batch('train', idx).xs.dataSync())).toEqual(Array.from(b.batch('train', idx).xs.dataSync()));
  });

  it('unstandardized sine windows are the raw values', async () => {
    const ds = await openDataset({ ...base, builtin: 'sine', window: 4, standardize: false }, 1);
    const s = sineSeries();
    const b = ds.batch('train', [10]);
    Array.from(b.xs.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(s[10 + i], 6));
    expect(b.ys.dataSync()[0]).toBeCloseTo(s[14], 6);
  });

  it('bad series files: missing column, text cell', async () => {
    const e1 = await describeDataset({ ...base, path: `${DATA}airline-passengers.csv`, column: 'riders', window: 6 }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(DataFileError);
    expect(e1).toMatchObject({ column: 'riders' });
    const e2 = await describeDataset({ ...base, path: `${DATA}airline-passengers.csv`, column: 'month', window: 6 }).catch((e: unknown) => e);
    expect(e2).toMatchObject({ row: 2, column: 'month' });
    expect((e2 as Error).message).toMatch(/not a number: "1949-01"/);
  });
});
