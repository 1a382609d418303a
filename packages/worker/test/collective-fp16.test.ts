// Opt-in fp16 wire compression of the ring all-reduce: real gRPC rings in this process.
import { afterAll, describe, expect, it } from 'vitest';
import { CollectiveMismatchError } from '@dtrain/shared/errors';
import type { Collective, PeerServer, RingOptions } from '../src/collective/api';
import { createRingCollective, startPeerServer } from '../src/collective/index';

const opened: Array<Collective | PeerServer> = [];

afterAll(async () => {
  for (const x of opened.splice(0).reverse()) await x.close();
});

async function ring(n: number, jobId: string, compression: Array<RingOptions['compression']>, chunkBytes = 4096): Promise<Collective[]> {
  const servers = await Promise.all([...Array(n).keys()].map(() => startPeerServer({ host: '127.0.0.1', port: 0 })));
  opened.push(...servers);
  const addresses = servers.map((s) => s.address);
  const collectives = servers.map((server, rank) =>
    createRingCollective(server, { jobId, generation: 1, rank, worldSize: n, ring: addresses, chunkBytes, timeoutMs: 10_000, compression: compression[rank] }),
  );
  opened.push(...collectives);
  return collectives;
}

/** Deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

describe('fp16 wire compression', () => {
  it('sums integer-valued floats exactly on every rank (N = 2, 3, 4)', async () => {
    const length = 10_007; // uneven segments, several 4 KiB chunks per segment
    for (const n of [2, 3, 4]) {
      const collectives = await ring(n, `fp16-exact-${n}`, Array(n).fill('fp16'));
      const rand = rng(n);
      // |v| <= 1024 chosen so that every partial sum stays within ±2048, where halves are integers.
      const limit = Math.floor(2048 / n);
      const buffers = collectives.map(() => Float32Array.from({ length }, () => Math.floor(rand() * (2 * limit + 1)) - limit));
      const expected = Float32Array.from({ length }, (_, i) => buffers.reduce((s, b) => s + b[i], 0));
      await Promise.all(collectives.map((c, r) => c.allReduceSum(buffers[r], 0)));
      for (const b of buffers) expect(Buffer.from(b.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
      // A non-trivial check: some sums reach beyond ±1024 and the values are not all zero.
      expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(1024);
    }
  });

  it('N(0,1) gradients: max relative error vs the float32 sum <= 5e-3, replicas bit-identical', async () => {
    const n = 4;
    const length = 20_000;
    const collectives = await ring(n, 'fp16-gauss', Array(n).fill('fp16'));
    const rand = rng(42);
    const buffers = collectives.map(() => Float32Array.from({ length }, () => gaussian(rand)));
    const exact = Float64Array.from({ length }, (_, i) => buffers.reduce((s, b) => s + b[i], 0));
    const absSum = Float64Array.from({ length }, (_, i) => buffers.reduce((s, b) => s + Math.abs(b[i]), 0));
    await Promise.all(collectives.map((c, r) => c.allReduceSum(buffers[r], 0)));
    // Relative to the sum of magnitudes: a sum that cancels to ~0 has no meaningful relative error.
    let maxRel = 0;
    for (let i = 0; i < length; i++) maxRel = Math.max(maxRel, Math.abs(buffers[0][i] - exact[i]) / absSum[i]);
    // Measured: 1.05e-3 (seed 42, N = 4), i.e. ~2 half ulps of re-quantized partial sums.
    expect(maxRel).toBeLessThanOrEqual(5e-3);
    expect(maxRel).toBeGreaterThan(0); // it really went through half precision
    for (const b of buffers.slice(1)) expect(Buffer.from(b.buffer).equals(Buffer.from(buffers[0].buffer))).toBe(true);
  });

  it('sends half the bytes of float32 for the same buffer; broadcast stays float32 and exact', async () => {
    const length = 30_000;
    const rand = rng(3);
    const data = Float32Array.from({ length }, () => gaussian(rand));
    const sent: Record<string, number[]> = {};
    for (const compression of ['none', 'fp16'] as const) {
      const collectives = await ring(3, `fp16-bytes-${compression}`, Array(3).fill(compression));
      const stats = await Promise.all(collectives.map((c) => c.allReduceSum(data.slice(), 0)));
      sent[compression] = stats.map((s) => s.bytesSent);
      const weights = collectives.map((_, r) => (r === 1 ? data.slice() : new Float32Array(length)));
      const b = await Promise.all(collectives.map((c, r) => c.broadcast(weights[r], 1, 1)));
      for (const w of weights) expect(Buffer.from(w.buffer).equals(Buffer.from(data.buffer))).toBe(true);
      expect(b.map((s) => s.bytesSent)).toEqual([0, length * 4, length * 4]); // chain 1 -> 2 -> 0
    }
    // Each rank sends 2(N-1)/N of the buffer: 40000 elements here.
    expect(sent.none).toEqual([160_000, 160_000, 160_000]);
    expect(sent.fp16).toEqual([80_000, 80_000, 80_000]);
  });

  it('a puller with fp16 against a float32 server fails with CollectiveMismatchError naming encoding', async () => {
    // Rank 1 pulls from rank 0: rank 1 compresses, rank 0 does not.
    const collectives = await ring(2, 'fp16-mismatch', ['none', 'fp16']);
    const results = await Promise.allSettled(collectives.map((c) => c.allReduceSum(new Float32Array(1000).fill(1), 0)));
    const errors = results.map((r) => (r.status === 'rejected' ? (r.reason as Error) : null));
    for (const err of errors) {
      expect(err).toBeInstanceOf(CollectiveMismatchError);
      expect((err as CollectiveMismatchError).field).toBe('encoding');
      expect(err!.message).toMatch(/expected FLOAT(16|32), got FLOAT(16|32)/);
    }
    // The fp16 puller learns it from the float32 server (rank 0), which refused it.
    expect(errors[1]!.message).toMatch(/^collective encoding mismatch from rank 0 \(127\.0\.0\.1:\d+\): expected FLOAT16, got FLOAT32$/);
  });
});
