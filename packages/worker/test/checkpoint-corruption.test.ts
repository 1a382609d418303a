// Damage, crashes and retention, on real files.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointCorruptError } from '@dtrain/shared/errors';
import {
  exportModel, findLatestCheckpoint, loadCheckpoint, resolveResumePath, restoreOptimizer, saveCheckpoint,
  type SkippedCheckpoint,
} from '../src/checkpoint/index';
import { buildMlp, state, train, useCpu, weightBits, withTempDir } from './checkpoint-fixtures';

beforeAll(useCpu);

/** Saves checkpoints at the given steps (training 1 step between them); returns weights per step. */
async function saveSteps(dir: string, steps: number[], keep = 10) {
  const model = buildMlp();
  const opt = tf.train.adam(0.01);
  const bits = new Map<number, Uint32Array[]>();
  let done = 0;
  for (const step of steps) {
    train(model, opt, done, step - done);
    done = step;
    await saveCheckpoint({ dir, model, optimizer: opt, state: state(step), keep });
    bits.set(step, weightBits(model));
  }
  model.dispose();
  opt.dispose();
  return bits;
}

async function loadError(path: string): Promise<CheckpointCorruptError> {
  const before = tf.memory().numTensors;
  const err = await loadCheckpoint(path).then(() => null, (e: unknown) => e);
  expect(tf.memory().numTensors).toBe(before);
  expect(err).toBeInstanceOf(CheckpointCorruptError);
  return err as CheckpointCorruptError;
}

async function rewriteManifestEntry(ckpt: string, name: string): Promise<void> {
  const manifestPath = join(ckpt, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  const bytes = await readFile(join(ckpt, name));
  manifest.files[name] = { size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
  await writeFile(manifestPath, JSON.stringify(manifest));
}

const STEP5 = 'step-0000000005';

describe('checkpoint corruption is detected and named', () => {
  it('a flipped byte in weights.bin', async () => {
    await withTempDir(async (dir) => {
      await saveSteps(dir, [5]);
      const file = join(dir, STEP5, 'weights.bin');
      const bytes = await readFile(file);
      bytes[100] ^= 0x01;
      await writeFile(file, bytes);
      const err = await loadError(join(dir, STEP5));
      expect(err.file).toBe(file);
      expect(err.message).toMatch(/weights\.bin is corrupt: sha256 [0-9a-f]{64} does not match manifest/);
    });
  });

  it('a truncated weights.bin, also when the manifest was rewritten to match it', async () => {
    await withTempDir(async (dir) => {
      await saveSteps(dir, [5]);
      const ckpt = join(dir, STEP5);
      const file = join(ckpt, 'weights.bin');
      await truncate(file, 300);
      let err = await loadError(ckpt);
      expect(err.file).toBe(file);
      expect(err.message).toContain('size 300 bytes, manifest says 492 (truncated)');
      // A consistent manifest over a short file: model.json's weight specs still catch it.
      await rewriteManifestEntry(ckpt, 'weights.bin');
      err = await loadError(ckpt);
      expect(err.file).toBe(file);
      expect(err.message).toContain('300 bytes, but');
      expect(err.message).toContain('describes 492 (truncated)');
    });
  });

  it('a missing manifest.json, a missing data file, garbage state.json, bad optimizer.bin length', async () => {
    await withTempDir(async (dir) => {
      await saveSteps(dir, [5]);
      const ckpt = join(dir, STEP5);
      const manifest = await readFile(join(ckpt, 'manifest.json'));

      await rm(join(ckpt, 'manifest.json'));
      let err = await loadError(ckpt);
      expect(err.file).toBe(join(ckpt, 'manifest.json'));
      expect(err.message).toContain('manifest.json is corrupt: missing');

      await writeFile(join(ckpt, 'manifest.json'), '{"formatVersion": 1, "globalStep"');
      err = await loadError(ckpt);
      expect(err.file).toBe(join(ckpt, 'manifest.json'));
      expect(err.message).toContain('bad JSON');
      await writeFile(join(ckpt, 'manifest.json'), manifest);

      const optBin = await readFile(join(ckpt, 'optimizer.bin'));
      await rm(join(ckpt, 'optimizer.bin'));
      err = await loadError(ckpt);
      expect(err.file).toBe(join(ckpt, 'optimizer.bin'));
      expect(err.message).toContain('missing');
      await writeFile(join(ckpt, 'optimizer.bin'), optBin.subarray(0, optBin.byteLength - 4));
      await rewriteManifestEntry(ckpt, 'optimizer.bin');
      err = await loadError(ckpt);
      expect(err.file).toBe(join(ckpt, 'optimizer.bin'));
      expect(err.message).toContain('truncated');
      await writeFile(join(ckpt, 'optimizer.bin'), optBin);
      await rewriteManifestEntry(ckpt, 'optimizer.bin');

      const garbage = 'not json {{{';
      await writeFile(join(ckpt, 'state.json'), garbage);
      err = await loadError(ckpt);
      expect(err.file).toBe(join(ckpt, 'state.json'));
      expect(err.message).toMatch(/size 12 bytes, manifest says \d+/);
      // Same garbage with a matching manifest: the JSON parse names the file.
      await rewriteManifestEntry(ckpt, 'state.json');
      err = await loadError(ckpt);
      expect(err.file).toBe(join(ckpt, 'state.json'));
      expect(err.message).toContain('state.json is corrupt: bad JSON');
      // Valid JSON, wrong content.
      await writeFile(join(ckpt, 'state.json'), JSON.stringify({ ...state(5), epoch: -1 }));
      await rewriteManifestEntry(ckpt, 'state.json');
      err = await loadError(ckpt);
      expect(err.message).toContain('state.json is corrupt: epoch is not a non-negative integer');
    });
  });

  it('exportModel refuses a corrupt source', async () => {
    await withTempDir(async (dir) => {
      await saveSteps(dir, [5]);
      const file = join(dir, STEP5, 'model.json');
      await writeFile(file, (await readFile(file, 'utf8')).replace('"tanh"', '"relu"'));
      const err = await exportModel(join(dir, STEP5), join(dir, 'out')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointCorruptError);
      expect((err as CheckpointCorruptError).file).toBe(file);
    });
  });
});

describe('finding the checkpoint to resume from', () => {
  it('falls back from a corrupt newest checkpoint to the previous one, which loads and restores', async () => {
    await withTempDir(async (dir) => {
      const bits = await saveSteps(dir, [5, 10, 15]);
      const newest = join(dir, 'step-0000000015');
      await truncate(join(newest, 'weights.bin'), 10);
      await rm(join(dir, 'step-0000000010', 'manifest.json'));

      const skipped: SkippedCheckpoint[] = [];
      const found = await findLatestCheckpoint(dir, { onSkip: (s) => skipped.push(s) });
      expect(found).toEqual({ path: join(dir, STEP5), globalStep: 5 });
      expect(skipped.map((s) => [s.globalStep, (s.error as CheckpointCorruptError).file])).toEqual([
        [15, join(newest, 'weights.bin')],
        [10, join(dir, 'step-0000000010', 'manifest.json')],
      ]);

      const loaded = await loadCheckpoint(found!.path);
      expect(weightBits(loaded.model)).toEqual(bits.get(5));
      expect(loaded.state.globalStep).toBe(5);
      const opt = tf.train.adam(0.01);
      await restoreOptimizer(opt, loaded, { model: loaded.model });
      expect(opt.iterations).toBe(5);
      loaded.model.dispose();
      opt.dispose();
    });
  });

  it('returns null for a missing or empty dir, or when every checkpoint is corrupt', async () => {
    await withTempDir(async (dir) => {
      expect(await findLatestCheckpoint(join(dir, 'nope'))).toBeNull();
      expect(await findLatestCheckpoint(dir)).toBeNull();
      await saveSteps(dir, [3]);
      await writeFile(join(dir, 'step-0000000003', 'state.json'), '{}');
      const skipped: SkippedCheckpoint[] = [];
      expect(await findLatestCheckpoint(dir, { onSkip: (s) => skipped.push(s) })).toBeNull();
      expect(skipped).toHaveLength(1);
    });
  });

  it('resolveResumePath takes a checkpoint folder or its parent', async () => {
    await withTempDir(async (dir) => {
      await saveSteps(dir, [5, 10]);
      expect(await resolveResumePath(dir)).toEqual({ path: join(dir, 'step-0000000010'), globalStep: 10 });
      expect(await resolveResumePath(join(dir, STEP5))).toEqual({ path: join(dir, STEP5), globalStep: 5 });
      // An explicitly named checkpoint that is damaged is an error, not a silent fallback.
      await rm(join(dir, STEP5, 'optimizer.json'));
      await expect(resolveResumePath(join(dir, STEP5))).rejects.toThrow(/optimizer\.json is corrupt: missing/);
      await expect(resolveResumePath(join(dir, 'missing'))).rejects.toThrow(/resume path .*missing does not exist/);
    });
  });
});

describe('atomic writes and retention', () => {
  it('ignores a leftover .tmp-* folder of a crashed write and cleans it on the next save', async () => {
    await withTempDir(async (dir) => {
      await saveSteps(dir, [5]);
      // A crashed writer (pid that cannot exist) got as far as a complete-looking manifest.
      const crashed = join(dir, '.tmp-step-0000000009-99999999-deadbeef');
      await mkdir(crashed);
      for (const name of await readdir(join(dir, STEP5))) {
        await writeFile(join(crashed, name), await readFile(join(dir, STEP5, name)));
      }
      const odd = join(dir, '.tmp-unknown');
      await mkdir(odd);
      // A save in progress in another live process (our parent) must be left alone.
      const live = join(dir, `.tmp-step-0000000011-${process.ppid}-cafe`);
      await mkdir(live);

      expect(await findLatestCheckpoint(dir)).toEqual({ path: join(dir, STEP5), globalStep: 5 });
      await saveSteps(dir, [7]);
      expect((await readdir(dir)).sort()).toEqual([`.tmp-step-0000000011-${process.ppid}-cafe`, STEP5, 'step-0000000007']);
    });
  });

  it('keeps exactly `keep` checkpoints, newest first, and re-saving a step replaces it', async () => {
    await withTempDir(async (dir) => {
      await saveSteps(dir, [1, 2, 3, 4, 5, 6], 3);
      expect((await readdir(dir)).sort()).toEqual(['step-0000000004', 'step-0000000005', 'step-0000000006']);

      const model = buildMlp(3);
      const opt = tf.train.sgd(0.1);
      await saveCheckpoint({ dir, model, optimizer: opt, state: state(6), keep: 3 });
      expect((await readdir(dir)).sort()).toEqual(['step-0000000004', 'step-0000000005', 'step-0000000006']);
      const loaded = await loadCheckpoint(join(dir, 'step-0000000006'));
      expect(loaded.optimizer.className).toBe('SGD');
      expect(weightBits(loaded.model)).toEqual(weightBits(model));

      // Resuming from an older step keeps the checkpoint just written even though it is the oldest.
      await saveCheckpoint({ dir, model, optimizer: opt, state: state(2), keep: 3 });
      expect((await readdir(dir)).sort()).toEqual(['step-0000000002', 'step-0000000005', 'step-0000000006']);
      await expect(saveCheckpoint({ dir, model, optimizer: opt, state: state(9), keep: 0 })).rejects.toThrow(/keep must be an integer >= 1/);
      for (const m of [model, loaded.model]) m.dispose();
      opt.dispose();
    });
  });
});

describe('memory', () => {
  it('tf.memory().numTensors is flat across save/load/restore cycles', async () => {
    await withTempDir(async (dir) => {
      const model = buildMlp();
      const opt = tf.train.adam(0.01);
      train(model, opt, 0, 2);
      const counts: number[] = [];
      for (let cycle = 0; cycle < 4; cycle++) {
        train(model, opt, 2 + cycle, 1);
        const info = await saveCheckpoint({ dir, model, optimizer: opt, state: state(3 + cycle), keep: 2 });
        const loaded = await loadCheckpoint(info.path);
        const into = await loadCheckpoint(info.path, { into: model });
        await restoreOptimizer(opt, into, { model });
        const restored = tf.train.adam(0.01);
        await restoreOptimizer(restored, loaded);
        loaded.model.dispose();
        restored.dispose();
        await findLatestCheckpoint(dir);
        counts.push(tf.memory().numTensors);
      }
      expect(new Set(counts).size).toBe(1);
      model.dispose();
      opt.dispose();
    });
  });
});
