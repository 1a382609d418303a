// The control bus over NATS: events go to JetStream (durable, replayable by `dtrain events`),
// control requests arrive on `dtrain.<job>.control`. Training must never wait on NATS: publish()
// only queues; one pump sends the queue in order, one event in flight at a time, so an outage can
// neither reorder nor lose what it buffered (re-sends carry the same msgID and the stream drops copies).
import { randomUUID } from 'node:crypto';
import {
  connect, ErrorCode, type JetStreamClient, type Msg, type NatsConnection, type NatsError, type Subscription,
} from 'nats';
import { ControlPlaneError } from '../errors';
import { controlSubject, eventSubject, type ControlBus, type ControlReply, type ControlRequest, type JobEvent } from './api';
import { ensureEventsStream } from './events-stream';
import { deliverLocally } from './in-process-bus';
import { defaultControlLog, type ControlLog } from './log';
import { checkJobName, encodeJson, parseControlRequest, runHandler } from './wire';
import { authorizationError, natsConnectOptions, type NatsCredentials } from './nats-credentials';

export const DEFAULT_MAX_BUFFERED_EVENTS = 10_000;
export const RECONNECT_TIME_WAIT_MS = 250;
export const CONNECT_TIMEOUT_MS = 3_000;
export const PUBLISH_ACK_TIMEOUT_MS = 2_000;
/** Pause before re-trying a publish that failed while the connection looked fine (e.g. a JetStream hiccup). */
export const PUBLISH_RETRY_DELAY_MS = 250;
export const DEFAULT_CLOSE_FLUSH_TIMEOUT_MS = 3_000;
const FLUSH_POLL_MS = 10;

export interface NatsBusOptions {
  url: string;
  /** The job this process runs; names the connection and is checked to be a valid subject token. */
  job: string;
  log?: ControlLog;
  /** Events kept while NATS is unreachable; beyond it the oldest are dropped (and counted). */
  maxBufferedEvents?: number;
  /** How long close() waits for buffered events to reach the server. */
  closeFlushTimeoutMs?: number;
  /** Token, user/password or creds file, and TLS. */
  credentials?: NatsCredentials;
}

export interface NatsBusStats {
  connected: boolean;
  /** Waiting to be sent, including the one in flight. */
  buffered: number;
  /** Acknowledged by JetStream (duplicates included). */
  delivered: number;
  /** Dropped because the buffer was full, too large, or not serializable. */
  dropped: number;
  outages: number;
}

interface PendingEvent {
  subject: string;
  payload: Uint8Array;
  msgID: string;
  kind: string;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function connectNatsBus(opts: NatsBusOptions): Promise<NatsBus> {
  checkJobName(opts.job);
  const log = opts.log ?? defaultControlLog;
  let nc: NatsConnection;
  try {
    nc = await connect({
      ...natsConnectOptions(opts.credentials),
      servers: opts.url,
      name: `dtrain-coordinator-${opts.job}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_TIME_WAIT_MS,
      timeout: CONNECT_TIMEOUT_MS,
    });
  } catch (err) {
    throw authorizationError(err, opts.url, opts.credentials)
      ?? new ControlPlaneError('unreachable', opts.url, `cannot reach NATS at ${opts.url}: ${errorText(err)}`);
  }
  try {
    const jsm = await nc.jetstreamManager();
    await ensureEventsStream(jsm, log);
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw new ControlPlaneError('unreachable', opts.url,
      `NATS at ${opts.url} has no usable JetStream (start nats-server with -js): ${errorText(err)}`);
  }
  return new NatsBus(nc, opts, log);
}

export class NatsBus implements ControlBus {
  private readonly js: JetStreamClient;
  private readonly listeners = new Set<(event: JobEvent) => void>();
  private readonly controlSubs = new Map<string, Subscription>();
  private readonly queue: PendingEvent[] = [];
  private readonly maxBuffered: number;
  private readonly closeFlushTimeoutMs: number;
  private inFlight: PendingEvent | null = null;
  private pumping = false;
  private connected = true;
  private closing = false;
  private closed = false;
  private inOutage = false;
  private droppedUnreported = 0;
  private warnedBufferFull = false;
  private readonly reconnectWaiters: Array<() => void> = [];
  private readonly connectionChangeWaiters = new Set<() => void>();
  private readonly counters = { delivered: 0, dropped: 0, outages: 0 };

  constructor(private readonly nc: NatsConnection, private readonly opts: NatsBusOptions, private readonly log: ControlLog) {
    this.js = nc.jetstream();
    this.maxBuffered = opts.maxBufferedEvents ?? DEFAULT_MAX_BUFFERED_EVENTS;
    this.closeFlushTimeoutMs = opts.closeFlushTimeoutMs ?? DEFAULT_CLOSE_FLUSH_TIMEOUT_MS;
    void this.watchStatus();
  }

  publish(event: JobEvent): void {
    try {
      deliverLocally(this.listeners, event, this.log);
      if (this.closed) {
        this.log(`'${event.kind}' event published after close(): not sent to NATS`);
        return;
      }
      checkJobName(event.job);
      const payload = encodeJson(event);
      const maxPayload = this.nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
      if (payload.length > maxPayload) {
        this.counters.dropped++;
        this.log(`'${event.kind}' event dropped: ${payload.length} bytes exceed the server's max_payload ${maxPayload}`);
        return;
      }
      if (this.queue.length >= this.maxBuffered) {
        this.queue.shift();
        this.counters.dropped++;
        this.droppedUnreported++;
        if (!this.warnedBufferFull) {
          this.warnedBufferFull = true;
          this.log(`event buffer full (${this.maxBuffered} events): dropping the oldest; the count is reported once NATS returns`);
        }
      }
      this.queue.push({ subject: eventSubject(event.job, event.kind), payload, msgID: `${event.job}.${randomUUID()}`, kind: event.kind });
      void this.pump();
    } catch (err) {
      // Bad job name, circular data, BigInt...: the caller's training must go on.
      this.counters.dropped++;
      this.log(`'${String(event?.kind)}' event dropped: ${errorText(err)}`);
    }
  }

  serveControl(job: string, handler: (req: ControlRequest) => Promise<ControlReply>): void {
    checkJobName(job);
    this.controlSubs.get(job)?.unsubscribe();
    const sub = this.nc.subscribe(controlSubject(job), {
      callback: (err: NatsError | null, msg: Msg) => {
        if (err !== null) {
          this.log(`control subscription for job ${job} failed: ${err.message}`);
          return;
        }
        void this.answer(msg, handler);
      },
    });
    this.controlSubs.set(job, sub);
  }

  onEvent(listener: (event: JobEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  stats(): NatsBusStats {
    return {
      connected: this.connected,
      buffered: this.queue.length + (this.inFlight !== null ? 1 : 0),
      delivered: this.counters.delivered,
      dropped: this.counters.dropped,
      outages: this.counters.outages,
    };
  }

  /** Waits until every buffered event is acknowledged, or the timeout passes; returns how many are still pending. */
  async flush(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.stats().buffered > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, FLUSH_POLL_MS));
    }
    return this.stats().buffered;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const left = await this.flush(this.closeFlushTimeoutMs);
    if (left > 0) {
      this.log(`closing with ${left} events not delivered to NATS at ${this.opts.url} after ${this.closeFlushTimeoutMs} ms`);
    }
    this.closed = true;
    this.wakeReconnectWaiters();
    for (const sub of this.controlSubs.values()) sub.unsubscribe();
    this.controlSubs.clear();
    this.listeners.clear();
    if (this.connected) {
      await this.nc.drain().catch(() => this.nc.close());
    } else {
      await this.nc.close().catch(() => undefined);
    }
  }

  private async answer(msg: Msg, handler: (req: ControlRequest) => Promise<ControlReply>): Promise<void> {
    const parsed = parseControlRequest(msg.data);
    const reply: ControlReply = parsed.ok ? await runHandler(handler, parsed.value) : { ok: false, error: parsed.error };
    if (!parsed.ok) this.log(`bad control request on ${msg.subject}: ${parsed.error}`);
    if (msg.reply === undefined || msg.reply === '') return;
    try {
      msg.respond(encodeJson(reply));
    } catch (err) {
      this.log(`could not answer control request on ${msg.subject}: ${errorText(err)}`);
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') {
        this.connected = false;
        for (const wake of this.connectionChangeWaiters) wake();
        this.connectionChangeWaiters.clear();
        this.beginOutage(`lost the connection to NATS at ${this.opts.url}`);
      } else if (status.type === 'reconnect') {
        this.connected = true;
        for (const wake of this.connectionChangeWaiters) wake();
        this.connectionChangeWaiters.clear();
        this.wakeReconnectWaiters();
        if (this.stats().buffered === 0) this.endOutage();
      }
    }
  }

  private beginOutage(why: string): void {
    if (this.inOutage || this.closed) return;
    this.inOutage = true;
    this.counters.outages++;
    this.log(`${why}; buffering events (up to ${this.maxBuffered}) until it returns`);
  }

  /** The buffer is empty again: close the outage (one line) and report drops, which may also come from a slow server. */
  private endOutage(): void {
    const dropped = this.droppedUnreported > 0 ? `${this.droppedUnreported} events were dropped because the buffer was full` : '';
    if (this.inOutage) {
      this.log(`NATS at ${this.opts.url} is back: buffered events delivered${dropped ? `; ${dropped}` : ''}`);
    } else if (dropped) {
      this.log(`event buffer drained; ${dropped}`);
    }
    this.inOutage = false;
    this.droppedUnreported = 0;
    this.warnedBufferFull = false;
  }

  private wakeReconnectWaiters(): void {
    for (const wake of this.reconnectWaiters.splice(0)) wake();
  }

  private async waitBeforeRetry(): Promise<void> {
    if (!this.connected) {
      await new Promise<void>((resolve) => this.reconnectWaiters.push(resolve));
    } else {
      await new Promise((r) => setTimeout(r, PUBLISH_RETRY_DELAY_MS));
    }
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closed) {
        if (this.inFlight === null) {
          this.inFlight = this.queue.shift() ?? null;
          if (this.inFlight === null) break;
        }
        const event = this.inFlight;
        try {
          const ack = this.js.publish(event.subject, event.payload, { msgID: event.msgID, timeout: PUBLISH_ACK_TIMEOUT_MS });
          // A request written around a disconnect or reconnect may never be answered (measured: the
          // reconnect flushed it but no ack came): don't sit out the ack timeout, re-send on the new
          // connection. Same msgID, so a copy that did land is dropped by the stream.
          let onLost: () => void = () => undefined;
          const lost = new Promise<'lost'>((resolve) => {
            onLost = () => resolve('lost');
          });
          this.connectionChangeWaiters.add(onLost);
          const outcome = await Promise.race([ack, lost]).finally(() => this.connectionChangeWaiters.delete(onLost));
          if (outcome === 'lost') {
            ack.catch(() => undefined);
            if (!this.connected) await this.waitBeforeRetry();
            continue;
          }
          this.inFlight = null;
          this.counters.delivered++;
          if (this.queue.length === 0 && this.connected) this.endOutage();
        } catch (err) {
          const code = (err as NatsError).code;
          if (code === ErrorCode.MaxPayloadExceeded) {
            this.inFlight = null;
            this.counters.dropped++;
            this.log(`'${event.kind}' event dropped: ${errorText(err)}`);
            continue;
          }
          this.beginOutage(`publishing '${event.kind}' to NATS at ${this.opts.url} failed (${errorText(err)})`);
          if (code === ErrorCode.NoResponders && this.connected) {
            // Nobody stores dtrain.*.events: the stream was deleted under us; put it back.
            await this.nc.jetstreamManager()
              .then((jsm) => ensureEventsStream(jsm, this.log))
              .catch((e: unknown) => this.log(`could not re-create the events stream: ${errorText(e)}`));
          }
          await this.waitBeforeRetry();
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}
