// Membership policy (docs/elastic.md "Membership"): who is admitted (up to --workers MAX), who is in
// the next generation, in which rank order, and whose state the others adopt. Pure functions over
// worker records; the controller decides when to call them.
import type { JoinInfo } from './api';

export type WorkerStatus = 'admitted' | 'parked' | 'member' | 'gone';

export interface ParkedState {
  leftGeneration: number;
  /** -1: holds no state yet (a fresh worker). */
  completedSteps: number;
  digest: string;
}

export interface WorkerRecord {
  id: string;
  /** Admission order: the tie-breaker of rank order. */
  seq: number;
  join: JoinInfo;
  session: boolean;
  lastSeenMs: number;
  backend: string;
  status: WorkerStatus;
  parked: ParkedState | null;
  /** Rank in the current generation (-1 outside it). */
  rank: number;
  synced: { completedSteps: number; digest: string } | null;
  done: boolean;
  /** Was in some generation of this job (a rejoin after a takeover counts as one). */
  everMember: boolean;
}

export type Admission = { ok: true; record: WorkerRecord } | { ok: false; reason: string };

export class Membership {
  private readonly records = new Map<string, WorkerRecord>();
  private seq = 0;

  constructor(private readonly jobId: string, readonly minWorkers: number, readonly maxWorkers: number) {
    if (!Number.isInteger(minWorkers) || !Number.isInteger(maxWorkers) || minWorkers < 1 || maxWorkers < minWorkers) {
      throw new RangeError(`--workers must be N or MIN:MAX with 1 <= MIN <= MAX, got ${minWorkers}:${maxWorkers}`);
    }
  }

  get(id: string): WorkerRecord | undefined {
    return this.records.get(id);
  }

  /** Workers that are not gone (admitted, parked or members). */
  live(): WorkerRecord[] {
    return [...this.records.values()].filter((r) => r.status !== 'gone');
  }

  /** Parked workers with an open session: the candidates of the next generation. */
  parkedReady(): WorkerRecord[] {
    return this.live().filter((r) => r.status === 'parked' && r.session);
  }

  /** Join: admitted unless the job is another's or already has MAX live workers. */
  admit(join: JoinInfo, atMs: number): Admission {
    if (join.jobId !== '' && join.jobId !== this.jobId) {
      return { ok: false, reason: `worker belongs to job '${join.jobId}', this coordinator runs '${this.jobId}'` };
    }
    if (!join.peerAddress) return { ok: false, reason: 'join request has no peer_address' };
    const known = join.workerId ? this.records.get(join.workerId) : undefined;
    if (known && known.status !== 'gone') {
      // The same process again (its Join reply got lost): a fresh session follows.
      known.join = join;
      known.lastSeenMs = atMs;
      return { ok: true, record: known };
    }
    if (this.live().length >= this.maxWorkers) {
      return { ok: false, reason: `job '${this.jobId}' already has ${this.maxWorkers} worker(s) (--workers MAX)` };
    }
    const seq = this.seq++;
    // A process that was removed (e.g. cut off by a partition) and comes back joins as a newcomer: its state is stale.
    const id = known ? known.id : join.workerId || `w${seq}-${join.hostname}-${join.pid}`;
    const record: WorkerRecord = {
      id, seq, join, session: false, lastSeenMs: atMs, backend: join.backend, status: 'admitted', parked: null,
      rank: -1, synced: null, done: false, everMember: join.workerId !== '' && !known,
    };
    this.records.set(id, record);
    return { ok: true, record };
  }
}

/**
 * The members of the next generation among the parked candidates: members of the previous one
 * first (they hold state), then newcomers in admission order, at most `max`.
 */
export function selectMembers(candidates: readonly WorkerRecord[], max: number, previous: ReadonlySet<string>): WorkerRecord[] {
  const bySeq = [...candidates].sort((a, b) => a.seq - b.seq);
  const survivors = bySeq.filter((r) => previous.has(r.id));
  const newcomers = bySeq.filter((r) => !previous.has(r.id));
  return [...survivors, ...newcomers].slice(0, max);
}

/**
 * Rank order: by host, then the launcher's local-rank hint (none last), then admission order, so
 * workers of one machine sit next to each other in the ring and a world re-formed from the same
 * processes gets the same ranks.
 */
export function rankOrder(members: readonly WorkerRecord[]): WorkerRecord[] {
  const hint = (h: number) => (h < 0 ? Number.MAX_SAFE_INTEGER : h);
  return [...members].sort((a, b) => a.join.hostname.localeCompare(b.join.hostname)
    || hint(a.join.localRankHint) - hint(b.join.localRankHint)
    || a.seq - b.seq);
}

/** local rank and local world size of each member (position among the same host's members). */
export function localRanks(ordered: readonly WorkerRecord[]): { localRank: number; localWorldSize: number }[] {
  const perHost = new Map<string, number>();
  for (const r of ordered) perHost.set(r.join.hostname, (perHost.get(r.join.hostname) ?? 0) + 1);
  const seen = new Map<string, number>();
  return ordered.map((r) => {
    const localRank = seen.get(r.join.hostname) ?? 0;
    seen.set(r.join.hostname, localRank + 1);
    return { localRank, localWorldSize: perHost.get(r.join.hostname) ?? 1 };
  });
}

export type SourceChoice =
  | { kind: 'none' }
  | { kind: 'state'; committedSteps: number; sourceRank: number }
  | { kind: 'diverged'; committedSteps: number; digests: { rank: number; digest: string }[] };

/**
 * Whose state the next generation adopts (docs/elastic.md "Why the maximum"): the largest
 * completed-step count among the members that hold state, from the lowest rank holding it. Holders
 * of that count must agree on the digest, or nobody's state can be trusted.
 */
export function chooseSource(ordered: readonly WorkerRecord[]): SourceChoice {
  const holders = ordered
    .map((r, rank) => ({ rank, parked: r.parked }))
    .filter((h): h is { rank: number; parked: ParkedState } => h.parked !== null && h.parked.completedSteps >= 0);
  if (holders.length === 0) return { kind: 'none' };
  const committedSteps = Math.max(...holders.map((h) => h.parked.completedSteps));
  const atMax = holders.filter((h) => h.parked.completedSteps === committedSteps);
  if (atMax.some((h) => h.parked.digest !== atMax[0].parked.digest)) {
    return { kind: 'diverged', committedSteps, digests: atMax.map((h) => ({ rank: h.rank, digest: h.parked.digest })) };
  }
  return { kind: 'state', committedSteps, sourceRank: atMax[0].rank };
}
