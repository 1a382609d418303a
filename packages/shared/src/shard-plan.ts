// The data plan: which sample every rank trains on at every step. DistributedSampler semantics
// with one difference, documented in the README: the remainder is carried, never dropped or padded.
//
// Epoch e trains on the order  carryIn(e) ++ shuffle_e(all samples not in carryIn(e)).
// Step s of the epoch takes the global batch order[consumed + s·G, consumed + (s+1)·G), G = N·b, and
// rank r trains on the r-th block of b samples in it — so N workers × batch b see exactly the samples
// one worker × batch N·b would, in the same step. The samples after the last full global batch
// (fewer than G) become carryIn(e+1): they open the next epoch instead of being dropped, so within an
// epoch no sample is duplicated and across epochs none is systematically skipped.
//
// The state is small (epoch, carry, consumed) so it rides in checkpoints; resuming with another
// world size re-shards the rest of the epoch from `consumed`.
//
// The job's last epoch has no next epoch to carry into: with `trainRemainder` (job option
// training.finalRemainder: train) its remainder is one final, smaller global step whose gradient
// is weighted exactly (stepGradientWeight), so every sample of the data set is trained.
import { seededShuffle } from './seeded-random';

export interface ShardPlanState {
  seed: number;
  datasetSize: number;
  epoch: number;
  /** Samples carried into this epoch from the previous one: they open this epoch's order. */
  carryIn: number[];
  /** Samples of this epoch's order already trained. */
  consumed: number;
}

export interface RankEpochShard {
  rank: number;
  /** steps × batchSize training indices, step-major. */
  indices: Uint32Array;
}

export interface EpochShardPlan {
  epoch: number;
  /** Steps of this epoch already done before this plan (non-zero after a resume). */
  firstStepInEpoch: number;
  steps: number;
  batchSize: number;
  worldSize: number;
  ranks: RankEpochShard[];
  /** The state at the start of this plan; positionAfter(start, k) gives it after k steps. */
  start: ShardPlanState;
  /** The state after all `steps` (next epoch, with its carry). */
  next: ShardPlanState;
  /**
   * With `trainRemainder`: the last step is a smaller global step over the epoch's remainder
   * (this many samples, in near-equal blocks per rank, some possibly empty); see stepGradientWeight.
   */
  finalStepSamples?: number;
}

export interface PlanEpochOptions {
  /**
   * Train the samples after the last full global batch as one final, smaller step instead of
   * carrying them (for the job's last epoch, where a carry would never be trained).
   */
  trainRemainder?: boolean;
}

export class ShardPlanError extends Error {}

export function initialPlanState(seed: number, datasetSize: number): ShardPlanState {
  if (!Number.isInteger(datasetSize) || datasetSize <= 0) {
    throw new ShardPlanError(`dataset size must be a positive integer, got ${datasetSize}`);
  }
  return { seed, datasetSize, epoch: 0, carryIn: [], consumed: 0 };
}

/** The full order of an epoch: carry first, then a seeded shuffle of everything else. */
export function epochOrder(state: ShardPlanState): Uint32Array {
  const { datasetSize, carryIn } = state;
  const carried = new Uint8Array(datasetSize);
  for (const i of carryIn) carried[i] = 1;
  const rest = new Uint32Array(datasetSize - carryIn.length);
  let k = 0;
  for (let i = 0; i < datasetSize; i++) if (!carried[i]) rest[k++] = i;
  seededShuffle(rest, state.seed, state.epoch);
  const order = new Uint32Array(datasetSize);
  order.set(carryIn, 0);
  order.set(rest, carryIn.length);
  return order;
}

/** Global step counts per epoch are fixed by the world at the time; the steps done so far are `consumed / G`. */
export function planEpoch(
  state: ShardPlanState,
  worldSize: number,
  batchSize: number,
  maxSteps = Number.POSITIVE_INFINITY,
  options: PlanEpochOptions = {},
): EpochShardPlan {
  const globalBatch = worldSize * batchSize;
  if (globalBatch > state.datasetSize) {
    throw new ShardPlanError(
      `global batch ${globalBatch} (${worldSize} workers × batch ${batchSize}) is larger than the training set (${state.datasetSize} samples)`,
    );
  }
  const order = epochOrder(state);
  const remaining = state.datasetSize - state.consumed;
  const fullSteps = Math.floor(remaining / globalBatch);
  const steps = Math.max(0, Math.min(fullSteps, maxSteps));
  const end = state.consumed + steps * globalBatch;
  const epochEnds = steps === fullSteps;
  const remainder = state.datasetSize - end;
  const finalStep = Boolean(options.trainRemainder) && epochEnds && remainder > 0 && steps + 1 <= maxSteps;
  const ranks: RankEpochShard[] = [];
  for (let r = 0; r < worldSize; r++) {
    // The remainder's near-equal contiguous block of this rank rides after its full steps.
    const tail = finalStep ? order.subarray(end + Math.floor((r * remainder) / worldSize), end + Math.floor(((r + 1) * remainder) / worldSize)) : new Uint32Array(0);
    const indices = new Uint32Array(steps * batchSize + tail.length);
    for (let s = 0; s < steps; s++) {
      const from = state.consumed + s * globalBatch + r * batchSize;
      indices.set(order.subarray(from, from + batchSize), s * batchSize);
    }
    indices.set(tail, steps * batchSize);
    ranks.push({ rank: r, indices });
  }
  const next: ShardPlanState = epochEnds
    ? { seed: state.seed, datasetSize: state.datasetSize, epoch: state.epoch + 1, carryIn: finalStep ? [] : Array.from(order.subarray(end)), consumed: 0 }
    : { ...state, carryIn: [...state.carryIn], consumed: end };
  return {
    epoch: state.epoch,
    firstStepInEpoch: Math.round(state.consumed / globalBatch),
    steps: finalStep ? steps + 1 : steps,
    batchSize,
    worldSize,
    ranks,
    start: state,
    next,
    ...(finalStep ? { finalStepSamples: remainder } : {}),
  };
}

/**
 * Factor on a rank's local mean-loss gradient so that the all-reduced average is exactly the
 * gradient of the mean over the global batch: 1 for full steps; N·n_r/R for the final remainder
 * step, where rank r holds n_r of its R samples (0 for an empty block).
 */
export function stepGradientWeight(plan: Pick<EpochShardPlan, 'steps' | 'worldSize' | 'finalStepSamples'>, step: number, localSamples: number): number {
  if (!plan.finalStepSamples || step !== plan.steps - 1) return 1;
  return (plan.worldSize * localSamples) / plan.finalStepSamples;
}

/** What a worker needs of a plan to record its position: sent along with each epoch's indices. */
export type PlanPosition = Pick<EpochShardPlan, 'start' | 'next' | 'steps' | 'worldSize' | 'batchSize' | 'finalStepSamples'>;

export function planPosition(plan: EpochShardPlan): PlanPosition {
  return {
    start: plan.start, next: plan.next, steps: plan.steps, worldSize: plan.worldSize, batchSize: plan.batchSize,
    ...(plan.finalStepSamples ? { finalStepSamples: plan.finalStepSamples } : {}),
  };
}

/** Plan position after `stepsDone` steps of a plan: what a mid-epoch checkpoint records. */
export function positionAfter(plan: PlanPosition, stepsDone: number): ShardPlanState {
  if (stepsDone >= plan.steps) return plan.next;
  return { ...plan.start, carryIn: [...plan.start.carryIn], consumed: plan.start.consumed + stepsDone * plan.worldSize * plan.batchSize };
}

/** Contiguous, near-equal blocks of the held-out split: combined by summing, every sample once. */
export function validationShard(testSize: number, worldSize: number, rank: number): Uint32Array {
  const from = Math.floor((rank * testSize) / worldSize);
  const to = Math.floor(((rank + 1) * testSize) / worldSize);
  const out = new Uint32Array(to - from);
  for (let i = 0; i < out.length; i++) out[i] = from + i;
  return out;
}

export function isPlanState(value: unknown): value is ShardPlanState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.seed === 'number' && typeof v.datasetSize === 'number' && typeof v.epoch === 'number'
    && Array.isArray(v.carryIn) && typeof v.consumed === 'number';
}
