// Why: V8 counts external memory (ArrayBuffer backing stores) allocated since the last mark-compact
// against the old generation's allocation limit, and starts incremental marking once what is left of that
// limit is less than the young generation's capacity. A grpc all-reduce churns ~3 MB of short-lived
// ArrayBuffers per MB (grpc-js frames each 1 MiB message it sends into a fresh Buffer, and Node's http2
// and grpc-js's decoder hand over and join each received one), while a worker's JS heap stays at ~15 MB.
// V8 sizes that limit from the heap (15 MB x its growing factor, about 38 MB), so a 16 MB all-reduce ran
// a full mark-compact every ~1.5 iterations: 5-9 ms of pauses per iteration, concurrent marking on the
// core the other rank needs, and the iteration at 35-48 ms instead of ~20. Letting the limit grow to 5x
// the live heap (`--heap-growing-percent=400`) leaves room for that churn: the scavenges still free the
// buffers, and the mark-compacts stopped (bench/allreduce.ts, N=2, 16 MB: 0.2-1.3 per iteration -> 0.03).
// Only such worlds get it: without that churn (tcp's zero-copy frames, a world of one, a small model) a
// larger heap between mark-compacts only costs (a 9.7 KB model at N=1 spent +0.2-0.5 ms of CPU per step
// with it). The flag is read at each GC, so setting it per world generation works however the worker was
// started (`dtrain launch`, a container, a process manager); NODE_OPTIONS refuses it.
import { setFlagsFromString } from 'node:v8';
import type { TransportKind } from './collective/index';

/** V8's heap growing factor is 1 + this / 100 in a churning world; 0 is V8's own (1.1-4, from GC speed). */
export const HEAP_GROWING_PERCENT = 400;
/** All-reduces of at least this many float32 bytes over grpc churn enough ArrayBuffers to need it. */
export const CHURN_GRADIENT_BYTES = 1 << 20;

/** What decides the heap growth of a world generation. */
export interface HeapGrowthWorld {
  transport: TransportKind;
  worldSize: number;
  /** Bytes of the fused float32 gradient buffer all-reduced each step. */
  gradientBytes: number;
}

/**
 * The percent DTRAIN_HEAP_GROWING_PERCENT forces (0: always V8's default), or null when unset.
 *
 * Raises:
 *   RangeError: DTRAIN_HEAP_GROWING_PERCENT is not a whole number from 0 to 10000.
 */
export function heapGrowthOverride(env: NodeJS.ProcessEnv = process.env): number | null {
  const raw = env.DTRAIN_HEAP_GROWING_PERCENT;
  if (raw === undefined || raw === '') return null;
  const percent = Number(raw);
  if (!Number.isInteger(percent) || percent < 0 || percent > 10_000) {
    throw new RangeError(`DTRAIN_HEAP_GROWING_PERCENT must be a whole number from 0 to 10000, got '${raw}'`);
  }
  return percent;
}

/** The percent a world trains with, and why (for the log). */
export function heapGrowthFor(world: HeapGrowthWorld, env: NodeJS.ProcessEnv = process.env): {
  percent: number; why: string;
} {
  const forced = heapGrowthOverride(env);
  if (forced !== null) return { percent: forced, why: 'DTRAIN_HEAP_GROWING_PERCENT' };
  const mb = (world.gradientBytes / (1 << 20)).toFixed(2);
  if (world.transport !== 'grpc') return { percent: 0, why: `${world.transport} transport: no buffer churn` };
  if (world.worldSize < 2) return { percent: 0, why: 'world of one: no all-reduce' };
  if (world.gradientBytes < CHURN_GRADIENT_BYTES) return { percent: 0, why: `grpc all-reduce of ${mb} MB < 1 MB` };
  return { percent: HEAP_GROWING_PERCENT, why: `grpc all-reduce of ${mb} MB` };
}

let applied: number | null = null;

/**
 * Sets V8's heap growth for `world` (process-wide; call it when a world generation forms). Returns a
 * line for the worker's log when the setting changed, else null.
 *
 * Raises:
 *   RangeError: DTRAIN_HEAP_GROWING_PERCENT is malformed (see heapGrowthOverride).
 */
export function applyHeapGrowth(world: HeapGrowthWorld, env: NodeJS.ProcessEnv = process.env): string | null {
  const { percent, why } = heapGrowthFor(world, env);
  if (percent === applied) return null;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  applied = percent;
  if (percent === 0) return `heap growth: V8's default (${why})`;
  const factor = 1 + percent / 100;
  return `heap growth: --heap-growing-percent=${percent}, mark-compacts wait for ${factor}x the live heap (${why})`;
}
