// Tabular datasets (CSV, JSON Lines, JSON arrays): a seeded row split, standardization with
// statistics of the training rows only, and batches read by byte offset.
import * as tf from '@tensorflow/tfjs';
import { DataFileError } from '../errors';
import type { Batch, Dataset, DatasetInfo, Standardization } from './api';
import { deriveSeed, seededPermutation } from './rng';
import { indexTabularFile, numericCell, TabularRowReader, type Cell, type TabularIndex } from './tabular-file';
import { RunningStats } from './standardize';

/** Default split seed: the split is part of the data, not of the job, unless splitSeed is set. */
export const TABULAR_SPLIT_SEED = 7919;
const STATS_CHUNK_ROWS = 4096;

export interface TabularSpec {
  kind: 'csv' | 'json';
  path: string;
  features?: string[];
  label: string;
  classes?: number;
  labelEncoding?: 'oneHot' | 'binary';
  standardize: boolean;
  testFraction: number;
  onBadValue: 'error' | 'skipRow';
  splitSeed?: number;
}

export interface RowSplit {
  /** Good-row numbers of each split, ascending (file order). */
  train: Uint32Array;
  test: Uint32Array;
}

/** Test rows: the first round(n * testFraction) of a permutation seeded by splitSeed. */
export function tabularSplit(file: string, rowCount: number, testFraction: number, splitSeed: number): RowSplit {
  const testSize = Math.round(rowCount * testFraction);
  if (testSize < 1 || rowCount - testSize < 1) {
    throw new DataFileError(file, null, null, `${rowCount} usable rows cannot be split with testFraction ${testFraction}`);
  }
  const perm = seededPermutation(rowCount, deriveSeed(splitSeed, 'tabular-split'));
  return {
    test: perm.slice(0, testSize).sort(),
    train: perm.slice(testSize).sort(),
  };
}

async function indexFor(spec: TabularSpec): Promise<TabularIndex> {
  if (spec.labelEncoding === 'binary' && spec.classes !== 2) {
    throw new DataFileError(spec.path, null, spec.label, `labelEncoding 'binary' needs classes: 2 (got ${spec.classes ?? 'none'})`);
  }
  return indexTabularFile(spec.path, spec.kind, {
    features: spec.features, label: spec.label, classes: spec.classes, onBadValue: spec.onBadValue,
  });
}

function infoFrom(spec: TabularSpec, index: TabularIndex, split: RowSplit): DatasetInfo {
  const classification = spec.classes !== undefined;
  return {
    trainSize: split.train.length,
    testSize: split.test.length,
    inputShape: [index.featureCols.length],
    outputSize: classification ? (spec.labelEncoding === 'binary' ? 1 : spec.classes!) : 1,
    task: classification ? 'classification' : 'regression',
    classNames: index.classNames,
    featureNames: index.featureNames,
  };
}

export async function describeTabular(spec: TabularSpec): Promise<DatasetInfo> {
  const index = await indexFor(spec);
  return infoFrom(spec, index, tabularSplit(spec.path, index.rowCount, spec.testFraction, spec.splitSeed ?? TABULAR_SPLIT_SEED));
}

/** Values were validated by the index pass; a bad one now means the file changed since. */
function changed(index: TabularIndex, row: number, col: number): DataFileError {
  return new DataFileError(index.file, index.lines[row] ?? row + 1, index.columns[col], 'value is no longer valid: the file changed since it was indexed');
}

function rowValues(index: TabularIndex, row: number, cells: Cell[], features: Float32Array | Float64Array, at: number): number {
  for (let f = 0; f < index.featureCols.length; f++) {
    const v = numericCell(cells[index.featureCols[f]]);
    if (v === null || Number.isNaN(v)) throw changed(index, row, index.featureCols[f]);
    features[at + f] = v;
  }
  const label = cells[index.labelCol];
  const y = index.labelIds ? index.labelIds.get(String(label).trim()) : numericCell(label);
  if (y === undefined || y === null || Number.isNaN(y)) throw changed(index, row, index.labelCol);
  return y;
}

export async function openTabular(spec: TabularSpec): Promise<Dataset> {
  const index = await indexFor(spec);
  const split = tabularSplit(spec.path, index.rowCount, spec.testFraction, spec.splitSeed ?? TABULAR_SPLIT_SEED);
  const info = infoFrom(spec, index, split);
  const reader = new TabularRowReader(index);
  const nf = index.featureCols.length;
  const regression = info.task === 'regression';

  let standardization: Standardization | undefined;
  if (spec.standardize) {
    const fStats = new RunningStats(nf);
    const tStats = new RunningStats(1);
    const row = new Float64Array(nf);
    for (let k = 0; k < split.train.length; k += STATS_CHUNK_ROWS) {
      const rows = split.train.subarray(k, k + STATS_CHUNK_ROWS);
      const cells = reader.readCells(rows);
      for (let m = 0; m < cells.length; m++) {
        const y = rowValues(index, rows[m], cells[m], row, 0);
        fStats.add(row);
        if (regression) tStats.add([y]);
      }
    }
    standardization = { featureMean: fStats.mean(), featureStd: fStats.std() };
    if (regression) {
      standardization.targetMean = tStats.mean();
      standardization.targetStd = tStats.std();
    }
    info.standardization = standardization;
  }

  return {
    info,
    batch(which: 'train' | 'test', indices: ArrayLike<number>): Batch {
      const rows = which === 'train' ? split.train : split.test;
      const n = indices.length;
      const fileRows = new Uint32Array(n);
      for (let k = 0; k < n; k++) {
        const i = indices[k];
        if (!Number.isInteger(i) || i < 0 || i >= rows.length) throw new RangeError(`${spec.path}: ${which} index ${i} out of range [0, ${rows.length})`);
        fileRows[k] = rows[i];
      }
      const cells = reader.readCells(fileRows);
      const xs = new Float32Array(n * nf);
      const ys = new Float32Array(n * info.outputSize);
      for (let k = 0; k < n; k++) {
        const y = rowValues(index, fileRows[k], cells[k], xs, k * nf);
        if (standardization) {
          for (let f = 0; f < nf; f++) xs[k * nf + f] = (xs[k * nf + f] - standardization.featureMean[f]) / standardization.featureStd[f];
        }
        if (regression) {
          ys[k] = standardization ? (y - standardization.targetMean![0]) / standardization.targetStd![0] : y;
        } else if (info.outputSize === 1) {
          ys[k] = y;
        } else {
          ys[k * info.outputSize + y] = 1;
        }
      }
      return { xs: tf.tensor2d(xs, [n, nf]), ys: tf.tensor2d(ys, [n, info.outputSize]) };
    },
    close(): void {
      reader.close();
    },
  };
}
