// Why: V8 pretenures an allocation site (allocates its objects straight in the old generation) once a
// scavenge at full new-space size finds more than 85% of the site's recent objects still alive. A training
// step allocates its tensors, tape nodes and scope lists from the same few sites every step, and whether a
// warm-up scavenge caught one of those sites while a step was in flight decided, per process and at
// random, how the whole run went. A pretenured container (a scope's track list, a tape node) is dead after
// its step but stays in the old generation until the next mark-compact, and everything it points to is
// kept alive by it through each scavenge and then promoted: every step's tensors. Measured on the
// 9.7 KB small-step job at N=1 (`--trace-gc-nvp`, 6 runs each): 4 of 6 runs promoted ~1.5 MB per
// scavenge instead of ~0.25 MB, their heap climbed to 130-160 MB between mark-compacts with ~20 more page
// faults per step, and they took 6.3-8.1 s instead of 4.3-5.3 s for 3,000 steps (~1 ms more per step).
// With pretenuring off, 12 of 12 runs promoted 0.11-0.12 MB per scavenge and took 4.3-5.4 s.
// What it gives up: objects that do live long are copied once more, by a scavenge, before promotion.
// The flag is read at each GC and each allocation-site decision, so setting it from inside the process
// works however the worker was started; NODE_OPTIONS refuses V8 flags like it.
import { setFlagsFromString } from 'node:v8';
import { envSwitchOn } from '@dtrain/shared/process/env-switch';

/** The environment variable that keeps V8's own pretenuring ('0'); '1' or unset: pretenuring off. */
export const PRETENURING_ENV = 'DTRAIN_PRETENURING_OFF';

/**
 * Whether the worker turns V8's allocation-site pretenuring off (the default), from the environment.
 *
 * Raises:
 *   RangeError: DTRAIN_PRETENURING_OFF is set to anything but '0' or '1'.
 */
export function pretenuringOff(env: NodeJS.ProcessEnv = process.env): boolean {
  return envSwitchOn(env, PRETENURING_ENV, { on: 'pretenuring off, the default', off: "V8's own" });
}

/**
 * Applies the setting to this process (call it once, before training) and returns the worker's log line.
 *
 * Raises:
 *   RangeError: DTRAIN_PRETENURING_OFF is malformed (see pretenuringOff).
 */
export function applyPretenuring(env: NodeJS.ProcessEnv = process.env): string {
  if (!pretenuringOff(env)) return `V8 pretenuring: V8's own (${PRETENURING_ENV}=0)`;
  setFlagsFromString('--no-allocation-site-pretenuring');
  return 'V8 pretenuring: off (a pretenured site would keep every step\'s tensors alive until a mark-compact)';
}
