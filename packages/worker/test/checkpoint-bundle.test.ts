// The model bundle rides in checkpoints (dtrain-model.json, in the manifest, sha256-checked) and
// `exportModel` copies it beside model.json + weights.bin; checkpoints without one still export.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_FILE, modelBundle } from '@dtrain/shared/data/model-bundle';
import { loadModel } from '@dtrain/shared/model/load-model';
import { exportModel, saveCheckpoint } from '../src/checkpoint/index';
import { readManifest } from '../src/checkpoint/manifest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { buildMlp, INPUT_DIM, OUTPUT_DIM, state, useCpu } from './checkpoint-fixtures';

let dir: string;
beforeAll(async () => {
  await useCpu();
  dir = await mkdtemp(join(tmpdir(), 'dtrain-ckpt-bundle-'));
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

const features = Array.from({ length: INPUT_DIM }, (_, i) => `f${i}`);
const bundle = modelBundle(
  { dataset: { kind: 'csv', path: 'train.csv', label: 'kind' }, model: { kind: 'mlp' }, loss: 'categoricalCrossentropy' },
  {
    trainSize: 10, validationSize: 2, testSize: 0, testAtEnd: false, inputShape: [INPUT_DIM], outputSize: OUTPUT_DIM,
    task: 'classification', classNames: ['a', 'b', 'c'], featureNames: features, columns: [...features, 'kind'], labelName: 'kind',
    labelEncoding: 'oneHot', standardization: { featureMean: features.map((_, i) => i), featureStd: features.map(() => 2) },
  },
);

describe('checkpoint bundle', () => {
  it('is written into the checkpoint, listed in the manifest, exported and loaded with the model', async () => {
    const model = buildMlp(3);
    const optimizer = tf.train.adam(0.01);
    const ckDir = join(dir, 'with');
    const info = await saveCheckpoint({ dir: ckDir, model, optimizer, state: state(4), keep: 2, bundle });
    const manifest = await readManifest(info.path);
    const bytes = await fsp.readFile(join(info.path, BUNDLE_FILE));
    expect(manifest.files[BUNDLE_FILE].size).toBe(bytes.byteLength);
    expect(JSON.parse(bytes.toString('utf8'))).toEqual(bundle);

    const out = join(dir, 'export');
    const exported = await exportModel(info.path, out);
    expect(exported.bundlePath).toBe(join(out, BUNDLE_FILE));
    expect((await fsp.readFile(join(out, BUNDLE_FILE))).equals(bytes)).toBe(true);

    // Loaded through the library: the rows are standardized with the bundle's statistics.
    const loaded = await loadModel(out);
    const row = Object.fromEntries(features.map((f, i) => [f, String(i + 2)]));
    const [pred] = loaded.predict([row]) as { label: string; probabilities: Record<string, number> }[];
    const direct = Array.from((model.predict(tf.tensor2d([features.map(() => 1)], [1, INPUT_DIM])) as tf.Tensor).dataSync());
    expect([pred.probabilities.a, pred.probabilities.b, pred.probabilities.c]).toEqual(direct);
    loaded.dispose();
    model.dispose();
    optimizer.dispose();
  });

  it('a corrupted bundle fails the export by name; a checkpoint without one exports model.json + weights.bin only', async () => {
    const model = buildMlp(4);
    const optimizer = tf.train.adam(0.01);
    const info = await saveCheckpoint({ dir: join(dir, 'corrupt'), model, optimizer, state: state(2), keep: 2, bundle });
    await fsp.writeFile(join(info.path, BUNDLE_FILE), JSON.stringify({ ...bundle, classNames: ['x', 'y', 'z'] }));
    await expect(exportModel(info.path, join(dir, 'bad-export'))).rejects.toThrow(/dtrain-model\.json is corrupt: size|dtrain-model\.json is corrupt: sha256/);

    const plain = await saveCheckpoint({ dir: join(dir, 'plain'), model, optimizer, state: state(2), keep: 2 });
    const exported = await exportModel(plain.path, join(dir, 'plain-export'));
    expect(exported.bundlePath).toBeUndefined();
    expect(Object.keys(exported.files).sort()).toEqual(['model.json', 'weights.bin']);
    model.dispose();
    optimizer.dispose();
  });
});
