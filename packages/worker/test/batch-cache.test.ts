// The batch cache (batch-cache.ts) must give exactly the batches the dataset gives (values, shapes,
// order), read each small split once, and leave large splits to the dataset.
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { openDataset } from '@dtrain/shared/data/dataset';
import type { Batch, Dataset, DatasetSplit } from '@dtrain/shared/data/api';
import { validateJobSpec } from '@dtrain/shared/job-spec';
import { BatchCache } from '../src/batch-cache';

const CSV = fileURLToPath(new URL('../../../examples/data/house-prices.csv', import.meta.url));

async function houses(): Promise<Dataset> {
  const spec = validateJobSpec({
    name: 'cache', seed: 1, backend: 'cpu',
    model: { kind: 'mlp', task: 'regression', hidden: [{ units: 4, activation: 'relu' }] },
    dataset: { kind: 'csv', path: CSV, label: 'price_k', standardize: true, testFraction: 0.2 },
    loss: 'meanSquaredError', optimizer: { kind: 'adam', learningRate: 0.01 }, training: { batchSize: 8 },
  });
  return openDataset(spec.dataset, spec.seed);
}

/** Counts the dataset's batch() calls per split. */
function counting(ds: Dataset): { ds: Dataset; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  return {
    calls,
    ds: {
      info: ds.info,
      batch: (split: DatasetSplit, indices: ArrayLike<number>): Batch => {
        calls[split] = (calls[split] ?? 0) + 1;
        return ds.batch(split, indices);
      },
      close: () => ds.close(),
    },
  };
}

function contents(b: Batch): { xs: number[]; ys: number[]; xShape: number[]; yShape: number[] } {
  const out = { xs: [...b.xs.dataSync()], ys: [...b.ys.dataSync()], xShape: b.xs.shape, yShape: b.ys.shape };
  b.xs.dispose();
  b.ys.dispose();
  return out;
}

it('serves the same batches as the dataset, in the asked order, reading each small split once', async () => {
  const ds = await houses();
  const { ds: counted, calls } = counting(ds);
  const cache = new BatchCache(counted);
  const train = ds.info.trainSize;
  expect(train).toBeGreaterThan(100);
  for (const indices of [[0, 1, 2, 3, 4, 5, 6, 7], [train - 1, 5, 5, 17, 0], [42], []]) {
    const want = contents(ds.batch('train', indices));
    const got = contents(cache.batch('train', indices));
    expect(got).toEqual(want);
  }
  const validation = Uint32Array.from({ length: ds.info.validationSize! }, (_, i) => ds.info.validationSize! - 1 - i);
  expect(contents(cache.batch('validation', validation))).toEqual(contents(ds.batch('validation', validation)));
  // One load per split (train: all rows in one read), then memory only.
  expect(calls).toEqual({ train: 1, validation: 1 });
  expect(() => cache.batch('train', [train])).toThrow(RangeError);
  ds.close();
});

it('leaves a split larger than its byte limit to the dataset', async () => {
  const ds = await houses();
  const { ds: counted, calls } = counting(ds);
  const cache = new BatchCache(counted, 64);
  const want = contents(ds.batch('train', [3, 2, 1]));
  expect(contents(cache.batch('train', [3, 2, 1]))).toEqual(want);
  expect(contents(cache.batch('train', [3, 2, 1]))).toEqual(want);
  expect(calls).toEqual({ train: 2 });
  ds.close();
});
