// Optimizer state capture and restore.
//
// tfjs facts this relies on (tfjs-core 4.22 src/optimizers/*):
// - getWeights() returns [iter, ...state variables]; `iter` is a fresh int32 scalar (ours to
//   dispose), the rest are the optimizer's live variables (not ours).
// - setWeights() does NOT need the state variables to exist: Adam, Momentum, RMSProp, Adagrad and
//   Adadelta build new variables from the given tensors (`tensor.variable()` shares the data and
//   takes a reference, so the given tensors can be disposed afterwards). It does not dispose the
//   variables it replaces, so restoring into an optimizer that already stepped would leak them;
//   restoreOptimizer disposes them.
// - Adam's setWeights recomputes accBeta1/accBeta2 as pow(beta, iter + 1), while training keeps them
//   as a running float32 product; the two differ in the last bit for most step counts (measured:
//   1816 of the first 2000 steps for beta 0.9), so continuing from a restored Adam would not be
//   bit-identical. We save both scalars and assign them after setWeights.
// - Adamax implements neither getWeights nor setWeights.
import * as tf from '@tensorflow/tfjs';
import { CheckpointCorruptError } from '@dtrain/shared/errors';
import type { NamedTensor, OptimizerStateFile, OptimizerTensorDtype, OptimizerWeightSpec, OptimizerWeightValue, SavedOptimizerState } from './api';

/** Hidden scalars that getWeights() does not return, by optimizer class. */
const EXTRA_SCALARS: Record<string, readonly string[]> = {
  Adam: ['accBeta1', 'accBeta2'],
};

type HiddenScalars = Record<string, tf.Variable | undefined>;

export interface EncodedOptimizerState {
  json: OptimizerStateFile;
  /** optimizer.bin in pieces (one per weight), to avoid one more full copy of the state. */
  chunks: Uint8Array[];
}

function optimizerClassName(optimizer: tf.Optimizer): string {
  return optimizer.getClassName();
}

/** Reads the optimizer's full state into plain bytes (no tensors are left behind). */
export async function encodeOptimizerState(optimizer: tf.Optimizer): Promise<EncodedOptimizerState> {
  const className = optimizerClassName(optimizer);
  let named: NamedTensor[];
  try {
    named = await optimizer.getWeights();
  } catch (err) {
    throw new Error(`optimizer ${className} cannot be checkpointed: ${(err as Error).message}`);
  }
  const specs: OptimizerWeightSpec[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  try {
    for (const { name, tensor } of named) {
      if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') {
        throw new Error(`optimizer ${className} weight ${name} has dtype ${tensor.dtype}; only float32 and int32 are supported`);
      }
      const values = (await tensor.data()) as Float32Array | Int32Array;
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      specs.push({ name, shape: [...tensor.shape], dtype: tensor.dtype, byteOffset: offset, byteLength: bytes.byteLength });
      parts.push(bytes);
      offset += bytes.byteLength;
    }
  } finally {
    // Only the first entry (iter) is a fresh tensor; the others are the optimizer's variables.
    if (named.length > 0) named[0].tensor.dispose();
  }
  const extra: Record<string, number> = {};
  const hidden = optimizer as unknown as HiddenScalars;
  for (const key of EXTRA_SCALARS[className] ?? []) {
    const v = hidden[key];
    if (v === undefined) throw new Error(`optimizer ${className} has no ${key}; tfjs internals changed`);
    extra[key] = (await v.data())[0];
  }
  return { json: { className, config: optimizer.getConfig() as Record<string, unknown>, weights: specs, extra }, chunks: parts };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Parses optimizer.json + optimizer.bin; every inconsistency names the file it was found in. */
export function decodeOptimizerState(json: unknown, data: Uint8Array, jsonPath: string, binPath: string): SavedOptimizerState {
  const bad = (detail: string) => new CheckpointCorruptError(jsonPath, detail);
  if (!isRecord(json)) throw bad('not a JSON object');
  const { className, config, weights, extra } = json;
  if (typeof className !== 'string' || className === '') throw bad('className missing');
  if (!isRecord(config)) throw bad('config missing');
  if (!Array.isArray(weights)) throw bad('weights is not an array');
  if (!isRecord(extra)) throw bad('extra missing');
  const extraOut: Record<string, number> = {};
  for (const [k, v] of Object.entries(extra)) {
    if (typeof v !== 'number') throw bad(`extra.${k} is not a number`);
    extraOut[k] = v;
  }
  let expectedOffset = 0;
  const out: OptimizerWeightValue[] = weights.map((w: unknown, i): OptimizerWeightValue => {
    if (!isRecord(w)) throw bad(`weights[${i}] is not an object`);
    const { name, shape, dtype, byteOffset, byteLength } = w;
    if (typeof name !== 'string') throw bad(`weights[${i}].name missing`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) throw bad(`weights[${i}] (${name}) has a bad shape`);
    if (dtype !== 'float32' && dtype !== 'int32') throw bad(`weights[${i}] (${name}) has unsupported dtype ${String(dtype)}`);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (byteOffset !== expectedOffset || byteLength !== count * 4) {
      throw bad(`weights[${i}] (${name}) has byteOffset ${String(byteOffset)}/byteLength ${String(byteLength)}, expected ${expectedOffset}/${count * 4}`);
    }
    expectedOffset += count * 4;
    if (expectedOffset > data.byteLength) {
      throw new CheckpointCorruptError(binPath, `truncated: ${data.byteLength} bytes, weight ${name} needs bytes up to ${expectedOffset}`);
    }
    // Copy so the values are 4-byte aligned and independent of the file buffer.
    // (Buffer#slice would be a view into a pooled buffer, hence the explicit copy.)
    const slice = new Uint8Array(count * 4);
    slice.set(data.subarray(byteOffset, byteOffset + count * 4));
    const values = dtype === 'float32' ? new Float32Array(slice.buffer) : new Int32Array(slice.buffer);
    return { name, shape: shape as number[], dtype: dtype as OptimizerTensorDtype, values };
  });
  if (expectedOffset !== data.byteLength) {
    throw new CheckpointCorruptError(binPath, `${data.byteLength} bytes, but ${jsonPath} describes ${expectedOffset}`);
  }
  if (out.length === 0 || out[0].dtype !== 'int32' || out[0].shape.length !== 0) {
    throw bad('first weight must be the int32 iteration counter');
  }
  return { className, config, weights: out, extra: extraOut };
}

/** New tensors for optimizer.setWeights(); the caller disposes them. */
export function optimizerWeightTensors(state: SavedOptimizerState): NamedTensor[] {
  return state.weights.map((w) => ({ name: w.name, tensor: tf.tensor(w.values, w.shape, w.dtype) }));
}

/** Builds a new optimizer of the saved class and config (via the tfjs serialization registry). */
export function createOptimizer(state: SavedOptimizerState): tf.Optimizer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[state.className];
  if (entry === undefined) throw new Error(`optimizer class ${state.className} is not registered in tfjs`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, state.config as tf.serialization.ConfigDict) as unknown as tf.Optimizer;
}

export interface RestoreOptimizerOptions {
  /** When given, the state tensors are checked against its trainable weights (state tensor j must
   * have the shape of trainable weight j mod count), which catches a checkpoint from another model. */
  model?: tf.LayersModel;
}

/**
 * Sets `optimizer` to the saved state so that training continues bit-identically to the run that
 * saved it. The optimizer must be of the saved class; its config (e.g. learning rate) is kept as
 * constructed. Works on fresh optimizers and on ones that already stepped (old state is disposed).
 */
export async function restoreOptimizer(optimizer: tf.Optimizer, loaded: { optimizer: SavedOptimizerState }, options: RestoreOptimizerOptions = {}): Promise<void> {
  const state = loaded.optimizer;
  const className = optimizerClassName(optimizer);
  if (className !== state.className) {
    throw new Error(`cannot restore optimizer state: checkpoint holds ${state.className} state, optimizer is ${className}`);
  }
  if (options.model) checkStateShapes(state, options.model);

  const previous = await optimizer.getWeights();
  previous[0]?.tensor.dispose();
  const oldVariables = previous.slice(1).map((p) => p.tensor);

  const tensors = optimizerWeightTensors(state);
  try {
    await optimizer.setWeights(tensors);
  } finally {
    tf.dispose(tensors.map((t) => t.tensor));
  }
  tf.dispose(oldVariables);

  const hidden = optimizer as unknown as HiddenScalars;
  for (const key of EXTRA_SCALARS[className] ?? []) {
    const value = state.extra[key];
    const v = hidden[key];
    if (value === undefined) throw new Error(`checkpoint optimizer state lacks ${key} for ${className}`);
    if (v === undefined) throw new Error(`optimizer ${className} has no ${key}; tfjs internals changed`);
    tf.tidy(() => v.assign(tf.scalar(value, 'float32')));
  }
}

function checkStateShapes(state: SavedOptimizerState, model: tf.LayersModel): void {
  const trainable = model.trainableWeights;
  const stateWeights = state.weights.slice(1);
  if (trainable.length === 0 || stateWeights.length === 0) return;
  if (stateWeights.length % trainable.length !== 0) {
    throw new Error(`optimizer state has ${stateWeights.length} tensors, not a multiple of the model's ${trainable.length} trainable weights`);
  }
  stateWeights.forEach((w, j) => {
    const expected = trainable[j % trainable.length].shape;
    if (w.shape.length !== expected.length || w.shape.some((d, k) => d !== expected[k])) {
      throw new Error(`optimizer state ${w.name} has shape [${w.shape.join(',')}], model trainable weight ${j % trainable.length} (${trainable[j % trainable.length].name}) has [${expected.join(',')}]`);
    }
  });
}
