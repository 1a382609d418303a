// One synchronous data-parallel step: forward + backward on the local batch, gradients fused and
// all-reduced with the ring, averaged, applied. Every rank applies the same averaged gradient to the
// same weights, so weights stay identical without ever being sent again. The collective is the
// current world generation's: the worker swaps it (setCollective) whenever the world re-forms.
import * as tf from '@tensorflow/tfjs';
import type { LossName } from '@dtrain/shared/job-spec';
import { addEvalSums, emptyEvalSums, evaluateBatch, lossFunction, type EvalSums, type LossFn } from '@dtrain/shared/model/losses';
import type { Batch } from '@dtrain/shared/data/api';
import type { Collective } from './collective/api';
import { flatOptimizerStep, type FlatOptimizerStep } from './flat-optimizer';
import {
  FusedGradients, SLOT_CHECKPOINT_VOTES, SLOT_NONFINITE_VOTES, SLOT_REFORM_VOTES, SLOT_STOP_VOTES,
} from './fused-gradients';

export const VALIDATION_BATCH_SIZE = 512;

export interface StepVotes {
  stop: boolean;
  checkpoint: boolean;
  /** This rank was told that membership changes: the generation ends after this step on every rank. */
  reform?: boolean;
}

export interface StepOutcome {
  /** This rank's mean loss on its local batch (the coordinator averages the ranks' losses). */
  localLoss: number;
  /** Whether the update was applied (false when some rank saw a non-finite loss or gradient). */
  applied: boolean;
  stop: boolean;
  checkpoint: boolean;
  /** Some rank voted REFORM: every rank leaves the generation after this (applied) step. */
  reform: boolean;
  computeSeconds: number;
  allreduceSeconds: number;
  allreduceBytes: number;
}

export interface TrainerOptions {
  model: tf.LayersModel;
  optimizer: tf.Optimizer;
  loss: LossName;
  /** null until the first world generation is formed. */
  collective: Collective | null;
  task: 'classification' | 'regression';
}

export class Trainer {
  readonly fused: FusedGradients;
  /** The update as one loop over the fused buffer (flat-optimizer.ts), or null: tfjs's applyGradients. */
  readonly flat: FlatOptimizerStep | null;
  private readonly lossFn: LossFn;

  constructor(private readonly options: TrainerOptions) {
    this.fused = FusedGradients.forModel(options.model);
    this.lossFn = lossFunction(options.loss);
    this.flat = flatOptimizerStep(options.optimizer, this.fused);
  }

  get model(): tf.LayersModel {
    return this.options.model;
  }

  get optimizer(): tf.Optimizer {
    return this.options.optimizer;
  }

  /** The collective of the current world generation (rank, world size and ring come with it). */
  get collective(): Collective {
    const c = this.options.collective;
    if (!c) throw new Error('trainer has no collective: no world generation formed yet');
    return c;
  }

  setCollective(collective: Collective | null): void {
    this.options.collective = collective;
  }

  /** Makes every rank start from rank 0's weights. */
  async broadcastInitialWeights(): Promise<void> {
    const collective = this.collective;
    this.fused.buffer.fill(0);
    if (collective.rank === 0) this.fused.fuseValues();
    await collective.broadcast(this.fused.buffer, -1, 0);
    this.fused.assignValues();
  }

  /**
   * `gradientWeight` scales this rank's local gradient before the all-reduce (shard-plan
   * stepGradientWeight: a final remainder step with uneven or empty blocks); an empty batch adds zeros.
   */
  async step(batch: Batch, globalStep: number, votes: StepVotes, gradientWeight = 1): Promise<StepOutcome> {
    const { model, optimizer } = this.options;
    const collective = this.collective;
    const t0 = performance.now();
    let localLoss = 0;
    if (batch.xs.shape[0] === 0) {
      this.fused.buffer.fill(0, 0, this.fused.gradientLength);
    } else {
      const { value, grads } = tf.variableGrads(
        () => this.lossFn(batch.ys, model.apply(batch.xs, { training: true }) as tf.Tensor),
        this.fused.variables,
      );
      try {
        localLoss = (value.dataSync() as Float32Array)[0];
        this.fused.fuse(grads);
      } finally {
        value.dispose();
        for (const g of Object.values(grads)) g.dispose();
      }
      if (gradientWeight !== 1) this.fused.scaleGradients(gradientWeight);
    }
    const finite = Number.isFinite(localLoss);
    this.fused.setControl(SLOT_STOP_VOTES, votes.stop ? 1 : 0);
    this.fused.setControl(SLOT_CHECKPOINT_VOTES, votes.checkpoint ? 1 : 0);
    this.fused.setControl(SLOT_NONFINITE_VOTES, finite ? 0 : 1);
    this.fused.setControl(SLOT_REFORM_VOTES, votes.reform ? 1 : 0);
    const t1 = performance.now();
    const stats = await collective.allReduceSum(this.fused.buffer, globalStep);
    const t2 = performance.now();
    const worldSize = collective.worldSize;
    const applied = this.fused.control(SLOT_NONFINITE_VOTES) === 0 && this.fused.scaleGradients(1 / worldSize);
    if (applied && !this.flat?.apply(this.fused)) {
      const named = this.fused.namedGradients();
      try {
        optimizer.applyGradients(named);
      } finally {
        for (const n of named) n.tensor.dispose();
      }
    }
    return {
      localLoss,
      applied,
      stop: this.fused.control(SLOT_STOP_VOTES) > 0,
      checkpoint: this.fused.control(SLOT_CHECKPOINT_VOTES) > 0,
      reform: this.fused.control(SLOT_REFORM_VOTES) > 0,
      computeSeconds: (t1 - t0) / 1000,
      allreduceSeconds: (t2 - t1) / 1000,
      allreduceBytes: stats.bytesSent,
    };
  }

  /** Validation sums over this rank's shard of the held-out split, in inference mode. */
  evaluate(read: (indices: Uint32Array) => Batch, indices: Uint32Array): EvalSums {
    let sums = emptyEvalSums();
    for (let from = 0; from < indices.length; from += VALIDATION_BATCH_SIZE) {
      const batch = read(indices.subarray(from, from + VALIDATION_BATCH_SIZE));
      try {
        sums = addEvalSums(sums, evaluateBatch(this.options.model, batch, this.options.loss, this.options.task));
      } finally {
        batch.xs.dispose();
        batch.ys.dispose();
      }
    }
    return sums;
  }
}
