// Rendezvous: workers join, and once `expected` have joined the world is formed — ranks assigned,
// ring built, generation numbered. Ranks are ordered by (host, local-rank hint, arrival) so that the
// workers of one machine sit next to each other in the ring and a relaunch gets the same ranks.
import { RendezvousTimeoutError } from '@dtrain/shared/errors';
import type { JoinRequest__Output } from '@dtrain/shared/proto';

export interface WorldMember {
  rank: number;
  localRank: number;
  localWorldSize: number;
  hostname: string;
  pid: number;
  peerAddress: string;
  metricsAddress: string;
  backend: string;
}

export interface WorldGeneration {
  jobId: string;
  generation: number;
  members: WorldMember[];
  /** Peer addresses indexed by rank. */
  ring: string[];
}

interface PendingJoin {
  request: JoinRequest__Output;
  arrival: number;
  resolve: (member: { world: WorldGeneration; member: WorldMember }) => void;
  reject: (err: Error) => void;
}

export class RendezvousClosedError extends Error {}

export class Rendezvous {
  private pending: PendingJoin[] = [];
  private arrivals = 0;
  private timer: NodeJS.Timeout | null = null;
  private formed: WorldGeneration | null = null;
  private generation = 0;
  private closedReason: string | null = null;

  constructor(
    private readonly jobId: string,
    private readonly expected: number,
    private readonly timeoutMs: number,
    private readonly onFormed: (world: WorldGeneration) => void,
    private readonly onTimeout: (err: RendezvousTimeoutError) => void,
    /** The generation the next world gets; a relaunched job continues its predecessor's count. */
    firstGeneration = 1,
  ) {
    this.generation = firstGeneration - 1;
  }

  start(): void {
    this.timer = setTimeout(() => {
      const err = new RendezvousTimeoutError(this.pending.length, this.expected, this.timeoutMs);
      for (const p of this.pending) p.reject(err);
      this.pending = [];
      this.onTimeout(err);
    }, this.timeoutMs);
    this.timer.unref();
  }

  get world(): WorldGeneration | null {
    return this.formed;
  }

  join(request: JoinRequest__Output): Promise<{ world: WorldGeneration; member: WorldMember }> {
    if (this.closedReason !== null) return Promise.reject(new RendezvousClosedError(this.closedReason));
    if (request.jobId !== '' && request.jobId !== this.jobId) {
      return Promise.reject(new RendezvousClosedError(`worker belongs to job '${request.jobId}', this coordinator runs '${this.jobId}'`));
    }
    if (this.formed) {
      return Promise.reject(new RendezvousClosedError(`world generation ${this.formed.generation} is already formed with ${this.expected} workers; late joins are not accepted`));
    }
    if (!request.peerAddress) return Promise.reject(new RendezvousClosedError('join request has no peer_address'));
    return new Promise((resolve, reject) => {
      this.pending.push({ request, arrival: this.arrivals++, resolve, reject });
      if (this.pending.length === this.expected) this.form();
    });
  }

  /** Withdraws a worker whose Join call was cancelled before the world formed. */
  withdraw(request: JoinRequest__Output): void {
    this.pending = this.pending.filter((p) => p.request !== request);
  }

  close(reason: string): void {
    this.closedReason = reason;
    if (this.timer) clearTimeout(this.timer);
    for (const p of this.pending) p.reject(new RendezvousClosedError(reason));
    this.pending = [];
  }

  private form(): void {
    if (this.timer) clearTimeout(this.timer);
    const sorted = [...this.pending].sort((a, b) =>
      a.request.hostname.localeCompare(b.request.hostname)
      || hintOrder(a.request.localRankHint) - hintOrder(b.request.localRankHint)
      || a.arrival - b.arrival);
    const perHost = new Map<string, number>();
    for (const p of sorted) perHost.set(p.request.hostname, (perHost.get(p.request.hostname) ?? 0) + 1);
    const seenOnHost = new Map<string, number>();
    const members: WorldMember[] = sorted.map((p, rank) => {
      const host = p.request.hostname;
      const localRank = seenOnHost.get(host) ?? 0;
      seenOnHost.set(host, localRank + 1);
      return {
        rank,
        localRank,
        localWorldSize: perHost.get(host) ?? 1,
        hostname: host,
        pid: p.request.pid,
        peerAddress: p.request.peerAddress,
        metricsAddress: p.request.metricsAddress,
        backend: p.request.backend,
      };
    });
    this.generation += 1;
    const world: WorldGeneration = {
      jobId: this.jobId,
      generation: this.generation,
      members,
      ring: members.map((m) => m.peerAddress),
    };
    this.formed = world;
    this.onFormed(world);
    sorted.forEach((p, rank) => p.resolve({ world, member: members[rank] }));
    this.pending = [];
  }
}

function hintOrder(hint: number): number {
  return hint < 0 ? Number.MAX_SAFE_INTEGER : hint;
}
