// The early pull (early-pull.ts): after a small all-reduce, each rank pulls the next step at once, so
// its predecessor's chunks may arrive before its own collective of that step starts. They must be
// held, then checked and reduced exactly like chunks that arrive later; a held chunk with a wrong
// step or generation must fail with the same named error; and a next collective that differs from
// what was pulled early (another step or length) must still work. Both transports.
import { afterEach, describe, expect, it } from 'vitest';
import { CollectiveMismatchError } from '@dtrain/shared/errors';
import type { AllReduceStats, Collective, PeerServer } from '../src/collective/api';
import { encodeChunkId, type OutgoingChunk } from '../src/collective/gradient-chunk-codec';
import { createRingCollective, startPeerServer } from '../src/collective/index';
import type { OutboundStream } from '../src/collective/transport/api';

type Transport = 'grpc' | 'tcp';

let servers: PeerServer[] = [];
let collectives: Collective[] = [];

afterEach(async () => {
  await Promise.all(collectives.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
  collectives = [];
  servers = [];
});

async function ringOf(n: number, transport: Transport, extra: { algorithm?: 'auto' | 'ring'; compression?: 'none' | 'fp16' } = {}): Promise<Collective[]> {
  servers = await Promise.all([...Array(n).keys()].map(() => startPeerServer({ host: '127.0.0.1', port: 0 })));
  const ring = servers.map((s) => s.address);
  collectives = [...Array(n).keys()].map((rank) => createRingCollective(servers[rank], {
    jobId: 'job-early', generation: 1, rank, worldSize: n, ring, chunkBytes: 1024, timeoutMs: 20_000, transport, ...extra,
  }));
  return collectives;
}

/** How long the late rank waits before its collective: its predecessor's chunks arrive meanwhile. */
const LATE_MS = 150;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Integers, so float32 sums are exact in any order. */
const valueOf = (rank: number, i: number, step: number): number => ((rank + 1) * 7 + i * 3 + step * 11) % 1000;

/** Every rank starts each step at once except `lateRank`, which waits first (its predecessor's chunks come early). */
async function runSteps(ranks: Collective[], length: number, steps: number[], lateRank: number, lateMs: number): Promise<AllReduceStats[][]> {
  const stats: AllReduceStats[][] = ranks.map(() => []);
  for (const step of steps) {
    const buffers = ranks.map((_, rank) => Float32Array.from({ length }, (_v, i) => valueOf(rank, i, step)));
    await Promise.all(ranks.map(async (c, rank) => {
      if (rank === lateRank) await sleep(lateMs);
      stats[rank].push(await c.allReduceSum(buffers[rank], step));
    }));
    for (const b of buffers) {
      for (let i = 0; i < length; i++) {
        let sum = 0;
        for (let r = 0; r < ranks.length; r++) sum += valueOf(r, i, step);
        if (b[i] !== sum) throw new Error(`step ${step} element ${i}: ${b[i]} != ${sum}`);
      }
    }
  }
  return stats;
}

describe.each(['grpc', 'tcp'] as const)('early pull, %s transport', (transport) => {
  it('N=2 exchange: chunks that arrive before the collective starts are held and summed exactly', async () => {
    const ranks = await ringOf(2, transport);
    const stats = await runSteps(ranks, 3000, [0, 1, 2, 3], 1, LATE_MS);
    // Step 0 has no early pull; from step 1 on, rank 0's chunks (1 KB each) wait for rank 1. (How many
    // arrived within LATE_MS depends on the machine's load; at least the first one did.)
    const early = stats[1].map((s) => s.earlyChunks ?? -1);
    expect(early[0]).toBe(0);
    for (const n of early.slice(1)) expect(n).toBeGreaterThan(0);
    expect(stats[0].every((s) => s.earlyChunks === 0)).toBe(true);
    expect(stats[0][3].bytesSent).toBe(3000 * 4);
  });

  it('N=3 ring and fp16: the held round-0 chunks are reduced exactly like later ones', async () => {
    const ranks = await ringOf(3, transport, { algorithm: 'ring' });
    const stats = await runSteps(ranks, 2000, [0, 1, 2], 2, LATE_MS);
    expect(stats[2][1].earlyChunks).toBeGreaterThan(0);
    await Promise.all(collectives.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.close()));
    const half = await ringOf(2, transport, { compression: 'fp16' });
    const fp16 = await runSteps(half, 1000, [5, 6], 0, LATE_MS);
    expect(fp16[0][1].earlyChunks).toBeGreaterThan(0);
  });

  it('a next collective of another length or step than was pulled early still sums exactly', async () => {
    const ranks = await ringOf(2, transport);
    await runSteps(ranks, 500, [0], 1, 0);
    await runSteps(ranks, 700, [1], 1, LATE_MS); // early pull of step 1 had length 500
    const stats = await runSteps(ranks, 700, [7, 8], 1, LATE_MS); // early pull of step 2, then of step 8
    expect(stats[1][0].earlyChunks).toBe(0);
    expect(stats[1][1].earlyChunks).toBeGreaterThan(0);
    // A chain of early pulls (each implied by the one before), broken by a new length, then resumed.
    const chain = await runSteps(ranks, 700, [9, 10, 11], 1, LATE_MS);
    expect(chain[1].every((s) => (s.earlyChunks ?? 0) > 0)).toBe(true);
    const broken = await runSteps(ranks, 300, [12, 13, 14], 1, LATE_MS);
    expect(broken[1].map((s) => (s.earlyChunks ?? 0) > 0)).toEqual([false, true, true]);
  });

  it('back-to-back steps with no compute between them (the next chunks follow an END at once) sum exactly', async () => {
    const ranks = await ringOf(2, transport);
    await runSteps(ranks, 2437, [...Array(150).keys()], -1, 0);
    await Promise.all(collectives.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.close()));
    const three = await ringOf(3, transport);
    await runSteps(three, 2437, [...Array(60).keys()], -1, 0);
  });

  // On grpc a frame of a step this rank never pulled goes to its open collective's checks (a frame of a
  // step that ended or was cancelled is dropped); on tcp every frame reaches the collective in flight.
  for (const field of ['step', 'generation'] as const) {
    it(`a held chunk with a wrong ${field} fails with CollectiveMismatchError naming the sender`, async () => {
      const ranks = await ringOf(2, transport);
      await runSteps(ranks, 2000, [0], 1, 0);
      tamperEarlyChunks(ranks[0], field);
      const late = (async () => {
        await sleep(LATE_MS);
        return ranks[1].allReduceSum(new Float32Array(2000), 1);
      })();
      const [r0, r1] = await Promise.allSettled([ranks[0].allReduceSum(new Float32Array(2000), 1), late]);
      expect(r1.status).toBe('rejected');
      const err = (r1 as PromiseRejectedResult).reason as CollectiveMismatchError;
      expect(err).toBeInstanceOf(CollectiveMismatchError);
      expect(err.field).toBe(field);
      expect(err.message).toContain('rank 0');
      expect(err.message).toMatch(field === 'step' ? /expected 1, got 1001/ : /expected 1, got 2/);
      expect(r0.status).toBe('rejected');
    });
  }
});

/**
 * Makes `sender` a faulty peer: the chunks it writes on early pulls carry a wrong step or generation
 * (the ring's own pull handler, wrapped; the wire and the receiver's checks are the real ones).
 */
function tamperEarlyChunks(sender: Collective, field: 'step' | 'generation'): void {
  const ring = sender as unknown as { acceptPull: (stream: OutboundStream, via: Transport) => void };
  const accept = ring.acceptPull.bind(ring);
  ring.acceptPull = (stream, via) => {
    if (stream.request.early) {
      const write = stream.write.bind(stream);
      stream.write = (chunk: OutgoingChunk, done: () => void): boolean => {
        const id = { ...chunk.id!, ...(field === 'step' ? { step: chunk.id!.step + 1000 } : { generation: chunk.id!.generation + 1 }) };
        return write({ ...chunk, id, idBytes: encodeChunkId(id) }, done);
      };
    }
    accept(stream, via);
  };
}
