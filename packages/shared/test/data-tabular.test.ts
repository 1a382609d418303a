import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeDataset, openDataset } from '../src/data/dataset';
import { indexTabularFile } from '../src/data/tabular-file';
import { TABULAR_SPLIT_SEED, tabularSplit } from '../src/data/tabular';
import { DataFileError } from '../src/errors';
import type { DatasetSpec } from '../src/job-spec';
import { useTempFiles } from './temp-files';

const DATA = fileURLToPath(new URL('../../../examples/data/', import.meta.url));
const tmp = useTempFiles('dtrain-data-');
const { file } = tmp;
beforeAll(async () => {
  await tf.setBackend('cpu');
});

type TabularSpec = Extract<DatasetSpec, { label: string }>;

function csvSpec(path: string, extra: Partial<TabularSpec> = {}): TabularSpec {
  return { kind: 'csv', path, label: 'y', labelEncoding: 'oneHot', standardize: false, testFraction: 0.25, onBadValue: 'error', ...extra };
}

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

describe('tabular: study hours (perceptron data)', () => {
  it('200 rows -> 160/40, three features, one binary output', async () => {
    const info = await describeDataset({ kind: 'csv', path: `${DATA}study-hours.csv`, label: 'passed', classes: 2, labelEncoding: 'binary', standardize: true, testFraction: 0.2, onBadValue: 'error' });
    expect(info).toMatchObject({ trainSize: 160, testSize: 40, inputShape: [3], outputSize: 1, task: 'classification', featureNames: ['prior_score', 'hours_studied', 'hours_slept'], classNames: ['0', '1'] });
  });
});

describe('tabular: reading rows by byte offset', () => {
  // Row r has x = r, z = 100 + r; a quoted text column with commas, quotes and newlines sits in between.
  const N = 40;
  const lines = ['x,note,z,y'];
  for (let r = 0; r < N; r++) lines.push(`${r},"row ${r}, says ""hi""${r % 7 === 0 ? '\nsecond line' : ''}",${100 + r},${r % 3}`);
  const text = `${lines.join('\n')}\n`;

  it('returns exactly the requested rows, in request order (csv with quoted fields)', async () => {
    const path = file('rows.csv', text);
    const spec = csvSpec(path, { features: ['x', 'z'], classes: 3 });
    const ds = await openDataset(spec, 1);
    const split = tabularSplit(path, N, 0.25, TABULAR_SPLIT_SEED);
    expect([ds.info.trainSize, ds.info.testSize]).toEqual([30, 10]);
    const req = [29, 0, 7, 7, 13];
    const b = ds.batch('train', req);
    const expectRows = req.map((i) => split.train[i]);
    expect(values(b.xs)).toEqual(expectRows.flatMap((r) => [r, 100 + r]));
    expect(values(b.ys)).toEqual(expectRows.flatMap((r) => [0, 1, 2].map((c) => (c === r % 3 ? 1 : 0))));
    // Train and test rows partition the file.
    const trainX = values(ds.batch('train', Array.from({ length: 30 }, (_, i) => i)).xs).filter((_, k) => k % 2 === 0);
    const testX = values(ds.batch('test', Array.from({ length: 10 }, (_, i) => i)).xs).filter((_, k) => k % 2 === 0);
    expect([...trainX, ...testX].sort((a, c) => a - c)).toEqual(Array.from({ length: N }, (_, r) => r));
    ds.close();
  });

  it('the index holds each row\'s byte range', async () => {
    const path = file('rows2.csv', text);
    const index = await indexTabularFile(path, 'csv', { features: ['x', 'z'], label: 'y', classes: 3, onBadValue: 'error' });
    expect(index.rowCount).toBe(N);
    const bytes = readFileSync(path);
    for (const r of [0, 7, 8, 39]) {
      const slice = bytes.subarray(index.starts[r], index.ends[r]).toString('utf8');
      expect(slice.startsWith(`${r},"row ${r}`)).toBe(true);
      expect(slice.endsWith(`,${100 + r},${r % 3}\n`)).toBe(true);
    }
    // Start line of each row in the file (header = line 1; rows 0 and 7 span two lines).
    expect([index.lines[0], index.lines[1], index.lines[7], index.lines[8]]).toEqual([2, 4, 10, 12]);
  });

  it('a worker parses only the rows it asks for (a row corrupted after indexing is not touched)', async () => {
    const path = file('lazy.csv', 'x,y\n10,0\n11,1\n12,0\n13,1\n14,0\n15,1\n16,0\n17,1\n');
    const ds = await openDataset(csvSpec(path, { classes: 2, testFraction: 0.25 }), 1);
    const split = tabularSplit(path, 8, 0.25, TABULAR_SPLIT_SEED);
    const victim = split.train[0];
    const bytes = readFileSync(path);
    const at = bytes.indexOf(`${10 + victim},`);
    bytes.write('zz', at);
    writeFileSync(path, bytes);
    const others = Array.from({ length: 5 }, (_, i) => i + 1);
    expect(values(ds.batch('train', others).xs)).toEqual(others.map((i) => 10 + split.train[i]));
    expect(() => ds.batch('train', [0])).toThrow(new RegExp(`row ${victim + 2}, column x\\): value is no longer valid`));
    ds.close();
  });

  it('JSON Lines and JSON arrays give the same samples as CSV', async () => {
    const rows = Array.from({ length: N }, (_, r) => ({ x: r, note: `n${r}`, z: 100 + r, y: r % 3 }));
    const jsonl = file('rows.jsonl', `${rows.map((o) => JSON.stringify(o)).join('\n')}\n`);
    const json = file('rows.json', JSON.stringify(rows, null, 1));
    const csv = file('rows3.csv', text);
    const out: number[][] = [];
    for (const [kind, path] of [['csv', csv], ['json', jsonl], ['json', json]] as const) {
      const ds = await openDataset({ ...csvSpec(path, { features: ['x', 'z'], classes: 3 }), kind }, 1);
      const b = ds.batch('test', [9, 0, 4]);
      out.push([...values(b.xs), ...values(b.ys)]);
      ds.close();
    }
    expect(out[1]).toEqual(out[0]);
    expect(out[2]).toEqual(out[0]);
  });

  it('string labels get ids in sorted order', async () => {
    const path = file('str.csv', 'a,y\n1,pass\n2,fail\n3,pass\n4,fail\n5,pass\n6,pass\n7,fail\n8,pass\n');
    const spec = csvSpec(path, { classes: 2, labelEncoding: 'binary' as const });
    const ds = await openDataset(spec, 1);
    expect(ds.info.classNames).toEqual(['fail', 'pass']);
    const b = ds.batch('train', [0, 1, 2, 3, 4, 5]);
    const xs = values(b.xs);
    const ys = values(b.ys);
    const label = (a: number): number => ([2, 4, 7].includes(a) ? 0 : 1);
    expect(ys).toEqual(xs.map(label));
  });
});

describe('tabular: bad files give DataFileError with file, row and column', () => {
  const cases: Array<[string, string, DatasetSpec | null, number | null, string | null, RegExp]> = [
    ['missing value', 'a,b,y\n1,2,0\n3,,1\n', null, 3, 'b', /row 3, column b\): missing value/],
    ['missing value after a blank line', 'a,b,y\n1,2,0\n\n3,,1\n', null, 4, 'b', /row 4, column b\): missing value/],
    ['text cell', 'a,b,y\n1,2,0\n3,4,1\n5,abc,0\n', null, 4, 'b', /not a number: "abc"/],
    ['ragged row', 'a,b,y\n1,2,0\n3,4\n', null, 3, null, /has 2 fields, header has 3/],
    ['missing label value (classification)', 'a,b,y\n1,2,0\n3,4,\n', null, 3, 'y', /missing label/],
  ];
  for (const [name, text, , row, column, message] of cases) {
    it(name, async () => {
      const path = file(`bad-${name.replace(/\W+/g, '-')}.csv`, text);
      const err = await describeDataset(csvSpec(path, { classes: 2 })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataFileError);
      expect(err).toMatchObject({ file: path, row, column });
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message.startsWith(path)).toBe(true);
    });
  }

  it('unknown label and feature columns', async () => {
    const path = file('cols.csv', 'a,b,y\n1,2,0\n3,4,1\n');
    const e1 = await describeDataset(csvSpec(path, { label: 'target' })).catch((e: unknown) => e);
    expect(e1).toMatchObject({ file: path, row: null, column: 'target' });
    expect((e1 as Error).message).toMatch(/label column not found; columns are: a, b, y/);
    const e2 = await describeDataset(csvSpec(path, { features: ['a', 'c'] })).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(DataFileError);
    expect(e2).toMatchObject({ column: 'c' });
  });

  it('missing file', async () => {
    const path = join(tmp.dir, 'nope.csv');
    const err = await openDataset(csvSpec(path), 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataFileError);
    expect((err as Error).message).toBe(`${path}: cannot open data file: ENOENT`);
  });

  it('too many distinct labels for classes', async () => {
    const path = file('labels.csv', 'a,y\n1,cat\n2,dog\n3,cow\n4,cat\n');
    await expect(describeDataset(csvSpec(path, { classes: 2 }))).rejects.toThrow(/3 distinct labels \(cat, cow, dog\) but classes is 2/);
  });

  it("onBadValue 'skipRow' drops bad rows and keeps the rest", async () => {
    const path = file('skip.csv', 'a,b,y\n1,2,0\n3,,1\n5,x,0\n7,8,1\n9,10\n11,12,0\n13,14,1\n15,16,0\n17,18,1\n');
    const info = await describeDataset(csvSpec(path, { onBadValue: 'skipRow' }));
    expect(info.trainSize + info.testSize).toBe(6);
    const ds = await openDataset(csvSpec(path, { onBadValue: 'skipRow', testFraction: 0.5 }), 1);
    const a = [...values(ds.batch('train', [0, 1, 2]).xs), ...values(ds.batch('test', [0, 1, 2]).xs)].filter((_, k) => k % 2 === 0);
    expect(a.sort((x, y) => x - y)).toEqual([1, 7, 11, 13, 15, 17]);
  });
});

describe('tabular: standardization uses the training split only', () => {
  it('mean/std of training rows; test rows scaled with them', async () => {
    // Feature a = r^2 makes the test rows' values visibly shift the mean if they were included.
    const N = 20;
    const rows = Array.from({ length: N }, (_, r) => `${r * r},${r},${2 * r + 1}`);
    const path = file('std.csv', `a,b,y\n${rows.join('\n')}\n`);
    const ds = await openDataset(csvSpec(path, { standardize: true, testFraction: 0.25 }), 1);
    const split = tabularSplit(path, N, 0.25, TABULAR_SPLIT_SEED);
    const train = Array.from(split.train);
    const mean = (xs: number[]): number => xs.reduce((s, v) => s + v, 0) / xs.length;
    const std = (xs: number[]): number => Math.sqrt(mean(xs.map((v) => (v - mean(xs)) ** 2)));
    const aTrain = train.map((r) => r * r);
    const bTrain = train;
    const yTrain = train.map((r) => 2 * r + 1);
    const st = ds.info.standardization!;
    expect(st.featureMean[0]).toBeCloseTo(mean(aTrain), 9);
    expect(st.featureStd[0]).toBeCloseTo(std(aTrain), 9);
    expect(st.featureMean[1]).toBeCloseTo(mean(bTrain), 9);
    expect(st.targetMean![0]).toBeCloseTo(mean(yTrain), 9);
    expect(st.targetStd![0]).toBeCloseTo(std(yTrain), 9);
    // Guard: the full-data mean is different, so the assertion above can fail.
    expect(Math.abs(mean(Array.from({ length: N }, (_, r) => r * r)) - mean(aTrain))).toBeGreaterThan(0.5);
    const testRow = split.test[0];
    const b = ds.batch('test', [0]);
    expect(values(b.xs)[0]).toBeCloseTo((testRow * testRow - mean(aTrain)) / std(aTrain), 5);
    expect(values(b.ys)[0]).toBeCloseTo((2 * testRow + 1 - mean(yTrain)) / std(yTrain), 5);
    // Training features end up with mean 0 and std 1.
    const all = ds.batch('train', Array.from({ length: 15 }, (_, i) => i));
    const { mean: m, variance: v } = tf.moments(all.xs, 0);
    values(m).forEach((x) => expect(x).toBeCloseTo(0, 5));
    values(v).forEach((x) => expect(x).toBeCloseTo(1, 4));
  });
});
