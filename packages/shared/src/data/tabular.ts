// Tabular datasets (CSV, JSON Lines, JSON arrays): training rows from `path`, a validation set
// (a seeded share of the training rows, or its own file), an optional test file; standardization
// with statistics of the training rows only, and batches read by byte offset.
import * as tf from '@tensorflow/tfjs';
import { DataFileError } from '../errors';
import type { Batch, Dataset, DatasetInfo, DatasetSplit, Standardization } from './api';
import { heldOutPlan, type HeldOutFields } from './held-out';
import { deriveSeed, seededPermutation } from './rng';
import { indexTabularFile, numericCell, TabularRowReader, type Cell, type ColumnSelection, type TabularIndex } from './tabular-file';
import { RunningStats, standardizeRows } from './standardize';

/** Default split seed: the split is part of the data, not of the job, unless splitSeed is set. */
export const TABULAR_SPLIT_SEED = 7919;
const STATS_CHUNK_ROWS = 4096;

export interface TabularSpec extends HeldOutFields {
  kind: 'csv' | 'json';
  path: string;
  features?: string[];
  label: string;
  classes?: number;
  labelEncoding?: 'oneHot' | 'binary';
  standardize: boolean;
  onBadValue: 'error' | 'skipRow';
  splitSeed?: number;
}

export interface RowSplit {
  /** Good-row numbers of each split, ascending (file order). */
  train: Uint32Array;
  test: Uint32Array;
}

/** Held-out rows: the first round(n * fraction) of a permutation seeded by splitSeed. */
export function tabularSplit(file: string, rowCount: number, testFraction: number, splitSeed: number): RowSplit {
  const testSize = Math.round(rowCount * testFraction);
  if (testSize < 1 || rowCount - testSize < 1) {
    throw new DataFileError(file, null, null, `${rowCount} usable rows cannot be split with a held-out fraction of ${testFraction}`);
  }
  const perm = seededPermutation(rowCount, deriveSeed(splitSeed, 'tabular-split'));
  return {
    test: perm.slice(0, testSize).sort(),
    train: perm.slice(testSize).sort(),
  };
}

function selection(spec: TabularSpec): ColumnSelection {
  return { features: spec.features, label: spec.label, classes: spec.classes, onBadValue: spec.onBadValue };
}

async function indexFor(spec: TabularSpec): Promise<TabularIndex> {
  if (spec.labelEncoding === 'binary' && spec.classes !== 2) {
    throw new DataFileError(spec.path, null, spec.label, `labelEncoding 'binary' needs classes: 2 (got ${spec.classes ?? 'none'})`);
  }
  return indexTabularFile(spec.path, spec.kind, selection(spec));
}

/** A test or validation file, checked against the training file's header and classes. */
function indexAgainst(spec: TabularSpec, train: TabularIndex, file: string): Promise<TabularIndex> {
  return indexTabularFile(file, spec.kind, {
    ...selection(spec),
    features: train.featureNames,
    expect: { columns: train.columns, labelIds: train.labelIds, classNames: train.classNames },
  });
}

/** Rows of one split: all good rows of `index`, or the listed ones. */
interface SplitRows {
  index: TabularIndex;
  rows: Uint32Array;
}

function allRows(index: TabularIndex): SplitRows {
  return { index, rows: Uint32Array.from({ length: index.rowCount }, (_, i) => i) };
}

interface TabularLayout {
  train: SplitRows;
  validation: SplitRows | null;
  test: SplitRows | null;
  testAtEnd: boolean;
}

async function layoutFor(spec: TabularSpec): Promise<TabularLayout> {
  const index = await indexFor(spec);
  const plan = heldOutPlan(spec);
  const seed = spec.splitSeed ?? TABULAR_SPLIT_SEED;
  let train: SplitRows = allRows(index);
  let validation: SplitRows | null = null;
  if (plan.validation.kind === 'fraction') {
    const split = tabularSplit(spec.path, index.rowCount, plan.validation.fraction, seed);
    train = { index, rows: split.train };
    validation = { index, rows: split.test };
  } else if (plan.validation.kind === 'file') {
    validation = allRows(await indexAgainst(spec, index, plan.validation.path));
  }
  let test: SplitRows | null = null;
  if (plan.test.kind === 'same-as-validation') test = validation;
  else if (plan.test.kind === 'file') test = allRows(await indexAgainst(spec, index, plan.test.path));
  return { train, validation, test, testAtEnd: plan.test.kind === 'file' };
}

function infoFrom(spec: TabularSpec, layout: TabularLayout): DatasetInfo {
  const index = layout.train.index;
  const classification = spec.classes !== undefined;
  const encoding = spec.labelEncoding ?? 'oneHot';
  return {
    trainSize: layout.train.rows.length,
    validationSize: layout.validation?.rows.length ?? 0,
    testSize: layout.test?.rows.length ?? 0,
    testAtEnd: layout.testAtEnd,
    inputShape: [index.featureCols.length],
    outputSize: classification ? (encoding === 'binary' ? 1 : spec.classes!) : 1,
    task: classification ? 'classification' : 'regression',
    classNames: index.classNames,
    featureNames: index.featureNames,
    columns: index.columns,
    labelName: spec.label,
    ...(classification ? { labelEncoding: encoding } : {}),
  };
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

function trainingStatistics(train: SplitRows, regression: boolean): Standardization {
  const { index } = train;
  const nf = index.featureCols.length;
  const reader = new TabularRowReader(index);
  try {
    const fStats = new RunningStats(nf);
    const tStats = new RunningStats(1);
    const row = new Float64Array(nf);
    for (let k = 0; k < train.rows.length; k += STATS_CHUNK_ROWS) {
      const rows = train.rows.subarray(k, k + STATS_CHUNK_ROWS);
      const cells = reader.readCells(rows);
      for (let m = 0; m < cells.length; m++) {
        const y = rowValues(index, rows[m], cells[m], row, 0);
        fStats.add(row);
        if (regression) tStats.add([y]);
      }
    }
    const out: Standardization = { featureMean: fStats.mean(), featureStd: fStats.std() };
    if (regression) {
      out.targetMean = tStats.mean();
      out.targetStd = tStats.std();
    }
    return out;
  } finally {
    reader.close();
  }
}

/** Sizes, names and the training statistics (the coordinator reports errors in label units with them). */
export async function describeTabular(spec: TabularSpec): Promise<DatasetInfo> {
  const ds = await openTabular(spec);
  ds.close();
  return ds.info;
}

export async function openTabular(spec: TabularSpec): Promise<Dataset> {
  const layout = await layoutFor(spec);
  const info = infoFrom(spec, layout);
  const regression = info.task === 'regression';
  const standardization = spec.standardize ? trainingStatistics(layout.train, regression) : undefined;
  if (standardization) info.standardization = standardization;
  const readers = new Map<TabularIndex, TabularRowReader>();
  const readerFor = (index: TabularIndex): TabularRowReader => {
    let r = readers.get(index);
    if (!r) readers.set(index, (r = new TabularRowReader(index)));
    return r;
  };
  const nf = info.inputShape[0];

  return {
    info,
    batch(which: DatasetSplit, indices: ArrayLike<number>): Batch {
      const split = which === 'train' ? layout.train : which === 'validation' ? layout.validation : layout.test;
      const size = split?.rows.length ?? 0;
      const n = indices.length;
      const fileRows = new Uint32Array(n);
      for (let k = 0; k < n; k++) {
        const i = indices[k];
        if (!Number.isInteger(i) || i < 0 || i >= size) throw new RangeError(`${spec.path}: ${which} index ${i} out of range [0, ${size})`);
        fileRows[k] = split!.rows[i];
      }
      const xs = new Float32Array(n * nf);
      const ys = new Float32Array(n * info.outputSize);
      if (n > 0) {
        const index = split!.index;
        const cells = readerFor(index).readCells(fileRows);
        for (let k = 0; k < n; k++) {
          const y = rowValues(index, fileRows[k], cells[k], xs, k * nf);
          if (regression) ys[k] = y;
          else if (info.outputSize === 1) ys[k] = y;
          else ys[k * info.outputSize + y] = 1;
        }
      }
      if (standardization) {
        standardizeRows(xs, standardization.featureMean, standardization.featureStd);
        if (regression) standardizeRows(ys, standardization.targetMean!, standardization.targetStd!);
      }
      return { xs: tf.tensor2d(xs, [n, nf]), ys: tf.tensor2d(ys, [n, info.outputSize]) };
    },
    close(): void {
      for (const r of readers.values()) r.close();
      readers.clear();
    },
  };
}
