// Contract of checkpoints. A checkpoint is a folder:
//   model.json + weights.bin   tfjs Layers format (tf.loadLayersModel loads it, also in a browser)
//   optimizer.json + optimizer.bin  optimizer state in gradient order
//   state.json                 epoch, step, data-plan position, RNG state, spec digest
//   manifest.json              sha256 and size of every file above; written last
// Written to `<dir>/.tmp-<name>` then renamed to `<dir>/step-<global step>`, so a crash mid-write
// leaves the previous checkpoint untouched.

import type * as tf from '@tensorflow/tfjs';
import type { ModelBundle } from '@dtrain/shared/data/model-bundle';
import type {
  CheckpointInfo, CheckpointManifest, FindCheckpointOptions as SharedFindCheckpointOptions, ManifestEntry,
} from '@dtrain/shared/checkpoint-discovery';

export interface TrainingState {
  globalStep: number;
  epoch: number;
  stepInEpoch: number;
  /** shared ShardPlanState as JSON-able data. */
  planState: unknown;
  /** Worker-side RNG state (for dropout etc.), if any. */
  rngState?: unknown;
  jobName: string;
  worldSize: number;
  createdAt: string;
}

/** Where a checkpoint is and which global step it holds (shared with the coordinator's discovery). */
export type { CheckpointInfo } from '@dtrain/shared/checkpoint-discovery';

// ---- Extensions (checkpoint implementation). Names above are the contract; these add detail. ----

// The layout version, file names and manifest shape are shared with the coordinator's checkpoint discovery.
export {
  CHECKPOINT_FILES, CHECKPOINT_FORMAT_VERSION, type CheckpointFileName, type CheckpointManifest, type ManifestEntry,
  type SkippedCheckpoint,
} from '@dtrain/shared/checkpoint-discovery';

/** tfjs-core's NamedTensor (not re-exported by the @tensorflow/tfjs bundle). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

export type OptimizerTensorDtype = 'float32' | 'int32';

/** What one optimizer weight is, however its values are held. */
interface OptimizerWeightShape {
  name: string;
  shape: number[];
  dtype: OptimizerTensorDtype;
}

/** One entry of optimizer.json `weights`: a slice of optimizer.bin. */
export interface OptimizerWeightSpec extends OptimizerWeightShape {
  byteOffset: number;
  byteLength: number;
}

/** Optimizer state, on disk (W: a slice of optimizer.bin) or in memory (W: its values). */
interface OptimizerStateOf<W> {
  className: string;
  config: Record<string, unknown>;
  weights: W[];
  extra: Record<string, number>;
}

/** optimizer.json. `weights` is optimizer.getWeights() in its order (position matters: Adam & co.
 * pair state with gradients by index). `extra` holds state that getWeights() does not return
 * (Adam's accBeta1/accBeta2, which setWeights would recompute with pow and lose bit-exactness). */
export type OptimizerStateFile = OptimizerStateOf<OptimizerWeightSpec>;

export interface OptimizerWeightValue extends OptimizerWeightShape {
  values: Float32Array | Int32Array;
}

/** Optimizer state as plain arrays (no tensors, nothing to dispose). */
export type SavedOptimizerState = OptimizerStateOf<OptimizerWeightValue>;

export interface SaveCheckpointOptions {
  dir: string;
  model: tf.LayersModel;
  optimizer: tf.Optimizer;
  state: TrainingState;
  /** Keep at most this many step-* folders (>= 1); the oldest are deleted after a successful write. */
  keep: number;
  /** The preprocessing metadata, written as dtrain-model.json (shared data/model-bundle.ts). */
  bundle?: ModelBundle;
}

export interface LoadCheckpointOptions {
  /** Load the weights into this model (built from the job spec) instead of building one from
   * model.json. Weights are matched by position and checked by shape and dtype. */
  into?: tf.LayersModel;
}

export interface LoadedCheckpoint {
  /** The model with the checkpoint's weights; `options.into` when given, else a new model the
   * caller owns (dispose it). */
  model: tf.LayersModel;
  optimizer: SavedOptimizerState;
  /** New tensors for optimizer.setWeights(); the caller disposes them. Prefer restoreOptimizer(). */
  optimizerWeights: () => NamedTensor[];
  state: TrainingState;
  info: CheckpointInfo;
  manifest: CheckpointManifest;
}

/** The worker verifies candidates itself (tensors decoded), so callers set only onSkip. */
export type FindCheckpointOptions = Pick<SharedFindCheckpointOptions, 'onSkip'>;

export interface ExportedModel {
  modelJsonPath: string;
  weightsPath: string;
  files: Record<'model.json' | 'weights.bin', ManifestEntry> & { 'dtrain-model.json'?: ManifestEntry };
  /** dtrain-model.json beside the model (absent when the checkpoint predates bundles). */
  bundlePath?: string;
}
