// Contract of checkpoints. A checkpoint is a folder:
//   model.json + weights.bin   tfjs Layers format (tf.loadLayersModel loads it, also in a browser)
//   optimizer.json + optimizer.bin  optimizer state in gradient order
//   state.json                 epoch, step, data-plan position, RNG state, spec digest
//   manifest.json              sha256 and size of every file above; written last
// Written to `<dir>/.tmp-<name>` then renamed to `<dir>/step-<global step>`, so a crash mid-write
// leaves the previous checkpoint untouched.

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

export interface CheckpointInfo {
  path: string;
  globalStep: number;
}
