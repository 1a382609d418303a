// The on-disk format: what a consumer without our code (tfjs alone, a browser over HTTP) sees.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportModel, saveCheckpoint } from '../src/checkpoint/index';
import { batch, buildMlp, state, train, useCpu, withTempDir } from './checkpoint-fixtures';

beforeAll(useCpu);

async function savedModel(dir: string) {
  const model = buildMlp();
  const opt = tf.train.adam(0.01);
  train(model, opt, 0, 3);
  const info = await saveCheckpoint({ dir, model, optimizer: opt, state: state(3), keep: 1 });
  return { model, opt, info };
}

function predictBits(model: tf.LayersModel): Uint32Array {
  const { x, y } = batch(50);
  const out = model.predict(x) as tf.Tensor;
  const bits = new Uint32Array((out.dataSync() as Float32Array).slice().buffer);
  tf.dispose([x, y, out]);
  return bits;
}

describe('checkpoint format', () => {
  it('writes the documented files, a manifest with sha256 + size of each, and tfjs-style model.json', async () => {
    await withTempDir(async (dir) => {
      const { model, opt, info } = await savedModel(dir);
      expect(info.path).toBe(join(dir, 'step-0000000003'));
      expect((await readdir(info.path)).sort()).toEqual(['manifest.json', 'model.json', 'optimizer.bin', 'optimizer.json', 'state.json', 'weights.bin']);
      const manifest = JSON.parse(await readFile(join(info.path, 'manifest.json'), 'utf8'));
      expect(manifest.formatVersion).toBe(1);
      expect(manifest.globalStep).toBe(3);
      expect(Object.keys(manifest.files).sort()).toEqual(['model.json', 'optimizer.bin', 'optimizer.json', 'state.json', 'weights.bin']);
      for (const [name, entry] of Object.entries(manifest.files) as [string, { size: number; sha256: string }][]) {
        const bytes = await readFile(join(info.path, name));
        expect(entry.size).toBe(bytes.byteLength);
        expect(entry.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      }

      const modelJson = JSON.parse(await readFile(join(info.path, 'model.json'), 'utf8'));
      expect(modelJson.format).toBe('layers-model');
      expect(modelJson.generatedBy).toBe('TensorFlow.js tfjs-layers v4.22.0');
      expect(modelJson.modelTopology.class_name).toBe('Sequential');
      expect(modelJson.weightsManifest).toHaveLength(1);
      expect(modelJson.weightsManifest[0].paths).toEqual(['weights.bin']);
      expect(modelJson.weightsManifest[0].weights.map((w: { shape: number[] }) => w.shape)).toEqual([[6, 12], [12], [12, 3], [3]]);
      // 6*12 + 12 + 12*3 + 3 float32 values.
      expect((await readFile(join(info.path, 'weights.bin'))).byteLength).toBe((72 + 12 + 36 + 3) * 4);

      const optJson = JSON.parse(await readFile(join(info.path, 'optimizer.json'), 'utf8'));
      expect(optJson.className).toBe('Adam');
      expect(optJson.config).toEqual({ learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
      // iter, then first moments for the 4 trainable weights, then second moments: by position.
      expect(optJson.weights.map((w: { name: string }) => w.name.replace(/^.*\/(kernel|bias)/, '$1'))).toEqual(
        ['iter', 'kernel/m', 'bias/m', 'kernel/m', 'bias/m', 'kernel/v', 'bias/v', 'kernel/v', 'bias/v']);
      expect((await readFile(join(info.path, 'optimizer.bin'))).byteLength).toBe(4 + 2 * (72 + 12 + 36 + 3) * 4);
      expect(JSON.parse(await readFile(join(info.path, 'state.json'), 'utf8'))).toEqual(state(3));
      model.dispose();
      opt.dispose();
    });
  });

  it('model.json + weights.bin alone load with tf.loadLayersModel(tf.io.fromMemory) and predict identically', async () => {
    await withTempDir(async (dir) => {
      const { model, opt, info } = await savedModel(dir);
      const modelJson = JSON.parse(await readFile(join(info.path, 'model.json'), 'utf8'));
      const weights = await readFile(join(info.path, 'weights.bin'));
      const loaded = await tf.loadLayersModel(tf.io.fromMemory({
        modelTopology: modelJson.modelTopology,
        weightSpecs: modelJson.weightsManifest[0].weights,
        weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      }));
      expect(predictBits(loaded)).toEqual(predictBits(model));
      for (const m of [model, loaded]) m.dispose();
      opt.dispose();
    });
  });

  it('loads over HTTP the way a browser does: tf.loadLayersModel(url of model.json)', async () => {
    await withTempDir(async (dir) => {
      const { model, opt, info } = await savedModel(dir);
      const served: string[] = [];
      const server = createServer((req, res) => {
        const name = (req.url ?? '').replace(/^\//, '');
        served.push(name);
        readFile(join(info.path, name)).then(
          (body) => res.writeHead(200).end(body),
          () => res.writeHead(404).end(),
        );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const loaded = await tf.loadLayersModel(`http://127.0.0.1:${port}/model.json`);
        expect(served).toEqual(['model.json', 'weights.bin']);
        expect(predictBits(loaded)).toEqual(predictBits(model));
        loaded.dispose();
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
      model.dispose();
      opt.dispose();
    });
  });

  it('exportModel copies exactly the serving artefacts, verified by sha256', async () => {
    await withTempDir(async (dir) => {
      const { model, opt, info } = await savedModel(dir);
      const out = join(dir, 'export', 'v1');
      const exported = await exportModel(info.path, out);
      expect((await readdir(out)).sort()).toEqual(['model.json', 'weights.bin']);
      for (const name of ['model.json', 'weights.bin'] as const) {
        const src = await readFile(join(info.path, name));
        const dst = await readFile(join(out, name));
        expect(dst.equals(src)).toBe(true);
        expect(exported.files[name].sha256).toBe(createHash('sha256').update(src).digest('hex'));
      }
      expect(exported.modelJsonPath).toBe(join(out, 'model.json'));
      // Exporting again over an existing export replaces it.
      await exportModel(info.path, out);
      expect((await readdir(out)).sort()).toEqual(['model.json', 'weights.bin']);
      model.dispose();
      opt.dispose();
    });
  });
});
