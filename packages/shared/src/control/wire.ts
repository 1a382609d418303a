// JSON on the wire is untrusted (another version, another tool, a typo in `nats pub`): parse it with
// schemas derived from api.ts so a bad message gets a clear error instead of a crash downstream.
import { z } from 'zod';
import { EVENT_KINDS, type ControlReply, type ControlRequest, type JobEvent } from './api';

const jobEventSchema = z.object({
  job: z.string().min(1),
  kind: z.enum(EVENT_KINDS),
  time: z.string().min(1),
  generation: z.number().int(),
  data: z.record(z.string(), z.unknown()),
});

const controlRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('status') }),
  z.object({ op: z.literal('stop'), reason: z.string().optional() }),
  z.object({ op: z.literal('checkpoint') }),
]);

const jobStatusSchema = z.object({
  job: z.string(),
  state: z.enum(['rendezvous', 'running', 'stopping', 'finished', 'failed']),
  generation: z.number(),
  workers: z.number(),
  epoch: z.number(),
  globalStep: z.number(),
  loss: z.number().nullable(),
  samplesPerSec: z.number().nullable(),
  lastCheckpoint: z.string().nullable(),
});

const controlReplySchema = z.union([
  z.object({
    ok: z.literal(true),
    status: jobStatusSchema.optional(),
    checkpoint: z.string().optional(),
    message: z.string().optional(),
  }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

function parseWith<T>(schema: z.ZodType<T>, bytes: Uint8Array | string, what: string): ParseResult<T> {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `${what} is not JSON (${(err as Error).message}): ${text.slice(0, 200)}` };
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return { ok: false, error: `invalid ${what}: ${problems.join('; ')}` };
  }
  return { ok: true, value: result.data };
}

export function parseJobEvent(bytes: Uint8Array | string): ParseResult<JobEvent> {
  return parseWith(jobEventSchema, bytes, 'job event');
}
export function parseControlRequest(bytes: Uint8Array | string): ParseResult<ControlRequest> {
  return parseWith(controlRequestSchema, bytes, 'control request');
}
export function parseControlReply(bytes: Uint8Array | string): ParseResult<ControlReply> {
  return parseWith(controlReplySchema, bytes, 'control reply');
}

export function encodeJson(value: JobEvent | ControlRequest | ControlReply): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Runs a control handler and turns any throw into an `{ ok: false }` reply, so a requester always gets an answer. */
export async function runHandler(
  handler: (req: ControlRequest) => Promise<ControlReply>,
  req: ControlRequest,
): Promise<ControlReply> {
  try {
    return await handler(req);
  } catch (err) {
    return { ok: false, error: `control handler failed on '${req.op}': ${(err as Error).message ?? String(err)}` };
  }
}

/** A job name becomes a NATS subject token: `.`, `*`, `>` or whitespace would change which subjects it matches. */
export function checkJobName(job: string): void {
  if (job.length === 0 || /[.*>\s]/.test(job)) {
    throw new Error(`job name '${job}' cannot be used in a NATS subject: it must be non-empty without '.', '*', '>' or whitespace`);
  }
}
