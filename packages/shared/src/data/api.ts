// Contract of the data subsystem. The coordinator calls `describeDataset` (sizes only: it plans
// shards and never holds samples); workers call `openDataset` and read only the rows they are given.
import type * as tf from '@tensorflow/tfjs';

export interface DatasetInfo {
  /** Samples in the training split. */
  trainSize: number;
  /** Samples in the held-out (validation/test) split. */
  testSize: number;
  /** Shape of one sample's features, e.g. [784] or [28, 28, 1] or [window, 1]. */
  inputShape: number[];
  /** Width of one label: classes for one-hot classification, outputs for regression. */
  outputSize: number;
  task: 'classification' | 'regression';
  /** Class names where known (classification), index = class id. */
  classNames?: string[];
  /** Feature column names (tabular datasets). */
  featureNames?: string[];
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

export interface Batch {
  xs: tf.Tensor;
  ys: tf.Tensor;
}

export interface Dataset {
  readonly info: DatasetInfo;
  /** Tensors for the given sample indices of a split, in that order. The caller disposes them. */
  batch(split: 'train' | 'test', indices: ArrayLike<number>): Batch;
  /** Releases file handles and caches. */
  close(): void;
}
