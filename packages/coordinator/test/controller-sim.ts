// A socket-free simulation around the controller for its unit tests: a fake clock with the
// controller's timers, and simulated workers that do what docs/elastic.md asks of them (park, sync
// from the source, train plans step by step, vote Reform, abandon, stop) so a test can kill one at
// any point and look at the commands and the result. Tensors are replaced by a counter: a worker's
// "state" is its completed-step count, its digest a function of it.
import { validateJobSpec } from '@dtrain/shared/job-spec';
import type { EpochPlan } from '@dtrain/shared/proto';
import type { JobResult } from '../src/api';
import type {
  CheckpointPoint, Controller, ControllerCommand, ControllerEvent, ControllerOptions, CoordinatorStateFile, Envelope,
} from '../src/controller/api';
import { createController } from '../src/controller/controller';

export const TRAIN_SIZE = 100;
export const TEST_SIZE = 10;
export const BATCH = 4;

export function testSpec(overrides: Record<string, unknown> = {}) {
  return validateJobSpec({
    name: 'sim', seed: 3, backend: 'cpu',
    model: { kind: 'mlp', task: 'classification', hidden: [{ units: 4, activation: 'relu' }] },
    dataset: { kind: 'mnist', shape: 'flat', limit: 100 },
    loss: 'categoricalCrossentropy',
    optimizer: { kind: 'sgd', learningRate: 0.1 },
    training: { batchSize: BATCH, epochs: 2 },
    ...overrides,
  });
}

export function controllerOptions(o: Partial<ControllerOptions> = {}): ControllerOptions {
  return {
    spec: testSpec(), jobId: 'job-1', minWorkers: 2, maxWorkers: 2, trainSize: TRAIN_SIZE, testSize: TEST_SIZE,
    task: 'classification', epochs: 2, maxSteps: Number.POSITIVE_INFINITY, rendezvousTimeoutMs: 60_000,
    heartbeatTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, lastCallMs: 500, parkDeadlineMs: 5_000,
    shutdownGraceMs: 5_000, firstGeneration: 1, resume: null, takeover: null, checkpointDir: '/ckpt', ...o,
  };
}

export const digestOf = (completed: number): string => (completed < 0 ? '' : `state@${completed}`);

export class SimWorker {
  generation = 0;
  rank = -1;
  completed = -1;
  plan: Required<EpochPlan> | null = null;
  /** The next plan, sent ahead (planLookAhead): begun when `plan` ends normally, as the worker does. */
  heldPlan: Required<EpochPlan> | null = null;
  /** Its reports are late (kept in order in `lateReports` until Sim.releaseReports): a slow report path. */
  reportsLate = false;
  readonly lateReports: ControllerEvent[] = [];
  stepInPlan = 0;
  reformPending = false;
  parked = false;
  dead = false;
  /** Silent but alive (SIGSTOP): sends nothing, receives nothing. */
  frozen = false;
  /** Alive and heartbeating, but acts on no command (a wedged main loop). */
  deaf = false;
  aborted: string | null = null;
  stopped = false;
  /** Forces the digest it reports (divergence tests). */
  digestOverride: string | null = null;
  /** Forces the digest it reports in Parked only. */
  parkDigestOverride: string | null = null;

  constructor(readonly id: string, readonly host: string) {}

  get env(): Envelope {
    return { workerId: this.id, generation: this.generation, rank: this.rank };
  }

  digest(): string {
    return this.digestOverride ?? digestOf(this.completed);
  }
}

export class Sim {
  now = 0;
  readonly c: Controller;
  readonly workers: SimWorker[] = [];
  readonly commands: ControllerCommand[] = [];
  readonly logs: string[] = [];
  private readonly timers = new Map<string, number>();
  private readonly replies = new Map<number, Extract<ControllerCommand, { type: 'ReplyJoin' }>>();
  private token = 1;
  result: JobResult | null = null;
  lastState: CoordinatorStateFile | null = null;
  /** Samples of every step all ranks reported, by epoch: the test's own ledger. */
  readonly trainedByEpoch = new Map<number, number[]>();
  private pid = 100;

  constructor(readonly options: ControllerOptions = controllerOptions()) {
    this.c = createController(options);
    this.send({ type: 'Started', atMs: this.now });
  }

  // --- plumbing ---------------------------------------------------------------------------------

  send(ev: ControllerEvent): ControllerCommand[] {
    this.depth += 1;
    let out: ControllerCommand[];
    try {
      out = this.c.handle(ev);
      for (const cmd of out) this.carryOut(cmd);
    } finally {
      this.depth -= 1;
    }
    // Worker replies go out only after the whole command batch was carried out, as over a stream.
    if (this.depth === 0) while (this.queue.length > 0) this.queue.shift()!();
    return out;
  }

  private depth = 0;

  private carryOut(cmd: ControllerCommand): void {
    this.commands.push(cmd);
    switch (cmd.type) {
      case 'Log': this.logs.push(cmd.line); return;
      case 'SetTimer': this.timers.set(cmd.name, this.now + cmd.ms); return;
      case 'ClearTimer': this.timers.delete(cmd.name); return;
      case 'ReplyJoin': this.replies.set(cmd.token, cmd); return;
      case 'WriteState': this.lastState = JSON.parse(JSON.stringify(cmd.state)) as CoordinatorStateFile; return;
      case 'Finish': this.result = cmd.result; return;
      default: break;
    }
    const w = 'workerId' in cmd ? this.workers.filter((x) => x.id === cmd.workerId && !x.dead).pop() : undefined;
    if (!w || w.dead || w.frozen || w.deaf) return;
    switch (cmd.type) {
      case 'SendWorld': {
        w.generation = Number(cmd.world.generation);
        w.rank = cmd.world.rank;
        w.parked = false;
        w.plan = null;
        w.heldPlan = null;
        w.reformPending = false;
        // The sync: every member adopts the source's state (or the checkpoint's, then the source's).
        w.completed = Number(cmd.world.completedSteps);
        this.defer(() => this.send({ type: 'Synced', atMs: this.now, from: w.env, generation: w.generation, completedSteps: w.completed, digest: w.digest() }));
        return;
      }
      case 'SendPlan':
        if (w.plan && cmd.plan.generation === w.plan.generation
          && Number(cmd.plan.firstGlobalStep) === Number(w.plan.firstGlobalStep) + w.plan.steps) {
          w.heldPlan = cmd.plan;
          return;
        }
        w.plan = cmd.plan;
        w.stepInPlan = 0;
        if (cmd.plan.steps === 0) this.defer(() => this.finishPlan(w));
        return;
      case 'SendReform':
        if (w.parked) return;
        if (w.plan === null) this.defer(() => this.park(w, 'reform (idle)'));
        else w.reformPending = true;
        return;
      case 'SendAbandon':
        if (!w.parked) this.defer(() => this.park(w, 'abandon'));
        return;
      case 'SendStop':
        w.stopped = true;
        this.defer(() => this.send({ type: 'Done', atMs: this.now, from: w.env, globalStep: w.completed }));
        return;
      case 'SendAbort': w.aborted = cmd.reason; return;
      case 'SendCheckpointNow':
        this.defer(() => this.send({ type: 'CheckpointReported', atMs: this.now, from: w.env, globalStep: w.completed, path: `/ckpt/step-${w.completed}` }));
        return;
      default: return;
    }
  }

  private queue: (() => void)[] = [];

  private defer(f: () => void): void {
    this.queue.push(f);
  }

  /** Moves the clock, firing the controller's timers that come due, in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, at]) => at <= until).sort((a, b) => a[1] - b[1])[0];
      if (!due) break;
      this.now = Math.max(this.now, due[1]);
      this.timers.delete(due[0]);
      this.send({ type: 'TimerFired', atMs: this.now, name: due[0] });
    }
    this.now = until;
  }

  /** Every live, unfrozen worker sends a heartbeat (the real ones do each second). */
  heartbeats(): void {
    for (const w of this.workers) if (!w.dead && !w.frozen) this.send({ type: 'Heartbeat', atMs: this.now, from: w.env });
  }

  /** Advance in 1 s ticks with heartbeats in between. */
  wait(ms: number): void {
    for (let t = 0; t < ms; t += 1_000) {
      this.heartbeats();
      this.advance(Math.min(1_000, ms - t));
    }
  }

  timerSet(name: string): boolean {
    return this.timers.has(name);
  }

  // --- worker actions ---------------------------------------------------------------------------

  /** Join + session + (fresh) park. Returns the worker, or the refusal reason. */
  join(host = 'h1', opts: { hint?: number; workerId?: string; jobId?: string; park?: boolean; completed?: number; generation?: number } = {}): SimWorker | string {
    const token = this.token++;
    this.send({ type: 'WorkerJoined', atMs: this.now, token, join: {
      jobId: opts.jobId ?? '', workerId: opts.workerId ?? '', peerAddress: `${host}:${7000 + this.pid}`, hostname: host,
      pid: this.pid++, localRankHint: opts.hint ?? -1, backend: 'cpu', metricsAddress: '',
    } });
    const reply = this.replies.get(token)!;
    if (!reply.ok) return reply.reason;
    const w = new SimWorker(reply.workerId, host);
    w.generation = opts.generation ?? 0;
    this.workers.push(w);
    this.send({ type: 'SessionOpened', atMs: this.now, from: w.env, jobId: reply.jobId, backend: 'cpu', metricsAddress: '' });
    if (opts.park !== false) {
      w.completed = opts.completed ?? -1;
      this.park(w, 'ready', opts.generation ?? 0);
    }
    return w;
  }

  joinOk(host = 'h1', opts: Parameters<Sim['join']>[1] = {}): SimWorker {
    const w = this.join(host, opts);
    if (typeof w === 'string') throw new Error(`join refused: ${w}`);
    return w;
  }

  park(w: SimWorker, reason: string, left = w.generation): void {
    if (w.dead) return;
    w.parked = true;
    w.plan = null;
    w.heldPlan = null;
    w.reformPending = false;
    w.rank = -1;
    this.send({ type: 'Parked', atMs: this.now, from: w.env, leftGeneration: left, completedSteps: w.completed, digest: w.parkDigestOverride ?? w.digest(), reason });
  }

  /** The late reports of `w` arrive now, in order. */
  releaseReports(w: SimWorker): void {
    w.reportsLate = false;
    for (const ev of w.lateReports.splice(0)) this.send(ev);
  }

  kill(w: SimWorker, why = 'stream ended'): void {
    w.dead = true;
    this.send({ type: 'SessionClosed', atMs: this.now, workerId: w.id, why });
  }

  members(): SimWorker[] {
    return this.workers.filter((w) => !w.dead && !w.parked && w.rank >= 0).sort((a, b) => a.rank - b.rank);
  }

  /**
   * One training step of the current plan. `completers` (default: every live, unfrozen member)
   * apply the update; of those, `reporters` (default: the same) report it. A step that not every
   * member completes is what a kill in the middle of an all-reduce looks like.
   */
  step(completers?: SimWorker[], reporters?: SimWorker[]): void {
    const members = this.members().filter((w) => !w.frozen && !w.deaf && w.plan !== null);
    const done = completers ?? members;
    const rep = reporters ?? done;
    for (const w of done) {
      const p = w.plan!;
      const s = w.stepInPlan;
      const globalStep = Number(p.firstGlobalStep) + s;
      w.completed = globalStep + 1;
      w.stepInPlan += 1;
      if (rep.includes(w)) {
        const ev: ControllerEvent = { type: 'StepReported', atMs: this.now, from: w.env, report: {
          globalStep, epoch: p.epoch, stepInEpoch: p.firstStepInEpoch + s, loss: 1 / (globalStep + 1), samples: p.batchSize,
          computeSeconds: 0.01, allreduceSeconds: 0.001, stepSeconds: 0.012, allreduceBytes: 100, gradientNorms: [], weightsDigest: '',
        } };
        if (w.reportsLate) w.lateReports.push(ev);
        else this.send(ev);
      }
    }
    if (done.length === members.length && members.length > 0) {
      const p = members[0].plan;
      if (p) {
        const s = members[0].stepInPlan - 1;
        const list = this.trainedByEpoch.get(p.epoch) ?? [];
        for (const w of members) list.push(...w.plan!.indices.slice(s * p.batchSize, (s + 1) * p.batchSize));
        this.trainedByEpoch.set(p.epoch, list);
      }
    }
    for (const w of done) {
      if (w.dead || w.parked || !w.plan) continue;
      if (w.reformPending) {
        this.park(w, 'reform');
        continue;
      }
      if (w.stepInPlan >= w.plan.steps) this.finishPlan(w);
    }
  }

  private finishPlan(w: SimWorker): void {
    const p = w.plan!;
    const held = w.heldPlan;
    w.plan = null;
    w.heldPlan = null;
    // A worker begins the plan it holds as soon as it sent the epoch report, before it hears anything.
    if (held && !w.reformPending && held.generation === w.generation) {
      w.plan = held;
      w.stepInPlan = 0;
    }
    const report: ControllerEvent = { type: 'EpochReported', atMs: this.now, from: w.env, report: {
      epoch: p.epoch, valLossSum: 1, valCorrect: 1, valAbsErrorSum: 0, valSqErrorSum: 0, valCount: p.validationIndices.length, valValues: 0,
    } };
    if (w.reportsLate) w.lateReports.push(report);
    else this.send(report);
    if (w.reformPending && !w.parked) this.park(w, 'reform (plan ended)');
  }

  /** Steps until the job ends or `limit` steps ran; returns the steps run. */
  run(limit = 10_000): number {
    let n = 0;
    while (!this.result && n < limit) {
      if (this.members().filter((w) => w.plan !== null).length === 0) break;
      this.step();
      n += 1;
    }
    return n;
  }

  ofType<T extends ControllerCommand['type']>(type: T): Extract<ControllerCommand, { type: T }>[] {
    return this.commands.filter((c): c is Extract<ControllerCommand, { type: T }> => c.type === type);
  }

  published(kind: string): Record<string, unknown>[] {
    return this.ofType('Publish').filter((p) => p.kind === kind).map((p) => p.data);
  }
}

/** Two-epoch ledger check independent of the controller: per epoch, no sample twice. */
export function duplicatesIn(samples: readonly number[]): number {
  return samples.length - new Set(samples).size;
}

export function checkpointAt(globalStep: number, planState: CheckpointPoint['planState']): CheckpointPoint {
  return { path: `/ckpt/step-${globalStep}`, globalStep, planState };
}
