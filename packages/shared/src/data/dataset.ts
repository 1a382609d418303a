// Entry points of the data subsystem (see api.ts). Splits never depend on the job seed: the
// held-out set of a dataset is the same for every job, so results stay comparable.
import type { DatasetSpec } from '../job-spec';
import type { Dataset, DatasetInfo } from './api';
import { describeMnist, openMnist } from './mnist';
import { describeSequence, openSequence } from './sequence';
import { describeTabular, openTabular } from './tabular';

export type { Batch, Dataset, DatasetInfo, Standardization } from './api';

/** Sizes and shapes only (the coordinator plans shards with it). CSV/JSON: one streaming pass. */
export async function describeDataset(spec: DatasetSpec): Promise<DatasetInfo> {
  switch (spec.kind) {
    case 'mnist': return describeMnist(spec);
    case 'csv':
    case 'json': return describeTabular(spec);
    case 'sequence': return describeSequence(spec);
  }
}

/**
 * Opens a dataset for reading batches. `seed` is the job seed; no split uses it (splits use
 * fixed seeds, or the tabular `splitSeed`), it is accepted so that future sources can.
 */
export async function openDataset(spec: DatasetSpec, seed: number): Promise<Dataset> {
  void seed;
  switch (spec.kind) {
    case 'mnist': return openMnist(spec);
    case 'csv':
    case 'json': return openTabular(spec);
    case 'sequence': return openSequence(spec);
  }
}
