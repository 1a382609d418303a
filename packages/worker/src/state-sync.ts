// State sync of a new world generation (docs/elastic.md "State sync"): one member (the source) sends
// its weights, optimizer state and counters over the new ring; every other member adopts them. This
// replaces "rank 0 broadcasts its initial weights" and serves every re-formation too, so a newcomer
// gets the running state from a peer, never from a checkpoint. Afterwards each member reports a
// digest of what it now holds, and the coordinator checks they agree instead of assuming it.
//
// Wire form: two broadcasts on the generation's collective (FLOAT32, bit-exact).
//   step -2: header  [MAGIC, metaBytes, bodyLength div 2^20, bodyLength mod 2^20]
//   step -1: meta JSON bytes (one byte per element) ++ body (weights in layout order ++ optimizer slots)
// Integers ride in the JSON, never as float bit patterns, so nothing depends on NaN payloads surviving.
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { DtrainError } from '@dtrain/shared/errors';
import type { Collective } from './collective/api';
import type { OptimizerStateFile, OptimizerWeightValue, SavedOptimizerState } from './checkpoint/api';
import { encodeOptimizerState, restoreOptimizer } from './checkpoint/optimizer-state';
import type { FusedGradients } from './fused-gradients';

const MAGIC = 7.25;
const HEADER_LENGTH = 4;
const SPLIT = 2 ** 20;
export const SYNC_HEADER_STEP = -2;
export const SYNC_BODY_STEP = -1;

/** Where in the data a state stands (what a checkpoint records next to the weights). */
export interface TrainingPosition {
  epoch: number;
  stepInEpoch: number;
  planState: unknown;
}

/** What a member holds besides tensors: travels with the state. */
export interface StateCounters {
  /** Global steps whose update the weights include. */
  completedSteps: number;
  position: TrainingPosition | null;
}

interface SyncMeta extends StateCounters {
  weightsLength: number;
  iterations: number;
  optimizer: OptimizerStateFile;
}

/** The sync did not fit this member (another model or optimizer): a bug or a bad deployment. */
export class StateSyncError extends DtrainError {
  constructor(readonly generation: number, readonly detail: string) {
    super(`state sync of generation ${generation} failed: ${detail}`);
  }
}

export interface SyncOptions {
  collective: Collective;
  generation: number;
  sourceRank: number;
  fused: FusedGradients;
  optimizer: tf.Optimizer;
  model: tf.LayersModel;
  /** This member's own counters (used when it is the source). */
  counters: StateCounters;
}

/** Runs the sync; resolves with the counters every member now holds (the source's). */
export async function syncState(options: SyncOptions): Promise<StateCounters> {
  const { collective, sourceRank, fused, optimizer, generation } = options;
  const isSource = collective.rank === sourceRank;
  const header = new Float32Array(HEADER_LENGTH);
  let payload: Float32Array | null = null;
  if (isSource) {
    const encoded = await encodeState(fused, optimizer, options.counters);
    payload = encoded.payload;
    const bodyLength = payload.length - encoded.metaBytes;
    header.set([MAGIC, encoded.metaBytes, Math.floor(bodyLength / SPLIT), bodyLength % SPLIT]);
  }
  await collective.broadcast(header, SYNC_HEADER_STEP, sourceRank);
  if (header[0] !== MAGIC) throw new StateSyncError(generation, `bad header from rank ${sourceRank}`);
  const metaBytes = header[1];
  const bodyLength = header[2] * SPLIT + header[3];
  const buffer = payload ?? new Float32Array(metaBytes + bodyLength);
  if (buffer.length !== metaBytes + bodyLength) throw new StateSyncError(generation, 'header and payload lengths disagree');
  await collective.broadcast(buffer, SYNC_BODY_STEP, sourceRank);
  const meta = JSON.parse(Buffer.from(Uint8Array.from(buffer.subarray(0, metaBytes))).toString('utf8')) as SyncMeta;
  if (isSource) return { completedSteps: meta.completedSteps, position: meta.position };
  if (meta.weightsLength !== fused.gradientLength) {
    throw new StateSyncError(generation, `rank ${sourceRank} sent ${meta.weightsLength} weights, this model has ${fused.gradientLength}`);
  }
  const body = buffer.subarray(metaBytes);
  assignWeights(fused, body.subarray(0, meta.weightsLength));
  // Newcomers have no optimizer slots yet (Adam makes them at its first step): restoreOptimizer
  // creates them from the given tensors, and replaces (disposing) a survivor's older ones.
  let offset = meta.weightsLength;
  const weights: OptimizerWeightValue[] = meta.optimizer.weights.map((w, i) => {
    if (i === 0) return { name: w.name, shape: [], dtype: 'int32', values: Int32Array.of(meta.iterations) };
    const count = w.shape.reduce((a, b) => a * b, 1);
    const values = body.slice(offset, offset + count);
    offset += count;
    return { name: w.name, shape: w.shape, dtype: 'float32', values };
  });
  if (offset !== body.length) throw new StateSyncError(generation, `payload has ${body.length} values, meta describes ${offset}`);
  const state: SavedOptimizerState = {
    className: meta.optimizer.className,
    config: meta.optimizer.config,
    weights,
    extra: meta.optimizer.extra,
  };
  await restoreOptimizer(optimizer, { optimizer: state }, { model: options.model });
  return { completedSteps: meta.completedSteps, position: meta.position };
}

async function encodeState(
  fused: FusedGradients, optimizer: tf.Optimizer, counters: StateCounters,
): Promise<{ payload: Float32Array; metaBytes: number }> {
  const encoded = await encodeOptimizerState(optimizer);
  const specs = encoded.json.weights;
  if (specs.length === 0 || specs[0].dtype !== 'int32') throw new Error('optimizer state lacks its iteration counter');
  for (const s of specs.slice(1)) {
    if (s.dtype !== 'float32') throw new Error(`optimizer weight ${s.name} is ${s.dtype}; state sync carries float32 slots only`);
  }
  const iterBytes = encoded.chunks[0];
  const iterations = new DataView(iterBytes.buffer, iterBytes.byteOffset, 4).getInt32(0, true);
  const meta: SyncMeta = { ...counters, weightsLength: fused.gradientLength, iterations, optimizer: encoded.json };
  const metaBytes = Buffer.from(JSON.stringify(meta), 'utf8');
  const slotsLength = specs.slice(1).reduce((n, s) => n + s.byteLength / 4, 0);
  const bodyLength = fused.gradientLength + slotsLength;
  const out = new Float32Array(metaBytes.length + bodyLength);
  for (let i = 0; i < metaBytes.length; i++) out[i] = metaBytes[i];
  let offset = metaBytes.length;
  for (const v of fused.variables) {
    const data = v.dataSync() as Float32Array;
    out.set(data, offset);
    offset += data.length;
  }
  for (const chunk of encoded.chunks.slice(1)) {
    out.set(new Float32Array(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength)), offset);
    offset += chunk.byteLength / 4;
  }
  return { payload: out, metaBytes: metaBytes.length };
}

function assignWeights(fused: FusedGradients, values: Float32Array): void {
  tf.tidy(() => {
    fused.layout.forEach((e, i) => {
      fused.variables[i].assign(tf.tensor(values.subarray(e.offset, e.offset + e.length), e.shape));
    });
  });
}

/**
 * Digest of weights + optimizer state (iteration counter, slots, hidden scalars): equal on every
 * member after a sync, and equal across members that trained the same steps from the same state.
 */
export async function stateDigest(fused: FusedGradients, optimizer: tf.Optimizer): Promise<string> {
  const hash = createHash('sha256');
  for (const v of fused.variables) {
    const data = v.dataSync() as Float32Array;
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  const encoded = await encodeOptimizerState(optimizer);
  for (const chunk of encoded.chunks) hash.update(chunk);
  hash.update(JSON.stringify(encoded.json.extra));
  return hash.digest('hex').slice(0, 16);
}
