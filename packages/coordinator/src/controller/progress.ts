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
  private samplesTrained = 0;

  constructor(private readonly epochs: number) {}

  /** A generation starts training: time spent re-forming is not a step's time. */
  trainingResumed(nowMs: number): void {
    if (this.trainStartMs === 0) this.trainStartMs = nowMs;
    this.lastStepMs = nowMs;
  }

  /** Every rank reported one step. */
  stepCompleted(nowMs: number, list: readonly RankedStepReport[], stepsInEpoch: number): StepProgress {
    const first = list[0];
    const samples = list.reduce((a, r) => a + r.samples, 0);
    const loss = list.reduce((a, r) => a + r.loss, 0) / list.length;
    this.samplesTrained += samples;
    const dt = (nowMs - this.lastStepMs) / 1000;
    this.lastStepMs = nowMs;
    const instant = dt > 0 ? samples / dt : 0;
    this.recentSamplesPerSec = this.recentSamplesPerSec === null ? instant : 0.8 * this.recentSamplesPerSec + 0.2 * instant;
    this.lastLoss = loss;
    return {
      globalStep: first.globalStep + 1,
      totalSteps: Math.max(this.totalSteps, first.globalStep + 1),
      epoch: first.epoch,
      epochs: this.epochs,
      stepInEpoch: first.stepInEpoch + 1,
      stepsInEpoch,
      loss,
      samplesPerSec: this.recentSamplesPerSec,
    };
  }

  /** The result fields this class knows. */
  summary(nowMs: number): Pick<JobResult, 'loss' | 'accuracy' | 'validation' | 'samplesPerSec'> {
    const trainSeconds = this.trainStartMs > 0 ? (nowMs - this.trainStartMs) / 1000 : 0;
    return {
      loss: this.lastLoss,
      accuracy: this.lastValidation?.accuracy ?? null,
      validation: this.lastValidation,
      samplesPerSec: trainSeconds > 0 ? this.samplesTrained / trainSeconds : null,
    };
  }
}
