// The job logic of the coordinator as a state machine over world generations (docs/elastic.md):
// events in, commands out, one guarded transition function, no sockets, no timers, no clock but
// the events' atMs. Membership policy, failure attribution, planning + ledger and report
// aggregation live in their own modules; this file sequences them.
import type { JobStatus } from '@dtrain/shared/control/api';
import {
  BelowMinWorkersError, RendezvousTimeoutError, ShutdownTimeoutError, WeightsDivergedError, WorkerLostError,
} from '@dtrain/shared/errors';
import type { EpochReport__Output } from '@dtrain/shared/proto';
import { initialPlanState, ShardPlanError } from '@dtrain/shared/shard-plan';
import type { JobResult } from '../api';
import {
  Phase, type CheckpointPoint, type ControlAction, type Controller, type ControllerCommand, type ControllerEvent,
  type ControllerOptions, type CoordinatorStateFile, type Envelope, type JoinInfo, type SummaryCounters,
} from './api';
import { classifyWorkerError, isSilentPast, msUntilBlameProven } from './loss-evidence';
import { decideState } from './formation';
import { localRanks, Membership, rankOrder, selectMembers, type WorkerRecord } from './membership';
import { publicState, PhaseMachine } from './phase';
import { JobProgress } from './progress';
import { Planner } from './planning';
import { combineValidation, RankReports, type RankedStepReport } from './reports';
import { SampleLedger } from './sample-ledger';

/** The generation in force (or the last one, while re-forming). */
interface World {
  generation: number;
  /** Worker ids by rank. */
  ids: string[];
  committedSteps: number;
  sourceRank: number;
  checkpointDir: string;
}

/** Why the current generation is ending. */
interface Reforming {
  kind: 'abandon' | 'reform';
  abandonSent: boolean;
}

const TIMER = {
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

export function createController(options: ControllerOptions): Controller {
  return new JobController(options);
}

class JobController implements Controller {
  readonly jobId: string;
  private out: ControllerCommand[] = [];
  private now = 0;
  private readonly machine: PhaseMachine;
  private readonly members: Membership;
  private readonly planner: Planner;
  private world: World | null = null;
  private generationCount: number;
  private reforming: Reforming | null = null;
  private readonly steps = new RankReports<RankedStepReport>();
  private readonly epochReports = new RankReports<EpochReport__Output>();
  private counters: SummaryCounters;
  private readonly startedAtMs: number | null;
  private jobStartMs = 0;
  private firstWorldFormed: boolean;
  private lossDetectedAtMs: number | null = null;
  private belowMinSinceMs: number | null = null;
  private stopReason: string | null = null;
  private stopWhenFormed: string | null = null;
  private pendingCheckpointTokens: number[] = [];
  private newestCheckpoint: CheckpointPoint | null;
  private lastCheckpointPath: string | null;
  private readonly progress: JobProgress;
  private readonly takeover: boolean;

  constructor(private readonly o: ControllerOptions) {
    this.progress = new JobProgress(o.epochs);
    this.machine = new PhaseMachine((from, to) => {
      this.emit({ type: 'StateChanged', state: publicState(to), phase: to });
      this.log(`state ${from} -> ${to}`);
    });
    const t = o.takeover;
    this.takeover = t !== null;
    this.jobId = t ? t.state.jobId : o.jobId;
    this.members = new Membership(this.jobId, o.minWorkers, o.maxWorkers);
    if (t) {
      this.planner = Planner.restore(t.state, o.epochs, o.maxSteps, o.spec.training.batchSize);
      this.generationCount = t.state.generation;
      this.counters = { ...t.state.counters, recoverySeconds: [...t.state.counters.recoverySeconds] };
      this.startedAtMs = t.state.startedAtMs;
      this.newestCheckpoint = t.newestCheckpoint;
      this.lastCheckpointPath = t.state.newestCheckpoint;
      this.firstWorldFormed = true;
    } else {
      const start = o.resume?.planState ?? initialPlanState(o.spec.seed, o.trainSize);
      this.planner = new Planner(o.spec.training.batchSize, o.epochs, o.maxSteps, new SampleLedger(), start, o.resume?.globalStep ?? 0);
      this.generationCount = o.firstGeneration - 1;
      this.counters = { workersLost: 0, workersJoined: 0, recoverySeconds: [], stepsRedone: 0, generations: 0 };
      this.startedAtMs = null;
      this.newestCheckpoint = o.resume;
      this.lastCheckpointPath = o.resume?.path ?? null;
      this.firstWorldFormed = false;
    }
  }

  get phase(): Phase {
    return this.machine.phase;
  }

  handle(event: ControllerEvent): ControllerCommand[] {
    this.out = [];
    this.now = event.atMs;
    if ('from' in event) this.seen(event.from);
    try {
      this.dispatch(event);
    } catch (err) {
      // A bug in a handler must end the job with a message, not leave it hanging.
      const e = err as Error & { code?: string };
      this.fail(`coordinator error on ${event.type}: ${e.message}`, typeof e.code === 'string' ? e.code : e.name);
    }
    return this.out;
  }

  status(): JobStatus {
    const pos = this.planner.position();
    return {
      job: this.jobId,
      state: publicState(this.machine.phase),
      generation: this.world?.generation ?? 0,
      workers: this.world?.ids.length ?? 0,
      epoch: this.planner.current?.plan.epoch ?? pos.epoch,
      globalStep: this.planner.committedSteps,
      loss: this.progress.lastLoss,
      samplesPerSec: this.progress.recentSamplesPerSec,
      lastCheckpoint: this.lastCheckpointPath,
    };
  }

  // --- dispatch -------------------------------------------------------------------------------

  private dispatch(ev: ControllerEvent): void {
    switch (ev.type) {
      case 'Started': return this.onStarted();
      case 'WorkerJoined': return this.onJoin(ev.token, ev.join);
      case 'SessionOpened': return this.onSessionOpened(ev.from, ev.jobId, ev.backend, ev.metricsAddress);
      case 'Parked': return this.onParked(ev.from, ev.leftGeneration, ev.completedSteps, ev.digest, ev.reason);
      case 'Synced': return this.onSynced(ev.from, ev.generation, ev.completedSteps, ev.digest);
      case 'StepReported': return this.onStep(ev.from, ev.report);
      case 'EpochReported': return this.onEpoch(ev.from, ev.report);
      case 'WorkerError': return this.onWorkerError(ev.from, ev.code, ev.message, ev.peerRank);
      case 'CheckpointReported': return this.onCheckpoint(ev.globalStep, ev.path);
      case 'Done': return this.onDone(ev.from);
      case 'Heartbeat': return;
      case 'SessionClosed': return this.onSessionClosed(ev.workerId, ev.why);
      case 'ControlRequest': return this.onControl(ev.request);
      case 'TimerFired': return this.onTimer(ev.name);
    }
  }

  private onStarted(): void {
    this.jobStartMs = this.startedAtMs ?? this.now;
    this.emit({ type: 'SetTimer', name: TIMER.rendezvous, ms: this.o.rendezvousTimeoutMs });
    this.armHeartbeat();
    const range = this.o.minWorkers === this.o.maxWorkers ? `${this.o.minWorkers}` : `${this.o.minWorkers}:${this.o.maxWorkers}`;
    if (this.takeover) {
      const at = this.planner.committedSteps;
      this.log(`taking over job ${this.jobId} at generation ${this.generationCount}, ${at} committed step(s); `
        + 'waiting for its workers to re-join');
      this.publish('coordinator-takeover', {
        committedSteps: at, generation: this.generationCount, lastCheckpoint: this.lastCheckpointPath,
      });
    } else {
      this.log(`job ${this.jobId}: waiting for ${range} worker(s)`);
    }
  }

  // --- admission and sessions -----------------------------------------------------------------

  private onJoin(token: number, join: JoinInfo): void {
    if (this.machine.ended) {
      this.emit({ type: 'ReplyJoin', token, ok: false, reason: `job ${this.jobId} is ${publicState(this.machine.phase)}` });
      return;
    }
    const a = this.members.admit(join, this.now);
    if (!a.ok) {
      this.log(`refused a join from ${join.hostname} pid ${join.pid}: ${a.reason}`);
      this.emit({ type: 'ReplyJoin', token, ok: false, reason: a.reason });
      return;
    }
    this.emit({ type: 'ReplyJoin', token, ok: true, jobId: this.jobId, workerId: a.record.id });
    if (!a.record.session) this.emit({ type: 'SetTimer', name: TIMER.session(a.record.id), ms: this.o.rendezvousTimeoutMs });
  }

  private onSessionOpened(from: Envelope, jobId: string, backend: string, metricsAddress: string): void {
    const rec = this.members.get(from.workerId);
    const refuse = (reason: string) => {
      this.log(`refused a session: ${reason}`);
      this.emit({ type: 'CloseSession', workerId: from.workerId, reason });
    };
    if (jobId !== this.jobId) return refuse(`session from job '${jobId}', this coordinator runs '${this.jobId}'`);
    if (!rec || rec.status === 'gone') return refuse(`worker '${from.workerId}' is not admitted (Join first)`);
    if (this.machine.ended) return refuse(`job ${this.jobId} is over`);
    rec.session = true;
    rec.lastSeenMs = this.now;
    if (backend) rec.backend = backend;
    this.emit({ type: 'ClearTimer', name: TIMER.session(rec.id) });
    const metrics = metricsAddress || rec.join.metricsAddress;
    const at = metrics ? `, metrics http://${metrics}/metrics` : '';
    this.log(`worker ${rec.id} session open (${rec.join.hostname} pid ${rec.join.pid}, backend ${rec.backend || 'unknown'}${at})`);
  }

  private onSessionClosed(workerId: string, why: string): void {
    const rec = this.members.get(workerId);
    if (!rec || !rec.session) return;
    rec.session = false;
    if (rec.status === 'gone' || this.machine.ended) return;
    if (rec.done) return;
    this.lose(rec, `session closed (${why})`);
  }

  // --- parking, forming, syncing --------------------------------------------------------------

  private onParked(from: Envelope, leftGeneration: number, completedSteps: number, digest: string, reason: string): void {
    const rec = this.members.get(from.workerId);
    if (!rec || rec.status === 'gone' || !rec.session || this.machine.ended) return;
    const inWorld = this.inWorld(rec);
    if (inWorld && leftGeneration < this.world!.generation) return; // a stale park from an older generation
    rec.parked = { leftGeneration, completedSteps, digest };
    const wasMember = rec.status === 'member';
    rec.status = 'parked';
    rec.rank = -1;
    if (wasMember && inWorld) {
      this.log(`rank ${this.world!.ids.indexOf(rec.id)} parked at ${completedSteps} step(s)${reason ? `: ${reason}` : ''}`);
      const why = `a member left generation ${leftGeneration}: ${reason || 'parked'}`;
      if (this.machine.is(Phase.Training, Phase.Syncing)) this.startAbandon(why, []);
      else if (this.machine.is(Phase.Reforming)) this.maybeReform();
      return;
    }
    // A newcomer (or a re-joiner after a takeover) is ready.
    if (this.machine.is(Phase.Rendezvous)) this.maybeFirstWorld();
    else if (this.machine.is(Phase.Reforming)) this.maybeReform();
    else if (this.machine.is(Phase.Training)) this.startReform(`worker ${rec.id} is waiting to join`);
  }

  private maybeFirstWorld(): void {
    const ready = this.members.parkedReady();
    if (ready.length < this.o.minWorkers) return;
    const target = this.takeover ? Math.min(this.o.maxWorkers, this.previousWorldSize() ?? this.o.maxWorkers) : this.o.maxWorkers;
    if (ready.length >= target || this.o.lastCallMs <= 0) {
      this.formWorld(ready);
      return;
    }
    this.emit({ type: 'SetTimer', name: TIMER.lastCall, ms: this.o.lastCallMs });
  }

  private previousWorldSize(): number | null {
    return this.o.takeover?.state.plan?.worldSize ?? null;
  }

  /** Re-forming: once every member of the old generation parked or is lost, form the next one. */
  private maybeReform(): void {
    if (!this.machine.is(Phase.Reforming)) return;
    const waiting = this.world ? this.world.ids.map((id) => this.members.get(id)!).filter((r) => r.status === 'member') : [];
    if (waiting.length > 0) return;
    const ready = this.members.parkedReady();
    if (ready.length < this.o.minWorkers) {
      if (this.belowMinSinceMs === null) {
        this.belowMinSinceMs = this.now;
        this.log(`${ready.length} worker(s) parked, below the minimum of ${this.o.minWorkers}: `
          + `waiting up to ${this.o.rendezvousTimeoutMs} ms for more`);
        this.emit({ type: 'SetTimer', name: TIMER.belowMin, ms: this.o.rendezvousTimeoutMs });
      }
      return;
    }
    this.formWorld(ready);
  }

  private formWorld(candidates: WorkerRecord[]): void {
    const previous = new Set(this.world?.ids ?? []);
    const ordered = rankOrder(selectMembers(candidates, this.o.maxWorkers, previous));
    const decision = decideState(ordered, {
      committedSteps: this.planner.committedSteps,
      positionAt: (step) => this.planner.positionAt(step),
      newestCheckpoint: this.newestCheckpoint,
      hadWorld: this.firstWorldFormed,
      resume: this.o.resume,
    });
    let committed = this.planner.committedSteps;
    let sourceRank = 0;
    let checkpointDir = '';
    switch (decision.kind) {
      case 'fail':
        return this.fail(decision.message, decision.code);
      case 'adopt':
        this.planner.commitThrough(decision.committedSteps);
        committed = decision.committedSteps;
        sourceRank = decision.sourceRank;
        break;
      case 'adopt-behind':
        this.counters.stepsRedone += this.planner.rollbackTo(decision.committedSteps, decision.position);
        committed = decision.committedSteps;
        sourceRank = decision.sourceRank;
        break;
      case 'checkpoint': {
        const cp = decision.checkpoint;
        const redone = Math.max(this.planner.rollbackTo(cp.globalStep, cp.planState), decision.knownSteps - cp.globalStep, 0);
        this.counters.stepsRedone += redone;
        this.log(`${decision.why}: every member loads checkpoint ${cp.path} (step ${cp.globalStep}; ${redone} step(s) to train again)`);
        committed = cp.globalStep;
        checkpointDir = cp.path;
        break;
      }
      case 'fresh':
        if (decision.checkpoint) {
          committed = decision.checkpoint.globalStep;
          checkpointDir = decision.checkpoint.path;
        }
        break;
    }
    this.planner.suspend();
    this.generationCount += 1;
    const generation = this.generationCount;
    this.world = { generation, ids: ordered.map((r) => r.id), committedSteps: committed, sourceRank, checkpointDir };
    this.reforming = null;
    this.belowMinSinceMs = null;
    this.steps.clear();
    this.epochReports.clear();
    for (const t of [TIMER.lastCall, TIMER.rendezvous, TIMER.parkDeadline, TIMER.belowMin]) this.emit({ type: 'ClearTimer', name: t });
    this.machine.transition([Phase.Rendezvous, Phase.Reforming], Phase.Syncing);
    const ring = ordered.map((r) => r.join.peerAddress);
    const locals = localRanks(ordered);
    ordered.forEach((rec, rank) => {
      const joined = !rec.everMember && this.firstWorldFormed;
      rec.status = 'member';
      rec.rank = rank;
      rec.synced = null;
      rec.done = false;
      rec.everMember = true;
      if (joined) {
        this.counters.workersJoined += 1;
        this.emit({ type: 'WorkerCounted', change: 'joined' });
        this.publish('worker-joined', { workerId: rec.id, rank, hostname: rec.join.hostname, pid: rec.join.pid, backend: rec.backend });
      }
      this.emit({ type: 'SendWorld', workerId: rec.id, world: {
        generation, rank, worldSize: ordered.length, localRank: locals[rank].localRank, localWorldSize: locals[rank].localWorldSize,
        ring, sourceRank, completedSteps: committed, checkpointDir,
      } });
    });
    if (!this.firstWorldFormed) {
      for (const rec of ordered) {
        this.publish('worker-joined', { workerId: rec.id, rank: rec.rank, hostname: rec.join.hostname, pid: rec.join.pid, backend: rec.backend });
      }
    }
    this.firstWorldFormed = true;
    this.counters.generations += 1;
    const desc = ordered.map((r, rank) => `rank ${rank}=${r.join.hostname} pid ${r.join.pid} peer ${r.join.peerAddress}`).join('; ');
    const from = `source rank ${sourceRank}${checkpointDir ? `, checkpoint ${checkpointDir}` : ''}`;
    this.log(`world generation ${generation} formed (${ordered.length} worker(s), ${committed} committed step(s), ${from}): ${desc}`);
    this.emit({ type: 'WorldFormed', generation, workers: ordered.length });
    this.publish('world-formed', {
      workers: ordered.length, committedSteps: committed, sourceRank, checkpoint: checkpointDir || null,
      members: ordered.map((r, rank) => ({
        rank, workerId: r.id, hostname: r.join.hostname, pid: r.join.pid, peerAddress: r.join.peerAddress,
      })),
    });
    this.writeState();
  }

  private onSynced(from: Envelope, generation: number, completedSteps: number, digest: string): void {
    const rec = this.members.get(from.workerId);
    const w = this.world;
    if (!rec || !w || !this.machine.is(Phase.Syncing) || generation !== w.generation || rec.status !== 'member') return;
    rec.synced = { completedSteps, digest };
    const members = w.ids.map((id) => this.members.get(id)!);
    if (members.some((m) => m.synced === null)) return;
    const digests = members.map((m, rank) => ({ rank, digest: m.synced!.digest }));
    const steps = members.map((m) => m.synced!.completedSteps);
    if (digests.some((d) => d.digest !== digests[0].digest) || steps.some((s) => s !== w.committedSteps)) {
      const err = new WeightsDivergedError(w.committedSteps, digests.map((d, i) => ({ rank: d.rank, digest: `${d.digest}@${steps[i]}` })));
      return this.fail(`after the state sync of generation ${w.generation}: ${err.message}`, err.code);
    }
    this.machine.transition([Phase.Syncing], Phase.Training);
    this.progress.trainingResumed(this.now);
    this.log(`generation ${w.generation} synced at step ${w.committedSteps} (digest ${digests[0].digest.slice(0, 12)})`);
    if (this.stopWhenFormed !== null) {
      const reason = this.stopWhenFormed;
      this.stopWhenFormed = null;
      this.requestStop(reason);
      return;
    }
    this.sendNextPlanOrStop();
    if (this.machine.is(Phase.Training) && this.members.parkedReady().length > 0 && this.world!.ids.length < this.o.maxWorkers) {
      this.startReform('workers are waiting to join');
    }
  }

  // --- training -------------------------------------------------------------------------------

  private sendNextPlanOrStop(): void {
    if (!this.machine.is(Phase.Training)) return;
    if (this.planner.done) {
      this.requestStop('finished');
      return;
    }
    const w = this.world!;
    let a;
    try {
      a = this.planner.next(w.ids.length, w.generation);
    } catch (err) {
      if (err instanceof ShardPlanError) return this.fail(err.message, 'ShardPlanError');
      throw err;
    }
    this.progress.totalSteps = this.planner.committedSteps + this.planner.remainingSteps(w.ids.length);
    const p = a.plan;
    const inEpoch = a.firstStepInEpoch + p.steps;
    this.log(`epoch ${p.epoch + 1}/${this.o.epochs}: ${p.steps} step(s) from global step ${a.firstGlobalStep} `
      + `(global batch ${w.ids.length * p.batchSize}, steps ${a.firstStepInEpoch}..${inEpoch} of the epoch)`);
    w.ids.forEach((id, rank) => this.emit({ type: 'SendPlan', workerId: id, plan: this.planner.message(a, rank, this.o.testSize) }));
    this.writeState();
  }

  private onStep(from: Envelope, report: RankedStepReport | Omit<RankedStepReport, 'rank'>): void {
    const w = this.world;
    const rec = this.members.get(from.workerId);
    if (!w || !rec || from.generation !== w.generation || rec.status !== 'member') return;
    if (!this.machine.is(Phase.Training, Phase.Reforming, Phase.Stopping)) return;
    const list = this.steps.add(report.globalStep, rec.rank, { ...report, rank: rec.rank }, w.ids.length);
    if (!list) return;
    this.planner.commitThrough(report.globalStep + 1);
    const a = this.planner.current;
    const progress = this.progress.stepCompleted(this.now, list, a ? a.firstStepInEpoch + a.plan.steps : 0);
    this.emit({ type: 'StepCompleted', progress, reports: list });
    if (this.lossDetectedAtMs !== null) {
      const seconds = (this.now - this.lossDetectedAtMs) / 1000;
      this.lossDetectedAtMs = null;
      this.counters.recoverySeconds.push(seconds);
      this.emit({ type: 'RecoveryMeasured', seconds });
      this.log(`recovered: step ${report.globalStep + 1} completed ${seconds.toFixed(3)} s after the loss was detected`);
    }
    const digests = list.filter((r) => r.weightsDigest !== '').map((r) => ({ rank: r.rank, digest: r.weightsDigest }));
    if (digests.length >= 2 && digests.some((d) => d.digest !== digests[0].digest)) {
      const err = new WeightsDivergedError(report.globalStep, digests);
      this.fail(err.message, err.code);
    }
  }

  private onEpoch(from: Envelope, report: EpochReport__Output): void {
    const w = this.world;
    const rec = this.members.get(from.workerId);
    if (!w || !rec || from.generation !== w.generation || rec.status !== 'member') return;
    const a = this.planner.current;
    if (!a || a.plan.epoch !== report.epoch) return;
    const list = this.epochReports.add(report.epoch, rec.rank, report, w.ids.length);
    if (!list) return;
    this.planner.finishPlan();
    const result = combineValidation(report.epoch, this.planner.committedSteps, list, this.o.task, this.o.spec.validation.metrics);
    this.progress.lastValidation = result;
    this.emit({ type: 'EpochCompleted', validation: result, nextEpoch: a.plan.next.epoch });
    this.publish('epoch-done', { ...result });
    this.writeState();
    if (this.machine.is(Phase.Training)) this.sendNextPlanOrStop();
  }

  // --- losses ---------------------------------------------------------------------------------

  private onWorkerError(from: Envelope, code: string, message: string, peerRank: number): void {
    const rec = this.members.get(from.workerId);
    if (!rec || rec.status === 'gone' || this.machine.ended) return;
    const w = this.world;
    const who = rec.rank >= 0 ? `rank ${rec.rank}` : `worker ${rec.id}`;
    this.log(`${who} reported ${code}: ${message}`);
    const kind = classifyWorkerError(code);
    if (kind === 'non-finite') {
      this.publish('non-finite-loss', { rank: rec.rank, message });
      return this.fail(message, code);
    }
    if (kind === 'fatal') return this.fail(`${who}: ${message}`, code, -1);
    if (!w || from.generation !== w.generation || !this.inWorld(rec)) return;
    if (this.machine.is(Phase.Stopping)) return this.fail(`${who}: ${message}`, code, peerRank);
    const blamedId = peerRank >= 0 ? w.ids[peerRank] : undefined;
    const blamed = blamedId !== undefined ? this.members.get(blamedId) : undefined;
    if (blamed && blamed.status !== 'gone' && blamed.id !== rec.id) {
      const wait = msUntilBlameProven(blamed.lastSeenMs, this.now, this.o.heartbeatIntervalMs);
      if (wait === 0) this.lose(blamed, `blamed by rank ${rec.rank} (${code}) and silent for ${this.now - blamed.lastSeenMs} ms`);
      else this.emit({ type: 'SetTimer', name: TIMER.blame(blamed.id), ms: wait });
    }
    if (this.machine.is(Phase.Training, Phase.Syncing)) this.startAbandon(`${who} reported ${code}: ${message}`, []);
    else if (this.machine.is(Phase.Reforming)) this.sendAbandons(`${who} reported ${code}`, []);
  }

  /** A worker is gone for good: out of the job, and its generation (if any) ends. */
  private lose(rec: WorkerRecord, reason: string): void {
    if (rec.status === 'gone') return;
    const inWorld = this.inWorld(rec);
    const rank = inWorld ? this.world!.ids.indexOf(rec.id) : -1;
    const wasActive = rec.status === 'member' || (rec.status === 'parked' && inWorld);
    rec.status = 'gone';
    rec.rank = -1;
    this.emit({ type: 'ClearTimer', name: TIMER.blame(rec.id) });
    if (this.machine.ended) return;
    if (!wasActive) {
      this.log(`worker ${rec.id} (waiting, in no generation) is gone: ${reason}`);
      if (this.machine.is(Phase.Reforming)) this.maybeReform();
      return;
    }
    this.counters.workersLost += 1;
    this.emit({ type: 'WorkerCounted', change: 'lost' });
    this.log(`rank ${rank} of generation ${this.world!.generation} lost: ${reason}`);
    this.publish('worker-lost', { rank, workerId: rec.id, reason, hostname: rec.join.hostname, pid: rec.join.pid });
    if (this.lossDetectedAtMs === null) this.lossDetectedAtMs = this.now;
    if (this.machine.is(Phase.Stopping)) {
      if (this.activeMembers().every((m) => m.done)) return this.finishStop();
      const err = new WorkerLostError(rank, this.world!.generation, reason);
      return this.fail(err.message, err.code, rank);
    }
    if (this.machine.is(Phase.Training, Phase.Syncing)) this.startAbandon(`rank ${rank} lost: ${reason}`, [rank]);
    else if (this.machine.is(Phase.Reforming)) {
      this.sendAbandons(`rank ${rank} lost: ${reason}`, [rank]);
      this.maybeReform();
    }
  }

  /** The generation is broken: every member abandons the step in flight and parks. */
  private startAbandon(reason: string, lostRanks: number[]): void {
    if (!this.machine.transition([Phase.Training, Phase.Syncing], Phase.Reforming)) return;
    if (this.lossDetectedAtMs === null) this.lossDetectedAtMs = this.now;
    this.reforming = { kind: 'abandon', abandonSent: false };
    this.steps.clear();
    this.epochReports.clear();
    this.sendAbandons(reason, lostRanks);
    this.maybeReform();
  }

  private sendAbandons(reason: string, lostRanks: number[]): void {
    const r = this.reforming;
    if (!r || r.abandonSent || !this.world) return;
    r.abandonSent = true;
    r.kind = 'abandon';
    for (const m of this.activeMembers()) {
      if (m.status === 'member') this.emit({ type: 'SendAbandon', workerId: m.id, generation: this.world.generation, reason, lostRanks });
    }
    this.emit({ type: 'SetTimer', name: TIMER.parkDeadline, ms: this.o.parkDeadlineMs });
  }

  /** Workers wait to join: the members leave together after the next step and park. */
  private startReform(reason: string): void {
    if (this.world && this.world.ids.length >= this.o.maxWorkers) return;
    if (!this.machine.transition([Phase.Training], Phase.Reforming)) return;
    this.reforming = { kind: 'reform', abandonSent: false };
    this.log(`re-forming generation ${this.world!.generation} at the next step boundary: ${reason}`);
    for (const m of this.activeMembers()) this.emit({ type: 'SendReform', workerId: m.id, generation: this.world!.generation, reason });
    this.emit({ type: 'SetTimer', name: TIMER.parkDeadline, ms: this.o.parkDeadlineMs });
  }

  // --- timers ---------------------------------------------------------------------------------

  private onTimer(name: string): void {
    if (this.machine.ended) return;
    if (name === TIMER.heartbeat) return this.checkHeartbeats();
    if (name === TIMER.rendezvous) {
      if (!this.machine.is(Phase.Rendezvous)) return;
      const err = new RendezvousTimeoutError(this.members.parkedReady().length, this.o.minWorkers, this.o.rendezvousTimeoutMs);
      return this.fail(err.message, err.code);
    }
    if (name === TIMER.lastCall) {
      const ready = this.members.parkedReady();
      if (this.machine.is(Phase.Rendezvous) && ready.length >= this.o.minWorkers) this.formWorld(ready);
      return;
    }
    if (name === TIMER.parkDeadline) {
      if (!this.machine.is(Phase.Reforming) || !this.world) return;
      for (const m of this.activeMembers().filter((r) => r.status === 'member')) {
        this.lose(m, `did not park within ${this.o.parkDeadlineMs} ms`);
      }
      return this.maybeReform();
    }
    if (name === TIMER.belowMin) return this.giveUpBelowMin();
    if (name === TIMER.belowMinCheckpoint) return this.failBelowMin();
    if (name === TIMER.shutdown) {
      if (!this.machine.is(Phase.Stopping)) return;
      const missing = this.activeMembers().filter((m) => !m.done).map((m) => m.rank);
      if (missing.length > 0) {
        const err = new ShutdownTimeoutError(missing, this.o.shutdownGraceMs);
        this.fail(err.message, err.code, missing[0]);
      }
      return;
    }
    if (name.startsWith('blame:')) {
      const rec = this.members.get(name.slice('blame:'.length));
      if (!rec || rec.status === 'gone') return;
      if (msUntilBlameProven(rec.lastSeenMs, this.now, this.o.heartbeatIntervalMs) === 0) {
        this.lose(rec, `blamed by a peer and silent for ${this.now - rec.lastSeenMs} ms`);
      }
      return;
    }
    if (name.startsWith('session:')) {
      const rec = this.members.get(name.slice('session:'.length));
      if (rec && !rec.session && rec.status === 'admitted') {
        rec.status = 'gone';
        this.log(`worker ${rec.id} joined but opened no session within ${this.o.rendezvousTimeoutMs} ms; dropped`);
      }
    }
  }

  private armHeartbeat(): void {
    this.emit({ type: 'SetTimer', name: TIMER.heartbeat, ms: Math.max(50, Math.min(1_000, this.o.heartbeatTimeoutMs / 4)) });
  }

  private checkHeartbeats(): void {
    for (const r of this.members.live()) {
      if (r.session && !r.done && isSilentPast(r.lastSeenMs, this.now, this.o.heartbeatTimeoutMs)) {
        this.lose(r, `no heartbeat for ${this.now - r.lastSeenMs} ms`);
      }
    }
    if (!this.machine.ended) this.armHeartbeat();
  }

  /** Below MIN past the rendezvous timeout: a final checkpoint from the best parked state, then fail. */
  private giveUpBelowMin(): void {
    if (!this.machine.is(Phase.Reforming) || this.belowMinSinceMs === null) return;
    const ready = this.members.parkedReady();
    if (ready.length >= this.o.minWorkers) return this.maybeReform();
    const holders = ready.filter((r) => (r.parked?.completedSteps ?? -1) >= 0)
      .sort((a, b) => b.parked!.completedSteps - a.parked!.completedSteps);
    if (holders.length === 0 || !this.o.checkpointDir) return this.failBelowMin();
    const src = holders[0];
    const at = src.parked!.completedSteps;
    const pos = this.planner.positionAt(at) ?? this.planner.position();
    this.log(`asking worker ${src.id} for a final checkpoint at step ${at} before failing`);
    this.emit({ type: 'SendCheckpointNow', workerId: src.id, afterGlobalStep: at, path: '', planStateJson: JSON.stringify(pos) });
    this.emit({ type: 'SetTimer', name: TIMER.belowMinCheckpoint, ms: this.o.shutdownGraceMs });
  }

  private failBelowMin(): void {
    if (this.machine.ended) return;
    const err = new BelowMinWorkersError(this.members.parkedReady().length, this.o.minWorkers, this.o.rendezvousTimeoutMs);
    this.fail(err.message, err.code);
  }

  // --- checkpoints, control, stop -------------------------------------------------------------

  private onCheckpoint(globalStep: number, path: string): void {
    this.lastCheckpointPath = path;
    const planState = this.planner.positionAt(globalStep);
    if (planState) this.newestCheckpoint = { path, globalStep, planState };
    this.emit({ type: 'CheckpointCounted' });
    this.publish('checkpoint-written', { path, globalStep });
    this.log(`checkpoint written at step ${globalStep}: ${path}`);
    for (const token of this.pendingCheckpointTokens.splice(0)) this.emit({ type: 'ReplyCheckpoint', token, ok: true, path });
    this.writeState();
    if (this.belowMinSinceMs !== null && this.machine.is(Phase.Reforming)) this.failBelowMin();
  }

  private onControl(req: ControlAction): void {
    switch (req.op) {
      case 'stop':
        return this.requestStop(req.reason);
      case 'abort':
        return this.fail(req.message, req.code, req.lostRank);
      case 'checkpoint': {
        const refuse = (error: string) => this.emit({ type: 'ReplyCheckpoint', token: req.token, ok: false, error });
        if (!this.machine.is(Phase.Training)) return refuse(`job ${this.jobId} is ${this.machine.phase}, not training`);
        if (!this.o.checkpointDir) return refuse('the job spec has no checkpoint section (checkpoint.dir)');
        this.pendingCheckpointTokens.push(req.token);
        for (const m of this.activeMembers()) {
          this.emit({ type: 'SendCheckpointNow', workerId: m.id, afterGlobalStep: 0, path: '', planStateJson: '' });
        }
        return;
      }
    }
  }

  /** Stops at the next step every rank agrees on; rank 0 writes a final checkpoint. */
  private requestStop(reason: string): void {
    if (this.machine.ended || this.machine.is(Phase.Stopping)) return;
    if (this.machine.is(Phase.Rendezvous)) return this.finish('stopped');
    if (this.machine.is(Phase.Reforming, Phase.Syncing)) {
      this.stopWhenFormed = reason;
      this.log(`stop requested while the world changes: stopping once the next generation has synced (${reason})`);
      return;
    }
    this.stopReason = reason;
    this.machine.transition([Phase.Training], Phase.Stopping);
    if (reason !== 'finished') this.publish('stopping', { reason });
    for (const m of this.activeMembers()) this.emit({ type: 'SendStop', workerId: m.id, reason });
    this.emit({ type: 'SetTimer', name: TIMER.shutdown, ms: this.o.shutdownGraceMs });
  }

  private onDone(from: Envelope): void {
    const rec = this.members.get(from.workerId);
    if (!rec || rec.status === 'gone') return;
    rec.done = true;
    if (this.machine.is(Phase.Stopping) && this.activeMembers().every((m) => m.done)) this.finishStop();
  }

  private finishStop(): void {
    this.finish(this.stopReason && this.stopReason !== 'finished' ? 'stopped' : 'succeeded');
  }

  // --- the end --------------------------------------------------------------------------------

  private fail(message: string, code: string, lostRank = -1): void {
    if (this.machine.ended) return;
    this.log(`job failed: ${message}`);
    for (const r of this.members.live()) {
      if (r.session) this.emit({ type: 'SendAbort', workerId: r.id, reason: message, lostRank });
    }
    this.publish('failed', { error: message, code, lostRank });
    this.finish('failed', { error: message, errorCode: code, lostRank: lostRank >= 0 ? lostRank : undefined });
  }

  private finish(status: JobResult['status'], extra: Partial<JobResult> = {}): void {
    if (this.machine.ended) return;
    this.machine.transition(Object.values(Phase), status === 'failed' ? Phase.Failed : Phase.Finished);
    for (const t of Object.values(TIMER)) if (typeof t === 'string') this.emit({ type: 'ClearTimer', name: t });
    const backends = [...new Set(this.members.live().map((r) => r.backend).filter(Boolean))];
    const result: JobResult = {
      status,
      jobId: this.jobId,
      workers: this.world?.ids.length ?? 0,
      steps: this.planner.committedSteps,
      epochs: this.planner.position().epoch,
      ...this.progress.summary(this.now),
      wallSeconds: (this.now - (this.jobStartMs || this.now)) / 1000,
      backend: backends.length > 0 ? backends.join(',') : null,
      lastCheckpoint: this.lastCheckpointPath,
      ...extra,
      ...this.summaryFields(),
    };
    if (status !== 'failed') this.publish('finished', { ...result });
    this.writeState(status);
    this.emit({ type: 'Finish', result });
  }

  private summaryFields(): Pick<JobResult,
    'generations' | 'workersLost' | 'workersJoined' | 'recoverySeconds' | 'stepsRedone' | 'sampleLedger'> {
    const pos = this.planner.position();
    const ledger = this.planner.ledger;
    return {
      generations: this.counters.generations,
      workersLost: this.counters.workersLost,
      workersJoined: this.counters.workersJoined,
      recoverySeconds: [...this.counters.recoverySeconds],
      stepsRedone: this.counters.stepsRedone,
      sampleLedger: ledger.totals(ledger.openEpoch === pos.epoch ? pos.consumed : null),
    };
  }

  // --- helpers --------------------------------------------------------------------------------

  /** Members of the current generation that are not gone (members, or parked after leaving it). */
  private activeMembers(): WorkerRecord[] {
    if (!this.world) return [];
    return this.world.ids.map((id) => this.members.get(id)!).filter((r) => r.status !== 'gone' && this.inWorld(r));
  }

  private inWorld(rec: WorkerRecord): boolean {
    return this.world !== null && this.world.ids.includes(rec.id);
  }

  private seen(from: Envelope): void {
    const rec = this.members.get(from.workerId);
    if (rec && rec.status !== 'gone') rec.lastSeenMs = this.now;
  }

  private writeState(ended: JobResult['status'] | null = null): void {
    if (!this.o.checkpointDir) return;
    const state: CoordinatorStateFile = {
      version: 1,
      jobId: this.jobId,
      jobName: this.o.spec.name,
      ended,
      generation: this.generationCount,
      ...this.planner.record(),
      ledger: this.planner.ledger.snapshot(),
      newestCheckpoint: this.lastCheckpointPath,
      counters: { ...this.counters, recoverySeconds: [...this.counters.recoverySeconds] },
      startedAtMs: this.jobStartMs || this.now,
    };
    this.emit({ type: 'WriteState', state });
  }

  private publish(kind: Extract<ControllerCommand, { type: 'Publish' }>['kind'], data: Record<string, unknown>): void {
    this.emit({ type: 'Publish', kind, generation: this.world?.generation ?? this.generationCount, data: { jobId: this.jobId, ...data } });
  }

  private log(line: string): void {
    this.emit({ type: 'Log', line });
  }

  private emit(c: ControllerCommand): void {
    this.out.push(c);
  }
}
