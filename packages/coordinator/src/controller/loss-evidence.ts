// Failure attribution (docs/elastic.md "Loss"): which signals prove a worker is gone. A broken
// session proves it at once; a peer's collective error blaming rank r proves it only together with
// r's silence (no heartbeat for 2 intervals), because the blamer may be the broken one; silence past
// the heartbeat timeout proves it alone. A collective error always breaks the generation (the
// reporter has parked), whoever turns out to be lost.

/** Worker error codes that mean "this generation's collective is broken", not "the job is broken". */
export const COLLECTIVE_ERROR_CODES: ReadonlySet<string> = new Set([
  'PeerLostError', 'CollectiveTimeoutError', 'WorldAbortedError', 'CollectiveMismatchError', 'WorldChangedInterrupt',
]);

export type WorkerErrorClass = 'collective' | 'non-finite' | 'fatal';

export function classifyWorkerError(code: string): WorkerErrorClass {
  if (code === 'NonFiniteLossError') return 'non-finite';
  return COLLECTIVE_ERROR_CODES.has(code) ? 'collective' : 'fatal';
}

/** Silence that, together with a peer's blame, proves the blamed worker lost. */
export function blameSilenceMs(heartbeatIntervalMs: number): number {
  return 2 * heartbeatIntervalMs;
}

/** ms until a blamed worker last seen at `lastSeenMs` has been silent long enough (0: already). */
export function msUntilBlameProven(lastSeenMs: number, nowMs: number, heartbeatIntervalMs: number): number {
  return Math.max(0, lastSeenMs + blameSilenceMs(heartbeatIntervalMs) - nowMs);
}

/** Silence alone proves a loss past the heartbeat timeout. */
export function isSilentPast(lastSeenMs: number, nowMs: number, timeoutMs: number): boolean {
  return nowMs - lastSeenMs > timeoutMs;
}
