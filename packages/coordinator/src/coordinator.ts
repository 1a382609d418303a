// The coordinator runs one job: rendezvous, the per-epoch data plan, progress and validation
// aggregation, failure detection, and the job's end (finish, stop, fail). Workers talk to it over
// the dtrain.v1.Coordinator gRPC service; it never touches tensors.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { ControlReply, ControlRequest, EventKind, JobStatus } from '@dtrain/shared/control/api';
import { RendezvousTimeoutError, WeightsDivergedError } from '@dtrain/shared/errors';
import type { JobSpec } from '@dtrain/shared/job-spec';
import { loadDtrainProto } from '@dtrain/shared/proto';
import type {
  CoordinatorMessage, EpochReport__Output, JoinRequest__Output, JoinResponse, StepReport__Output, WorkerMessage__Output,
} from '@dtrain/shared/proto';
import {
  initialPlanState, planEpoch, planPosition, validationShard, type EpochShardPlan, type ShardPlanState,
} from '@dtrain/shared/shard-plan';
import {
  DEFAULT_HEARTBEAT_TIMEOUT_MS, DEFAULT_RENDEZVOUS_TIMEOUT_MS, FAILURE_SETTLE_MS, SHUTDOWN_GRACE_MS,
  type CoordinatorEvents, type CoordinatorOptions, type JobResult, type JobState, type StepProgress, type ValidationResult,
} from './api';
import { Rendezvous, type WorldGeneration, type WorldMember } from './rendezvous';
import { readResumeState, type ResumeState } from './resume';
import { CoordinatorMetrics } from './metrics/coordinator-metrics';
import { StragglerDetector } from './health/straggler-detector';
import { VanishingGradientDetector } from './health/vanishing-gradient-detector';
import { startMetricsServerWithFallback } from '@dtrain/shared/metrics/metrics-endpoint';
import type { MetricsServer } from '@dtrain/shared/metrics/metrics-server';
import { describeDatasetSizes, type DatasetSizes } from './dataset-sizes';
import { lossInLabelUnits, TestResultCollector, validationLabelUnits } from '@dtrain/shared/data/held-out-results';

/** A step report with the rank from its message envelope. */
type RankedStepReport = StepReport__Output & { rank: number };

type SessionCall = grpc.ServerDuplexStream<WorkerMessage__Output, CoordinatorMessage>;

interface WorkerSession {
  member: WorldMember;
  call: SessionCall;
  lastSeenMs: number;
  backend: string;
  done: boolean;
  closed: boolean;
  /** The worker reported an error first: its session closing afterwards is a consequence, not a loss. */
  reportedError: boolean;
}

interface FailureEvidence {
  lostRanks: Set<number>;
  blamed: { by: number; rank: number; code: string; message: string }[];
  first: string;
}

export class Coordinator extends EventEmitter<CoordinatorEvents> {
  readonly jobId: string;
  private readonly spec: JobSpec;
  private readonly log: (line: string) => void;
  private readonly server = new grpc.Server({
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
  private rendezvous!: Rendezvous;
  private world: WorldGeneration | null = null;
  private sessions = new Map<number, WorkerSession>();
  private state: JobState = 'rendezvous';
  private sizes!: DatasetSizes;
  private planState!: ShardPlanState;
  private currentPlan: EpochShardPlan | null = null;
  private globalStep = 0;
  private stepsDone = 0;
  private totalSteps = 0;
  private maxSteps: number;
  private epochs: number;
  private stepReports = new Map<number, RankedStepReport[]>();
  private epochReports = new Map<number, EpochReport__Output[]>();
  private lastLoss: number | null = null;
  private lastValidation: ValidationResult | null = null;
  private lastCheckpoint: string | null = null;
  private trainStartMs = 0;
  private samplesTrained = 0;
  private lastStepMs = 0;
  private recentSamplesPerSec: number | null = null;
  private readonly startMs = Date.now();
  private failure: FailureEvidence | null = null;
  private failureTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private shutdownTimer: NodeJS.Timeout | null = null;
  private stopReason: string | null = null;
  private pendingCheckpointReplies: ((path: string) => void)[] = [];
  private resume: ResumeState | null = null;
  private settle!: (result: JobResult) => void;
  readonly result: Promise<JobResult>;
  private boundAddress = '';
  readonly metrics: CoordinatorMetrics;
  private metricsServer: MetricsServer | null = null;
  private readonly stragglers: StragglerDetector;
  private readonly vanishing: VanishingGradientDetector;
  private testResults: TestResultCollector | null = null;

  constructor(private readonly options: CoordinatorOptions) {
    super();
    this.spec = options.spec;
    this.jobId = options.jobId ?? `${options.spec.name}-${randomBytes(3).toString('hex')}`;
    this.log = options.log ?? ((line) => process.stderr.write(`[coordinator] ${line}\n`));
    this.maxSteps = options.maxSteps ?? options.spec.training.maxSteps ?? Number.POSITIVE_INFINITY;
    this.epochs = options.epochs ?? options.spec.training.epochs;
    this.result = new Promise((resolve) => { this.settle = resolve; });
    this.metrics = new CoordinatorMetrics({ job: options.spec.name });
    const obs = options.spec.observability;
    this.stragglers = new StragglerDetector({ factor: obs.stragglerFactor, window: obs.stragglerWindow });
    this.vanishing = new VanishingGradientDetector({ threshold: obs.vanishingThreshold, steps: obs.vanishingSteps });
  }

  /** URL of this coordinator's /metrics endpoint, if it serves one. */
  get metricsUrl(): string | null {
    return this.metricsServer ? `${this.metricsServer.url}/metrics` : null;
  }

  get address(): string {
    return this.boundAddress;
  }

  get jobState(): JobState {
    return this.state;
  }

  /** Binds the gRPC server and opens the rendezvous; resolves with the bound address. */
  async start(): Promise<string> {
    if (this.options.workers < 1 || !Number.isInteger(this.options.workers)) {
      throw new Error(`--workers must be a positive integer, got ${this.options.workers}`);
    }
    this.sizes = await describeDatasetSizes(this.spec);
    this.testResults = new TestResultCollector(this.sizes.task, this.sizes.standardization);
    if (this.options.resumeFrom) {
      this.resume = await readResumeState(this.options.resumeFrom, this.spec, this.sizes.trainSize);
      this.planState = this.resume.planState;
      this.globalStep = this.resume.globalStep;
      this.log(`resuming from ${this.resume.checkpointPath} at global step ${this.globalStep} (epoch ${this.planState.epoch})`);
    } else {
      this.planState = initialPlanState(this.spec.seed, this.sizes.trainSize);
    }
    this.totalSteps = this.globalStep + this.countRemainingSteps();
    if (this.options.metricsListen) {
      this.metricsServer = await startMetricsServerWithFallback(this.options.metricsListen, this.metrics.registry, () => this.state === 'running', this.log);
      this.log(`metrics on ${this.metricsServer.url}/metrics`);
    }
    const proto = loadDtrainProto();
    this.server.addService(proto.dtrain.v1.Coordinator.service, {
      Join: (call: grpc.ServerUnaryCall<JoinRequest__Output, JoinResponse>, callback: grpc.sendUnaryData<JoinResponse>) => this.handleJoin(call, callback),
      Session: (call: SessionCall) => this.handleSession(call),
    });
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(this.options.listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    const host = this.options.listen.slice(0, this.options.listen.lastIndexOf(':'));
    this.boundAddress = `${host === '0.0.0.0' || host === '' ? hostname() : host}:${port}`;
    this.rendezvous = new Rendezvous(
      this.jobId,
      this.options.workers,
      this.options.rendezvousTimeoutMs ?? DEFAULT_RENDEZVOUS_TIMEOUT_MS,
      (world) => this.onWorldFormed(world),
      (err) => this.fail(err.message, err.code),
      this.options.firstGeneration,
    );
    this.rendezvous.start();
    this.publish('started', { workers: this.options.workers, address: this.boundAddress, trainSize: this.sizes.trainSize, testSize: this.sizes.testSize });
    this.log(`job ${this.jobId}: waiting for ${this.options.workers} worker(s) on ${this.boundAddress}`);
    return this.boundAddress;
  }

  /** Handles status / stop / checkpoint requests from the control plane. */
  async control(req: ControlRequest): Promise<ControlReply> {
    switch (req.op) {
      case 'status':
        return { ok: true, status: this.status() };
      case 'stop':
        this.requestStop(req.reason ?? 'stop requested');
        return { ok: true, message: `stopping job ${this.jobId}` };
      case 'checkpoint': {
        if (this.state !== 'running') return { ok: false, error: `job ${this.jobId} is ${this.state}, not running` };
        if (!this.spec.checkpoint) return { ok: false, error: 'the job spec has no checkpoint section (checkpoint.dir)' };
        const path = await new Promise<string>((resolve) => {
          this.pendingCheckpointReplies.push(resolve);
          this.broadcastMessage({ command: { checkpoint: { afterGlobalStep: 0, path: '', planStateJson: '' } } });
        });
        return { ok: true, checkpoint: path };
      }
    }
  }

  status(): JobStatus {
    return {
      job: this.jobId,
      state: this.state,
      generation: this.world?.generation ?? 0,
      workers: this.sessions.size,
      epoch: this.currentPlan?.epoch ?? this.planState?.epoch ?? 0,
      globalStep: this.stepsDone,
      loss: this.lastLoss,
      samplesPerSec: this.recentSamplesPerSec,
      lastCheckpoint: this.lastCheckpoint,
    };
  }

  /** Stops the job at the next step every rank agrees on; rank 0 writes a final checkpoint. */
  requestStop(reason: string): void {
    if (this.state === 'finished' || this.state === 'failed') return;
    if (this.state === 'rendezvous') {
      this.rendezvous.close(`job stopped: ${reason}`);
      this.finish('stopped');
      return;
    }
    if (this.state === 'stopping') return;
    this.stopReason = reason;
    this.setState('stopping');
    this.publish('stopping', { reason });
    this.broadcastStop(reason);
  }

  /** Fails the job from outside (e.g. the launcher saw a worker process exit before joining). */
  abort(message: string, code = 'WorkerExitedError', lostRank = -1): void {
    if (this.state === 'rendezvous') this.rendezvous.close(message);
    this.fail(message, code, lostRank);
  }

  async close(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.failureTimer) clearTimeout(this.failureTimer);
    this.rendezvous?.close('coordinator closed');
    await this.metricsServer?.close().catch(() => undefined);
    for (const s of this.sessions.values()) {
      if (!s.closed) { s.closed = true; s.call.end(); }
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.server.forceShutdown(); resolve(); }, 2_000);
      this.server.tryShutdown(() => { clearTimeout(t); resolve(); });
    });
  }

  // --- rendezvous -----------------------------------------------------------------------------

  private handleJoin(call: grpc.ServerUnaryCall<JoinRequest__Output, JoinResponse>, callback: grpc.sendUnaryData<JoinResponse>): void {
    const req = call.request;
    call.on('cancelled', () => this.rendezvous.withdraw(req));
    this.rendezvous.join(req).then(({ world, member }) => {
      callback(null, {
        jobId: world.jobId,
        generation: world.generation,
        rank: member.rank,
        worldSize: world.members.length,
        localRank: member.localRank,
        localWorldSize: member.localWorldSize,
        ring: world.ring,
        jobSpecJson: JSON.stringify(this.spec),
        resume: this.resume ? { checkpointDir: this.resume.checkpointPath, globalStep: this.resume.globalStep } : null,
      });
    }, (err: Error) => {
      const code = err instanceof RendezvousTimeoutError ? grpc.status.DEADLINE_EXCEEDED : grpc.status.FAILED_PRECONDITION;
      callback({ code, details: err.message, name: err.name, message: err.message });
    });
  }

  private onWorldFormed(world: WorldGeneration): void {
    this.world = world;
    const desc = world.members.map((m) => `rank ${m.rank}=${m.hostname}/${m.localRank} pid ${m.pid} peer ${m.peerAddress}`).join('; ');
    this.log(`world generation ${world.generation} formed: ${desc}`);
    this.publish('world-formed', { workers: world.members.length, members: world.members });
    this.metrics.onWorldFormed(world.generation, world.members.length);
    // A rank that joined but never opens its session (crashed right after Join) must not hang the job.
    const sessionDeadlineMs = this.options.rendezvousTimeoutMs ?? DEFAULT_RENDEZVOUS_TIMEOUT_MS;
    setTimeout(() => {
      if (this.state !== 'rendezvous') return;
      const missing = world.members.filter((m) => !this.sessions.has(m.rank)).map((m) => m.rank);
      this.fail(`rank ${missing.join(', rank ')} joined but opened no session within ${sessionDeadlineMs} ms`, 'WorkerLostError', missing[0] ?? -1);
    }, sessionDeadlineMs).unref();
    this.stragglers.reset();
    this.vanishing.reset();
  }

  // --- sessions -------------------------------------------------------------------------------

  private handleSession(call: SessionCall): void {
    let session: WorkerSession | null = null;
    call.on('data', (msg: WorkerMessage__Output) => {
      if (!session) {
        const problem = this.checkSessionIdentity(msg);
        if (problem) {
          call.emit('error', new Error(problem));
          call.end();
          this.log(`refused a session: ${problem}`);
          return;
        }
        const member = this.world!.members[msg.rank];
        session = { member, call, lastSeenMs: Date.now(), backend: msg.hello?.backend ?? '', done: false, closed: false, reportedError: false };
        this.sessions.set(msg.rank, session);
        const metricsAt = msg.hello?.metricsAddress ? `, metrics http://${msg.hello.metricsAddress}/metrics` : '';
        this.log(`rank ${msg.rank} session open (backend ${session.backend || 'unknown'}${metricsAt})`);
        this.publish('worker-joined', { rank: msg.rank, hostname: member.hostname, pid: member.pid, backend: session.backend });
        if (this.sessions.size === this.world!.members.length) this.beginTraining();
        return;
      }
      if (msg.generation !== this.world?.generation || msg.rank !== session.member.rank || msg.jobId !== this.jobId) {
        this.log(`ignored a message claiming job ${msg.jobId} gen ${msg.generation} rank ${msg.rank} on rank ${session.member.rank}'s session`);
        return;
      }
      session.lastSeenMs = Date.now();
      this.onWorkerMessage(session, msg);
    });
    const onGone = (why: string) => {
      if (!session || session.closed) return;
      session.closed = true;
      if (!session.done && !session.reportedError && this.state !== 'finished' && this.state !== 'failed') {
        this.recordLoss(session.member.rank, `session closed (${why})`);
      }
    };
    call.on('end', () => { onGone('stream ended'); call.end(); });
    call.on('cancelled', () => onGone('connection lost'));
    call.on('error', (err: Error) => onGone(err.message));
  }

  private checkSessionIdentity(msg: WorkerMessage__Output): string | null {
    if (msg.body !== 'hello') return `first session message must be hello, got ${msg.body ?? 'nothing'}`;
    if (msg.jobId !== this.jobId) return `session from job '${msg.jobId}', this coordinator runs '${this.jobId}'`;
    if (!this.world) return 'no world formed yet';
    if (msg.generation !== this.world.generation) return `session from generation ${msg.generation}, current generation is ${this.world.generation}`;
    if (msg.rank < 0 || msg.rank >= this.world.members.length) return `rank ${msg.rank} is outside world size ${this.world.members.length}`;
    if (this.sessions.has(msg.rank)) return `rank ${msg.rank} already has a session`;
    return null;
  }

  private onWorkerMessage(session: WorkerSession, msg: WorkerMessage__Output): void {
    switch (msg.body) {
      case 'heartbeat':
        return;
      case 'step':
        if (msg.step) this.onStepReport(msg.rank, msg.step);
        return;
      case 'epoch':
        if (msg.epoch) this.onEpochReport(msg.epoch);
        return;
      case 'checkpoint':
        if (msg.checkpoint) {
          this.lastCheckpoint = msg.checkpoint.path;
          this.metrics.onCheckpoint();
          this.publish('checkpoint-written', { path: msg.checkpoint.path, globalStep: msg.checkpoint.globalStep });
          this.log(`checkpoint written at step ${msg.checkpoint.globalStep}: ${msg.checkpoint.path}`);
          for (const reply of this.pendingCheckpointReplies.splice(0)) reply(msg.checkpoint.path);
        }
        return;
      case 'error':
        session.reportedError = true;
        if (msg.error) this.onWorkerError(msg.rank, msg.error.code, msg.error.message, msg.error.peerRank);
        return;
      case 'done':
        session.done = true;
        this.testResults?.add(msg.done?.test);
        if ([...this.sessions.values()].every((s) => s.done) && this.state !== 'failed') {
          this.finish(this.stopReason && this.stopReason !== 'finished' ? 'stopped' : 'succeeded');
        }
        return;
      default:
        return;
    }
  }

  // --- training -------------------------------------------------------------------------------

  private beginTraining(): void {
    this.setState('running');
    this.trainStartMs = Date.now();
    this.lastStepMs = this.trainStartMs;
    const heartbeatTimeoutMs = this.options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      for (const s of this.sessions.values()) {
        if (!s.done && !s.closed && now - s.lastSeenMs > heartbeatTimeoutMs) {
          this.recordLoss(s.member.rank, `no heartbeat for ${now - s.lastSeenMs} ms`);
        }
      }
    }, Math.min(1_000, heartbeatTimeoutMs / 4));
    this.heartbeatTimer.unref();
    this.sendNextPlanOrFinish();
  }

  private countRemainingSteps(): number {
    const G = this.options.workers * this.spec.training.batchSize;
    const n = this.planState.datasetSize;
    let steps = Math.floor((n - this.planState.consumed) / G);
    for (let e = this.planState.epoch + 1; e < this.epochs; e++) steps += Math.floor(n / G);
    if (this.planState.epoch >= this.epochs) steps = 0;
    return Math.min(steps, this.maxSteps - this.globalStep);
  }

  private sendNextPlanOrFinish(): void {
    if (this.state !== 'running') {
      if (this.state === 'stopping') this.broadcastStop(this.stopReason ?? 'stop requested');
      return;
    }
    const stepsLeft = this.maxSteps - this.globalStep;
    if (this.planState.epoch >= this.epochs || stepsLeft <= 0) {
      this.stopReason = 'finished';
      this.broadcastStop('finished');
      return;
    }
    const world = this.world!;
    let plan: EpochShardPlan;
    try {
      plan = planEpoch(this.planState, world.members.length, this.spec.training.batchSize, stepsLeft, {
        trainRemainder: this.spec.training.finalRemainder === 'train' && this.planState.epoch === this.epochs - 1,
      });
    } catch (err) {
      this.fail((err as Error).message, 'ShardPlanError');
      return;
    }
    this.currentPlan = plan;
    const stepsInEpoch = plan.firstStepInEpoch + plan.steps;
    this.log(`epoch ${plan.epoch + 1}/${this.epochs}: ${plan.steps} steps (global batch ${world.members.length * plan.batchSize}, from step ${plan.firstStepInEpoch} of ${stepsInEpoch})`);
    for (const s of this.sessions.values()) {
      const rank = s.member.rank;
      s.call.write({
        plan: {
          epoch: plan.epoch,
          firstStepInEpoch: plan.firstStepInEpoch,
          steps: plan.steps,
          batchSize: plan.batchSize,
          indices: Array.from(plan.ranks[rank].indices),
          validationIndices: Array.from(validationShard(this.sizes.validationSize, world.members.length, rank)),
          firstGlobalStep: this.globalStep,
          planStateJson: JSON.stringify(planPosition(plan)),
        },
      });
    }
    if (plan.steps === 0) {
      // Nothing to train (e.g. a resume at the very end of an epoch): still validate and move on.
      this.log('plan has no full global batch left in this epoch; moving to the next');
    }
  }

  private onStepReport(rank: number, report: StepReport__Output): void {
    const list = this.stepReports.get(report.globalStep) ?? [];
    list.push({ ...report, rank });
    this.stepReports.set(report.globalStep, list);
    if (list.length < (this.world?.members.length ?? 0)) return;
    this.stepReports.delete(report.globalStep);
    const now = Date.now();
    const samples = list.reduce((a, r) => a + r.samples, 0);
    const loss = list.reduce((a, r) => a + r.loss, 0) / list.length;
    this.samplesTrained += samples;
    const dt = (now - this.lastStepMs) / 1000;
    this.lastStepMs = now;
    const instant = dt > 0 ? samples / dt : 0;
    this.recentSamplesPerSec = this.recentSamplesPerSec === null ? instant : 0.8 * this.recentSamplesPerSec + 0.2 * instant;
    this.lastLoss = loss;
    this.stepsDone = Math.max(this.stepsDone, report.globalStep + 1);
    const plan = this.currentPlan;
    const progress: StepProgress = {
      globalStep: report.globalStep + 1,
      totalSteps: this.totalSteps,
      epoch: report.epoch,
      epochs: this.epochs,
      stepInEpoch: report.stepInEpoch + 1,
      stepsInEpoch: plan ? plan.firstStepInEpoch + plan.steps : 0,
      loss,
      samplesPerSec: this.recentSamplesPerSec,
      units: lossInLabelUnits(loss, this.spec.loss, this.sizes.standardization),
    };
    this.emit('step', progress);
    this.checkReplicasAgree(report.globalStep, list);
    this.observeStepHealth(report.globalStep, list);
  }

  /** Sampled steps carry a digest of each rank's weights; replicas that differ cannot be averaged back. */
  private checkReplicasAgree(globalStep: number, reports: RankedStepReport[]): void {
    const digests = reports.filter((r) => r.weightsDigest !== '').map((r) => ({ rank: r.rank, digest: r.weightsDigest }));
    if (digests.length < 2 || digests.every((d) => d.digest === digests[0].digest)) return;
    const err = new WeightsDivergedError(globalStep, digests.sort((a, b) => a.rank - b.rank));
    this.fail(err.message, err.code);
  }

  private observeStepHealth(globalStep: number, reports: RankedStepReport[]): void {
    const byRank = [...reports].sort((a, b) => a.rank - b.rank);
    // A ranked StepReport carries every field the metrics read (shared StepObservation).
    this.metrics.onStepReports(globalStep, byRank);
    if (byRank.length > 1) {
      const compute = new Map(byRank.map((r) => [r.rank, r.computeSeconds] as const));
      for (const s of this.stragglers.observe(globalStep, compute)) {
        this.metrics.onStraggler(s.rank, s.ratio, s.flagged);
        if (s.changed) {
          this.log(s.flagged
            ? `rank ${s.rank} is a straggler: compute ${s.meanSeconds.toFixed(4)} s per step, ${s.ratio.toFixed(2)}x the other ranks' median`
            : `rank ${s.rank} is no longer a straggler (${s.ratio.toFixed(2)}x)`);
          this.publish('straggler', { ...s });
        }
      }
    }
    // Every rank holds the same all-reduced gradient, so any one rank's norms speak for all.
    const norms = byRank.find((r) => r.gradientNorms.length > 0)?.gradientNorms;
    if (norms) {
      this.metrics.setGradientNorms(norms);
      for (const w of this.vanishing.observe(globalStep, norms)) {
        this.metrics.onVanishingWarning(w.layer);
        this.log(`vanishing gradient: layer ${w.layer} norm ${w.norm.toExponential(2)} below ${w.threshold} for ${w.consecutive} observations`);
        this.publish('vanishing-gradient', { ...w });
      }
    }
  }

  private onEpochReport(report: EpochReport__Output): void {
    const list = this.epochReports.get(report.epoch) ?? [];
    list.push(report);
    this.epochReports.set(report.epoch, list);
    if (list.length < (this.world?.members.length ?? 0)) return;
    this.epochReports.delete(report.epoch);
    const plan = this.currentPlan!;
    this.globalStep += plan.steps;
    this.planState = plan.next;
    const count = list.reduce((a, r) => a + Number(r.valCount), 0);
    const values = list.reduce((a, r) => a + Number(r.valValues), 0);
    const sum = (f: (r: EpochReport__Output) => number) => list.reduce((a, r) => a + f(r), 0);
    const metrics = this.spec.validation.metrics;
    const task = this.sizes.task;
    const result: ValidationResult = {
      epoch: report.epoch,
      globalStep: this.globalStep,
      count,
      loss: count > 0 ? sum((r) => r.valLossSum) / count : Number.NaN,
    };
    if (count > 0 && (task === 'classification' || metrics.includes('accuracy'))) result.accuracy = sum((r) => r.valCorrect) / count;
    if (values > 0 && (task === 'regression' || metrics.includes('mse'))) result.mse = sum((r) => r.valSqErrorSum) / values;
    if (values > 0 && (task === 'regression' || metrics.includes('mae'))) result.mae = sum((r) => r.valAbsErrorSum) / values;
    result.units = validationLabelUnits(list, task, this.sizes.standardization);
    this.lastValidation = result;
    this.metrics.onValidation(result);
    this.metrics.onEpoch(plan.next.epoch);
    this.emit('validation', result);
    this.publish('epoch-done', { ...result });
    this.sendNextPlanOrFinish();
  }

  // --- failures -------------------------------------------------------------------------------

  private recordLoss(rank: number, why: string): void {
    this.log(`rank ${rank} lost: ${why}`);
    this.metrics.onWorkerFailure(rank);
    this.publish('worker-lost', { rank, reason: why });
    this.noteFailure((f) => f.lostRanks.add(rank), `rank ${rank} lost: ${why}`);
  }

  private onWorkerError(rank: number, code: string, message: string, peerRank: number): void {
    this.log(`rank ${rank} reported ${code}: ${message}`);
    if (code === 'NonFiniteLossError') {
      this.publish('non-finite-loss', { rank, message });
      this.fail(message, code);
      return;
    }
    this.noteFailure((f) => f.blamed.push({ by: rank, rank: peerRank, code, message }), `rank ${rank}: ${message}`);
  }

  /**
   * A failure usually shows up several ways at once (a broken session, peers' collective errors).
   * Collect evidence for a moment, then name the lost rank: a broken session is the strongest proof.
   */
  private noteFailure(add: (f: FailureEvidence) => void, first: string): void {
    if (this.state === 'finished' || this.state === 'failed') return;
    if (!this.failure) {
      this.failure = { lostRanks: new Set(), blamed: [], first };
      this.failureTimer = setTimeout(() => this.concludeFailure(), FAILURE_SETTLE_MS);
    }
    add(this.failure);
  }

  private concludeFailure(): void {
    const f = this.failure!;
    // In the order the sessions broke: the first is the cause, later ones may be consequences.
    let lost = [...f.lostRanks];
    if (lost.length === 0) lost = [...new Set(f.blamed.filter((b) => b.rank >= 0).map((b) => b.rank))];
    const lostRank = lost.length > 0 ? lost[0] : -1;
    const detail = f.blamed.length > 0 ? ` (${f.blamed[0].message})` : '';
    const message = lost.length > 0
      ? `lost worker rank ${lost.join(', rank ')}: ${f.first}${detail}`
      : `training failed: ${f.first}`;
    this.fail(message, lost.length > 0 ? 'WorkerLostError' : (f.blamed[0]?.code ?? 'WorkerError'), lostRank);
  }

  private fail(message: string, code: string, lostRank = -1): void {
    if (this.state === 'finished' || this.state === 'failed') return;
    this.log(`job failed: ${message}`);
    this.broadcastMessage({ abort: { reason: message, lostRank } });
    this.publish('failed', { error: message, code, lostRank });
    this.finish('failed', { error: message, errorCode: code, lostRank: lostRank >= 0 ? lostRank : undefined });
  }

  private finish(status: JobResult['status'], extra: Partial<JobResult> = {}): void {
    if (this.state === 'finished' || this.state === 'failed') return;
    this.setState(status === 'failed' ? 'failed' : 'finished');
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.shutdownTimer) clearTimeout(this.shutdownTimer);
    const trainSeconds = this.trainStartMs > 0 ? (Date.now() - this.trainStartMs) / 1000 : 0;
    const backends = [...new Set([...this.sessions.values()].map((s) => s.backend).filter(Boolean))];
    const result: JobResult = {
      status,
      jobId: this.jobId,
      workers: this.world?.members.length ?? 0,
      steps: this.stepsDone,
      epochs: this.planState?.epoch ?? 0,
      loss: this.lastLoss,
      accuracy: this.lastValidation?.accuracy ?? null,
      validation: this.lastValidation,
      samplesPerSec: trainSeconds > 0 ? this.samplesTrained / trainSeconds : null,
      wallSeconds: (Date.now() - this.startMs) / 1000,
      backend: backends.length > 0 ? backends.join(',') : null,
      lastCheckpoint: this.lastCheckpoint,
      test: status === 'failed' ? null : (this.testResults?.result() ?? null),
      ...extra,
    };
    if (status !== 'failed') this.publish('finished', { ...result });
    // Give in-flight messages (abort, stop) a moment to reach workers before the streams close.
    setTimeout(() => {
      for (const s of this.sessions.values()) if (!s.closed) { s.closed = true; s.call.end(); }
    }, 200).unref();
    this.settle(result);
  }

  // --- helpers --------------------------------------------------------------------------------

  /** Tells every rank to stop, and gives them SHUTDOWN_GRACE_MS to write the final checkpoint and say done. */
  private broadcastStop(reason: string): void {
    this.broadcastMessage({ command: { stop: { reason } } });
    if (this.shutdownTimer) return;
    this.shutdownTimer = setTimeout(() => {
      const missing = [...this.sessions.values()].filter((s) => !s.done).map((s) => s.member.rank);
      if (missing.length > 0) {
        this.fail(`rank ${missing.join(', rank ')} did not finish within ${SHUTDOWN_GRACE_MS} ms after the stop`, 'ShutdownTimeoutError', missing[0]);
      }
    }, SHUTDOWN_GRACE_MS);
    this.shutdownTimer.unref();
  }

  private broadcastMessage(msg: CoordinatorMessage): void {
    for (const s of this.sessions.values()) {
      if (!s.closed) s.call.write(msg);
    }
  }

  private setState(state: JobState): void {
    this.state = state;
    this.emit('state', state);
  }

  private publish(kind: EventKind, data: Record<string, unknown>): void {
    this.options.bus?.publish({ job: this.spec.name, kind, time: new Date().toISOString(), generation: this.world?.generation ?? 0, data: { jobId: this.jobId, ...data } });
  }
}

