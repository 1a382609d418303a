// Bring your own data, end to end with real processes: train on a train file (2 workers), the test
// file evaluated once at the end and reported as `test` ({accuracy} or {rmse, mae} in label units),
// `dtrain export` writing the bundle, `dtrain evaluate` agreeing with the training run's test
// result, `dtrain predict` giving class names / label-unit values, and bad input files refused
// with file, row and column.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { lastJsonLine, REPO_ROOT, runDtrain, tempDir, writeJob } from './harness/dtrain-cli';

const DATA = join(REPO_ROOT, 'examples/data');
let root: string;

beforeAll(() => {
  root = tempDir('dtrain-byod-');
});

async function launch(name: string, job: Record<string, unknown>): Promise<{ summary: Record<string, unknown>; stderr: string; checkpoints: string }> {
  const dir = join(root, name);
  const checkpoints = join(dir, 'ckpt');
  const path = writeJob(tempDir(`dtrain-byod-${name}-`), { name, seed: 5, backend: 'cpu', checkpoint: { dir: checkpoints }, ...job });
  const run = await runDtrain(['launch', '--workers', '2', path, '--json', '--no-metrics']);
  expect(run.code, run.stderr.slice(-3000)).toBe(0);
  return { summary: lastJsonLine(run.stdout), stderr: run.stderr, checkpoints };
}

describe('classification: iris train + test files', () => {
  let summary: Record<string, unknown>;
  let exported: string;

  beforeAll(async () => {
    const run = await launch('iris', {
      model: { kind: 'mlp', task: 'classification', hidden: [{ units: 12, activation: 'relu' }] },
      dataset: { kind: 'csv', path: join(DATA, 'iris-train.csv'), testPath: join(DATA, 'iris-test.csv'), validationFraction: 0.2, label: 'species', classes: 3 },
      loss: 'categoricalCrossentropy',
      optimizer: { kind: 'adam', learningRate: 0.03 },
      training: { batchSize: 8, epochs: 12 },
    });
    summary = run.summary;
    // Validation (24 of the 120 training rows) every epoch; the test file once, at the end.
    expect(run.stderr).toMatch(/validation after epoch 12: .*\(24 held-out samples\)/);
    expect(run.stderr).toMatch(/test accuracy: [0-9.]+% \(30 samples, evaluated once after training\)/);
    exported = join(root, 'iris-model');
    const exp = await runDtrain(['export', run.checkpoints, exported]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(lastJsonLine(exp.stdout)).toMatchObject({ bundlePath: join(exported, 'dtrain-model.json'), browserPredictor: join(exported, 'dtrain-predictor.js') });
  }, 240_000);

  it('reports test accuracy in the --json line and the bundle holds the preprocessing', () => {
    const test = summary.test as { accuracy: number; count: number };
    expect(test.count).toBe(30);
    expect(test.accuracy).toBeGreaterThanOrEqual(0.8);
    expect((summary.validation as { count: number }).count).toBe(24);
    const bundle = JSON.parse(readFileSync(join(exported, 'dtrain-model.json'), 'utf8'));
    expect(bundle).toMatchObject({
      format: 'dtrain-model-bundle', dtrainVersion: '0.1.0', task: 'classification', labelName: 'species',
      classNames: ['setosa', 'versicolor', 'virginica'], featureNames: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
      dataset: { kind: 'csv', label: 'species', classes: 3, validationFraction: 0.2 }, model: { kind: 'mlp' },
    });
    expect(bundle.standardization.featureMean).toHaveLength(4);
  });

  it('dtrain evaluate on the test file agrees with the training run, with per-class precision/recall and a confusion matrix', async () => {
    const run = await runDtrain(['evaluate', exported, join(DATA, 'iris-test.csv'), '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = lastJsonLine(run.stdout) as { accuracy: number; count: number; classes: { name: string; support: number }[]; confusion: number[][] };
    // Workers ran on the cpu backend as this process does: the same 30 predictions.
    expect(report.accuracy).toBe((summary.test as { accuracy: number }).accuracy);
    expect(report.classes.map((c) => [c.name, c.support])).toEqual([['setosa', 10], ['versicolor', 10], ['virginica', 10]]);
    expect(report.confusion.flat().reduce((a, b) => a + b, 0)).toBe(30);
    expect(run.stdout).toMatch(/class\s+precision\s+recall\s+support/);
  });

  it('dtrain predict writes one row per input row: the class name and its probabilities', async () => {
    const out = join(root, 'iris-pred.csv');
    const run = await runDtrain(['predict', exported, join(DATA, 'iris-new.csv'), '--out', out]);
    expect(run.code, run.stderr).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('species,p_setosa,p_versicolor,p_virginica');
    expect(lines).toHaveLength(4);
    // Row 1 is a textbook setosa (petal 1.5 x 0.2), row 3 a textbook virginica (petal 6.0 x 1.8).
    expect(lines[1].split(',')[0]).toBe('setosa');
    expect(lines[3].split(',')[0]).toBe('virginica');
    for (const l of lines.slice(1)) {
      const p = l.split(',').slice(1).map(Number);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
  });

  it('bad input files are refused with file, row and column', async () => {
    const reordered = join(root, 'reordered.csv');
    writeFileSync(reordered, 'sepal_width,sepal_length,petal_length,petal_width\n3.4,5.0,1.5,0.2\n');
    const r1 = await runDtrain(['predict', exported, reordered]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/reordered\.csv \(row 1, column sepal_width\): column 1 is sepal_width, expected sepal_length/);
    const unseen = join(root, 'unseen.csv');
    writeFileSync(unseen, 'sepal_length,sepal_width,petal_length,petal_width,species\n5.0,3.4,1.5,0.2,setosa\n5.0,3.4,1.5,0.2,daisy\n');
    const r2 = await runDtrain(['evaluate', exported, unseen]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/unseen\.csv \(row 3, column species\): unseen class label "daisy"; the model knows: setosa, versicolor, virginica/);
    const text = join(root, 'text.csv');
    writeFileSync(text, 'sepal_length,sepal_width,petal_length,petal_width\n5.0,3.4,1.5,0.2\n5.0,wide,1.5,0.2\n');
    const r3 = await runDtrain(['predict', exported, text]);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/text\.csv \(row 3, column sepal_width\): not a number: "wide"/);
    const extra = join(root, 'extra.csv');
    writeFileSync(extra, 'sepal_length,sepal_width,petal_length,petal_width,colour\n5.0,3.4,1.5,0.2,blue\n');
    const r4 = await runDtrain(['predict', exported, extra]);
    expect(r4.stderr).toMatch(/extra\.csv \(row 1, column colour\): column not in the training data/);
  });
});

describe('regression: house prices, errors in the label\'s units', () => {
  it('test {rmse, mae} in k EUR in the --json line; dtrain evaluate agrees; predict gives prices', async () => {
    const [head, ...rows] = readFileSync(join(DATA, 'house-prices.csv'), 'utf8').trim().split('\n');
    const trainFile = join(root, 'houses-train.csv');
    const testFile = join(root, 'houses-test.csv');
    writeFileSync(trainFile, [head, ...rows.slice(0, 240)].join('\n') + '\n');
    writeFileSync(testFile, [head, ...rows.slice(240)].join('\n') + '\n');
    const run = await launch('houses', {
      model: { kind: 'mlp', task: 'regression', hidden: [{ units: 16, activation: 'relu' }] },
      dataset: { kind: 'csv', path: trainFile, testPath: testFile, validationFraction: 0.2, label: 'price_k' },
      loss: 'meanSquaredError',
      optimizer: { kind: 'adam', learningRate: 0.02 },
      training: { batchSize: 16, epochs: 15 },
    });
    const test = run.summary.test as { rmse: number; mae: number; count: number };
    expect(test.count).toBe(60);
    // The generator's noise is N(0, 15^2) k EUR: a fitted model's RMSE is near 15, far from the
    // ~110 k EUR spread of prices (standardized units would be < 1).
    expect(test.rmse).toBeGreaterThan(8);
    expect(test.rmse).toBeLessThan(40);
    expect(test.mae).toBeLessThan(test.rmse);
    expect(run.stderr).toMatch(/validation after epoch 15: .* rmse [0-9.]+ mae [0-9.]+ \(label units\)/);

    const ev = await runDtrain(['evaluate', run.checkpoints, testFile, '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const report = lastJsonLine(ev.stdout) as { rmse: number; mae: number; r2: number; count: number };
    expect(report.count).toBe(60);
    expect(report.rmse).toBeCloseTo(test.rmse, 3);
    expect(report.mae).toBeCloseTo(test.mae, 3);
    expect(report.r2).toBeGreaterThan(0.8);

    const pred = await runDtrain(['predict', run.checkpoints, testFile]);
    expect(pred.code, pred.stderr).toBe(0);
    const lines = pred.stdout.trim().split('\n');
    expect(lines[0]).toBe('price_k');
    const predicted = lines.slice(1).map(Number);
    const truth = rows.slice(240).map((r) => Number(r.split(',').pop()));
    const mae = predicted.reduce((a, p, i) => a + Math.abs(p - truth[i]), 0) / 60;
    expect(mae).toBeCloseTo(report.mae, 3);
  }, 240_000);
});
