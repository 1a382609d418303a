// Preprocessing of new rows for a trained model, and its inverse for the outputs: the exact steps
// training applied (feature order, float32 values, (x - mean) / std with the training statistics,
// class ids from the training class names, sequence windows), read from the model bundle.
// No Node imports: this module is bundled for browsers too.
import { DataFileError } from '../errors';
import { UnseenLabelError } from './columns';
import type { ModelBundle } from './model-bundle';
import { standardizeRows } from './standardize';

export type CellValue = string | number | boolean | null | undefined;
/** A row by column name, or the feature values in the model's feature order. */
export type InputRow = Readonly<Record<string, CellValue>> | readonly CellValue[];

export interface RowSource {
  /** File name (or any label) for error messages. */
  source?: string;
  /** Row number of rows[i] in the source, for error messages (default i + 1). */
  rowNumber?: (i: number) => number;
}

export interface ClassPrediction {
  label: string;
  probabilities: Record<string, number>;
}

/** Regression: the predicted values in the label's units (one, or `horizon` for sequences). */
export interface ValuePrediction {
  value: number;
  values: number[];
}

export type Prediction = ClassPrediction | ValuePrediction;

function where(src: RowSource, i: number): { file: string; row: number } {
  return { file: src.source ?? 'input', row: src.rowNumber ? src.rowNumber(i) : i + 1 };
}

/** A numeric cell, as the training index parses it; a named error otherwise. */
export function numberIn(cell: CellValue, file: string, row: number, column: string): number {
  if (cell === null || cell === undefined || (typeof cell === 'string' && cell.trim() === '')) {
    throw new DataFileError(file, row, column, 'missing value');
  }
  const v = typeof cell === 'number' ? cell : typeof cell === 'string' ? Number(cell.trim()) : Number.NaN;
  if (!Number.isFinite(v)) throw new DataFileError(file, row, column, `not a number: ${JSON.stringify(cell)}`);
  return v;
}

function cellOf(bundle: ModelBundle, row: InputRow, name: string, f: number): CellValue {
  if (Array.isArray(row)) {
    const cols = bundle.columns ?? [];
    // A full training-file row (label included) or just the features.
    return row.length === cols.length && cols.length !== (bundle.featureNames ?? []).length ? row[cols.indexOf(name)] : row[f];
  }
  return (row as Readonly<Record<string, CellValue>>)[name];
}

/** Tabular rows -> standardized float32 features [n * features], in the model's feature order. */
export function tabularFeatures(bundle: ModelBundle, rows: readonly InputRow[], src: RowSource = {}): Float32Array {
  const names = bundle.featureNames;
  if (!names) throw new DataFileError(src.source ?? 'input', null, null, 'this model was not trained on tabular data');
  const nf = names.length;
  const xs = new Float32Array(rows.length * nf);
  rows.forEach((row, i) => {
    if (Array.isArray(row) && row.length !== nf && row.length !== (bundle.columns ?? []).length) {
      const w = where(src, i);
      throw new DataFileError(w.file, w.row, null, `has ${row.length} values, the model takes ${nf} features: ${names.join(', ')}`);
    }
    for (let f = 0; f < nf; f++) {
      const w = where(src, i);
      xs[i * nf + f] = numberIn(cellOf(bundle, row, names[f], f), w.file, w.row, names[f]);
    }
  });
  const st = bundle.standardization;
  if (st) standardizeRows(xs, st.featureMean, st.featureStd);
  return xs;
}

/** The label column of tabular rows: class ids (classification) or values in label units. */
export function tabularLabels(bundle: ModelBundle, rows: readonly InputRow[], src: RowSource = {}): number[] {
  const label = bundle.labelName;
  if (!label) throw new DataFileError(src.source ?? 'input', null, null, 'the model bundle names no label column');
  const col = (bundle.columns ?? []).indexOf(label);
  return rows.map((row, i) => {
    const cell = Array.isArray(row) ? row[col] : (row as Readonly<Record<string, CellValue>>)[label];
    const w = where(src, i);
    if (bundle.task === 'regression') return numberIn(cell, w.file, w.row, label);
    const text = cell === null || cell === undefined ? '' : String(cell).trim();
    if (text === '') throw new DataFileError(w.file, w.row, label, 'missing label');
    const id = (bundle.classNames ?? []).indexOf(text);
    if (id < 0) throw new UnseenLabelError(w.file, w.row, label, text, bundle.classNames ?? []);
    return id;
  });
}

/** Sequence: the series values of rows (a number, a one-value array, or the series column). */
export function seriesValues(bundle: ModelBundle, rows: readonly (InputRow | number)[], src: RowSource = {}): number[] {
  const column = bundle.labelName ?? 'value';
  return rows.map((row, i) => {
    const w = where(src, i);
    if (typeof row === 'number') return numberIn(row, w.file, w.row, column);
    const cell = Array.isArray(row) ? row[row.length - 1] : (row as Readonly<Record<string, CellValue>>)[column];
    return numberIn(cell, w.file, w.row, column);
  });
}

/** Standardized float32 windows [count, window] starting at `starts`, as training builds them. */
export function sequenceWindows(bundle: ModelBundle, values: readonly number[], starts: readonly number[]): Float32Array {
  const { window } = bundle.sequence!;
  const mean = bundle.standardization?.featureMean[0] ?? 0;
  const std = bundle.standardization?.featureStd[0] ?? 1;
  const xs = new Float32Array(starts.length * window);
  starts.forEach((s, k) => {
    for (let w = 0; w < window; w++) xs[k * window + w] = (values[s + w] - mean) / std;
  });
  return xs;
}

/** Model outputs [n * outputSize] -> class names with probabilities, or values in label units. */
export function decodeOutputs(bundle: ModelBundle, out: ArrayLike<number>, n: number): Prediction[] {
  const width = bundle.outputSize;
  const preds: Prediction[] = [];
  for (let i = 0; i < n; i++) {
    const o = Array.from({ length: width }, (_, j) => out[i * width + j]);
    if (bundle.task === 'classification') {
      const names = bundle.classNames ?? o.map((_, j) => String(j));
      const probs = width === 1 ? [1 - o[0], o[0]] : o;
      let best = 0;
      for (let j = 1; j < probs.length; j++) if (probs[j] > probs[best]) best = j;
      preds.push({ label: names[best], probabilities: Object.fromEntries(probs.map((p, j) => [names[j], p])) });
    } else {
      const mean = bundle.standardization?.targetMean?.[0] ?? 0;
      const std = bundle.standardization?.targetStd?.[0] ?? 1;
      const values = o.map((v) => v * std + mean);
      preds.push({ value: values[0], values });
    }
  }
  return preds;
}

export interface ClassReport {
  task: 'classification';
  count: number;
  accuracy: number;
  classes: { name: string; precision: number; recall: number; support: number }[];
  /** confusion[true][predicted], in class-name order. */
  confusion: number[][];
}

export interface RegressionReport {
  task: 'regression';
  count: number;
  rmse: number;
  mae: number;
  r2: number;
}

export type EvaluationReport = ClassReport | RegressionReport;

export function classReport(classNames: readonly string[], truth: readonly number[], predicted: readonly number[]): ClassReport {
  const k = classNames.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  truth.forEach((t, i) => {
    confusion[t][predicted[i]]++;
    if (t === predicted[i]) correct++;
  });
  const classes = classNames.map((name, c) => {
    const tp = confusion[c][c];
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const predictedAs = confusion.reduce((a, row) => a + row[c], 0);
    return { name, precision: predictedAs > 0 ? tp / predictedAs : 0, recall: support > 0 ? tp / support : 0, support };
  });
  return { task: 'classification', count: truth.length, accuracy: truth.length > 0 ? correct / truth.length : Number.NaN, classes, confusion };
}

/** Over every predicted value (all horizons), in the label's units. */
export function regressionReport(truth: readonly number[], predicted: readonly number[]): RegressionReport {
  const n = truth.length;
  let abs = 0;
  let sq = 0;
  let mean = 0;
  for (let i = 0; i < n; i++) {
    const e = predicted[i] - truth[i];
    abs += Math.abs(e);
    sq += e * e;
    mean += truth[i] / n;
  }
  let total = 0;
  for (let i = 0; i < n; i++) total += (truth[i] - mean) ** 2;
  return { task: 'regression', count: n, rmse: Math.sqrt(sq / n), mae: abs / n, r2: total > 0 ? 1 - sq / total : Number.NaN };
}
