// Contract of model building: one function from (spec, dataset info, seed) to a tf.LayersModel,
// identical on every rank for the same seed.
import type * as tf from '@tensorflow/tfjs';
import type { DatasetInfo } from '../data/api';
import type { JobSpec } from '../job-spec';

export interface ModelBuildContext {
  spec: JobSpec;
  info: DatasetInfo;
  seed: number;
}

/** What a custom model module exports (default export or `buildModel`). */
export type CustomModelBuilder = (ctx: ModelBuildContext & { options: Record<string, unknown>; tf: typeof tf }) => tf.LayersModel | Promise<tf.LayersModel>;
