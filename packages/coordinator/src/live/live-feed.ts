// The live page's data: it listens to the coordinator's public events, keeps a bounded history (enough
// to draw the whole run), and streams every change to open pages as Server-Sent Events. A page that
// connects (or reconnects) first gets a snapshot, then the increments.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JobEvent } from '@dtrain/shared/control/api';
import type { JobState, StepProgress, ValidationResult, WorldChange } from '../api';
import type { LiveSource, RankStepsEvent } from './api';

/** Loss curve points kept; beyond this the older half is thinned to every other point. */
export const MAX_STEP_POINTS = 10_000;
/** Per-rank step reports kept (the page shows recent behaviour, not the whole run). */
export const MAX_RANK_POINTS = 600;
/** Events kept besides the ones the page derives structure from (worlds, losses, checkpoints). */
export const MAX_OTHER_EVENTS = 300;
const KEEP_ALL_KINDS = new Set([
  'world-formed', 'worker-lost', 'worker-joined', 'coordinator-takeover', 'checkpoint-written', 'failed', 'finished', 'started',
]);
/** World changes kept (every one: a job has few). */
export const MAX_WORLD_CHANGES = 10_000;
const KEEPALIVE_MS = 15_000;

export interface StepPoint {
  step: number;
  epoch: number;
  loss: number;
  /** Recent samples/s (smoothed) and the run's average since training began (the summary's figure). */
  samplesPerSec: number;
  avgSamplesPerSec: number | null;
  totalSteps: number;
  epochs: number;
  /** Seconds since the feed started. */
  t: number;
}

export interface RankPoint {
  step: number;
  generation: number;
  ranks: { rank: number; samplesPerSec: number; computeSeconds: number; allreduceSeconds: number; stepSeconds: number }[];
}

/** A world change (formed / lost / joined) with the time the feed saw it. */
export type WorldPoint = WorldChange & { time: string };

export interface LiveSnapshot {
  job: string;
  jobId: string;
  state: JobState;
  steps: StepPoint[];
  validations: ValidationResult[];
  rankSteps: RankPoint[];
  events: JobEvent[];
  /** Every world generation formed and every worker lost or joined, in order. */
  worlds: WorldPoint[];
}

export type LiveMessage =
  | { type: 'snapshot'; snapshot: LiveSnapshot }
  | { type: 'step'; point: StepPoint }
  | { type: 'ranks'; point: RankPoint }
  | { type: 'validation'; validation: ValidationResult }
  | { type: 'event'; event: JobEvent }
  | { type: 'world'; change: WorldPoint }
  | { type: 'state'; state: JobState };

export class LiveFeed {
  private readonly started = Date.now();
  private state: JobState = 'rendezvous';
  private steps: StepPoint[] = [];
  private validations: ValidationResult[] = [];
  private rankSteps: RankPoint[] = [];
  private events: JobEvent[] = [];
  private worlds: WorldPoint[] = [];
  private otherEvents = 0;
  private readonly clients = new Set<ServerResponse>();
  private readonly keepalive: NodeJS.Timeout;

  constructor(private readonly source: LiveSource, private readonly job: string) {
    source.on('step', (p) => this.onStep(p));
    source.on('validation', (v) => this.push(this.validations, v, Number.POSITIVE_INFINITY, { type: 'validation', validation: v }));
    source.on('state', (s) => { this.state = s; this.send({ type: 'state', state: s }); });
    source.on('event', (e) => this.onEvent(e));
    source.on('rank-steps', (r) => this.onRankSteps(r));
    source.on('world', (w) => {
      const change: WorldPoint = { ...w, time: new Date().toISOString() };
      this.push(this.worlds, change, MAX_WORLD_CHANGES, { type: 'world', change });
    });
    this.keepalive = setInterval(() => { for (const c of this.clients) c.write(': keepalive\n\n'); }, KEEPALIVE_MS);
    this.keepalive.unref();
  }

  snapshot(): LiveSnapshot {
    return {
      job: this.job, jobId: this.source.jobId, state: this.state,
      steps: this.steps, validations: this.validations, rankSteps: this.rankSteps, events: this.events,
      worlds: this.worlds,
    };
  }

  /** GET /live/feed: text/event-stream, one JSON LiveMessage per `data:` line. */
  serve(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    if (req.method === 'HEAD') { res.end(); return; }
    res.write('retry: 1000\n\n');
    this.write(res, { type: 'snapshot', snapshot: this.snapshot() });
    this.clients.add(res);
    const drop = () => this.clients.delete(res);
    req.on('close', drop);
    res.on('error', drop);
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  private onStep(p: StepProgress): void {
    const point: StepPoint = {
      step: p.globalStep, epoch: p.epoch, loss: p.loss, samplesPerSec: p.samplesPerSec,
      avgSamplesPerSec: p.avgSamplesPerSec ?? null, totalSteps: p.totalSteps, epochs: p.epochs,
      t: (Date.now() - this.started) / 1000,
    };
    this.steps.push(point);
    if (this.steps.length > MAX_STEP_POINTS) {
      const half = this.steps.length >> 1;
      this.steps = [...this.steps.slice(0, half).filter((_, i) => i % 2 === 0), ...this.steps.slice(half)];
    }
    this.send({ type: 'step', point });
  }

  private onRankSteps(r: RankStepsEvent): void {
    const point: RankPoint = {
      step: r.globalStep + 1,
      generation: r.generation,
      ranks: r.ranks.map((s) => ({
        rank: s.rank,
        samplesPerSec: s.stepSeconds > 0 ? s.samples / s.stepSeconds : 0,
        computeSeconds: s.computeSeconds,
        allreduceSeconds: s.allreduceSeconds,
        stepSeconds: s.stepSeconds,
      })),
    };
    this.push(this.rankSteps, point, MAX_RANK_POINTS, { type: 'ranks', point });
  }

  private onEvent(e: JobEvent): void {
    if (!KEEP_ALL_KINDS.has(e.kind)) {
      this.otherEvents += 1;
      if (this.otherEvents > MAX_OTHER_EVENTS) {
        const i = this.events.findIndex((x) => !KEEP_ALL_KINDS.has(x.kind));
        if (i >= 0) this.events.splice(i, 1);
        this.otherEvents -= 1;
      }
    }
    this.events.push(e);
    this.send({ type: 'event', event: e });
  }

  private push<T>(list: T[], item: T, max: number, message: LiveMessage): void {
    list.push(item);
    if (list.length > max) list.splice(0, list.length - max);
    this.send(message);
  }

  private send(message: LiveMessage): void {
    for (const c of this.clients) this.write(c, message);
  }

  private write(res: ServerResponse, message: LiveMessage): void {
    // JSON has no raw newlines, so one `data:` line per message; non-finite numbers become null.
    res.write(`data: ${JSON.stringify(message)}\n\n`);
  }
}
