// Sliding windows over a series: input = `window` consecutive values ([window, 1]), target = the
// next `horizon` values. The split is chronological: the last round(windows * testFraction)
// windows are the test split. Standardization uses the values the training windows touch
// (inputs and targets), i.e. series[0 .. trainWindows - 1 + window + horizon - 1].
import * as tf from '@tensorflow/tfjs';
import { DataFileError } from '../errors';
import type { Batch, Dataset, DatasetInfo } from './api';
import { AIRLINE_PASSENGERS, readCsvSeries, sineSeries } from './series';
import { RunningStats } from './standardize';

export interface SequenceSpec {
  kind: 'sequence';
  path?: string;
  column?: string;
  builtin?: 'sine' | 'airline-passengers';
  window: number;
  horizon: number;
  standardize: boolean;
  testFraction: number;
}

function sourceName(spec: SequenceSpec): string {
  return spec.builtin ? `builtin:${spec.builtin}` : (spec.path ?? '(no series)');
}

async function loadSeries(spec: SequenceSpec): Promise<number[]> {
  if (spec.builtin === 'sine') return sineSeries();
  if (spec.builtin === 'airline-passengers') return [...AIRLINE_PASSENGERS];
  if (!spec.path) throw new DataFileError('(sequence dataset)', null, null, 'set either path (a CSV) or builtin');
  return readCsvSeries(spec.path, spec.column);
}

function sizes(spec: SequenceSpec, length: number): { windows: number; trainSize: number; testSize: number } {
  const windows = length - spec.window - spec.horizon + 1;
  const testSize = Math.round(windows * spec.testFraction);
  if (windows < 2 || testSize < 1 || windows - testSize < 1) {
    throw new DataFileError(sourceName(spec), null, null, `series of ${length} values gives ${windows} windows (window ${spec.window}, horizon ${spec.horizon}): too few to split with testFraction ${spec.testFraction}`);
  }
  return { windows, trainSize: windows - testSize, testSize };
}

function infoFor(spec: SequenceSpec, length: number): DatasetInfo {
  const { trainSize, testSize } = sizes(spec, length);
  return { trainSize, testSize, inputShape: [spec.window, 1], outputSize: spec.horizon, task: 'regression' };
}

export async function describeSequence(spec: SequenceSpec): Promise<DatasetInfo> {
  return infoFor(spec, (await loadSeries(spec)).length);
}

export async function openSequence(spec: SequenceSpec): Promise<Dataset> {
  const raw = await loadSeries(spec);
  const info = infoFor(spec, raw.length);
  const series = Float64Array.from(raw);
  if (spec.standardize) {
    const used = info.trainSize - 1 + spec.window + spec.horizon;
    const stats = new RunningStats(1);
    for (let t = 0; t < used; t++) stats.add([raw[t]]);
    const [mean] = stats.mean();
    const [std] = stats.std();
    for (let t = 0; t < series.length; t++) series[t] = (raw[t] - mean) / std;
    info.standardization = { featureMean: [mean], featureStd: [std], targetMean: [mean], targetStd: [std] };
  }
  const { window, horizon } = spec;
  return {
    info,
    batch(which: 'train' | 'test', indices: ArrayLike<number>): Batch {
      const size = which === 'train' ? info.trainSize : info.testSize;
      const base = which === 'train' ? 0 : info.trainSize;
      const n = indices.length;
      const xs = new Float32Array(n * window);
      const ys = new Float32Array(n * horizon);
      for (let k = 0; k < n; k++) {
        const i = indices[k];
        if (!Number.isInteger(i) || i < 0 || i >= size) throw new RangeError(`${sourceName(spec)}: ${which} index ${i} out of range [0, ${size})`);
        const start = base + i;
        for (let w = 0; w < window; w++) xs[k * window + w] = series[start + w];
        for (let h = 0; h < horizon; h++) ys[k * horizon + h] = series[start + window + h];
      }
      return { xs: tf.tensor3d(xs, [n, window, 1]), ys: tf.tensor2d(ys, [n, horizon]) };
    },
    close(): void {},
  };
}
