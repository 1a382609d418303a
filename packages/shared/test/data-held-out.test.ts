// Bring-your-own-data splits: a test file evaluated at the end, a validation file or fraction per
// epoch, the legacy testFraction, and named errors for files that do not match the training file.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDataset } from '../src/data/dataset';
import { ColumnMismatchError, UnseenLabelError } from '../src/data/columns';
import { TABULAR_SPLIT_SEED, tabularSplit } from '../src/data/tabular';
import { DataFileError, JobSpecError } from '../src/errors';
import { validateJobSpec, type DatasetSpec } from '../src/job-spec';
import { useTempFiles } from './temp-files';

const tmp = useTempFiles('dtrain-heldout-');
const { file } = tmp;
beforeAll(async () => {
  await tf.setBackend('cpu');
});
const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

/** Rows a,b -> label: feature a = row number, so a batch names the rows it holds. */
function table(rows: number, label: (i: number) => string, header = 'a,b,y'): string {
  return `${header}\n${Array.from({ length: rows }, (_, i) => `${i},${i * 2},${label(i)}`).join('\n')}\n`;
}

function spec(extra: Record<string, unknown>): DatasetSpec {
  const job = validateJobSpec({
    name: 't', model: { kind: 'perceptron' }, loss: 'meanSquaredError', optimizer: { kind: 'sgd', learningRate: 0.1 },
    training: { batchSize: 2 }, dataset: { kind: 'csv', label: 'y', standardize: false, ...extra },
  });
  return job.dataset;
}

describe('tabular held-out files and fractions', () => {
  it('testPath is its own split, evaluated at the end; validationFraction is a seeded share of the training rows', async () => {
    const train = file('train.csv', table(40, (i) => String(i % 3)));
    const test = file('test.csv', table(7, (i) => String(i % 3)).replace(/^(\d+),/gm, (_, n) => `${100 + Number(n)},`));
    const ds = await openDataset(spec({ path: train, testPath: test, validationFraction: 0.25, classes: 3 }), 1);
    try {
      expect(ds.info).toMatchObject({ trainSize: 30, validationSize: 10, testSize: 7, testAtEnd: true, classNames: ['0', '1', '2'] });
      const split = tabularSplit(train, 40, 0.25, TABULAR_SPLIT_SEED);
      const v = ds.batch('validation', Array.from({ length: 10 }, (_, i) => i));
      expect(values(v.xs).filter((_, k) => k % 2 === 0)).toEqual(Array.from(split.test));
      const t = ds.batch('test', [0, 6]);
      expect(values(t.xs)).toEqual([100, 0, 106, 12]);
      expect(values(t.ys)).toEqual([1, 0, 0, 1, 0, 0]);
      tf.dispose([v.xs, v.ys, t.xs, t.ys]);
    } finally {
      ds.close();
    }
  });

  it('validationPath is its own file; with neither validation field nor testFraction the default is a 0.2 share', async () => {
    const train = file('train2.csv', table(20, (i) => String(i)));
    const val = file('val2.csv', table(4, (i) => String(i)));
    const ds = await openDataset(spec({ path: train, validationPath: val, standardize: true }), 1);
    try {
      expect(ds.info).toMatchObject({ trainSize: 20, validationSize: 4, testSize: 0, testAtEnd: false });
      // Standardized with the TRAINING rows' statistics (a = 0..19: mean 9.5, std sqrt(33.25)).
      const b = ds.batch('validation', [0]);
      expect(values(b.xs)[0]).toBeCloseTo(-9.5 / Math.sqrt(33.25), 6);
      expect(values(b.ys)[0]).toBeCloseTo(-9.5 / Math.sqrt(33.25), 6);
      tf.dispose([b.xs, b.ys]);
    } finally {
      ds.close();
    }
    const plain = await openDataset(spec({ path: train, testPath: val }), 1);
    expect(plain.info).toMatchObject({ trainSize: 16, validationSize: 4, testSize: 4, testAtEnd: true });
    plain.close();
    const none = await openDataset(spec({ path: train, testPath: val, validationFraction: 0 }), 1);
    expect(none.info).toMatchObject({ trainSize: 20, validationSize: 0, testSize: 4 });
    none.close();
  });

  it('legacy testFraction alone keeps its rows (validated every epoch); beside the new fields it is refused with what to write', async () => {
    const train = file('train3.csv', table(40, (i) => String(i)));
    const ds = await openDataset(spec({ path: train, testFraction: 0.25 }), 1);
    expect(ds.info).toMatchObject({ trainSize: 30, validationSize: 10, testSize: 10, testAtEnd: false });
    const v = ds.batch('validation', [0, 9]);
    const t = ds.batch('test', [0, 9]);
    expect(values(v.xs)).toEqual(values(t.xs));
    tf.dispose([v.xs, v.ys, t.xs, t.ys]);
    ds.close();
    expect(() => spec({ path: train, testFraction: 0.2, testPath: train })).toThrow(JobSpecError);
    expect(() => spec({ path: train, testFraction: 0.2, testPath: train })).toThrow(/dataset.testFraction: .*write validationFraction: 0.2/);
    expect(() => spec({ path: train, validationFraction: 0.2, validationPath: train })).toThrow(/either validationPath or validationFraction/);
  });
});

describe('files that do not match the training file get a named error with file, row and column', () => {
  const train = (): string => file('t.csv', table(10, (i) => (i % 2 ? 'cat' : 'dog')));
  const open = (other: string) => openDataset(spec({ path: train(), testPath: other, classes: 2 }), 1);

  it('missing, extra and reordered columns', async () => {
    const missing = file('missing.csv', 'a,y\n1,cat\n');
    await expect(open(missing)).rejects.toThrow(ColumnMismatchError);
    await expect(open(missing)).rejects.toThrow(/missing\.csv \(row 1, column b\): column missing/);
    await expect(open(file('extra.csv', 'a,b,c,y\n1,2,3,cat\n'))).rejects.toThrow(/extra\.csv \(row 1, column c\): column not in the training data/);
    await expect(open(file('reordered.csv', 'b,a,y\n1,2,cat\n'))).rejects.toThrow(/reordered\.csv \(row 1, column b\): column 1 is b, expected a/);
  });

  it('an unseen class label and a non-numeric cell', async () => {
    const unseen = file('unseen.csv', 'a,b,y\n1,2,cat\n3,4,bird\n');
    await expect(open(unseen)).rejects.toThrow(UnseenLabelError);
    await expect(open(unseen)).rejects.toThrow(/unseen\.csv \(row 3, column y\): unseen class label "bird"; the model knows: cat, dog/);
    const bad = file('bad.csv', 'a,b,y\n1,2,cat\n3,x4,dog\n');
    await expect(open(bad)).rejects.toThrow(DataFileError);
    await expect(open(bad)).rejects.toThrow(/bad\.csv \(row 3, column b\): not a number: "x4"/);
  });
});

describe('json held-out files', () => {
  it('a JSON Lines test file is read against the training columns (any key order) and classes', async () => {
    const train = file('j-train.jsonl', Array.from({ length: 12 }, (_, i) => JSON.stringify({ a: i, b: -i, y: i % 2 ? 'odd' : 'even' })).join('\n'));
    const test = file('j-test.jsonl', [JSON.stringify({ y: 'odd', b: 7, a: 70 }), JSON.stringify({ b: 8, a: 80, y: 'even' })].join('\n'));
    const job = validateJobSpec({
      name: 'j', model: { kind: 'perceptron' }, loss: 'meanSquaredError', optimizer: { kind: 'sgd', learningRate: 0.1 },
      training: { batchSize: 2 }, dataset: { kind: 'json', path: train, testPath: test, label: 'y', classes: 2, standardize: false },
    });
    const ds = await openDataset(job.dataset, 1);
    expect(ds.info).toMatchObject({ trainSize: 10, validationSize: 2, testSize: 2, classNames: ['even', 'odd'] });
    const b = ds.batch('test', [0, 1]);
    expect(values(b.xs)).toEqual([70, 7, 80, 8]);
    expect(values(b.ys)).toEqual([0, 1, 1, 0]);
    tf.dispose([b.xs, b.ys]);
    ds.close();
    const extra = file('j-extra.jsonl', JSON.stringify({ a: 1, b: 2, c: 3, y: 'odd' }));
    await expect(openDataset({ ...job.dataset, testPath: extra } as DatasetSpec, 1)).rejects.toThrow(/j-extra\.jsonl \(row 1, column c\): column not in the training data/);
  });
});

describe('sequence held-out files', () => {
  it('a test series file gives windows over its own values, standardized with the training statistics', async () => {
    const series = (n: number, from: number) => `t,v\n${Array.from({ length: n }, (_, i) => `${i},${from + i}`).join('\n')}\n`;
    const train = file('s-train.csv', series(30, 0));
    const test = file('s-test.csv', series(8, 100));
    const job = validateJobSpec({
      name: 's', model: { kind: 'lstm', units: [2] }, loss: 'meanSquaredError', optimizer: { kind: 'sgd', learningRate: 0.1 },
      training: { batchSize: 2 }, dataset: { kind: 'sequence', path: train, testPath: test, validationFraction: 0.2, window: 4, horizon: 2 },
    });
    const ds = await openDataset(job.dataset, 1);
    // 30 values -> 25 windows: 5 validation (the last ones), 20 train; 8 test values -> 3 windows.
    expect(ds.info).toMatchObject({ trainSize: 20, validationSize: 5, testSize: 3, testAtEnd: true, window: 4, horizon: 2, labelName: 'v' });
    const st = ds.info.standardization!;
    // Training windows touch values 0..24 (20 windows + 4 + 2 - 1).
    expect(st.featureMean[0]).toBeCloseTo(12, 10);
    const b = ds.batch('test', [2]);
    expect(values(b.xs).map((x) => x * st.featureStd[0] + st.featureMean[0]).map(Math.round)).toEqual([102, 103, 104, 105]);
    expect(values(b.ys).map((x) => x * st.featureStd[0] + st.featureMean[0]).map(Math.round)).toEqual([106, 107]);
    tf.dispose([b.xs, b.ys]);
    ds.close();
  });
});
