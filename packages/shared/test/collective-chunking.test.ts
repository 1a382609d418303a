// The world's chunk size (collective-chunking.ts): the job's setting wins; a tcp world with a host
// running more ranks than its CPUs gets one chunk per ring segment; everything else the 1 MiB default.
import { describe, expect, it } from 'vitest';
import {
  chooseChunkBytes, DEFAULT_CHUNK_BYTES, hostsOf, SEGMENT_CHUNK_BYTES,
} from '../src/collective-chunking';

describe('hostsOf', () => {
  it('counts ranks per host and keeps the fewest CPUs any member reported (0 if one did not know)', () => {
    expect(hostsOf([
      { hostname: 'a', cpus: 8 }, { hostname: 'b', cpus: 2 }, { hostname: 'a', cpus: 4 },
      { hostname: 'b', cpus: 0 }, { hostname: 'a', cpus: 6 },
    ])).toEqual([{ hostname: 'a', ranks: 3, cpus: 4 }, { hostname: 'b', ranks: 2, cpus: 0 }]);
  });
});

describe('chooseChunkBytes', () => {
  const crowded = hostsOf([1, 2, 3].map(() => ({ hostname: 'laptop', cpus: 2 })));
  const roomy = hostsOf([{ hostname: 'a', cpus: 2 }, { hostname: 'a', cpus: 2 }, { hostname: 'b', cpus: 1 }]);
  const fallback = { bytes: DEFAULT_CHUNK_BYTES, source: 'default', why: 'default' };

  it('tcp, a host with more ranks than CPUs: one chunk per segment, naming the host', () => {
    const c = chooseChunkBytes({ transport: 'tcp', hosts: crowded });
    expect([c.bytes, c.source]).toEqual([SEGMENT_CHUNK_BYTES, 'crowded-host']);
    expect(c.why)
      .toBe('3 ranks share 2 CPU(s) on laptop: one chunk per ring segment (pipelining needs a core per rank)');
  });

  it('tcp with a core per rank on every host, and any grpc world: the 1 MiB default', () => {
    expect(chooseChunkBytes({ transport: 'tcp', hosts: roomy })).toEqual(fallback);
    expect(chooseChunkBytes({ transport: 'grpc', hosts: crowded })).toEqual(fallback);
    expect(DEFAULT_CHUNK_BYTES).toBe(1 << 20);
  });

  it('unknown CPU counts never crowd a host', () => {
    const unknown = hostsOf([{ hostname: 'x', cpus: 0 }, { hostname: 'x', cpus: 0 }, { hostname: 'x', cpus: 0 }]);
    expect(chooseChunkBytes({ transport: 'tcp', hosts: unknown }).bytes).toBe(DEFAULT_CHUNK_BYTES);
  });

  it("the job's collective.chunkBytes always wins", () => {
    expect(chooseChunkBytes({ configured: 65_536, transport: 'tcp', hosts: crowded }))
      .toEqual({ bytes: 65_536, source: 'job', why: 'collective.chunkBytes of the job' });
  });
});
