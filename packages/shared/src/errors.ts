// Typed errors. Each names the problem and what it concerns (field, file, rank), so a user can
// act on the message alone. `code` survives the wire (WorkerError.code) where `instanceof` does not.

export class DtrainError extends Error {
  readonly code: string;
  constructor(message: string) {
    super(message);
    this.code = new.target.name;
    this.name = new.target.name;
  }
}

/** A job file that does not validate: lists every bad field as `path: problem`. */
export class JobSpecError extends DtrainError {
  constructor(readonly source: string, readonly problems: string[]) {
    super(`invalid job spec ${source}:\n  - ${problems.join('\n  - ')}`);
  }
}

export class RendezvousTimeoutError extends DtrainError {
  constructor(readonly joined: number, readonly expected: number, readonly timeoutMs: number) {
    super(`rendezvous timed out after ${timeoutMs} ms: ${joined} of ${expected} workers joined`);
  }
}

/** A peer from another job or world generation, or a collective for another step. */
export class CollectiveMismatchError extends DtrainError {
  constructor(readonly field: 'job' | 'generation' | 'step' | 'length' | 'round' | 'rank' | 'encoding' | 'transport', expected: string | number | bigint, got: string | number | bigint, peer: string) {
    super(`collective ${field} mismatch from ${peer}: expected ${String(expected)}, got ${String(got)}`);
  }
}

/** A gradient chunk whose size does not match what its header and the buffer layout promise. */
export class ChunkSizeError extends DtrainError {
  constructor(expectedBytes: number, gotBytes: number, peer: string) {
    super(`gradient chunk from ${peer} has ${gotBytes} bytes, expected ${expectedBytes}`);
  }
}

/** A ring neighbour that died, closed its stream or stopped answering. */
export class PeerLostError extends DtrainError {
  constructor(readonly peerRank: number, readonly peerAddress: string, detail: string) {
    super(`lost peer rank ${peerRank} (${peerAddress}): ${detail}`);
  }
}

export class CollectiveTimeoutError extends DtrainError {
  constructor(readonly peerRank: number, readonly timeoutMs: number, what: string) {
    super(`${what} made no progress for ${timeoutMs} ms waiting on rank ${peerRank}`);
  }
}

/** The coordinator aborted the world (a worker was lost, or the job was stopped). */
export class WorldAbortedError extends DtrainError {
  constructor(reason: string, readonly lostRank = -1) {
    super(reason);
  }
}

export class CheckpointCorruptError extends DtrainError {
  constructor(readonly file: string, detail: string) {
    super(`checkpoint file ${file} is corrupt: ${detail}`);
  }
}

export class DataFileError extends DtrainError {
  constructor(readonly file: string, readonly row: number | null, readonly column: string | null, detail: string) {
    const where = [row !== null ? `row ${row}` : null, column !== null ? `column ${column}` : null].filter(Boolean).join(', ');
    super(`${file}${where ? ` (${where})` : ''}: ${detail}`);
  }
}

export class NonFiniteLossError extends DtrainError {
  constructor(readonly rank: number, readonly globalStep: number, loss: number) {
    super(Number.isFinite(loss)
      ? `the all-reduced gradient became non-finite at step ${globalStep} (rank ${rank}'s loss was ${loss}); weights left at the last good step`
      : `rank ${rank} computed a non-finite loss (${loss}) at step ${globalStep}; weights left at the last good step`);
  }
}

export class BackendUnavailableError extends DtrainError {
  constructor(readonly backend: string, detail: string) {
    super(`tfjs backend '${backend}' is unavailable: ${detail}`);
  }
}

/** The control plane could not do what was asked: NATS unreachable, no coordinator serving the job, or a bad reply. */
export class ControlPlaneError extends DtrainError {
  constructor(readonly reason: 'unreachable' | 'no-coordinator' | 'bad-reply', readonly url: string, message: string) {
    super(message);
  }
}

/** Replicas that should hold identical weights do not (e.g. a backend whose kernels round differently). */
export class WeightsDivergedError extends DtrainError {
  constructor(readonly globalStep: number, digests: { rank: number; digest: string }[]) {
    super(`worker weights diverged at step ${globalStep}: ${digests.map((d) => `rank ${d.rank} ${d.digest}`).join(', ')}`);
  }
}

// --- elastic training (docs/elastic.md) --------------------------------------------------------

/** A member of a world generation is gone (session broke, heartbeat silent, or blamed by its peers). */
export class WorkerLostError extends DtrainError {
  constructor(readonly rank: number, readonly generation: number, readonly reason: string) {
    super(`lost worker rank ${rank} of generation ${generation}: ${reason}`);
  }
}

/** A worker process the launcher started exited (or was killed) before the job ended. */
export class WorkerExitedError extends DtrainError {
  constructor(readonly localRank: number, readonly pid: number, readonly exit: string) {
    super(`worker process ${localRank} (pid ${pid}) exited with ${exit} before the job ended`);
  }
}

/** Ranks that did not write their final checkpoint and say done within the grace period after a stop. */
export class ShutdownTimeoutError extends DtrainError {
  constructor(readonly ranks: number[], readonly graceMs: number) {
    super(`rank ${ranks.join(', rank ')} did not finish within ${graceMs} ms after the stop`);
  }
}

/**
 * Membership changed: the current generation ends at this step on every rank (Horovod's
 * HostsUpdatedInterrupt). Not a failure: it never counts against a restart budget.
 */
export class WorldChangedInterrupt extends DtrainError {
  constructor(readonly generation: number, readonly reason: string) {
    super(`world generation ${generation} ended: ${reason}`);
  }
}

/** Fewer than --workers MIN remained and no replacement came within the rendezvous timeout. */
export class BelowMinWorkersError extends DtrainError {
  constructor(readonly present: number, readonly minWorkers: number, readonly waitedMs: number) {
    super(`only ${present} worker(s) left, below the minimum of ${minWorkers}, and none joined within ${waitedMs} ms`);
  }
}

/** A worker found no coordinator (first contact or after losing it) within its deadline. */
export class CoordinatorUnreachableError extends DtrainError {
  constructor(readonly address: string, readonly waitedMs: number, detail: string) {
    super(`no coordinator at ${address} within ${waitedMs} ms: ${detail}`);
  }
}

/** Join refused: the job is full (MAX workers), over, or another job's. */
export class JoinRefusedError extends DtrainError {
  constructor(readonly address: string, readonly reason: string) {
    super(`join refused by coordinator ${address}: ${reason}`);
  }
}

/** coordinator-state.json exists but cannot be used to take a job over (unreadable, malformed, other job). */
export class CoordinatorStateError extends DtrainError {
  constructor(readonly path: string, readonly detail: string) {
    super(`coordinator state file ${path} cannot be used: ${detail}`);
  }
}
