// Using a trained model: the bundle's preprocessing around a tf.LayersModel. The tfjs namespace is
// passed in, so the same code runs with the plain `@tensorflow/tfjs` package in Node (loadModel in
// model/load-model.ts), in `dtrain predict|evaluate`, and in a browser (`dtrain export` writes this
// module, bundled, as dtrain-predictor.js). No Node imports.
import type * as tfTypes from '@tensorflow/tfjs';
import { DataFileError } from '../errors';
import { BUNDLE_FILE, parseModelBundle, type ModelBundle } from './model-bundle';
import {
  classReport, decodeOutputs, regressionReport, sequenceWindows, seriesValues, tabularFeatures, tabularLabels,
  type EvaluationReport, type InputRow, type Prediction, type RowSource,
} from './preprocess';

export type Tf = typeof tfTypes;
export type { EvaluationReport, InputRow, Prediction, RowSource } from './preprocess';

const PREDICT_BATCH = 512;

export interface DtrainModel {
  readonly bundle: ModelBundle;
  readonly model: tfTypes.LayersModel;
  /**
   * One prediction per row. Tabular: rows by column name (or feature values in order).
   * Sequence: one series value per row; row t gets the forecast after values t-window+1..t
   * (null for the first window-1 rows).
   */
  predict(rows: readonly (InputRow | number)[], src?: RowSource): (Prediction | null)[];
  /** Metrics in the label's units on rows that include the label (tabular) or on a series. */
  evaluate(rows: readonly (InputRow | number)[], src?: RowSource): EvaluationReport;
  dispose(): void;
}

/** Runs the model on float32 inputs in batches; returns the outputs, flat. */
function run(tf: Tf, model: tfTypes.LayersModel, xs: Float32Array, n: number, shape: number[]): Float32Array {
  const per = shape.reduce((a, b) => a * b, 1);
  const outSize = (model.outputs[0].shape[model.outputs[0].shape.length - 1] ?? 1) as number;
  const out = new Float32Array(n * outSize);
  for (let from = 0; from < n; from += PREDICT_BATCH) {
    const m = Math.min(PREDICT_BATCH, n - from);
    const y = tf.tidy(() => model.predict(tf.tensor(xs.subarray(from * per, (from + m) * per), [m, ...shape])) as tfTypes.Tensor);
    out.set(y.dataSync() as Float32Array, from * outSize);
    y.dispose();
  }
  return out;
}

export function createDtrainModel(tf: Tf, model: tfTypes.LayersModel, bundle: ModelBundle): DtrainModel {
  const shape = bundle.inputShape;
  const seq = bundle.sequence;

  const predictTabular = (rows: readonly InputRow[], src: RowSource): Prediction[] => {
    const xs = tabularFeatures(bundle, rows, src);
    return decodeOutputs(bundle, run(tf, model, xs, rows.length, shape), rows.length);
  };

  return {
    bundle,
    model,
    predict(rows, src = {}) {
      if (!seq) return predictTabular(rows as readonly InputRow[], src);
      const values = seriesValues(bundle, rows, src);
      const starts: number[] = [];
      for (let t = seq.window - 1; t < values.length; t++) starts.push(t - seq.window + 1);
      const decoded = decodeOutputs(bundle, run(tf, model, sequenceWindows(bundle, values, starts), starts.length, shape), starts.length);
      return values.map((_, t) => (t < seq.window - 1 ? null : decoded[t - seq.window + 1]));
    },
    evaluate(rows, src = {}) {
      if (seq) {
        const values = seriesValues(bundle, rows, src);
        const count = values.length - seq.window - seq.horizon + 1;
        if (count < 1) {
          throw new DataFileError(src.source ?? 'input', null, bundle.labelName, `${values.length} values give no window (window ${seq.window} + horizon ${seq.horizon} values are needed)`);
        }
        const starts = Array.from({ length: count }, (_, i) => i);
        const preds = decodeOutputs(bundle, run(tf, model, sequenceWindows(bundle, values, starts), count, shape), count);
        const truth: number[] = [];
        const predicted: number[] = [];
        starts.forEach((s, k) => {
          for (let h = 0; h < seq.horizon; h++) {
            truth.push(values[s + seq.window + h]);
            predicted.push((preds[k] as { values: number[] }).values[h]);
          }
        });
        return regressionReport(truth, predicted);
      }
      const tab = rows as readonly InputRow[];
      const labels = tabularLabels(bundle, tab, src);
      const preds = predictTabular(tab, src);
      if (bundle.task === 'classification') {
        const names = bundle.classNames ?? [];
        return classReport(names, labels, preds.map((p) => names.indexOf((p as { label: string }).label)));
      }
      return regressionReport(labels, preds.map((p) => (p as { value: number }).value));
    },
    dispose() {
      model.dispose();
    },
  };
}

/** Browser (or any fetch): loads `<base>/model.json`, its weights and `<base>/dtrain-model.json`. */
export async function loadModelFromUrl(tf: Tf, baseUrl: string): Promise<DtrainModel> {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const res = await fetch(`${base}${BUNDLE_FILE}`);
  if (!res.ok) throw new DataFileError(`${base}${BUNDLE_FILE}`, null, null, `HTTP ${res.status}`);
  const bundle = parseModelBundle(await res.json(), `${base}${BUNDLE_FILE}`);
  const model = await tf.loadLayersModel(`${base}model.json`);
  return createDtrainModel(tf, model, bundle);
}
