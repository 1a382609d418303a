// The bundle's preprocessing is training's preprocessing: loadModel(dir).predict on raw rows gives
// bit-identical outputs to the model on the dataset's own batch, classes come back by name,
// regression values in label units, and the coordinator's label-unit errors (from standardized
// sums) equal what `evaluate` computes from raw rows.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDataset } from '../src/data/dataset';
import { combineTestReports } from '../src/data/held-out-results';
import { BUNDLE_FILE, modelBundle } from '../src/data/model-bundle';
import { validationShard } from '../src/shard-plan';
import { evaluateBatch } from '../src/model/losses';
import { buildModel } from '../src/model/build-model';
import { loadModel } from '../src/model/load-model';
import { validateJobSpec, type JobSpec } from '../src/job-spec';
import { useTempFiles } from './temp-files';

const tmp = useTempFiles('dtrain-bundle-');
const { file } = tmp;
beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Writes model.json + weights.bin + the bundle, as a checkpoint or export holds them. */
async function saveBundle(out: string, model: tf.LayersModel, spec: JobSpec, info: Parameters<typeof modelBundle>[1]): Promise<void> {
  await model.save(tf.io.withSaveHandler(async (a) => {
    writeFileSync(join(out, 'model.json'), JSON.stringify({
      modelTopology: a.modelTopology, format: 'layers-model', generatedBy: 'test', convertedBy: null,
      weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
    }));
    writeFileSync(join(out, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  writeFileSync(join(out, BUNDLE_FILE), JSON.stringify(modelBundle(spec, info)));
}

const rowsOf = (text: string) => {
  const [head, ...lines] = text.trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
};

describe('model bundle: same preprocessing as training', () => {
  it('classification with class names: outputs bit-identical to the training batch, labels by name', async () => {
    const lines = (n: number, off: number) => Array.from({ length: n }, (_, i) => `${(i * 7.3 + off) % 11},${(i * 3.1) % 5 - 2},${['low', 'mid', 'high'][(i + off) % 3]}`);
    const train = file('c-train.csv', `x1,x2,level\n${lines(30, 0).join('\n')}\n`);
    const testText = `x1,x2,level\n${lines(9, 4).join('\n')}\n`;
    const test = file('c-test.csv', testText);
    const spec = validateJobSpec({
      name: 'b', model: { kind: 'mlp', hidden: [{ units: 5 }] }, loss: 'categoricalCrossentropy', optimizer: { kind: 'sgd', learningRate: 0.1 },
      training: { batchSize: 2 }, dataset: { kind: 'csv', path: train, testPath: test, label: 'level', classes: 3 },
    });
    const ds = await openDataset(spec.dataset, 1);
    const model = await buildModel({ spec, info: ds.info, seed: 3 });
    const out = mkdtempSync(join(tmp.dir, 'c-'));
    await saveBundle(out, model, spec, ds.info);

    const loaded = await loadModel(out);
    expect(loaded.bundle).toMatchObject({ classNames: ['high', 'low', 'mid'], featureNames: ['x1', 'x2'], labelName: 'level', dtrainVersion: '0.1.0' });
    const rows = rowsOf(testText);
    const preds = loaded.predict(rows) as { label: string; probabilities: Record<string, number> }[];
    const batch = ds.batch('test', Array.from({ length: 9 }, (_, i) => i));
    const direct = (model.predict(batch.xs) as tf.Tensor).arraySync() as number[][];
    preds.forEach((p, i) => {
      expect([p.probabilities.high, p.probabilities.low, p.probabilities.mid]).toEqual(direct[i].map((v) => Math.fround(v)));
      expect(p.label).toBe(['high', 'low', 'mid'][direct[i].indexOf(Math.max(...direct[i]))]);
    });
    const report = loaded.evaluate(rows);
    const sums = evaluateBatch(model, batch, 'categoricalCrossentropy', 'classification');
    expect(report).toMatchObject({ task: 'classification', count: 9, accuracy: sums.correct / 9 });
    if (report.task === 'classification') expect(report.confusion.flat().reduce((a, b) => a + b, 0)).toBe(9);
    // A file with columns in another order is refused by name before anything is predicted.
    expect(() => loaded.predict([{ x2: 1, x1: 2 }].map((r) => [r.x2, r.x1, 'x', 'y']))).toThrow(/has 4 values/);
    tf.dispose([batch.xs, batch.ys]);
    loaded.dispose();
    ds.close();
  });

  it('regression: values in label units; the coordinator\'s label-unit test errors equal evaluate\'s', async () => {
    const lines = (n: number, off: number) => Array.from({ length: n }, (_, i) => {
      const a = (i * 13 + off) % 17;
      const b = (i * 5 + off) % 7;
      return `${a},${b},${(300 + 12 * a - 30 * b + ((i * 7) % 5)).toFixed(1)}`;
    });
    const train = file('r-train.csv', `a,b,price\n${lines(40, 0).join('\n')}\n`);
    const testText = `a,b,price\n${lines(12, 3).join('\n')}\n`;
    const test = file('r-test.csv', testText);
    const spec = validateJobSpec({
      name: 'r', model: { kind: 'mlp', task: 'regression', hidden: [{ units: 4 }] }, loss: 'meanSquaredError',
      optimizer: { kind: 'sgd', learningRate: 0.1 }, training: { batchSize: 2 },
      dataset: { kind: 'csv', path: train, testPath: test, label: 'price' },
    });
    const ds = await openDataset(spec.dataset, 1);
    const model = await buildModel({ spec, info: ds.info, seed: 9 });
    const out = mkdtempSync(join(tmp.dir, 'r-'));
    await saveBundle(out, model, spec, ds.info);
    const loaded = await loadModel(out);
    const st = loaded.bundle.standardization!;
    expect(st.targetStd![0]).toBeGreaterThan(10);

    const rows = rowsOf(testText);
    const preds = loaded.predict(rows.map(({ a, b }) => ({ a, b }))) as { value: number }[];
    const batch = ds.batch('test', Array.from({ length: 12 }, (_, i) => i));
    const direct = Array.from((model.predict(batch.xs) as tf.Tensor).dataSync());
    preds.forEach((p, i) => expect(p.value).toBeCloseTo(direct[i] * st.targetStd![0] + st.targetMean![0], 6));

    // Two "ranks" evaluate their blocks of the test split; combined as the coordinator does.
    const shards = [0, 1].map((r) => {
      const idx = validationShard(12, 2, r);
      const b = ds.batch('test', idx);
      const s = evaluateBatch(model, b, 'meanSquaredError', 'regression');
      tf.dispose([b.xs, b.ys]);
      return { valLossSum: s.lossSum, valCorrect: s.correct, valAbsErrorSum: s.absErrorSum, valSqErrorSum: s.squaredErrorSum, valCount: s.count, valValues: s.valueCount };
    });
    const combined = combineTestReports(shards, 'regression', st)!;
    const report = loaded.evaluate(rows);
    if (report.task !== 'regression') throw new Error('expected a regression report');
    expect(combined.count).toBe(12);
    expect(combined.rmse!).toBeCloseTo(report.rmse, 3);
    expect(combined.mae!).toBeCloseTo(report.mae, 3);
    // and both equal the errors computed here by hand in price units
    const truth = rows.map((r) => Number(r.price));
    const rmse = Math.sqrt(truth.reduce((a, t, i) => a + (preds[i].value - t) ** 2, 0) / 12);
    expect(report.rmse).toBeCloseTo(rmse, 6);
    expect(report.r2).toBeLessThanOrEqual(1);
    tf.dispose([batch.xs, batch.ys]);
    loaded.dispose();
    ds.close();
  });

  it('a sequence bundle predicts one row per input row (null until a window is full)', async () => {
    const train = file('s-train.csv', `m,v\n${Array.from({ length: 30 }, (_, i) => `${i},${100 + 3 * i}`).join('\n')}\n`);
    const spec = validateJobSpec({
      name: 's', model: { kind: 'lstm', units: [3] }, loss: 'meanSquaredError', optimizer: { kind: 'sgd', learningRate: 0.1 },
      training: { batchSize: 2 }, dataset: { kind: 'sequence', path: train, window: 4, horizon: 2 },
    });
    const ds = await openDataset(spec.dataset, 1);
    const model = await buildModel({ spec, info: ds.info, seed: 2 });
    const out = mkdtempSync(join(tmp.dir, 's-'));
    await saveBundle(out, model, spec, ds.info);
    const loaded = await loadModel(out);
    expect(loaded.bundle.sequence).toEqual({ window: 4, horizon: 2 });
    const series = Array.from({ length: 30 }, (_, i) => ({ m: String(i), v: String(100 + 3 * i) }));
    const preds = loaded.predict(series);
    expect(preds.slice(0, 3)).toEqual([null, null, null]);
    // Row 3+k is the forecast after training window k (the validation windows come last).
    const b = ds.batch('train', [0, 5]);
    const direct = Array.from((model.predict(b.xs) as tf.Tensor).dataSync());
    const st = ds.info.standardization!;
    expect((preds[3] as { values: number[] }).values[1]).toBeCloseTo(direct[1] * st.targetStd![0] + st.targetMean![0], 4);
    expect((preds[8] as { values: number[] }).values[0]).toBeCloseTo(direct[2] * st.targetStd![0] + st.targetMean![0], 4);
    tf.dispose([b.xs, b.ys]);
    loaded.dispose();
    ds.close();
  });

  it('a missing bundle is a named error saying what is missing', async () => {
    const out = mkdtempSync(join(tmp.dir, 'none-'));
    await expect(loadModel(out)).rejects.toThrow(/dtrain-model\.json: missing: dtrain-model\.json \(the preprocessing\)/);
  });
});
