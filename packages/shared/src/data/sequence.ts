// Sliding windows over a series: input = `window` consecutive values ([window, 1]), target = the
// next `horizon` values. Validation is chronological (the last windows of the training series)
// or its own file; a test file is its own series, whose first `window` values only serve as the
// input of its first forecast. Standardization uses the values the training windows touch
// (inputs and targets), i.e. series[0 .. trainWindows - 1 + window + horizon - 1].
import * as tf from '@tensorflow/tfjs';
import { DataFileError } from '../errors';
import type { Batch, Dataset, DatasetInfo, DatasetSplit } from './api';
import { heldOutPlan, type HeldOutFields } from './held-out';
import { AIRLINE_PASSENGERS, readCsvSeriesNamed, sineSeries } from './series';
import { RunningStats } from './standardize';

export interface SequenceSpec extends HeldOutFields {
  kind: 'sequence';
  path?: string;
  column?: string;
  builtin?: 'sine' | 'airline-passengers';
  window: number;
  horizon: number;
  standardize: boolean;
}

function sourceName(spec: SequenceSpec): string {
  return spec.builtin ? `builtin:${spec.builtin}` : (spec.path ?? '(no series)');
}

async function loadSeries(spec: SequenceSpec): Promise<{ values: number[]; column: string }> {
  if (spec.builtin === 'sine') return { values: sineSeries(), column: 'value' };
  if (spec.builtin === 'airline-passengers') return { values: [...AIRLINE_PASSENGERS], column: 'passengers' };
  if (!spec.path) throw new DataFileError('(sequence dataset)', null, null, 'set either path (a CSV) or builtin');
  return readCsvSeriesNamed(spec.path, spec.column);
}

/** Windows in a series of `length` values. */
export function windowCount(length: number, window: number, horizon: number): number {
  return Math.max(0, length - window - horizon + 1);
}

/** A series and the windows of it that form one split. */
interface WindowSplit {
  series: Float64Array;
  first: number;
  count: number;
}

interface SequenceLayout {
  train: WindowSplit;
  validation: WindowSplit | null;
  test: WindowSplit | null;
  testAtEnd: boolean;
  column: string;
}

async function fileWindows(spec: SequenceSpec, file: string, column: string): Promise<WindowSplit> {
  const { values } = await readCsvSeriesNamed(file, column);
  const count = windowCount(values.length, spec.window, spec.horizon);
  if (count < 1) {
    throw new DataFileError(file, null, column, `${values.length} values give no window (window ${spec.window} + horizon ${spec.horizon} values are needed)`);
  }
  return { series: Float64Array.from(values), first: 0, count };
}

async function layoutFor(spec: SequenceSpec): Promise<SequenceLayout> {
  const { values, column } = await loadSeries(spec);
  const series = Float64Array.from(values);
  const windows = windowCount(values.length, spec.window, spec.horizon);
  const plan = heldOutPlan(spec);
  let trainCount = windows;
  let validation: WindowSplit | null = null;
  if (plan.validation.kind === 'fraction') {
    const held = Math.round(windows * plan.validation.fraction);
    if (windows < 2 || held < 1 || windows - held < 1) {
      throw new DataFileError(sourceName(spec), null, null, `series of ${values.length} values gives ${windows} windows (window ${spec.window}, horizon ${spec.horizon}): too few to hold out a fraction of ${plan.validation.fraction}`);
    }
    trainCount = windows - held;
    validation = { series, first: trainCount, count: held };
  } else if (plan.validation.kind === 'file') {
    validation = await fileWindows(spec, plan.validation.path, column);
  }
  if (trainCount < 1) throw new DataFileError(sourceName(spec), null, null, `series of ${values.length} values gives no training window`);
  let test: WindowSplit | null = null;
  if (plan.test.kind === 'same-as-validation') test = validation;
  else if (plan.test.kind === 'file') test = await fileWindows(spec, plan.test.path, column);
  return { train: { series, first: 0, count: trainCount }, validation, test, testAtEnd: plan.test.kind === 'file', column };
}

function infoFor(spec: SequenceSpec, layout: SequenceLayout): DatasetInfo {
  return {
    trainSize: layout.train.count,
    validationSize: layout.validation?.count ?? 0,
    testSize: layout.test?.count ?? 0,
    testAtEnd: layout.testAtEnd,
    inputShape: [spec.window, 1],
    outputSize: spec.horizon,
    task: 'regression',
    labelName: layout.column,
    window: spec.window,
    horizon: spec.horizon,
  };
}

export async function describeSequence(spec: SequenceSpec): Promise<DatasetInfo> {
  return (await openSequence(spec)).info;
}

export async function openSequence(spec: SequenceSpec): Promise<Dataset> {
  const layout = await layoutFor(spec);
  const info = infoFor(spec, layout);
  let mean = 0;
  let std = 1;
  if (spec.standardize) {
    const used = layout.train.count - 1 + spec.window + spec.horizon;
    const stats = new RunningStats(1);
    for (let t = 0; t < used; t++) stats.add([layout.train.series[t]]);
    [mean] = stats.mean();
    [std] = stats.std();
    info.standardization = { featureMean: [mean], featureStd: [std], targetMean: [mean], targetStd: [std] };
  }
  // Each distinct series standardized once (validation/test may share the training series).
  const scaled = new Map<Float64Array, Float64Array>();
  const scaledOf = (s: Float64Array): Float64Array => {
    let out = scaled.get(s);
    if (!out) {
      out = s.map((v) => (v - mean) / std);
      scaled.set(s, out);
    }
    return out;
  };
  const { window, horizon } = spec;
  return {
    info,
    batch(which: DatasetSplit, indices: ArrayLike<number>): Batch {
      const split = which === 'train' ? layout.train : which === 'validation' ? layout.validation : layout.test;
      const size = split?.count ?? 0;
      const n = indices.length;
      const xs = new Float32Array(n * window);
      const ys = new Float32Array(n * horizon);
      for (let k = 0; k < n; k++) {
        const i = indices[k];
        if (!Number.isInteger(i) || i < 0 || i >= size) throw new RangeError(`${sourceName(spec)}: ${which} index ${i} out of range [0, ${size})`);
        const series = scaledOf(split!.series);
        const start = split!.first + i;
        for (let w = 0; w < window; w++) xs[k * window + w] = series[start + w];
        for (let h = 0; h < horizon; h++) ys[k * horizon + h] = series[start + window + h];
      }
      return { xs: tf.tensor3d(xs, [n, window, 1]), ys: tf.tensor2d(ys, [n, horizon]) };
    },
    close(): void {},
  };
}
