// The client side of the control plane, used by `dtrain status|stop|events`: ask a coordinator,
// or read a job's event history from JetStream and follow it.
import { connect, DeliverPolicy, ErrorCode, type ConsumerMessages, type NatsConnection, type NatsError } from 'nats';
import { ControlPlaneError } from '../errors';
import { controlSubject, type ControlReply, type ControlRequest, type JobEvent } from './api';
import { ensureEventsStream, EVENTS_STREAM } from './events-stream';
import { defaultControlLog, type ControlLog } from './log';
import { CONNECT_TIMEOUT_MS, RECONNECT_TIME_WAIT_MS } from './nats-bus';
import { checkJobName, encodeJson, parseControlReply, parseJobEvent } from './wire';
import { authorizationError, natsConnectOptions, natsCredentialsFromEnv, type NatsCredentials } from './nats-credentials';

export const DEFAULT_CONTROL_TIMEOUT_MS = 3_000;
/** A follower notices a dead pull (e.g. after a server restart) after two missed heartbeats. */
const FOLLOW_IDLE_HEARTBEAT_MS = 1_000;
const FOLLOW_PULL_EXPIRES_MS = 5_000;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The CLI's NATS credentials; tests and embedders may set them instead of DTRAIN_NATS_* variables. */
let clientCredentials: NatsCredentials | undefined = natsCredentialsFromEnv(process.env);
export function setControlClientCredentials(credentials: NatsCredentials | undefined): void {
  clientCredentials = credentials;
}

async function connectClient(url: string, reconnect: boolean): Promise<NatsConnection> {
  try {
    return await connect({
      ...natsConnectOptions(clientCredentials),
      servers: url,
      name: 'dtrain-cli',
      timeout: CONNECT_TIMEOUT_MS,
      reconnect,
      maxReconnectAttempts: reconnect ? -1 : 0,
      reconnectTimeWait: RECONNECT_TIME_WAIT_MS,
    });
  } catch (err) {
    throw authorizationError(err, url, clientCredentials)
      ?? new ControlPlaneError('unreachable', url, `cannot reach NATS at ${url}: ${errorText(err)}`);
  }
}

/** One request/reply to the coordinator serving `job`. Throws ControlPlaneError when nobody answers. */
export async function requestControl(url: string, job: string, req: ControlRequest, timeoutMs = DEFAULT_CONTROL_TIMEOUT_MS): Promise<ControlReply> {
  checkJobName(job);
  const nc = await connectClient(url, false);
  try {
    let data: Uint8Array;
    try {
      const msg = await nc.request(controlSubject(job), encodeJson(req), { timeout: timeoutMs });
      data = msg.data;
    } catch (err) {
      const code = (err as NatsError).code;
      if (code === ErrorCode.NoResponders || code === ErrorCode.Timeout) {
        const why = code === ErrorCode.NoResponders ? `nobody subscribed to ${controlSubject(job)}` : `timeout ${timeoutMs} ms`;
        throw new ControlPlaneError('no-coordinator', url, `no coordinator is serving job ${job} on ${url} (${why})`);
      }
      throw new ControlPlaneError('unreachable', url, `control request '${req.op}' for job ${job} on ${url} failed: ${errorText(err)}`);
    }
    const parsed = parseControlReply(data);
    if (!parsed.ok) {
      throw new ControlPlaneError('bad-reply', url, `coordinator for job ${job} on ${url} sent a bad reply: ${parsed.error}`);
    }
    return parsed.value;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export interface FollowEventsOptions {
  /** Replay the job's history first (true) or only events published from now on (false). */
  fromStart: boolean;
  onEvent: (event: JobEvent) => void;
  /** Called once, when the history there was at start has been delivered (at once if there was none). */
  onCaughtUp?: () => void;
  /** Malformed messages on the job's subjects are skipped and reported here. */
  log?: ControlLog;
}

/**
 * Follows `dtrain.<job>.events.>` through a JetStream ordered consumer (in stream order, no acks,
 * re-created by the client at the right sequence after a server restart). Resolves once the consumer
 * exists; the returned function stops following and closes the connection.
 */
export async function followEvents(url: string, job: string, opts: FollowEventsOptions): Promise<() => Promise<void>> {
  checkJobName(job);
  const log = opts.log ?? defaultControlLog;
  const nc = await connectClient(url, true);
  let stopped = false;
  let messages: ConsumerMessages | null = null;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Stop the consumer before the connection: otherwise nats.js keeps trying to re-pull on a closed
    // connection and prints "aborting resetPending" to stderr in a loop.
    if (messages !== null) {
      messages.stop();
      await messages.closed().catch(() => undefined);
    }
    await nc.close().catch(() => undefined);
  };
  try {
    // Creating the stream here too lets a follower start before the first coordinator does.
    await ensureEventsStream(await nc.jetstreamManager(), log);
    const consumer = await nc.jetstream().consumers.get(EVENTS_STREAM, {
      filterSubjects: `dtrain.${job}.events.>`,
      // From the start is the ordered consumer's default (start sequence 1); passing DeliverPolicy.All
      // makes nats.js 2.29 send it together with opt_start_seq, which the server rejects (and the
      // client retries forever).
      ...(opts.fromStart ? {} : { deliver_policy: DeliverPolicy.New }),
    });
    let caughtUp = false;
    const markCaughtUp = (): void => {
      if (caughtUp) return;
      caughtUp = true;
      opts.onCaughtUp?.();
    };
    const info = await consumer.info();
    const iter = await consumer.consume({ idle_heartbeat: FOLLOW_IDLE_HEARTBEAT_MS, expires: FOLLOW_PULL_EXPIRES_MS });
    messages = iter;
    if (info.num_pending === 0) markCaughtUp();
    void (async () => {
      for await (const m of iter) {
        const parsed = parseJobEvent(m.data);
        if (parsed.ok) {
          try {
            opts.onEvent(parsed.value);
          } catch (err) {
            log(`event handler threw on '${parsed.value.kind}' event: ${errorText(err)}`);
          }
        } else {
          log(`skipped message ${m.seq} on ${m.subject}: ${parsed.error}`);
        }
        if (m.info.pending === 0) markCaughtUp();
      }
    })().catch((err: unknown) => {
      if (!stopped) log(`following events of job ${job} stopped: ${errorText(err)}`);
    });
    return stop;
  } catch (err) {
    await stop();
    if (err instanceof ControlPlaneError) throw err;
    throw new ControlPlaneError('unreachable', url, `cannot follow events of job ${job} on ${url}: ${errorText(err)}`);
  }
}

/** The job's event history as it is now (for `dtrain events` without --follow). */
export async function readEvents(url: string, job: string, opts: { log?: ControlLog; timeoutMs?: number } = {}): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let resolveCaughtUp: () => void = () => undefined;
  const caughtUp = new Promise<void>((resolve) => {
    resolveCaughtUp = resolve;
  });
  const stop = await followEvents(url, job, { fromStart: true, onEvent: (e) => events.push(e), onCaughtUp: () => resolveCaughtUp(), log: opts.log });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      caughtUp,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ControlPlaneError('unreachable', url,
          `reading events of job ${job} on ${url} did not finish within ${timeoutMs} ms (${events.length} read)`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await stop();
  }
  return events;
}
