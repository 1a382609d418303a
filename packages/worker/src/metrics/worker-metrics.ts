// Rank-level metrics of one worker process, exported on its own /metrics endpoint with labels
// { job, rank }. The coordinator exports the job-level view of the same step reports.
import type { StepObservation } from '@dtrain/shared/metrics/metric-names';
import { MetricSet } from '@dtrain/shared/metrics/metric-set';
import type { Registry } from 'prom-client';
import type { LayerNorm } from './gradient-norms';

export interface WorkerMetricsOptions {
  job: string;
  rank: number;
  /** Node/process default metrics; default true. */
  defaultMetrics?: boolean;
}

export interface WorkerStepObservation extends StepObservation {
  epoch: number;
}

export class WorkerMetrics {
  readonly job: string;
  private rankValue: number;
  private readonly set: MetricSet;

  constructor(options: WorkerMetricsOptions) {
    checkRank(options.rank);
    this.job = options.job;
    this.rankValue = options.rank;
    this.set = new MetricSet({
      source: 'worker',
      defaultLabels: { job: options.job, rank: String(options.rank) },
      defaultMetrics: options.defaultMetrics,
    });
  }

  get registry(): Registry {
    return this.set.registry;
  }

  get rank(): number {
    return this.rankValue;
  }

  /** A re-formed world may give this process another rank: later series carry the new label. */
  setRank(rank: number): void {
    checkRank(rank);
    this.rankValue = rank;
    this.set.registry.setDefaultLabels({ job: this.job, rank: String(rank) });
  }

  /** A refused connection or call on this worker's Peer server (see TransportSecurity). */
  onAuthRefusal(service: string, reason: string): void {
    this.set.counter('authRefusals').inc({ service, reason });
  }

  observeStep(step: WorkerStepObservation): void {
    for (const field of ['samples', 'computeSeconds', 'allreduceSeconds', 'stepSeconds', 'allreduceBytes', 'epoch'] as const) {
      const value = step[field];
      if (!Number.isFinite(value) || value < 0) throw new RangeError(`worker step ${field} must be a finite number >= 0, got ${value}`);
    }
    // A non-finite loss is still worth showing (the run is diverging); prom-client exports NaN/Inf.
    this.set.gauge('trainLoss').set(step.loss);
    this.set.counter('samples').inc(step.samples);
    this.set.counter('steps').inc();
    this.set.gauge('epoch').set(step.epoch);
    this.set.histogram('stepDuration').observe(step.stepSeconds);
    this.set.histogram('computeDuration').observe(step.computeSeconds);
    this.set.histogram('allreduceDuration').observe(step.allreduceSeconds);
    this.set.counter('allreduceBytes').inc(step.allreduceBytes);
    if (step.stepSeconds > 0) this.set.gauge('samplesPerSecond').set(step.samples / step.stepSeconds);
  }

  setGradientNorms(norms: readonly LayerNorm[]): void {
    const gauge = this.set.gauge('gradientNorm');
    for (const { layer, norm } of norms) gauge.set({ layer }, norm);
  }
}

function checkRank(rank: number): void {
  if (!Number.isInteger(rank) || rank < 0) throw new RangeError(`worker rank must be an integer >= 0, got ${rank}`);
}
