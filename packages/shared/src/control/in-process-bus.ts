// The control bus for local runs with no NATS server: events fan out synchronously to local
// listeners, control handlers are called directly.
import { ControlPlaneError } from '../errors';
import type { ControlBus, ControlReply, ControlRequest, JobEvent } from './api';
import { defaultControlLog, type ControlLog } from './log';
import { runHandler } from './wire';

export interface InProcessBusOptions {
  log?: ControlLog;
}

export class InProcessBus implements ControlBus {
  private readonly listeners = new Set<(event: JobEvent) => void>();
  private readonly handlers = new Map<string, (req: ControlRequest) => Promise<ControlReply>>();
  private readonly log: ControlLog;

  constructor(opts: InProcessBusOptions = {}) {
    this.log = opts.log ?? defaultControlLog;
  }

  publish(event: JobEvent): void {
    deliverLocally(this.listeners, event, this.log);
  }

  serveControl(job: string, handler: (req: ControlRequest) => Promise<ControlReply>): void {
    this.handlers.set(job, handler);
  }

  /** What `dtrain status|stop` would do over NATS, for in-process callers (the launcher, tests). */
  async request(job: string, req: ControlRequest): Promise<ControlReply> {
    const handler = this.handlers.get(job);
    if (handler === undefined) {
      throw new ControlPlaneError('no-coordinator', 'in-process', `no coordinator is serving job ${job} on the in-process bus`);
    }
    return runHandler(handler, req);
  }

  onEvent(listener: (event: JobEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.handlers.clear();
  }
}

/** A throwing listener must not break publish() (which never throws) nor starve the other listeners. */
export function deliverLocally(listeners: Iterable<(event: JobEvent) => void>, event: JobEvent, log: ControlLog): void {
  for (const listener of [...listeners]) {
    try {
      listener(event);
    } catch (err) {
      log(`event listener threw on '${event.kind}' event: ${(err as Error).message ?? String(err)}`);
    }
  }
}
