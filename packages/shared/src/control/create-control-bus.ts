import type { ControlBus } from './api';
import { InProcessBus } from './in-process-bus';
import type { ControlLog } from './log';
import { connectNatsBus } from './nats-bus';
import type { NatsCredentials } from './nats-credentials';

export interface CreateControlBusOptions {
  /** `nats://host:port`; without it the bus is in-process (local runs need no server). */
  natsUrl?: string;
  job: string;
  log?: ControlLog;
  maxBufferedEvents?: number;
  /** NATS token, user/password or creds file, and TLS (see nats-credentials.ts). */
  credentials?: NatsCredentials;
}

export async function createControlBus(opts: CreateControlBusOptions): Promise<ControlBus> {
  if (opts.natsUrl !== undefined && opts.natsUrl !== '') {
    return connectNatsBus({ url: opts.natsUrl, job: opts.job, log: opts.log, maxBufferedEvents: opts.maxBufferedEvents, credentials: opts.credentials });
  }
  return new InProcessBus({ log: opts.log });
}
