// The worker's side of dtrain.v1.Coordinator: Join (rendezvous), then one Session stream on which
// the worker reports and from which it takes plans and commands in order.
import * as grpc from '@grpc/grpc-js';
import { WorldAbortedError } from '@dtrain/shared/errors';
import { loadDtrainProto } from '@dtrain/shared/proto';
import type { TransportSecurity } from '@dtrain/shared/security/api';
import { createInsecureSecurity } from '@dtrain/shared/security/transport-security';
import type {
  CoordinatorMessage__Output, JoinRequest, JoinResponse__Output, WorkerMessage,
} from '@dtrain/shared/proto';
import type { CoordinatorClient } from '@dtrain/shared/generated/dtrain/v1/Coordinator';

export const HEARTBEAT_INTERVAL_MS = 1_000;
export const JOIN_RETRY_MS = 500;
export const SESSION_CLOSE_TIMEOUT_MS = 10_000;

export interface Identity {
  jobId: string;
  generation: number;
  rank: number;
}

export type WorkerReport = Omit<WorkerMessage, 'jobId' | 'generation' | 'rank'>;

export class CoordinatorConnection {
  private readonly client: CoordinatorClient;

  constructor(readonly address: string, security: TransportSecurity = createInsecureSecurity()) {
    const proto = loadDtrainProto();
    this.client = new proto.dtrain.v1.Coordinator(address, security.channelCredentials(), security.channelOptions({
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.max_receive_message_length': -1,
    })) as unknown as CoordinatorClient;
  }

  /** Joins the rendezvous; retries while the coordinator is not up yet, until the deadline. */
  async join(request: JoinRequest, timeoutMs: number): Promise<JoinResponse__Output> {
    const deadlineMs = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await new Promise<JoinResponse__Output>((resolve, reject) => {
          this.client.Join(request, { deadline: new Date(deadlineMs) }, (err, res) => (err || !res ? reject(err) : resolve(res)));
        });
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (e.code === grpc.status.UNAVAILABLE && Date.now() + JOIN_RETRY_MS < deadlineMs) {
          await new Promise((r) => setTimeout(r, JOIN_RETRY_MS));
          continue;
        }
        if (e.code === grpc.status.UNAVAILABLE) throw new Error(`coordinator ${this.address} is unreachable: ${e.details}`);
        throw new Error(`join refused by coordinator ${this.address}: ${e.details ?? e.message}`);
      }
    }
  }

  openSession(identity: Identity, hello: { backend: string; metricsAddress: string }): WorkerSession {
    return new WorkerSession(this.client.Session(), identity, hello);
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Incoming messages are queued; the training loop polls commands between steps and waits for the
 * next plan at epoch boundaries. A lost coordinator or an Abort rejects every wait.
 */
export class WorkerSession {
  private queue: CoordinatorMessage__Output[] = [];
  private waiter: ((m: CoordinatorMessage__Output | Error) => void) | null = null;
  private failure: Error | null = null;
  private readonly heartbeat: NodeJS.Timeout;
  private ended = false;

  constructor(
    private readonly call: grpc.ClientDuplexStream<WorkerMessage, CoordinatorMessage__Output>,
    private readonly identity: Identity,
    hello: { backend: string; metricsAddress: string },
  ) {
    call.on('data', (msg: CoordinatorMessage__Output) => {
      if (msg.body === 'abort' && msg.abort) {
        this.fail(new WorldAbortedError(`coordinator aborted the job: ${msg.abort.reason}`, msg.abort.lostRank));
        return;
      }
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(msg);
      } else {
        this.queue.push(msg);
      }
    });
    call.on('error', (err: grpc.ServiceError) => this.fail(new WorldAbortedError(`lost the coordinator: ${err.details ?? err.message}`)));
    call.on('end', () => this.fail(new WorldAbortedError('the coordinator closed the session')));
    this.send({ hello });
    this.heartbeat = setInterval(() => this.send({ heartbeat: { unixMs: Date.now() } }), HEARTBEAT_INTERVAL_MS);
    this.heartbeat.unref();
  }

  get error(): Error | null {
    return this.failure;
  }

  send(report: WorkerReport): void {
    if (this.ended || this.failure) return;
    this.call.write({ ...report, jobId: this.identity.jobId, generation: this.identity.generation, rank: this.identity.rank });
  }

  /** Waits (bounded) until the coordinator aborts the world or the session ends. */
  async awaitAbort(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.failure && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A queued message, without waiting (commands between steps). */
  poll(): CoordinatorMessage__Output | null {
    if (this.failure) throw this.failure;
    return this.queue.shift() ?? null;
  }

  /** The next message, waiting for it. */
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
    clearInterval(this.heartbeat);
    if (this.ended) return Promise.resolve();
    this.ended = true;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      const done = () => { clearTimeout(timer); resolve(); };
      this.call.once('status', done);
      this.call.once('error', done);
      this.call.end();
      if (this.failure) done();
    });
  }

  private fail(err: Error): void {
    clearInterval(this.heartbeat);
    if (this.failure || this.ended) return;
    this.failure = err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(err);
    }
  }
}
