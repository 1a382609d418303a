// Why: V8 counts external memory (ArrayBuffer backing stores) allocated since the last mark-compact
// against the old generation's allocation limit, and starts incremental marking once what is left of that
// limit is less than the young generation's capacity. A grpc all-reduce churns ~3 MB of short-lived
// ArrayBuffers per MB (grpc-js frames each 1 MiB message it sends into a fresh Buffer, and Node's http2
// and grpc-js's decoder hand over and join each received one), while a worker's JS heap stays at ~15 MB.
// V8 sizes that limit from the heap (15 MB x its growing factor, about 38 MB), so a 16 MB all-reduce ran
// a full mark-compact every ~1.5 iterations: 5-9 ms of pauses per iteration, concurrent marking on the
// core the other rank needs, and the iteration at 35-48 ms instead of ~20. Letting the limit grow to 5x
// the live heap (`--heap-growing-percent=400`) leaves room for that churn: the scavenges still free the
// buffers, and the mark-compacts stopped (bench/allreduce.ts, N=2, 16 MB: 0.4-0.7 per iteration -> 0-0.05).
// The cost is a larger heap between mark-compacts (at most ~5x the live JS heap; tensors live in the
// backends' own memory, not there). The flag is read at each GC, so setting it at start-up works however
// the worker was started (`dtrain launch`, a container, a process manager); NODE_OPTIONS refuses it.
import { setFlagsFromString } from 'node:v8';

/** V8's heap growing factor is 1 + this / 100; V8's own default (0) picks 1.1-4 from GC speed. */
export const HEAP_GROWING_PERCENT = 400;

/**
 * Applies the heap growing factor a worker trains with; DTRAIN_HEAP_GROWING_PERCENT overrides it (0
 * leaves V8's default). Returns a line for the worker's start-up log.
 *
 * Raises:
 *   RangeError: DTRAIN_HEAP_GROWING_PERCENT is not a whole number from 0 to 10000.
 */
export function applyHeapGrowth(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.DTRAIN_HEAP_GROWING_PERCENT;
  const percent = raw === undefined || raw === '' ? HEAP_GROWING_PERCENT : Number(raw);
  if (!Number.isInteger(percent) || percent < 0 || percent > 10_000) {
    throw new RangeError(`DTRAIN_HEAP_GROWING_PERCENT must be a whole number from 0 to 10000, got '${raw}'`);
  }
  if (percent === 0) return 'heap growth: V8 default (DTRAIN_HEAP_GROWING_PERCENT=0)';
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return `heap growth: --heap-growing-percent=${percent} (mark-compacts wait for ${1 + percent / 100}x the live heap)`;
}
