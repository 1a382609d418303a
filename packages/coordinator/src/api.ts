// Contract of the coordinator: what launches it (the CLI) passes in, and what it reports out.
// The coordinator owns membership, the data plan, failure detection and job-level metrics; it never
// touches tensors.
import type { ControlBus, JobEvent } from '@dtrain/shared/control/api';
import type { RankStepsEvent } from './live/api';
import type { JobSpec } from '@dtrain/shared/job-spec';
import type { TransportSecurity } from '@dtrain/shared/security/api';
import type { LabelUnits, TestResult } from '@dtrain/shared/data/held-out-results';

export const DEFAULT_RENDEZVOUS_TIMEOUT_MS = 120_000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 30_000;
/** How long finished workers get to say done before the coordinator gives up on them. */
export const SHUTDOWN_GRACE_MS = 30_000;
/** First world of MIN:MAX: how long to wait for more than MIN parked workers. */
export const LAST_CALL_MS = 1_000;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000;

export interface CoordinatorOptions {
  spec: JobSpec;
  /** host:port to bind; port 0 picks a free one. */
  listen: string;
  workers: number;
  jobId?: string;
  rendezvousTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  /** A checkpoint folder (or a folder of checkpoints) to resume from. */
  resumeFrom?: string;
  /** Overrides of the job file, from the CLI. */
  maxSteps?: number;
  epochs?: number;
  bus?: ControlBus;
  /** World generation of the first world (default 1); a relaunch after a failure continues the count. */
  firstGeneration?: number;
  /** host:port for the coordinator's /metrics, /healthz, /readyz ("" or undefined: none). */
  metricsListen?: string;
  log?: (line: string) => void;
  /** TLS and join token of the Coordinator service (default: plaintext, loopback only, no token). */
  security?: TransportSecurity;
  /** --workers MIN:MAX (docs/elastic.md); default both = `workers`. */
  minWorkers?: number;
  maxWorkers?: number;
  /** First world: after MIN workers are parked, wait this long for more (default LAST_CALL_MS). */
  lastCallMs?: number;
  /** Worker heartbeat period (the worker's HEARTBEAT_INTERVAL_MS). */
  heartbeatIntervalMs?: number;
  /** Take over an unfinished job from coordinator-state.json in checkpoint.dir (default true). */
  takeover?: boolean;
  /**
   * Send each next epoch's plan with the plan in force (ControllerOptions.planLookAhead). Default true;
   * DTRAIN_PLAN_LOOKAHEAD=0 turns it off (A/B benches).
   */
  planLookAhead?: boolean;
}

export type JobState = 'rendezvous' | 'running' | 'stopping' | 'finished' | 'failed';

export interface StepProgress {
  globalStep: number;
  totalSteps: number;
  /** Counted from 1, as users read it (the wire and checkpoint state count from 0). */
  epoch: number;
  epochs: number;
  stepInEpoch: number;
  stepsInEpoch: number;
  /** Mean of the ranks' local losses: the loss of the global batch. */
  loss: number;
  /** Recent throughput: samples of the last steps / their wall time (smoothed over ~5 steps). */
  samplesPerSec: number;
  /**
   * The run's throughput so far: samples trained / seconds from the start of training (every worker
   * joined) to this step's end. The summary's samples/s is this figure at the last step.
   */
  avgSamplesPerSec: number;
  /** Regression: the loss in the label's units (RMSE for an MSE loss, MAE for an MAE loss). */
  units?: Partial<LabelUnits>;
}

export interface ValidationResult {
  /** The epoch just completed, counted from 1 (also in events and the --json summary). */
  epoch: number;
  globalStep: number;
  count: number;
  loss: number;
  accuracy?: number;
  mse?: number;
  mae?: number;
  /** Regression: RMSE and MAE in the label's units (mse/mae above are standardized). */
  units?: LabelUnits;
}

export interface JobResult {
  status: 'succeeded' | 'stopped' | 'failed';
  jobId: string;
  workers: number;
  steps: number;
  epochs: number;
  loss: number | null;
  accuracy: number | null;
  validation: ValidationResult | null;
  samplesPerSec: number | null;
  wallSeconds: number;
  backend: string | null;
  lastCheckpoint: string | null;
  error?: string;
  errorCode?: string;
  lostRank?: number;
  /** Relaunches after failures (dtrain launch --max-restarts). */
  restarts?: number;
  /** The test file (dataset testPath), evaluated once after training; null without one. */
  test?: TestResult | null;
  /** Elastic training (docs/elastic.md "What users see"). */
  generations?: number;
  workersLost?: number;
  workersJoined?: number;
  /** One entry per re-formation after a loss: loss detected -> next completed step. */
  recoverySeconds?: number[];
  /** Committed steps trained twice (0 unless the weights went back to a checkpoint). */
  stepsRedone?: number;
  sampleLedger?: { epochs: number; expected: number; trained: number; duplicated: number; missing: number };
}

/** A change of the world, for progress displays (the bus carries the same as events). */
export interface WorldChange {
  kind: 'formed' | 'lost' | 'joined';
  generation: number;
  worldSize: number;
  workerId?: string;
  rank?: number;
  reason?: string;
}

export interface CoordinatorEvents {
  step: [StepProgress];
  validation: [ValidationResult];
  state: [JobState];
  world: [WorldChange];
  /** Every job event, as published on the control bus (the live page reads these). */
  event: [JobEvent];
  /** Every rank's report of a completed step (the live page's per-rank throughput and time split). */
  'rank-steps': [RankStepsEvent];
}
