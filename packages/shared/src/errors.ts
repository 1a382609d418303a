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
