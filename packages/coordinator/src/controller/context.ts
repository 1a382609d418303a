// The one job's state that the controller's modules share (generation lifecycle, failure policy,
// progress intake, job ending, admission), and the only ways they speak: emit/log/publish into the
// commands of the event being handled. It is one object held by reference, so splitting the
// controller into modules moved code, not decisions. `JobFlow` names the transitions one module
// starts in another; the controller wires it, so the modules never import each other.
import type { EpochReport__Output } from '@dtrain/shared/proto';
import { TestResultCollector } from '@dtrain/shared/data/held-out-results';
import { initialPlanState } from '@dtrain/shared/shard-plan';
import type { JobResult } from '../api';
import type {
  CheckpointPoint, ControllerCommand, ControllerOptions, Envelope, SummaryCounters,
} from './api';
import { Membership, type WorkerRecord } from './membership';
import { publicState, PhaseMachine } from './phase';
import { JobProgress } from './progress';
import { Planner } from './planning';
import { RankReports, type RankedStepReport } from './reports';
import { SampleLedger } from './sample-ledger';

/** The generation in force (or the last one, while re-forming). */
export interface World {
  generation: number;
  /** Worker ids by rank. */
  ids: string[];
  committedSteps: number;
  sourceRank: number;
  checkpointDir: string;
}

/** Why the current generation is ending. */
export interface Reforming {
  kind: 'abandon' | 'reform';
  abandonSent: boolean;
}

/** The controller's timer names (a SetTimer comes back as TimerFired with the same name). */
export const TIMER = {
  rendezvous: 'rendezvous',
  lastCall: 'last-call',
  heartbeat: 'heartbeat',
  parkDeadline: 'park-deadline',
  belowMin: 'below-min',
  belowMinCheckpoint: 'below-min-checkpoint',
  shutdown: 'shutdown-grace',
  blame: (id: string) => `blame:${id}`,
  session: (id: string) => `session:${id}`,
} as const;

/** Transitions that one module starts and another owns. */
export interface JobFlow {
  /** Generation lifecycle. */
  maybeReform(): void;
  startAbandon(reason: string, lostRanks: number[]): void;
  sendAbandons(reason: string, lostRanks: number[]): void;
  /** Progress intake. */
  sendNextPlanOrStop(): void;
  /** Failure policy. */
  failBelowMin(): void;
  /** Job ending. */
  requestStop(reason: string): void;
  finishStop(): void;
  fail(message: string, code: string, lostRank?: number): void;
  writeState(ended?: JobResult['status'] | null): void;
}

export class JobContext {
  readonly jobId: string;
  /** Commands of the event being handled. */
  out: ControllerCommand[] = [];
  /** The event's atMs: the controller's only clock. */
  now = 0;
  readonly machine: PhaseMachine;
  readonly members: Membership;
  readonly planner: Planner;
  world: World | null = null;
  generationCount: number;
  reforming: Reforming | null = null;
  readonly steps = new RankReports<RankedStepReport>();
  readonly epochReports = new RankReports<EpochReport__Output>();
  counters: SummaryCounters;
  readonly startedAtMs: number | null;
  jobStartMs = 0;
  firstWorldFormed: boolean;
  lossDetectedAtMs: number | null = null;
  belowMinSinceMs: number | null = null;
  stopReason: string | null = null;
  stopWhenFormed: string | null = null;
  pendingCheckpointTokens: number[] = [];
  newestCheckpoint: CheckpointPoint | null;
  lastCheckpointPath: string | null;
  readonly progress: JobProgress;
  readonly takeover: boolean;
  /** The test file's sums from the final generation's members (dataset testPath). */
  readonly testResults: TestResultCollector;

  constructor(readonly o: ControllerOptions) {
    this.progress = new JobProgress(o.epochs);
    this.machine = new PhaseMachine((from, to) => {
      this.emit({ type: 'StateChanged', state: publicState(to), phase: to });
      this.log(`state ${from} -> ${to}`);
    });
    const t = o.takeover;
    this.takeover = t !== null;
    this.jobId = t ? t.state.jobId : o.jobId;
    this.members = new Membership(this.jobId, o.minWorkers, o.maxWorkers);
    this.testResults = new TestResultCollector(o.task, o.standardization);
    // training.finalRemainder: train -> the last epoch's leftover samples are one final, smaller step.
    const trainRemainder = o.spec.training.finalRemainder === 'train';
    if (t) {
      this.planner = Planner.restore(t.state, o.epochs, o.maxSteps, o.spec.training.batchSize, trainRemainder);
      this.generationCount = t.state.generation;
      this.counters = { ...t.state.counters, recoverySeconds: [...t.state.counters.recoverySeconds] };
      this.startedAtMs = t.state.startedAtMs;
      this.newestCheckpoint = t.newestCheckpoint;
      this.lastCheckpointPath = t.state.newestCheckpoint;
      this.firstWorldFormed = true;
    } else {
      const start = o.resume?.planState ?? initialPlanState(o.spec.seed, o.trainSize);
      this.planner = new Planner(o.spec.training.batchSize, o.epochs, o.maxSteps, new SampleLedger(), start,
        o.resume?.globalStep ?? 0, trainRemainder);
      this.generationCount = o.firstGeneration - 1;
      this.counters = { workersLost: 0, workersJoined: 0, recoverySeconds: [], stepsRedone: 0, generations: 0 };
      this.startedAtMs = null;
      this.newestCheckpoint = o.resume;
      this.lastCheckpointPath = o.resume?.path ?? null;
      this.firstWorldFormed = false;
    }
  }

  /** Members of the current generation that are not gone (members, or parked after leaving it). */
  activeMembers(): WorkerRecord[] {
    if (!this.world) return [];
    return this.world.ids.map((id) => this.members.get(id)!).filter((r) => r.status !== 'gone' && this.inWorld(r));
  }

  inWorld(rec: WorkerRecord): boolean {
    return this.world !== null && this.world.ids.includes(rec.id);
  }

  seen(from: Envelope): void {
    const rec = this.members.get(from.workerId);
    if (rec && rec.status !== 'gone') rec.lastSeenMs = this.now;
  }

  publish(kind: Extract<ControllerCommand, { type: 'Publish' }>['kind'], data: Record<string, unknown>): void {
    const generation = this.world?.generation ?? this.generationCount;
    this.emit({ type: 'Publish', kind, generation, data: { jobId: this.jobId, ...data } });
  }

  log(line: string): void {
    this.emit({ type: 'Log', line });
  }

  emit(c: ControllerCommand): void {
    this.out.push(c);
  }
}
