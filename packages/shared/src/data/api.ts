// Contract of the data subsystem. The coordinator calls `describeDataset` (sizes only: it plans
// shards and never holds samples); workers call `openDataset` and read only the rows they are given.
import type * as tf from '@tensorflow/tfjs';

export interface DatasetInfo {
  /** Samples in the training split. */
  trainSize: number;
  /** Samples of the per-epoch validation split (0: none). Every dataset sets it (optional for hand-made infos). */
  validationSize?: number;
  /**
   * Samples of the test split. With `testPath` it is that file, evaluated once at the end
   * (`testAtEnd`). Legacy `testFraction` and mnist: the one held-out share, which is also the
   * validation split (same rows), as before.
   */
  testSize: number;
  /** True when the test split is its own file, evaluated once after training and reported as `test`. */
  testAtEnd?: boolean;
  /** Shape of one sample's features, e.g. [784] or [28, 28, 1] or [window, 1]. */
  inputShape: number[];
  /** Width of one label: classes for one-hot classification, outputs for regression. */
  outputSize: number;
  task: 'classification' | 'regression';
  /** Class names where known (classification), index = class id. */
  classNames?: string[];
  /** Feature column names (tabular datasets). */
  featureNames?: string[];
  /** Every column of the training file, in order (tabular): other files must have the same. */
  columns?: string[];
  /** Label column (tabular) or series column (sequence files). */
  labelName?: string;
  /** Classification label encoding: one-hot (one output per class) or one 0/1 output. */
  labelEncoding?: 'oneHot' | 'binary';
  /** Sequence datasets: inputs are `window` values, targets the next `horizon`. */
  window?: number;
  horizon?: number;
  /**
   * Mean/std used to standardize, computed on the training split only. Targets are standardized
   * for regression only; multiply a prediction by targetStd and add targetMean to get back units.
   */
  standardization?: Standardization;
}

export interface Standardization {
  featureMean: number[];
  featureStd: number[];
  targetMean?: number[];
  targetStd?: number[];
}

export type DatasetSplit = 'train' | 'validation' | 'test';

export interface Batch {
  xs: tf.Tensor;
  ys: tf.Tensor;
}

export interface Dataset {
  readonly info: DatasetInfo;
  /** Tensors for the given sample indices of a split, in that order. The caller disposes them. */
  batch(split: DatasetSplit, indices: ArrayLike<number>): Batch;
  /** Releases file handles and caches. */
  close(): void;
}
