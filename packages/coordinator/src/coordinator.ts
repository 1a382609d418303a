// The coordinator process of one job: a thin gRPC adapter around the controller
// (./controller/controller.ts). It turns Join calls and Session streams into controller events,
// and carries out the controller's commands: messages on the streams, timers, events on the bus,
// metrics, the state file, the job's result. No job logic lives here (docs/elastic.md).
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { ControlReply, ControlRequest, EventKind, JobStatus } from '@dtrain/shared/control/api';
import type { JobSpec } from '@dtrain/shared/job-spec';
import { loadDtrainProto } from '@dtrain/shared/proto';
import { createInsecureSecurity } from '@dtrain/shared/security/transport-security';
import type {
  CoordinatorMessage, JoinRequest__Output, JoinResponse, WorkerMessage__Output,
} from '@dtrain/shared/proto';
import { startMetricsServerWithFallback } from '@dtrain/shared/metrics/metrics-endpoint';
import type { MetricsServer } from '@dtrain/shared/metrics/metrics-server';
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_HEARTBEAT_TIMEOUT_MS, DEFAULT_RENDEZVOUS_TIMEOUT_MS, LAST_CALL_MS, SHUTDOWN_GRACE_MS,
  type CoordinatorEvents, type CoordinatorOptions, type JobResult, type JobState,
} from './api';
import {
  Phase, type CheckpointPoint, type Controller, type ControllerCommand, type ControllerEvent, type CoordinatorStateFile,
  type Envelope,
} from './controller/api';
import { createController } from './controller/controller';
import type { RankedStepReport } from './controller/reports';
import { readResumeState } from './resume';
import { readStateFile, StateFileWriter } from './state-file';
import { CoordinatorMetrics } from './metrics/coordinator-metrics';
import { StragglerDetector } from './health/straggler-detector';
import { VanishingGradientDetector } from './health/vanishing-gradient-detector';
import { describeDatasetSizes } from './dataset-sizes';
import { createLivePage } from './live/live-page';
import type { LivePage } from './live/api';

type SessionCall = grpc.ServerDuplexStream<WorkerMessage__Output, CoordinatorMessage>;

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
  private controller: Controller | null = null;
  private readonly sessions = new Map<string, SessionCall>();
  private readonly joinReplies = new Map<number, grpc.sendUnaryData<JoinResponse>>();
  private readonly checkpointReplies = new Map<number, (reply: ControlReply) => void>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private nextToken = 1;
  private state: JobState = 'rendezvous';
  private settle!: (result: JobResult) => void;
  readonly result: Promise<JobResult>;
  private boundAddress = '';
  readonly metrics: CoordinatorMetrics;
  private metricsServer: MetricsServer | null = null;
  private live: LivePage | null = null;
  private readonly stragglers: StragglerDetector;
  private readonly vanishing: VanishingGradientDetector;
  private readonly takeoverState: CoordinatorStateFile | null;
  private stateWriter: StateFileWriter | null = null;
  private readonly minWorkers: number;
  private readonly maxWorkers: number;
  private finished = false;
  private startError: Error | null = null;

  constructor(private readonly options: CoordinatorOptions) {
    super();
    this.spec = options.spec;
    this.minWorkers = options.minWorkers ?? options.workers;
    this.maxWorkers = options.maxWorkers ?? Math.max(options.workers, this.minWorkers);
    // A state file of an unfinished job in checkpoint.dir: this start takes that job over.
    const dir = options.spec.checkpoint?.dir;
    let found: CoordinatorStateFile | null = null;
    try {
      found = dir && options.takeover !== false ? readStateFile(dir) : null;
    } catch (err) {
      // Reported by start(), like every other reason a job cannot start (a named error, not a stack trace).
      this.startError = err as Error;
    }
    this.takeoverState = found && found.ended === null && found.jobName === options.spec.name ? found : null;
    this.jobId = this.takeoverState?.jobId ?? options.jobId ?? `${options.spec.name}-${randomBytes(3).toString('hex')}`;
    this.log = options.log ?? ((line) => process.stderr.write(`[coordinator] ${line}\n`));
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

  /** True when this coordinator continues a job from its state file. */
  get isTakeover(): boolean {
    return this.takeoverState !== null;
  }

  /** Binds the gRPC server and opens the rendezvous; resolves with the bound address. */
  async start(): Promise<string> {
    if (this.startError) throw this.startError;
    for (const [flag, n] of [['MIN', this.minWorkers], ['MAX', this.maxWorkers]] as const) {
      if (!Number.isInteger(n) || n < 1) throw new Error(`--workers ${flag} must be a positive integer, got ${n}`);
    }
    if (this.maxWorkers < this.minWorkers) throw new Error(`--workers MIN:MAX needs MIN <= MAX, got ${this.minWorkers}:${this.maxWorkers}`);
    const sizes = await describeDatasetSizes(this.spec);
    let resume: CheckpointPoint | null = null;
    if (this.options.resumeFrom && !this.takeoverState) {
      const r = await readResumeState(this.options.resumeFrom, this.spec, sizes.trainSize);
      resume = { path: r.checkpointPath, globalStep: r.globalStep, planState: r.planState };
      this.log(`resuming from ${r.checkpointPath} at global step ${r.globalStep} (epoch ${r.planState.epoch + 1})`);
    }
    let takeoverCheckpoint: CheckpointPoint | null = null;
    const dir = this.spec.checkpoint?.dir ?? null;
    if (this.takeoverState && dir) {
      try {
        const r = await readResumeState(dir, this.spec, sizes.trainSize);
        takeoverCheckpoint = { path: r.checkpointPath, globalStep: r.globalStep, planState: r.planState };
      } catch (err) {
        this.log(`takeover: no usable checkpoint in ${dir} to fall back on (${(err as Error).message})`);
      }
    }
    if (dir) this.stateWriter = new StateFileWriter(dir, (err) => this.log(`WARNING: cannot write the coordinator state file: ${err.message}`));
    const heartbeatTimeoutMs = this.options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    this.controller = createController({
      spec: this.spec,
      jobId: this.jobId,
      minWorkers: this.minWorkers,
      maxWorkers: this.maxWorkers,
      trainSize: sizes.trainSize,
      testSize: sizes.testSize,
      validationSize: sizes.validationSize,
      standardization: sizes.standardization,
      task: sizes.task,
      epochs: this.options.epochs ?? this.spec.training.epochs,
      maxSteps: this.options.maxSteps ?? this.spec.training.maxSteps ?? Number.POSITIVE_INFINITY,
      rendezvousTimeoutMs: this.options.rendezvousTimeoutMs ?? DEFAULT_RENDEZVOUS_TIMEOUT_MS,
      heartbeatTimeoutMs,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
      lastCallMs: this.minWorkers === this.maxWorkers ? 0 : (this.options.lastCallMs ?? LAST_CALL_MS),
      parkDeadlineMs: this.spec.collective.timeoutMs,
      shutdownGraceMs: SHUTDOWN_GRACE_MS,
      firstGeneration: this.options.firstGeneration ?? 1,
      resume,
      takeover: this.takeoverState ? { state: this.takeoverState, newestCheckpoint: takeoverCheckpoint } : null,
      checkpointDir: dir,
      planLookAhead: this.options.planLookAhead ?? process.env.DTRAIN_PLAN_LOOKAHEAD !== '0',
    });
    if (this.options.metricsListen) {
      this.live = createLivePage({ source: this, job: this.spec.name });
      this.metricsServer = await startMetricsServerWithFallback(
        this.options.metricsListen, this.metrics.registry, () => this.state === 'running', this.log, this.live.routes);
      this.log(`metrics on ${this.metricsServer.url}/metrics; live page: ${this.metricsServer.url}/`);
    }
    const proto = loadDtrainProto();
    this.server.addService(proto.dtrain.v1.Coordinator.service, {
      Join: (call: grpc.ServerUnaryCall<JoinRequest__Output, JoinResponse>, callback: grpc.sendUnaryData<JoinResponse>) => this.handleJoin(call, callback),
      Session: (call: SessionCall) => this.handleSession(call),
    });
    // security: TLS + join token checked before Join runs; refusals are counted (dtrain_auth_refusals_total).
    const security = this.options.security ?? createInsecureSecurity({ log: this.log });
    security.onRefusal((r) => this.metrics.onAuthRefusal(r.service, r.reason));
    const port = await security.bindServer(this.server, this.options.listen, 'coordinator');
    const host = this.options.listen.slice(0, this.options.listen.lastIndexOf(':'));
    this.boundAddress = `${host === '0.0.0.0' || host === '' ? hostname() : host}:${port}`;
    this.publish('started', { workers: this.maxWorkers, minWorkers: this.minWorkers, maxWorkers: this.maxWorkers, address: this.boundAddress, trainSize: sizes.trainSize, testSize: sizes.testSize });
    this.dispatch({ type: 'Started', atMs: Date.now() });
    this.log(`listening on ${this.boundAddress}`);
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
        if (!this.controller) return { ok: false, error: `job ${this.jobId} has not started` };
        const token = this.nextToken++;
        const reply = new Promise<ControlReply>((resolve) => this.checkpointReplies.set(token, resolve));
        this.dispatch({ type: 'ControlRequest', atMs: Date.now(), request: { op: 'checkpoint', token } });
        return reply;
      }
    }
  }

  status(): JobStatus {
    if (this.controller) return this.controller.status();
    return { job: this.jobId, state: this.state, generation: 0, workers: 0, epoch: 0, globalStep: 0, loss: null, samplesPerSec: null, lastCheckpoint: null };
  }

  /** Stops the job at the next step every rank agrees on; rank 0 writes a final checkpoint. */
  requestStop(reason: string): void {
    this.dispatch({ type: 'ControlRequest', atMs: Date.now(), request: { op: 'stop', reason } });
  }

  /** Fails the job from outside (e.g. the launcher saw a worker process exit before joining). */
  abort(message: string, code = 'WorkerExitedError', lostRank = -1): void {
    this.dispatch({ type: 'ControlRequest', atMs: Date.now(), request: { op: 'abort', message, code, lostRank } });
  }

  async close(): Promise<void> {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await this.stateWriter?.flush();
    this.live?.close();
    await this.metricsServer?.close().catch(() => undefined);
    for (const call of this.sessions.values()) call.end();
    this.sessions.clear();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.server.forceShutdown(); resolve(); }, 2_000);
      this.server.tryShutdown(() => { clearTimeout(t); resolve(); });
    });
  }

  // --- gRPC -> events -------------------------------------------------------------------------

  private handleJoin(call: grpc.ServerUnaryCall<JoinRequest__Output, JoinResponse>, callback: grpc.sendUnaryData<JoinResponse>): void {
    const r = call.request;
    const token = this.nextToken++;
    this.joinReplies.set(token, callback);
    this.dispatch({ type: 'WorkerJoined', atMs: Date.now(), token, join: {
      jobId: r.jobId, workerId: r.workerId, peerAddress: r.peerAddress, hostname: r.hostname, pid: r.pid,
      localRankHint: r.localRankHint, backend: r.backend, metricsAddress: r.metricsAddress, cpus: r.cpus,
    } });
  }

  private handleSession(call: SessionCall): void {
    let workerId: string | null = null;
    call.on('data', (msg: WorkerMessage__Output) => {
      const from: Envelope = { workerId: msg.workerId, generation: Number(msg.generation), rank: msg.rank };
      const atMs = Date.now();
      if (workerId === null) {
        if (msg.body !== 'hello' || !msg.workerId) {
          call.emit('error', new Error('the first session message must be hello with a worker_id'));
          call.end();
          return;
        }
        workerId = msg.workerId;
        const old = this.sessions.get(workerId);
        this.sessions.set(workerId, call);
        if (old && old !== call) old.end();
        this.dispatch({ type: 'SessionOpened', atMs, from, jobId: msg.jobId, backend: msg.hello?.backend ?? '', metricsAddress: msg.hello?.metricsAddress ?? '' });
        return;
      }
      if (msg.workerId !== workerId) return;
      if (msg.body === 'steps') {
        // A batch of step reports is handled as the reports would be one by one.
        for (const report of msg.steps?.reports ?? []) this.dispatch({ type: 'StepReported', atMs, from, report });
        return;
      }
      const ev = this.toEvent(msg, from, atMs);
      if (ev) this.dispatch(ev);
    });
    const onGone = (why: string) => {
      if (workerId === null || this.sessions.get(workerId) !== call) return;
      this.sessions.delete(workerId);
      this.dispatch({ type: 'SessionClosed', atMs: Date.now(), workerId, why });
    };
    call.on('end', () => { onGone('stream ended'); call.end(); });
    call.on('error', (err) => onGone(err.message));
    call.on('cancelled', () => onGone('cancelled'));
    call.on('close', () => onGone('closed'));
  }

  private toEvent(msg: WorkerMessage__Output, from: Envelope, atMs: number): ControllerEvent | null {
    switch (msg.body) {
      case 'heartbeat': return { type: 'Heartbeat', atMs, from };
      case 'step': return msg.step ? { type: 'StepReported', atMs, from, report: msg.step } : null;
      case 'epoch': return msg.epoch ? { type: 'EpochReported', atMs, from, report: msg.epoch } : null;
      case 'checkpoint':
        return msg.checkpoint ? { type: 'CheckpointReported', atMs, from, globalStep: Number(msg.checkpoint.globalStep), path: msg.checkpoint.path } : null;
      case 'error':
        return msg.error ? { type: 'WorkerError', atMs, from, code: msg.error.code, message: msg.error.message, peerRank: msg.error.peerRank,
          globalStep: msg.error.globalStep } : null;
      case 'done': return { type: 'Done', atMs, from, globalStep: Number(msg.done?.globalStep ?? 0), test: msg.done?.test ?? null };
      case 'parked': {
        const p = msg.parked;
        return p ? { type: 'Parked', atMs, from, leftGeneration: Number(p.leftGeneration), completedSteps: Number(p.completedSteps), digest: p.stateDigest, reason: p.reason } : null;
      }
      case 'synced': {
        const s = msg.synced;
        return s ? { type: 'Synced', atMs, from, generation: Number(s.generation), completedSteps: Number(s.completedSteps), digest: s.stateDigest } : null;
      }
      default: return null;
    }
  }

  // --- commands -> effects --------------------------------------------------------------------

  private dispatch(event: ControllerEvent): void {
    if (!this.controller) {
      if (event.type === 'WorkerJoined') this.replyJoinRefused(event.token, 'coordinator is starting');
      return;
    }
    for (const c of this.controller.handle(event)) this.carryOut(c);
  }

  private carryOut(c: ControllerCommand): void {
    switch (c.type) {
      case 'ReplyJoin': {
        if (!c.ok) return this.replyJoinRefused(c.token, c.reason);
        const cb = this.joinReplies.get(c.token);
        this.joinReplies.delete(c.token);
        cb?.(null, { jobId: c.jobId, workerId: c.workerId, jobSpecJson: JSON.stringify(this.spec) });
        return;
      }
      case 'SendWorld': return this.send(c.workerId, { world: c.world });
      case 'SendPlan': return this.send(c.workerId, { plan: c.plan });
      case 'SendReform': return this.send(c.workerId, { command: { reform: { generation: c.generation, reason: c.reason } } });
      case 'SendAbandon': return this.send(c.workerId, { abandon: { generation: c.generation, reason: c.reason, lostRanks: c.lostRanks } });
      case 'SendStop': return this.send(c.workerId, { command: { stop: { reason: c.reason } } });
      case 'SendAbort': return this.send(c.workerId, { abort: { reason: c.reason, lostRank: c.lostRank } });
      case 'SendCheckpointNow':
        return this.send(c.workerId, { command: { checkpoint: { afterGlobalStep: c.afterGlobalStep, path: c.path, planStateJson: c.planStateJson } } });
      case 'CloseSession': {
        const call = this.sessions.get(c.workerId);
        if (call) {
          this.sessions.delete(c.workerId);
          call.emit('error', new Error(c.reason));
          call.end();
        }
        return;
      }
      case 'SetTimer': {
        const old = this.timers.get(c.name);
        if (old) clearTimeout(old);
        const t = setTimeout(() => {
          this.timers.delete(c.name);
          this.dispatch({ type: 'TimerFired', atMs: Date.now(), name: c.name });
        }, c.ms);
        t.unref();
        this.timers.set(c.name, t);
        return;
      }
      case 'ClearTimer': {
        const t = this.timers.get(c.name);
        if (t) clearTimeout(t);
        this.timers.delete(c.name);
        return;
      }
      case 'Publish': {
        this.emitWorldChange(c.kind, c.generation, c.data);
        const event = { job: this.spec.name, kind: c.kind, time: new Date().toISOString(), generation: c.generation, data: c.data };
        this.options.bus?.publish(event);
        this.emit('event', event);
        return;
      }
      case 'WriteState': this.stateWriter?.write(c.state); return;
      case 'Finish': return this.onFinish(c.result);
      case 'Log': this.log(c.line); return;
      case 'StateChanged':
        if (c.state !== this.state) {
          this.state = c.state;
          this.emit('state', c.state);
        }
        if (c.phase === Phase.Syncing) { this.stragglers.reset(); this.vanishing.reset(); }
        return;
      case 'StepCompleted':
        this.emit('step', c.progress);
        this.observeStepHealth(c.progress.globalStep - 1, c.reports);
        return;
      case 'EpochCompleted':
        this.metrics.onValidation(c.validation);
        this.metrics.onEpoch(c.nextEpoch);
        this.emit('validation', c.validation);
        return;
      case 'WorldFormed': this.metrics.onWorldFormed(c.generation, c.workers); return;
      case 'WorkerCounted':
        if (c.change === 'lost') { this.metrics.onWorkerFailure(-1); this.metrics.onWorkerLost(); } else this.metrics.onWorkerJoined();
        return;
      case 'RecoveryMeasured': this.metrics.onRecovery(c.seconds); return;
      case 'CheckpointCounted': this.metrics.onCheckpoint(); return;
      case 'ReplyCheckpoint': {
        const reply = this.checkpointReplies.get(c.token);
        this.checkpointReplies.delete(c.token);
        reply?.(c.ok ? { ok: true, checkpoint: c.path } : { ok: false, error: c.error });
        return;
      }
    }
  }

  private replyJoinRefused(token: number, reason: string): void {
    const cb = this.joinReplies.get(token);
    this.joinReplies.delete(token);
    cb?.({ code: grpc.status.FAILED_PRECONDITION, details: reason, name: 'JoinRefusedError', message: reason });
  }

  private send(workerId: string, msg: CoordinatorMessage): void {
    const call = this.sessions.get(workerId);
    if (call && !call.writableEnded) call.write(msg);
  }

  private onFinish(result: JobResult): void {
    if (this.finished) return;
    this.finished = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const [token] of this.joinReplies) this.replyJoinRefused(token, `job ${this.jobId} is over`);
    // Give in-flight messages (abort, stop) a moment to reach workers before the streams close.
    setTimeout(() => {
      for (const call of this.sessions.values()) call.end();
      this.sessions.clear();
    }, 200).unref();
    const flushed = this.stateWriter?.flush() ?? Promise.resolve();
    void flushed.then(() => this.settle(result));
  }

  private observeStepHealth(globalStep: number, byRank: RankedStepReport[]): void {
    this.emit('rank-steps', { globalStep, generation: this.controller?.status().generation ?? 0, ranks: byRank });
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

  private emitWorldChange(kind: EventKind, generation: number, data: Record<string, unknown>): void {
    const map = { 'world-formed': 'formed', 'worker-lost': 'lost', 'worker-joined': 'joined' } as const;
    if (!(kind in map)) return;
    const worldSize = kind === 'world-formed' ? Number(data.workers) : this.status().workers;
    this.emit('world', {
      kind: map[kind as keyof typeof map], generation, worldSize,
      workerId: typeof data.workerId === 'string' ? data.workerId : undefined,
      rank: typeof data.rank === 'number' ? data.rank : undefined,
      reason: typeof data.reason === 'string' ? data.reason : undefined,
    });
  }

  private publish(kind: EventKind, data: Record<string, unknown>): void {
    const generation = this.controller?.status().generation ?? 0;
    const event = { job: this.spec.name, kind, time: new Date().toISOString(), generation, data: { jobId: this.jobId, ...data } };
    this.options.bus?.publish(event);
    this.emit('event', event);
  }
}
