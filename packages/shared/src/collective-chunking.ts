// How many bytes each chunk of a world's collectives carries. The ring pipelines every round in chunks
// so that a rank's receive, add and send overlap its neighbours': that needs a core per rank. When a
// host runs more ranks than it has CPUs (`dtrain launch --workers 4` on two cores), nothing overlaps,
// and each chunk only adds its own work (a frame, a write, wake-ups). Measured on two cores, N=4, tcp,
// interleaved pairs: one chunk per round segment used 5-15% less CPU per rank than 1 MiB chunks in
// 8 of 8 pairs (16 and 64 MB), while at N=2 (a core per rank) larger chunks cost -1 to +17%.
// Every chunk header is checked against the receiver's plan, so all members must chunk alike: this is
// a world parameter, chosen by the coordinator from where the ranks run (WorldAssignment.chunk_bytes).

export const DEFAULT_CHUNK_BYTES = 1 << 20;
/** "One chunk per ring segment" for the models a ring moves in practice (a 256 MB buffer at N=4). */
export const SEGMENT_CHUNK_BYTES = 64 << 20;

/** One host of a world: how many of its ranks run there, and the fewest CPUs any of them may use (0: unknown). */
export interface HostRanks {
  hostname: string;
  ranks: number;
  cpus: number;
}

export interface ChunkChoice {
  bytes: number;
  source: 'job' | 'default' | 'crowded-host';
  /** Why, for the logs. */
  why: string;
}

/**
 * The chunk size of a world.
 *
 * - The job's `collective.chunkBytes`, when set, always wins.
 * - The grpc transport keeps the default: grpc-js allocates each message whole, chunk included.
 * - A tcp world with a host running more ranks than its CPUs sends one chunk per ring segment.
 */
export function chooseChunkBytes(o: {
  configured?: number;
  transport: 'grpc' | 'tcp';
  hosts: readonly HostRanks[];
}): ChunkChoice {
  if (o.configured !== undefined) {
    return { bytes: o.configured, source: 'job', why: 'collective.chunkBytes of the job' };
  }
  const crowded = o.hosts.find((h) => h.cpus > 0 && h.ranks > h.cpus);
  if (o.transport === 'tcp' && crowded) {
    return {
      bytes: SEGMENT_CHUNK_BYTES,
      source: 'crowded-host',
      why: `${crowded.ranks} ranks share ${crowded.cpus} CPU(s) on ${crowded.hostname}: one chunk per ring segment `
        + '(pipelining needs a core per rank)',
    };
  }
  return { bytes: DEFAULT_CHUNK_BYTES, source: 'default', why: 'default' };
}

/** Hosts of a world from its members' hostnames and CPU counts (a host's CPUs: the fewest any member reported). */
export function hostsOf(members: readonly { hostname: string; cpus: number }[]): HostRanks[] {
  const hosts = new Map<string, HostRanks>();
  for (const m of members) {
    const h = hosts.get(m.hostname);
    if (!h) hosts.set(m.hostname, { hostname: m.hostname, ranks: 1, cpus: m.cpus });
    else {
      h.ranks += 1;
      h.cpus = h.cpus === 0 || m.cpus === 0 ? 0 : Math.min(h.cpus, m.cpus);
    }
  }
  return [...hosts.values()];
}
