// The data plan across world changes (docs/elastic.md "Re-planning"): one plan in force at a time,
// started at a committed global step for one world size. After a world change the rest of the epoch
// is planned again from positionAfter(plan, committed - firstGlobalStep) for the new size, so the
// abandoned step's samples come again unless that step was committed. Committed steps are marked in
// the sample ledger from the plan they came from, exactly once each.
// With `trainRemainder` (training.finalRemainder: train) every plan of the job's last epoch, the
// re-plans after a world change included, ends with one smaller step over the epoch's remainder.
import {
  planEpoch, planPosition, positionAfter, validationShard, type EpochShardPlan, type PlanEpochOptions,
  type ShardPlanState,
} from '@dtrain/shared/shard-plan';
import type { EpochPlan } from '@dtrain/shared/proto';
import type { CoordinatorStateFile } from './api';
import { SampleLedger } from './sample-ledger';

export interface ActivePlan {
  plan: EpochShardPlan;
  generation: number;
  firstGlobalStep: number;
  /** Steps of this epoch done before this plan, whatever world sizes they had. */
  firstStepInEpoch: number;
}

export class Planner {
  private active: ActivePlan | null = null;
  /** The plan lookAhead() made (and the coordinator sent): next() returns it instead of planning again. */
  private ahead: ActivePlan | null = null;
  /** Position of the next plan while none is in force. */
  private idleState: ShardPlanState;
  private committed: number;
  private markedThrough: number;
  /** Steps of the open epoch done while no plan is in force; null: unknown (estimate from samples). */
  private idleStepsInEpoch: number | null = null;

  constructor(
    private readonly batchSize: number,
    private readonly epochs: number,
    private readonly maxSteps: number,
    readonly ledger: SampleLedger,
    start: ShardPlanState,
    committedSteps: number,
    private readonly trainRemainder = false,
  ) {
    this.idleState = start;
    this.committed = committedSteps;
    this.markedThrough = committedSteps;
  }

  get committedSteps(): number {
    return this.committed;
  }

  get current(): ActivePlan | null {
    return this.active;
  }

  /** Where the data plan stands after the committed steps. */
  position(): ShardPlanState {
    if (!this.active) return this.idleState;
    return positionAfter(planPosition(this.active.plan), this.committed - this.active.firstGlobalStep);
  }

  /** Plan position after `globalStep` steps, when the plan in force (or the idle position) covers it. */
  positionAt(globalStep: number): ShardPlanState | null {
    const a = this.active;
    if (a && globalStep >= a.firstGlobalStep && globalStep <= a.firstGlobalStep + a.plan.steps) {
      return positionAfter(planPosition(a.plan), globalStep - a.firstGlobalStep);
    }
    if (!a && globalStep === this.committed) return this.idleState;
    return null;
  }

  /** Steps of the open epoch done so far (for progress and the next plan's first_step_in_epoch). */
  stepsDoneInEpoch(worldSize = 1): number {
    const pos = this.position();
    if (pos.consumed === 0) return 0;
    if (!this.active) return this.idleStepsInEpoch ?? Math.round(pos.consumed / (worldSize * this.batchSize));
    if (pos.epoch !== this.active.plan.epoch) return 0;
    return this.active.firstStepInEpoch + (this.committed - this.active.firstGlobalStep);
  }

  /**
   * Global steps up to `steps` are committed (all ranks reported them, or a survivor holds them).
   * Marks their samples in the ledger from the plan in force; never moves backwards.
   */
  commitThrough(steps: number): void {
    const a = this.active;
    if (a) {
      const from = Math.max(this.markedThrough, a.firstGlobalStep);
      const to = Math.min(steps, a.firstGlobalStep + a.plan.steps);
      const b = a.plan.batchSize;
      for (let g = from; g < to; g++) {
        const s = g - a.firstGlobalStep;
        for (const r of a.plan.ranks) this.ledger.mark(a.plan.epoch, r.indices.subarray(s * b, (s + 1) * b));
      }
    }
    this.markedThrough = Math.max(this.markedThrough, steps);
    this.committed = Math.max(this.committed, steps);
  }

  /** True when no step is left: every epoch planned and trained, or maxSteps reached. */
  get done(): boolean {
    return this.position().epoch >= this.epochs || this.committed >= this.maxSteps;
  }

  /** Plans the rest of the current epoch (or the next one) for `worldSize` ranks from the committed step. */
  next(worldSize: number, generation: number): ActivePlan {
    const pos = this.position();
    this.ledger.enterEpoch(pos, pos.datasetSize - pos.carryIn.length);
    const ahead = this.ahead;
    this.ahead = null;
    // The same generation, world and committed step mean the same position: the plan made ahead is this one.
    if (ahead && ahead.generation === generation && ahead.plan.worldSize === worldSize
      && ahead.firstGlobalStep === this.committed) {
      this.active = ahead;
    } else {
      const firstStepInEpoch = this.stepsDoneInEpoch(worldSize);
      const plan = planEpoch(pos, worldSize, this.batchSize, this.maxSteps - this.committed, this.planOptions(pos));
      this.active = { plan, generation, firstGlobalStep: this.committed, firstStepInEpoch };
    }
    this.markedThrough = this.committed;
    return this.active;
  }

  /**
   * The plan `next()` will return once the plan in force ends normally (every rank reports its end and
   * the world stays): the next epoch from plan.next, for the same world. Kept, so that `next()` returns
   * this very object (the caller can tell by identity that it was sent ahead) without planning the epoch
   * twice. Null when no plan is in force or the job is done after it.
   */
  lookAhead(): ActivePlan | null {
    const a = this.active;
    this.ahead = null;
    if (!a) return null;
    const pos = a.plan.next;
    const committedAfter = a.firstGlobalStep + a.plan.steps;
    if (pos.epoch >= this.epochs || committedAfter >= this.maxSteps) return null;
    const firstStepInEpoch = pos.consumed === 0 ? 0 : stepsInEpochAfter(a);
    const plan = planEpoch(pos, a.plan.worldSize, this.batchSize, this.maxSteps - committedAfter, this.planOptions(pos));
    this.ahead = { plan, generation: a.generation, firstGlobalStep: committedAfter, firstStepInEpoch };
    return this.ahead;
  }

  /** Every rank reported the plan's end: its steps are committed and the next plan starts at plan.next. */
  finishPlan(): void {
    const a = this.active;
    if (!a) return;
    this.commitThrough(a.firstGlobalStep + a.plan.steps);
    this.idleState = a.plan.next;
    this.idleStepsInEpoch = stepsInEpochAfter(a);
    this.active = null;
    if (a.plan.next.epoch > a.plan.epoch) this.ledger.closeEpoch(a.plan.next.datasetSize - a.plan.next.carryIn.length);
  }

  /** Drops the plan in force at the committed position (a world change); the next plan re-plans from there. */
  suspend(): void {
    if (!this.active) return;
    this.idleStepsInEpoch = this.stepsDoneInEpoch();
    this.idleState = this.position();
    this.active = null;
    this.ahead = null;
  }

  /** The weights went back to a checkpoint: plan from its position, unmark what came after it. */
  rollbackTo(globalStep: number, state: ShardPlanState): number {
    const redone = Math.max(0, this.committed - globalStep);
    this.active = null;
    this.ahead = null;
    this.idleState = state;
    this.idleStepsInEpoch = null;
    this.committed = globalStep;
    this.markedThrough = globalStep;
    this.ledger.rollbackTo(state);
    return redone;
  }

  private planOptions(pos: ShardPlanState): PlanEpochOptions {
    return { trainRemainder: this.trainRemainder && pos.epoch === this.epochs - 1 };
  }

  /** Steps left to train with `worldSize` ranks (for the progress display's total). */
  remainingSteps(worldSize: number): number {
    const pos = this.position();
    if (pos.epoch >= this.epochs) return 0;
    const G = worldSize * this.batchSize;
    const n = pos.datasetSize;
    let steps = Math.floor((n - pos.consumed) / G);
    for (let e = pos.epoch + 1; e < this.epochs; e++) steps += Math.floor(n / G);
    // The last epoch's final smaller step (its remainder: n minus what the epoch's full steps take).
    const lastRemainder = pos.epoch === this.epochs - 1 ? (n - pos.consumed) % G : n % G;
    if (this.trainRemainder && lastRemainder > 0) steps += 1;
    return Math.max(0, Math.min(steps, this.maxSteps - this.committed));
  }

  /** The wire form of a plan for one rank. */
  message(a: ActivePlan, rank: number, validationSize: number): Required<EpochPlan> {
    const p = a.plan;
    return {
      epoch: p.epoch,
      firstStepInEpoch: a.firstStepInEpoch,
      steps: p.steps,
      batchSize: p.batchSize,
      indices: Array.from(p.ranks[rank].indices),
      validationIndices: Array.from(validationShard(validationSize, p.worldSize, rank)),
      firstGlobalStep: a.firstGlobalStep,
      planStateJson: JSON.stringify(planPosition(p)),
      generation: a.generation,
    };
  }

  /** For the state file. */
  record(): Pick<CoordinatorStateFile, 'plan' | 'planState' | 'committedSteps'> {
    const a = this.active;
    return {
      committedSteps: this.committed,
      planState: this.idleState,
      plan: a ? {
        start: a.plan.start, worldSize: a.plan.worldSize, batchSize: a.plan.batchSize, steps: a.plan.steps,
        firstGlobalStep: a.firstGlobalStep, firstStepInEpoch: a.firstStepInEpoch,
      } : null,
    };
  }

  /** Rebuilds the planner of a state file (takeover): the plan in force is recomputed, not stored. */
  static restore(
    state: CoordinatorStateFile, epochs: number, maxSteps: number, batchSize: number, trainRemainder = false,
  ): Planner {
    const p = new Planner(batchSize, epochs, maxSteps, SampleLedger.restore(state.ledger), state.planState,
      state.committedSteps, trainRemainder);
    if (state.plan) {
      const s = state.plan;
      const plan = planEpoch(s.start, s.worldSize, s.batchSize, s.steps, p.planOptions(s.start));
      p.active = { plan, generation: state.generation, firstGlobalStep: state.plan.firstGlobalStep,
        firstStepInEpoch: state.plan.firstStepInEpoch };
    }
    return p;
  }
}

/** Steps of the epoch done once `a` ended normally: 0 when it ended the epoch. */
function stepsInEpochAfter(a: ActivePlan): number {
  return a.plan.next.epoch > a.plan.epoch ? 0 : a.firstStepInEpoch + a.plan.steps;
}
