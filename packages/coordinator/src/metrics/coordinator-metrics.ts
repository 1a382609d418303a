// Job-level metrics of the coordinator (labels { job }), built from the workers' step and epoch
// reports, plus the detectors' verdicts. Exported on the coordinator's /metrics endpoint.
import { MetricSet } from '@dtrain/shared/metrics/metric-set';
import type { Registry } from 'prom-client';
import type { StepObservation } from '@dtrain/shared/metrics/metric-names';

export interface CoordinatorMetricsOptions {
  job: string;
  /** Node/process default metrics; default true. */
  defaultMetrics?: boolean;
}

export interface RankStepReport extends StepObservation {
  rank: number;
}

export interface ValidationResult {
  epoch: number;
  loss: number;
  accuracy?: number;
  mse?: number;
  mae?: number;
}

export class CoordinatorMetrics {
  readonly job: string;
  private readonly set: MetricSet;
  private lastGlobalStep = -1;

  constructor(options: CoordinatorMetricsOptions) {
    this.job = options.job;
    this.set = new MetricSet({ source: 'coordinator', defaultLabels: { job: options.job }, defaultMetrics: options.defaultMetrics });
  }

  get registry(): Registry {
    return this.set.registry;
  }

  onWorldFormed(generation: number, workers: number): void {
    if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`workers must be an integer >= 0, got ${workers}`);
    this.set.gauge('worldGeneration').set(generation);
    this.set.gauge('workers').set(workers);
    // Straggler gauges of ranks that are gone (or renumbered) would otherwise stay frozen.
    this.set.gauge('straggler').reset();
    this.set.gauge('stragglerRatio').reset();
    // A world re-formed from a checkpoint replays steps after it: those count again.
    this.lastGlobalStep = -1;
  }

  /**
   * All ranks' reports of one global step. Job loss = mean over ranks; samples and bytes = sums;
   * samples/s = all samples / the slowest rank's step time (a synchronous step lasts that long).
   * The histograms get every rank's observation. A step already recorded in this world generation is ignored (a re-sent report).
   */
  onStepReports(globalStep: number, reports: readonly RankStepReport[]): void {
    if (reports.length === 0) throw new RangeError(`step ${globalStep}: no rank reports`);
    for (const r of reports) {
      for (const field of ['samples', 'computeSeconds', 'allreduceSeconds', 'stepSeconds', 'allreduceBytes'] as const) {
        if (!Number.isFinite(r[field]) || r[field] < 0) {
          throw new RangeError(`step ${globalStep}: rank ${r.rank} reported ${field} = ${r[field]} (must be finite and >= 0)`);
        }
      }
    }
    if (globalStep <= this.lastGlobalStep) return;
    this.lastGlobalStep = globalStep;

    let loss = 0;
    let samples = 0;
    let bytes = 0;
    let slowest = 0;
    for (const r of reports) {
      loss += r.loss;
      samples += r.samples;
      bytes += r.allreduceBytes;
      slowest = Math.max(slowest, r.stepSeconds);
      this.set.histogram('stepDuration').observe(r.stepSeconds);
      this.set.histogram('computeDuration').observe(r.computeSeconds);
      this.set.histogram('allreduceDuration').observe(r.allreduceSeconds);
    }
    this.set.gauge('trainLoss').set(loss / reports.length);
    this.set.counter('samples').inc(samples);
    this.set.counter('allreduceBytes').inc(bytes);
    this.set.counter('steps').inc();
    this.set.gauge('globalStep').set(globalStep);
    if (slowest > 0) this.set.gauge('samplesPerSecond').set(samples / slowest);
  }

  onValidation(result: ValidationResult): void {
    this.set.gauge('validationLoss').set(result.loss);
    if (result.accuracy !== undefined) this.set.gauge('validationAccuracy').set(result.accuracy);
    if (result.mse !== undefined) this.set.gauge('validationMse').set(result.mse);
    if (result.mae !== undefined) this.set.gauge('validationMae').set(result.mae);
  }

  /** The rank goes to the job's event log; the counter stays label-free so it reads 0 from the start. */
  onWorkerFailure(_rank: number): void {
    this.set.counter('workerFailures').inc();
  }

  /** A member of a world generation was lost (elastic: the job goes on without it). */
  onWorkerLost(): void {
    this.set.counter('workersLost').inc();
  }

  /** A worker joined a running job (a replacement or an extra one) and became a member. */
  onWorkerJoined(): void {
    this.set.counter('workersJoined').inc();
  }

  /** Loss detected -> next completed step of the re-formed world. */
  onRecovery(seconds: number): void {
    this.set.histogram('recoveryDuration').observe(seconds);
  }

  onEpoch(epoch: number): void {
    this.set.gauge('epoch').set(epoch);
  }

  onCheckpoint(): void {
    this.set.counter('checkpoints').inc();
  }

  onStraggler(rank: number, ratio: number, flagged: boolean): void {
    const labels = { rank: String(rank) };
    this.set.gauge('straggler').set(labels, flagged ? 1 : 0);
    this.set.gauge('stragglerRatio').set(labels, ratio);
  }

  onVanishingWarning(layer: string): void {
    this.set.counter('vanishingGradientWarnings').inc({ layer });
  }

  setGradientNorms(norms: readonly { layer: string; norm: number }[]): void {
    const gauge = this.set.gauge('gradientNorm');
    for (const { layer, norm } of norms) gauge.set({ layer }, norm);
  }
}
