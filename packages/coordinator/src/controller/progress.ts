// What the job reports about itself while it runs and when it ends: the global batch's loss (mean of
// the ranks'), samples/s (smoothed, and over the whole training time), the last validation. Fed by
// the controller with completed steps and epochs; reads time only from what it is given.
import type { JobResult, StepProgress, ValidationResult } from '../api';
import type { RankedStepReport } from './reports';

export class JobProgress {
  lastLoss: number | null = null;
  lastValidation: ValidationResult | null = null;
  recentSamplesPerSec: number | null = null;
  /** Estimated total steps of the job (changes with the world size). */
  totalSteps = 0;
  private trainStartMs = 0;
  private lastStepMs = 0;
  /** End of the last completed step (re-formation time before the next step is not counted here). */
  private lastCompletedMs = 0;
  private samplesTrained = 0;
  /** Samples of steps that completed at the same instant (batched step reports) and await a time span. */
  private samplesSinceRate = 0;

  constructor(private readonly epochs: number) {}

  /** A generation starts training: time spent re-forming is not a step's time. */
  trainingResumed(nowMs: number): void {
    if (this.trainStartMs === 0) this.trainStartMs = nowMs;
    this.lastStepMs = nowMs;
    this.samplesSinceRate = 0;
  }

  /** Every rank reported one step. */
  stepCompleted(nowMs: number, list: readonly RankedStepReport[], stepsInEpoch: number): StepProgress {
    const first = list[0];
    const samples = list.reduce((a, r) => a + r.samples, 0);
    const loss = list.reduce((a, r) => a + r.loss, 0) / list.length;
    this.samplesTrained += samples;
    const dt = (nowMs - this.lastStepMs) / 1000;
    this.lastCompletedMs = nowMs;
    // Workers batch the reports of fast steps, so several steps may complete at one instant: their
    // samples count towards the next rate that has a time span, instead of as an infinite or zero rate.
    this.samplesSinceRate += samples;
    if (dt > 0) {
      const instant = this.samplesSinceRate / dt;
      this.samplesSinceRate = 0;
      this.lastStepMs = nowMs;
      this.recentSamplesPerSec = this.recentSamplesPerSec === null ? instant : 0.8 * this.recentSamplesPerSec + 0.2 * instant;
    }
    this.lastLoss = loss;
    return {
      globalStep: first.globalStep + 1,
      totalSteps: Math.max(this.totalSteps, first.globalStep + 1),
      // Users count epochs from 1 (the wire and the plan count from 0).
      epoch: first.epoch + 1,
      epochs: this.epochs,
      stepInEpoch: first.stepInEpoch + 1,
      stepsInEpoch,
      loss,
      samplesPerSec: this.recentSamplesPerSec ?? 0,
      avgSamplesPerSec: this.averageSamplesPerSec() ?? 0,
    };
  }

  /**
   * Samples trained / seconds from the start of training to the last completed step (README:
   * samples/s). The summary's figure is this one, so it agrees with the last progress line.
   */
  averageSamplesPerSec(): number | null {
    const seconds = (this.lastCompletedMs - this.trainStartMs) / 1000;
    return this.trainStartMs > 0 && this.samplesTrained > 0 && seconds > 0 ? this.samplesTrained / seconds : null;
  }

  /** The result fields this class knows. */
  summary(): Pick<JobResult, 'loss' | 'accuracy' | 'validation' | 'samplesPerSec'> {
    return {
      loss: this.lastLoss,
      accuracy: this.lastValidation?.accuracy ?? null,
      validation: this.lastValidation,
      samplesPerSec: this.averageSamplesPerSec(),
    };
  }
}
