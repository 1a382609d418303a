// The one table of dtrain's Prometheus metrics. Worker and coordinator metric classes build their
// metrics from it, and the README's metric reference is generated from it, so the three cannot drift.
//
// Label conventions:
// - Every series carries `job` (the job name), set as a registry default label, also on the Node
//   default metrics. Scrape with `honor_labels: true`, or Prometheus renames it to `exported_job`.
// - Series exported by a worker also carry `rank` (registry default label). Job-level series from
//   the coordinator have no `rank` label, so `{rank=""}` selects the job view and `{rank!=""}` the
//   per-rank view of the metrics both processes export.

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type MetricSource = 'coordinator' | 'worker';

export interface MetricDef {
  name: string;
  type: MetricType;
  help: string;
  /** Labels beyond the registry defaults (`job`, and `rank` on workers). */
  labelNames: readonly string[];
  buckets?: readonly number[];
  /** Which processes export it. */
  sources: readonly MetricSource[];
  /**
   * A label-free gauge reads 0 before its first set; for values where 0 is a lie (a loss, an
   * accuracy) the metric is registered only when first set, so the series is absent until then.
   */
  absentUntilSet?: boolean;
}

/** Step times range from ~1 ms (tiny MLP on wasm) to tens of seconds (large models on cpu). */
export const STEP_SECONDS_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Recovery after a worker loss: ~0.1 s (kill -9, fast steps) to minutes (waiting for a replacement). */
export const RECOVERY_SECONDS_BUCKETS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

const BOTH: readonly MetricSource[] = ['coordinator', 'worker'];
const COORDINATOR: readonly MetricSource[] = ['coordinator'];

export const METRICS = {
  trainLoss: {
    name: 'dtrain_train_loss', type: 'gauge', labelNames: [], sources: BOTH, absentUntilSet: true,
    help: 'Training loss of the last step: mean over ranks (coordinator) or the rank\'s local batch (worker).',
  },
  validationLoss: {
    name: 'dtrain_validation_loss', type: 'gauge', labelNames: [], sources: COORDINATOR, absentUntilSet: true,
    help: 'Validation loss after the last epoch, over the whole validation split.',
  },
  validationAccuracy: {
    name: 'dtrain_validation_accuracy', type: 'gauge', labelNames: [], sources: COORDINATOR, absentUntilSet: true,
    help: 'Validation accuracy (ratio 0-1) after the last epoch.',
  },
  validationMse: {
    name: 'dtrain_validation_mse', type: 'gauge', labelNames: [], sources: COORDINATOR, absentUntilSet: true,
    help: 'Validation mean squared error after the last epoch.',
  },
  validationMae: {
    name: 'dtrain_validation_mae', type: 'gauge', labelNames: [], sources: COORDINATOR, absentUntilSet: true,
    help: 'Validation mean absolute error after the last epoch.',
  },
  samples: {
    name: 'dtrain_samples_total', type: 'counter', labelNames: [], sources: BOTH,
    help: 'Training samples processed: all ranks (coordinator) or this rank (worker).',
  },
  steps: {
    name: 'dtrain_steps_total', type: 'counter', labelNames: [], sources: BOTH,
    help: 'Training steps completed by this process since it started.',
  },
  globalStep: {
    name: 'dtrain_global_step', type: 'gauge', labelNames: [], sources: COORDINATOR,
    help: 'Global step of the last completed step (continues across restarts from a checkpoint).',
  },
  epoch: {
    name: 'dtrain_epoch', type: 'gauge', labelNames: [], sources: BOTH,
    help: '0-based epoch: a worker\'s series is the epoch it trains; the coordinator\'s is the next to plan (= epochs completed).',
  },
  stepDuration: {
    name: 'dtrain_step_duration_seconds', type: 'histogram', labelNames: [], sources: BOTH, buckets: STEP_SECONDS_BUCKETS,
    help: 'Whole training step per rank, including optimizer apply (coordinator: every rank\'s report).',
  },
  computeDuration: {
    name: 'dtrain_compute_duration_seconds', type: 'histogram', labelNames: [], sources: BOTH, buckets: STEP_SECONDS_BUCKETS,
    help: 'Forward and backward pass per rank and step (coordinator: every rank\'s report).',
  },
  allreduceDuration: {
    name: 'dtrain_allreduce_duration_seconds', type: 'histogram', labelNames: [], sources: BOTH, buckets: STEP_SECONDS_BUCKETS,
    help: 'Gradient all-reduce per rank and step (coordinator: every rank\'s report).',
  },
  allreduceBytes: {
    name: 'dtrain_allreduce_bytes_total', type: 'counter', labelNames: [], sources: BOTH,
    help: 'Payload bytes sent in gradient all-reduces: all ranks (coordinator) or this rank (worker).',
  },
  samplesPerSecond: {
    name: 'dtrain_samples_per_second', type: 'gauge', labelNames: [], sources: BOTH, absentUntilSet: true,
    help: 'Convenience: samples of the last step / its step time (job: all ranks / slowest rank). Prefer rate(dtrain_samples_total[1m]).',
  },
  workers: {
    name: 'dtrain_workers', type: 'gauge', labelNames: [], sources: COORDINATOR,
    help: 'Workers in the current world.',
  },
  worldGeneration: {
    name: 'dtrain_world_generation', type: 'gauge', labelNames: [], sources: COORDINATOR,
    help: 'World generation: increases each time the world is re-formed after a failure.',
  },
  workerFailures: {
    name: 'dtrain_worker_failures_total', type: 'counter', labelNames: [], sources: COORDINATOR,
    help: 'Workers lost (died, stream broken, or reported a fatal error).',
  },
  gradientNorm: {
    name: 'dtrain_gradient_norm', type: 'gauge', labelNames: ['layer'], sources: BOTH,
    help: 'L2 norm of the all-reduced gradient of a layer (all its variables), at the last sampled step.',
  },
  straggler: {
    name: 'dtrain_straggler', type: 'gauge', labelNames: ['rank'], sources: COORDINATOR,
    help: '1 while the rank is flagged as a straggler, else 0.',
  },
  stragglerRatio: {
    name: 'dtrain_straggler_ratio', type: 'gauge', labelNames: ['rank'], sources: COORDINATOR,
    help: 'Rank\'s mean compute time over the detector window / median of the other ranks\' means.',
  },
  vanishingGradientWarnings: {
    name: 'dtrain_vanishing_gradient_warnings_total', type: 'counter', labelNames: ['layer'], sources: COORDINATOR,
    help: 'Vanishing-gradient warnings: a layer\'s gradient norm stayed below the threshold for the configured number of samples.',
  },
  checkpoints: {
    name: 'dtrain_checkpoints_total', type: 'counter', labelNames: [], sources: COORDINATOR,
    help: 'Checkpoints written.',
  },
  workersLost: {
    name: 'dtrain_workers_lost_total', type: 'counter', labelNames: [], sources: COORDINATOR,
    help: 'Members of a world generation lost (session broken, silent, or blamed and silent); elastic jobs go on without them.',
  },
  workersJoined: {
    name: 'dtrain_workers_joined_total', type: 'counter', labelNames: [], sources: COORDINATOR,
    help: 'Workers that joined a running job (replacements or extra ones) at a step boundary.',
  },
  recoveryDuration: {
    name: 'dtrain_recovery_seconds', type: 'histogram', labelNames: [], sources: COORDINATOR, buckets: RECOVERY_SECONDS_BUCKETS,
    help: 'From a worker loss being detected to the next completed step of the re-formed world.',
  },
  authRefusals: {
    name: 'dtrain_auth_refusals_total', type: 'counter', labelNames: ['service', 'reason'], sources: BOTH,
    help: 'Connections and calls refused: service coordinator|peer, reason tls-handshake|missing-token|wrong-token.',
  },
} as const satisfies Record<string, MetricDef>;

export type MetricKey = keyof typeof METRICS;

export const METRIC_DEFS: readonly MetricDef[] = Object.values(METRICS);

/** Node process metrics (prom-client collectDefaultMetrics, standard names, no prefix) are exported too. */
export const DEFAULT_METRICS_NOTE =
  'Both processes also export the standard Node/process metrics (process_cpu_seconds_total, nodejs_heap_size_used_bytes, nodejs_eventloop_lag_seconds, ...), labelled with job (and rank).';

export const METRICS_REFERENCE_HEADER: readonly string[] = [
  '| Metric | Type | Labels | Meaning |',
  '| --- | --- | --- | --- |',
];

function labelsOf(def: MetricDef): string {
  const labels = ['job'];
  if (def.sources.includes('worker')) labels.push(def.sources.includes('coordinator') ? 'rank (worker series)' : 'rank');
  labels.push(...def.labelNames);
  return labels.join(', ');
}

/** Markdown table rows (without header), one per metric, in table order. */
export function metricsReference(): string[] {
  return METRIC_DEFS.map((def) => {
    const who = def.sources.length === 2 ? 'coordinator + worker' : def.sources[0];
    const help = def.help.replaceAll('|', '\\|');
    return `| \`${def.name}\` | ${def.type} | ${labelsOf(def)} | ${help} (${who}) |`;
  });
}

/** The full markdown table, header included. */
export function metricsReferenceTable(): string {
  return [...METRICS_REFERENCE_HEADER, ...metricsReference()].join('\n');
}

/** One step of one rank as both the worker's and the coordinator's metrics see it (the StepReport fields). */
export interface StepObservation {
  loss: number;
  samples: number;
  computeSeconds: number;
  allreduceSeconds: number;
  stepSeconds: number;
  allreduceBytes: number;
}
