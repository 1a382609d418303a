// Contract of the control plane: job events out, commands in. Backed by NATS JetStream when a URL
// is given, by an in-process bus otherwise (local runs need no server).

export const EVENT_KINDS = [
  'started', 'world-formed', 'epoch-done', 'checkpoint-written', 'worker-lost', 'worker-joined',
  'straggler', 'vanishing-gradient', 'non-finite-loss', 'finished', 'failed', 'stopping',
  'coordinator-takeover',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface JobEvent {
  job: string;
  kind: EventKind;
  /** ISO-8601 */
  time: string;
  generation: number;
  data: Record<string, unknown>;
}

export type ControlRequest =
  | { op: 'status' }
  | { op: 'stop'; reason?: string }
  | { op: 'checkpoint' };

export interface JobStatus {
  job: string;
  state: 'rendezvous' | 'running' | 'stopping' | 'finished' | 'failed';
  generation: number;
  workers: number;
  epoch: number;
  globalStep: number;
  loss: number | null;
  samplesPerSec: number | null;
  lastCheckpoint: string | null;
}

export type ControlReply =
  | { ok: true; status?: JobStatus; checkpoint?: string; message?: string }
  | { ok: false; error: string };

/** Subjects: events on `dtrain.<job>.events.<kind>` (JetStream stream DTRAIN_EVENTS), control on `dtrain.<job>.control`. */
export function eventSubject(job: string, kind: EventKind): string {
  return `dtrain.${job}.events.${kind}`;
}
export function controlSubject(job: string): string {
  return `dtrain.${job}.control`;
}

export interface ControlBus {
  /** Never throws and never blocks training: when the server is down, events are buffered and a warning logged. */
  publish(event: JobEvent): void;
  /** Serve control requests for a job. */
  serveControl(job: string, handler: (req: ControlRequest) => Promise<ControlReply>): void;
  /** Local subscribers (the launcher's progress display) see every event published through this bus. */
  onEvent(listener: (event: JobEvent) => void): () => void;
  /** Flushes buffered events (bounded wait) and disconnects. */
  close(): Promise<void>;
}
