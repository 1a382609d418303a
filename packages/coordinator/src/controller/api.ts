// Contract of the coordinator's job logic (docs/elastic.md "Coordinator"): a controller takes
// events and returns commands. It owns no sockets and no timers (a timer is a SetTimer command
// whose expiry comes back as a TimerFired event) and reads the clock only from the events' atMs,
// so every decision (who is lost, who gets which rank, which samples come next) is unit-testable
// by feeding events. The gRPC adapter (../coordinator.ts) turns calls and streams into events and
// carries out the commands.
import type { EventKind, JobStatus } from '@dtrain/shared/control/api';
import type { JobSpec } from '@dtrain/shared/job-spec';
import type { EpochPlan, EpochReport__Output, StepReport__Output, WorldAssignment } from '@dtrain/shared/proto';
import type { ShardPlanState } from '@dtrain/shared/shard-plan';
import type { Standardization } from '@dtrain/shared/data/api';
import type { JobResult, JobState, StepProgress, ValidationResult } from '../api';
import type { LedgerSnapshot } from './sample-ledger';

/** Where the job logic is; `Phase` values are what `transition(from, to)` guards. */
export enum Phase {
  Rendezvous = 'rendezvous',
  Syncing = 'syncing',
  Training = 'training',
  Reforming = 'reforming',
  Stopping = 'stopping',
  Finished = 'finished',
  Failed = 'failed',
}

/** What a worker asks for in Join (the proto's JoinRequest, the fields the controller uses). */
export interface JoinInfo {
  jobId: string;
  workerId: string;
  peerAddress: string;
  hostname: string;
  pid: number;
  localRankHint: number;
  backend: string;
  metricsAddress: string;
  /** CPUs the worker process may run on (0 or absent: unknown); decides the world's chunk size. */
  cpus?: number;
}

/** Envelope of every message on a session (WorkerMessage without its body). */
export interface Envelope {
  workerId: string;
  generation: number;
  rank: number;
}

export type ControllerEvent = { atMs: number } & (
  | { type: 'Started' }
  | { type: 'WorkerJoined'; token: number; join: JoinInfo }
  | { type: 'SessionOpened'; from: Envelope; jobId: string; backend: string; metricsAddress: string }
  | { type: 'Parked'; from: Envelope; leftGeneration: number; completedSteps: number; digest: string; reason: string }
  | { type: 'Synced'; from: Envelope; generation: number; completedSteps: number; digest: string }
  | { type: 'StepReported'; from: Envelope; report: StepReport__Output }
  | { type: 'EpochReported'; from: Envelope; report: EpochReport__Output }
  /** globalStep: where a NonFiniteLossError happened (-1 or absent: not tied to a step). */
  | { type: 'WorkerError'; from: Envelope; code: string; message: string; peerRank: number; globalStep?: number }
  | { type: 'CheckpointReported'; from: Envelope; globalStep: number; path: string }
  | { type: 'Done'; from: Envelope; globalStep: number; test?: EpochReport__Output | null }
  | { type: 'Heartbeat'; from: Envelope }
  | { type: 'SessionClosed'; workerId: string; why: string }
  | { type: 'ControlRequest'; request: ControlAction }
  | { type: 'TimerFired'; name: string }
);

export type ControlAction =
  | { op: 'stop'; reason: string }
  | { op: 'checkpoint'; token: number }
  /** From outside the protocol (the launcher saw a process die before it joined): fail the job. */
  | { op: 'abort'; message: string; code: string; lostRank: number };

export type ControllerCommand =
  | { type: 'ReplyJoin'; token: number; ok: true; jobId: string; workerId: string }
  | { type: 'ReplyJoin'; token: number; ok: false; reason: string }
  | { type: 'SendWorld'; workerId: string; world: Required<WorldAssignment> }
  | { type: 'SendPlan'; workerId: string; plan: Required<EpochPlan> }
  | { type: 'SendReform'; workerId: string; generation: number; reason: string }
  | { type: 'SendAbandon'; workerId: string; generation: number; reason: string; lostRanks: number[] }
  | { type: 'SendStop'; workerId: string; reason: string }
  | { type: 'SendAbort'; workerId: string; reason: string; lostRank: number }
  | { type: 'SendCheckpointNow'; workerId: string; afterGlobalStep: number; path: string; planStateJson: string }
  /** Refuse a session (wrong job, unknown worker) or end one after the job is over. */
  | { type: 'CloseSession'; workerId: string; reason: string }
  | { type: 'SetTimer'; name: string; ms: number }
  | { type: 'ClearTimer'; name: string }
  | { type: 'Publish'; kind: EventKind; generation: number; data: Record<string, unknown> }
  | { type: 'WriteState'; state: CoordinatorStateFile }
  | { type: 'Finish'; result: JobResult }
  | { type: 'Log'; line: string }
  | { type: 'StateChanged'; state: JobState; phase: Phase }
  /** All ranks reported a step: progress for displays, the ranks' reports for metrics and detectors. */
  | { type: 'StepCompleted'; progress: StepProgress; reports: (StepReport__Output & { rank: number })[] }
  | { type: 'EpochCompleted'; validation: ValidationResult; nextEpoch: number }
  | { type: 'WorldFormed'; generation: number; workers: number }
  | { type: 'WorkerCounted'; change: 'lost' | 'joined' }
  | { type: 'RecoveryMeasured'; seconds: number }
  | { type: 'CheckpointCounted' }
  | { type: 'ReplyCheckpoint'; token: number; ok: true; path: string }
  | { type: 'ReplyCheckpoint'; token: number; ok: false; error: string };

/** coordinator-state.json: what a restarted coordinator needs to take the job over. */
export interface CoordinatorStateFile {
  version: 1;
  jobId: string;
  jobName: string;
  /** Set once the job ended (any status): a later start with the same arguments begins a new job. */
  ended: JobResult['status'] | null;
  generation: number;
  committedSteps: number;
  /** The plan in force: recomputed with planEpoch(start, worldSize, batchSize, steps). */
  plan: { start: ShardPlanState; worldSize: number; batchSize: number; steps: number;
    firstGlobalStep: number; firstStepInEpoch: number } | null;
  /** Position of the next plan when no plan is in force. */
  planState: ShardPlanState;
  ledger: LedgerSnapshot;
  newestCheckpoint: string | null;
  counters: SummaryCounters;
  /** When the job first started (wallSeconds spans takeovers). */
  startedAtMs: number;
}

export interface SummaryCounters {
  workersLost: number;
  workersJoined: number;
  recoverySeconds: number[];
  stepsRedone: number;
  generations: number;
}

/** A checkpoint the controller may point workers at (resume, or a takeover whose digests disagree). */
export interface CheckpointPoint {
  path: string;
  globalStep: number;
  planState: ShardPlanState;
}

export interface ControllerOptions {
  spec: JobSpec;
  jobId: string;
  minWorkers: number;
  maxWorkers: number;
  trainSize: number;
  testSize: number;
  /** Per-epoch validation split (default testSize): each world's ranks get near-equal blocks of it. */
  validationSize?: number;
  /** Target scaling of a regression: losses and errors are also reported in the label's units. */
  standardization?: Standardization;
  task: 'classification' | 'regression';
  epochs: number;
  maxSteps: number;
  rendezvousTimeoutMs: number;
  heartbeatTimeoutMs: number;
  /** Worker heartbeat period: a blamed rank silent for 2 of these is lost. */
  heartbeatIntervalMs: number;
  /** First world: after MIN are parked, wait this long for more (0: form at once). */
  lastCallMs: number;
  /** A member that does not park this long after Abandon is lost (the collective deadline). */
  parkDeadlineMs: number;
  shutdownGraceMs: number;
  /** World generation of the first world (a --max-restarts relaunch continues the count). */
  firstGeneration: number;
  /** --resume: the first world loads this checkpoint. */
  resume: CheckpointPoint | null;
  /** A state file of an unfinished job: take it over. `newestCheckpoint` is its fallback. */
  takeover: { state: CoordinatorStateFile; newestCheckpoint: CheckpointPoint | null } | null;
  /** Checkpoint directory (the state file is written only when set). */
  checkpointDir: string | null;
  /**
   * Send each next epoch's plan together with the plan in force (default false here; the Coordinator
   * turns it on unless DTRAIN_PLAN_LOOKAHEAD=0). Workers start it as the current plan ends instead of
   * waiting for the coordinator to hear every rank's epoch report.
   */
  planLookAhead?: boolean;
}

export interface Controller {
  readonly phase: Phase;
  readonly jobId: string;
  /**
   * Takes one event, returns the commands to carry out, in order. Never throws: a job that cannot go
   * on ends with Finish{status: 'failed', errorCode} (and Abort to every worker with a session), where
   * errorCode is the typed error (packages/shared/src/errors.ts) that names the cause:
   *   RendezvousTimeoutError  fewer than MIN workers parked within the rendezvous timeout (first world);
   *   BelowMinWorkersError    below MIN after losses and no replacement within the rendezvous timeout;
   *   WeightsDivergedError    Synced or sampled step digests differ, or parked states differ and no checkpoint;
   *   WorkerLostError         nobody holds the job's state (or the plan cannot place it) and no checkpoint,
   *                           or a member is lost while the job is stopping;
   *   ShutdownTimeoutError    members did not say done within the grace period after Stop;
   *   ShardPlanError          the global batch no longer fits the training set;
   *   any worker's own code   a worker error that is not a collective one (NonFiniteLossError, DataFileError, ...).
   * Losses of members (WorkerLostError in events, not in the result) are handled: the job goes on.
   */
  handle(event: ControllerEvent): ControllerCommand[];
  status(): JobStatus;
}
