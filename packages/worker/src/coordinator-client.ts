// The worker's side of dtrain.v1.Coordinator: Join (admission of this process), then one Session
// stream on which the worker reports and from which it takes world assignments, plans and commands
// in order. The link outlives a coordinator: when the stream breaks (the coordinator died or its
// network went away) the worker re-joins with backoff, naming its job and worker id, so a restarted
// coordinator can take the job over (docs/elastic.md "Takeover"); past a deadline it gives up with
// CoordinatorUnreachableError. Abandon is delivered at once (not queued behind a step), because it
// must abort the collective in flight.
import * as grpc from '@grpc/grpc-js';
import {
  CoordinatorUnreachableError, JoinRefusedError, WorldAbortedError,
} from '@dtrain/shared/errors';
import { loadDtrainProto } from '@dtrain/shared/proto';
import type { TransportSecurity } from '@dtrain/shared/security/api';
import { createInsecureSecurity } from '@dtrain/shared/security/transport-security';
import type {
  CoordinatorMessage__Output, JoinRequest, JoinResponse__Output, WorkerMessage,
} from '@dtrain/shared/proto';
import type { Abandon__Output } from '@dtrain/shared/generated/dtrain/v1/Abandon';
import type { CoordinatorClient } from '@dtrain/shared/generated/dtrain/v1/Coordinator';
import { StepReportBatch } from './step-report-batch';

export const HEARTBEAT_INTERVAL_MS = 1_000;
/**
 * First Join retry; it doubles up to JOIN_RETRY_MAX_MS. Short because `dtrain launch` starts its
 * workers together with the coordinator: the first tries usually come before it listens.
 */
export const JOIN_RETRY_MS = 50;
export const JOIN_RETRY_MAX_MS = 2_000;
/** Per-attempt deadline of a Join call (it answers at once when a coordinator is there). */
export const JOIN_ATTEMPT_MS = 5_000;
export const SESSION_CLOSE_TIMEOUT_MS = 10_000;
/** How long a worker that lost its coordinator keeps trying to reach one (takeover window). */
export const DEFAULT_RECONNECT_TIMEOUT_MS = 60_000;

export interface Identity {
  jobId: string;
  workerId: string;
  /** 0 while outside any generation. */
  generation: number;
  /** -1 while outside any generation. */
  rank: number;
}

export type WorkerReport = Omit<WorkerMessage, 'jobId' | 'generation' | 'rank' | 'workerId'>;
export type JoinFields = Omit<JoinRequest, 'jobId' | 'workerId'>;

export interface CoordinatorLinkOptions {
  address: string;
  join: JoinFields;
  /** First contact: how long to wait for a coordinator to come up. */
  joinTimeoutMs: number;
  /** After losing the coordinator: how long to keep re-joining. */
  reconnectTimeoutMs?: number;
  /** Called at once when an Abandon arrives (before it is queued): abort the collective here. */
  onAbandon?: (abandon: Abandon__Output) => void;
  /** Called at once when the coordinator is lost (before re-joining): leave the generation here. */
  onCoordinatorLost?: (reason: string) => void;
  /** Reports sent on a new session right after hello, once re-joined (the worker's Parked). */
  afterReconnect?: () => WorkerReport[];
  log?: (line: string) => void;
  /** TLS + join token of every channel this link opens, re-joins included (default: plaintext, no token). */
  security?: TransportSecurity;
}

function makeClient(address: string, security: TransportSecurity): CoordinatorClient {
  const proto = loadDtrainProto();
  return new proto.dtrain.v1.Coordinator(address, security.channelCredentials(), security.channelOptions({
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.max_receive_message_length': -1,
    // grpc-js waits 1 s before reconnecting after a refused connection and fails calls meanwhile; the
    // Join retries above are the pacing that matters, so let the channel reconnect as often as they ask.
    'grpc.initial_reconnect_backoff_ms': JOIN_RETRY_MS,
    'grpc.max_reconnect_backoff_ms': JOIN_RETRY_MAX_MS,
  })) as unknown as CoordinatorClient;
}

/** A refusal no retry can cure: the job is full or over, or the join token is wrong or missing. */
function isJoinRefusal(code: grpc.status | undefined): boolean {
  return code === grpc.status.FAILED_PRECONDITION || code === grpc.status.INVALID_ARGUMENT
    || code === grpc.status.UNAUTHENTICATED || code === grpc.status.PERMISSION_DENIED; // security
}

/**
 * Incoming messages are queued; the training loop polls commands between steps and waits for the
 * next message when idle. An Abort, a refused re-join or an unreachable coordinator rejects every wait.
 */
export class CoordinatorLink {
  readonly identity: Identity = { jobId: '', workerId: '', generation: 0, rank: -1 };
  private client: CoordinatorClient;
  private readonly security: TransportSecurity;
  private call: grpc.ClientDuplexStream<WorkerMessage, CoordinatorMessage__Output> | null = null;
  private hello: { backend: string; metricsAddress: string } = { backend: '', metricsAddress: '' };
  private queue: CoordinatorMessage__Output[] = [];
  private waiter: ((m: CoordinatorMessage__Output | Error) => void) | null = null;
  private failure: Error | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private ended = false;
  private reconnecting = false;
  /** How many times this worker re-joined after losing its coordinator. */
  reconnects = 0;
  private readonly steps = new StepReportBatch((reports, envelope) => {
    const [only] = reports;
    this.write(reports.length === 1 ? { step: only } : { steps: { reports } }, envelope);
  });

  constructor(private readonly options: CoordinatorLinkOptions) {
    this.security = options.security ?? createInsecureSecurity();
    this.client = makeClient(options.address, this.security);
  }

  get address(): string {
    return this.options.address;
  }

  get error(): Error | null {
    return this.failure;
  }

  /** First contact: retries while no coordinator answers, until joinTimeoutMs. */
  async join(): Promise<JoinResponse__Output> {
    const res = await this.joinWithin(this.options.joinTimeoutMs);
    this.identity.jobId = res.jobId;
    this.identity.workerId = res.workerId;
    return res;
  }

  private async joinWithin(timeoutMs: number): Promise<JoinResponse__Output> {
    const started = Date.now();
    const deadlineMs = started + timeoutMs;
    let backoff = JOIN_RETRY_MS;
    let lastDetail = 'no answer';
    for (;;) {
      try {
        return await new Promise<JoinResponse__Output>((resolve, reject) => {
          const request: JoinRequest = { ...this.options.join, jobId: this.identity.jobId, workerId: this.identity.workerId };
          const deadline = new Date(Math.min(deadlineMs, Date.now() + JOIN_ATTEMPT_MS));
          this.client.Join(request, { deadline }, (err, res) => (err || !res ? reject(err) : resolve(res)));
        });
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (isJoinRefusal(e.code)) {
          throw new JoinRefusedError(this.options.address, e.details ?? e.message);
        }
        lastDetail = e.details ?? e.message;
        if (Date.now() + backoff >= deadlineMs) {
          throw new CoordinatorUnreachableError(this.options.address, Date.now() - started, lastDetail);
        }
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, JOIN_RETRY_MAX_MS);
      }
    }
  }

  /** Opens the session stream (after join) and says hello. */
  openSession(hello: { backend: string; metricsAddress: string }): void {
    this.hello = hello;
    this.startStream();
  }

  private startStream(): void {
    const call = this.client.Session();
    this.call = call;
    call.on('data', (msg: CoordinatorMessage__Output) => this.onMessage(msg));
    call.on('error', (err: grpc.ServiceError) => {
      if (call !== this.call) return;
      if (err.code === grpc.status.FAILED_PRECONDITION || err.code === grpc.status.INVALID_ARGUMENT) {
        this.fail(new WorldAbortedError(`the coordinator refused the session: ${err.details ?? err.message}`));
        return;
      }
      this.lost(err.details ?? err.message);
    });
    call.on('end', () => {
      if (call !== this.call) return;
      // A coordinator that ends the stream on purpose is done with this worker; a dead one errors.
      this.fail(new WorldAbortedError('the coordinator closed the session'));
    });
    this.send({ hello: this.hello });
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.send({ heartbeat: { unixMs: Date.now() } }), HEARTBEAT_INTERVAL_MS);
    this.heartbeat.unref();
  }

  private onMessage(msg: CoordinatorMessage__Output): void {
    if (msg.body === 'abort' && msg.abort) {
      this.fail(new WorldAbortedError(`coordinator aborted the job: ${msg.abort.reason}`, msg.abort.lostRank));
      return;
    }
    if (msg.body === 'abandon' && msg.abandon) this.options.onAbandon?.(msg.abandon);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(msg);
    } else {
      this.queue.push(msg);
    }
  }

  /** The stream broke: leave the generation and re-join in the background. */
  private lost(reason: string): void {
    if (this.ended || this.failure || this.reconnecting) return;
    this.reconnecting = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    const old = this.call;
    this.call = null;
    old?.cancel();
    this.queue = [];
    this.steps.discard();
    this.options.log?.(`lost the coordinator (${reason}); re-joining as ${this.identity.workerId} of job ${this.identity.jobId}`);
    this.options.onCoordinatorLost?.(reason);
    // To the training loop a lost coordinator ends the generation like an Abandon does.
    this.onMessage({
      body: 'abandon',
      abandon: { generation: this.identity.generation, reason: `lost the coordinator: ${reason}`, lostRanks: [] },
    } as CoordinatorMessage__Output);
    void (async () => {
      try {
        // A fresh channel: the old one may sit in a long reconnect backoff of its own.
        this.client.close();
        this.client = makeClient(this.options.address, this.security);
        await this.joinWithin(this.options.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS);
        if (this.ended || this.failure) return;
        this.reconnects += 1;
        this.reconnecting = false;
        this.startStream();
        for (const report of this.options.afterReconnect?.() ?? []) this.send(report);
        this.options.log?.(`re-joined the coordinator at ${this.options.address}`);
      } catch (err) {
        this.reconnecting = false;
        this.fail(err as Error);
      }
    })();
  }

  /** Step reports are batched (step-report-batch.ts); anything else first flushes them, keeping the order. */
  send(report: WorkerReport): void {
    if (report.step) {
      this.steps.add(report.step, this.identity);
      return;
    }
    this.steps.flush();
    this.write(report, this.identity);
  }

  private write(report: WorkerReport, envelope: { generation: number; rank: number }): void {
    if (this.ended || this.failure || !this.call || this.reconnecting) return;
    const { jobId, workerId } = this.identity;
    this.call.write({ ...report, jobId, workerId, generation: envelope.generation, rank: envelope.rank });
  }

  /** Waits (bounded) until the coordinator aborts the job or the session fails. */
  async awaitAbort(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.failure && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Puts a message back at the head of the queue (taken too early, e.g. a world during a plan). */
  unshift(msg: CoordinatorMessage__Output): void {
    this.queue.unshift(msg);
  }

  /** A queued message, without waiting (commands between steps). */
  poll(): CoordinatorMessage__Output | null {
    if (this.failure) throw this.failure;
    return this.queue.shift() ?? null;
  }

  /** The next message, waiting for it (across a reconnect). */
  next(): Promise<CoordinatorMessage__Output> {
    if (this.failure) return Promise.reject(this.failure);
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      this.waiter = (m) => (m instanceof Error ? reject(m) : resolve(m));
    });
  }

  /**
   * Half-closes the stream and waits until the coordinator has closed its side (it does so once it
   * has the final reports of every rank), so that nothing written last is lost to a quick exit.
   */
  close(timeoutMs = SESSION_CLOSE_TIMEOUT_MS): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.ended) return Promise.resolve();
    this.steps.flush();
    this.ended = true;
    const call = this.call;
    const finish = (): void => { this.client.close(); };
    if (!call) { finish(); return Promise.resolve(); }
    return new Promise((resolve) => {
      const timer = setTimeout(() => { finish(); resolve(); }, timeoutMs);
      timer.unref();
      const done = () => { clearTimeout(timer); finish(); resolve(); };
      call.once('status', done);
      call.once('error', done);
      call.end();
      if (this.failure) done();
    });
  }

  private fail(err: Error): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.steps.discard();
    if (this.failure || this.ended) return;
    this.failure = err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(err);
    }
  }
}
