// The model bundle's metadata: what dtrain did to the data before the model saw it, written as
// dtrain-model.json beside model.json and weights.bin (checkpoints and `dtrain export`), so that
// `dtrain predict`, `dtrain evaluate`, loadModel() and the browser apply the same preprocessing.
// No Node imports: this module is bundled for browsers too.
import type { DatasetInfo, Standardization } from './api';

export const BUNDLE_FILE = 'dtrain-model.json';
export const BUNDLE_FORMAT = 'dtrain-model-bundle';
export const BUNDLE_FORMAT_VERSION = 1;
/** The dtrain release writing the bundle (packages/cli/package.json). */
export const DTRAIN_VERSION = '0.1.0';

export interface ModelBundle {
  format: typeof BUNDLE_FORMAT;
  formatVersion: number;
  dtrainVersion: string;
  task: 'classification' | 'regression';
  /** Shape of one model input, e.g. [features] or [window, 1]. */
  inputShape: number[];
  outputSize: number;
  /** Tabular: the training file's columns in order, and the feature columns fed to the model, in order. */
  columns: string[] | null;
  featureNames: string[] | null;
  /** The label column (tabular) or the series column (sequence). */
  labelName: string | null;
  /** Classification: class names (index = class id) and how labels were encoded. */
  classNames: string[] | null;
  labelEncoding: 'oneHot' | 'binary' | null;
  /** Feature statistics of the training rows; target scaling for regression (prediction * std + mean). */
  standardization: Standardization | null;
  /** Sequence models: `window` past values in, the next `horizon` out. */
  sequence: { window: number; horizon: number } | null;
  /** The job's dataset and model sections, as validated. */
  dataset: unknown;
  model: unknown;
  loss: string;
}

export interface BundleSource {
  dataset: object;
  model: unknown;
  loss: string;
}

export function modelBundle(spec: BundleSource, info: DatasetInfo): ModelBundle {
  return {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    dtrainVersion: DTRAIN_VERSION,
    task: info.task,
    inputShape: [...info.inputShape],
    outputSize: info.outputSize,
    columns: info.columns ? [...info.columns] : null,
    featureNames: info.featureNames ? [...info.featureNames] : null,
    labelName: info.labelName ?? null,
    classNames: info.task === 'classification' ? (info.classNames ?? null) : null,
    labelEncoding: info.task === 'classification' ? (info.labelEncoding ?? 'oneHot') : null,
    standardization: info.standardization ?? null,
    sequence: info.window !== undefined ? { window: info.window, horizon: info.horizon ?? 1 } : null,
    dataset: spec.dataset,
    model: spec.model,
    loss: spec.loss,
  };
}

/** Named problem with a bundle file (missing, not a bundle, a newer format). */
export class ModelBundleError extends Error {
  readonly code = 'ModelBundleError';
  constructor(readonly source: string, detail: string) {
    super(`${source}: ${detail}`);
    this.name = 'ModelBundleError';
  }
}

export function parseModelBundle(json: unknown, source: string): ModelBundle {
  const b = json as Partial<ModelBundle> | null;
  if (!b || typeof b !== 'object' || b.format !== BUNDLE_FORMAT) {
    throw new ModelBundleError(source, `not a dtrain model bundle (expected "format": "${BUNDLE_FORMAT}")`);
  }
  if (typeof b.formatVersion !== 'number' || b.formatVersion > BUNDLE_FORMAT_VERSION) {
    throw new ModelBundleError(source, `bundle format version ${String(b.formatVersion)} is newer than this dtrain reads (${BUNDLE_FORMAT_VERSION})`);
  }
  if (b.task !== 'classification' && b.task !== 'regression') throw new ModelBundleError(source, `task ${String(b.task)} is unknown`);
  if (!Array.isArray(b.inputShape) || typeof b.outputSize !== 'number') throw new ModelBundleError(source, 'inputShape/outputSize missing');
  return b as ModelBundle;
}

/**
 * Regression errors in the label's units from sums over standardized values: every output shares
 * one target std here (one label column, or one series), so MAE and RMSE scale by it exactly.
 */
export function labelUnitErrors(
  sums: { absErrorSum: number; squaredErrorSum: number; valueCount: number },
  standardization: Standardization | null | undefined,
): { rmse: number; mae: number } {
  const std = standardization?.targetStd?.[0] ?? 1;
  if (sums.valueCount <= 0) return { rmse: Number.NaN, mae: Number.NaN };
  return {
    rmse: std * Math.sqrt(sums.squaredErrorSum / sums.valueCount),
    mae: std * (sums.absErrorSum / sums.valueCount),
  };
}
