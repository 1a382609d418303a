// Ring all-reduce between real worker processes on loopback (test/fixtures/allreduce-rank.ts),
// every case against both transports (collective.transport grpc | tcp).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SpawnedRing, type RankEvent } from './fixtures/allreduce-spawn';
import { checksum, expectedSum, rankValue } from './fixtures/allreduce-values';

let rings: SpawnedRing[] = [];

afterEach(async () => {
  await Promise.all(rings.map((r) => r.dispose()));
  rings = [];
});

type RankConfigFn = ConstructorParameters<typeof SpawnedRing>[1];
let transport: 'grpc' | 'tcp' = 'grpc';
/**
 * Where abort()/close() must land inside a running collective: 64 MB takes 40+ ms even on the tcp
 * transport of an idle machine (~1.4 GB/s busbw at N=2), so 5 ms after it started it is still in flight
 * (16 MB and 30 ms raced: the tcp ring finished step 1 first, once it got faster).
 */
const MID_COLLECTIVE = { length: 64 << 20, afterMs: 5 };

function ring(worldSize: number, config: RankConfigFn): SpawnedRing {
  const r = new SpawnedRing(worldSize, (rank) => ({ transport, ...config(rank) }));
  rings.push(r);
  return r;
}

function eventsOf(r: SpawnedRing, kind: string): RankEvent[] {
  return r.ranks.flatMap((p) => p.events.filter((e) => e.event === kind));
}

const LENGTHS = [1, 3, 0, 7, 1001, 1_000_003];
const STEPS = 2;

describe.each(['grpc', 'tcp'] as const)('ring all-reduce between processes, transport %s', (kind) => {
  beforeEach(() => {
    transport = kind;
  });

  for (const worldSize of [1, 2, 3, 4]) {
    it(`sums exactly on every rank, N=${worldSize}, lengths ${LENGTHS.join('/')}, ${STEPS} steps each`, async () => {
      const r = ring(worldSize, () => ({ scenario: 'sums', lengths: LENGTHS, steps: STEPS, chunkBytes: 64 * 1024 }));
      const exits = await r.exits();
      expect(exits.map((e) => e.code)).toEqual(new Array(worldSize).fill(0));
      const results = eventsOf(r, 'result');
      expect(eventsOf(r, 'error')).toEqual([]);
      expect(results).toHaveLength(worldSize * LENGTHS.length * STEPS);
      let step = 0;
      for (const length of LENGTHS) {
        for (let s = 0; s < STEPS; s++, step++) {
          const atStep = results.filter((e) => e.step === step);
          expect(atStep.map((e) => e.rank).sort()).toEqual([...Array(worldSize).keys()]);
          const expected = new Float32Array(length);
          for (let i = 0; i < length; i++) expected[i] = expectedSum(worldSize, i, step);
          for (const e of atStep) {
            expect(e.length).toBe(length);
            expect(e.bad).toBe(0);
            expect(e.checksum).toBe(checksum(expected));
          }
          // Every rank sends 2(N-1)/N of the buffer: the ring's total is exactly 2(N-1) buffers.
          const sent = atStep.reduce((sum, e) => sum + (e.bytesSent as number), 0);
          expect(sent).toBe(2 * (worldSize - 1) * length * 4);
        }
      }
    });
  }

  it('sums exactly into views of a reduction buffer in wasm memory (a worker\'s fused buffer), N=3', async () => {
    const lengths = [7, 1001, 70_001];
    const r = ring(3, () => ({ scenario: 'sums', lengths, steps: 2, chunkBytes: 64 * 1024, reductionBuffer: true }));
    expect((await r.exits()).map((e) => e.code)).toEqual([0, 0, 0]);
    expect(eventsOf(r, 'error')).toEqual([]);
    const results = eventsOf(r, 'result');
    expect(results).toHaveLength(3 * lengths.length * 2);
    for (const e of results) {
      const expected = new Float32Array(e.length as number);
      for (let i = 0; i < expected.length; i++) expected[i] = expectedSum(3, i, e.step as number);
      expect({ step: e.step, bad: e.bad, checksum: e.checksum }).toEqual({ step: e.step, bad: 0, checksum: checksum(expected) });
    }
  });

  it('broadcast gives the root buffer on every rank', async () => {
    const length = 100_003;
    const root = 1;
    const r = ring(3, () => ({ scenario: 'broadcast', length, root, chunkBytes: 4096 }));
    const exits = await r.exits();
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
    const rootValues = Float32Array.from({ length }, (_, i) => rankValue(root, i, 0));
    const results = eventsOf(r, 'result');
    expect(results).toHaveLength(3);
    for (const e of results) {
      expect(e.bad).toBe(0);
      expect(e.checksum).toBe(checksum(rootValues));
    }
    // A chain: root and the middle rank each send the buffer once, the last rank nothing.
    expect(results.map((e) => e.bytesSent)).toEqual(results.map((e) => (e.rank === 0 ? 0 : length * 4)));
  });

  it('a peer with another job id: both ranks fail with CollectiveMismatchError naming the field', async () => {
    const r = ring(2, (rank) => ({ scenario: 'sums', lengths: [1000], steps: 1, jobId: rank === 1 ? 'job-other' : 'job-test' }));
    const exits = await r.exits();
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    expect(eventsOf(r, 'result')).toEqual([]);
    const errors = eventsOf(r, 'error');
    expect(errors.map((e) => e.rank).sort()).toEqual([0, 1]);
    for (const e of errors) {
      expect(e.code).toBe('CollectiveMismatchError');
      expect(e.field).toBe('job');
      expect(e.message).toContain(`rank ${1 - e.rank}`);
    }
  });

  it('a peer of an older generation gets CollectiveMismatchError naming the field; the newer one is not poisoned by it', async () => {
    // Rank 0 is stale (generation 1); rank 1 is in generation 2. Stale traffic must not fail a
    // newer ring, so rank 1 only fails once rank 0 is gone (PeerLostError), never with a mismatch.
    const r = ring(2, (rank) => ({ scenario: 'sums', lengths: [1000], steps: 1, generation: rank + 1 }));
    const exits = await r.exits();
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    expect(eventsOf(r, 'result')).toEqual([]);
    const [stale] = r.ranks[0].events.filter((e) => e.event === 'error');
    expect(stale.code).toBe('CollectiveMismatchError');
    expect(stale.field).toBe('generation');
    expect(stale.message).toMatch(/expected 1, got 2/);
    const [fresh] = r.ranks[1].events.filter((e) => e.event === 'error');
    expect(fresh.code).toBe('PeerLostError');
    expect(fresh.peerRank).toBe(0);
  });

  it('a rank that stops taking part fails its neighbour with CollectiveTimeoutError naming it', async () => {
    const r = ring(2, (rank) => ({ scenario: 'loop', length: 10_000, steps: 5, timeoutMs: 1000, stallAtStep: rank === 1 ? 2 : undefined }));
    await r.until(() => eventsOf(r, 'error').length === 1, 'rank 0 to time out');
    const [err] = eventsOf(r, 'error');
    expect(err.rank).toBe(0);
    expect(err.code).toBe('CollectiveTimeoutError');
    expect(err.peerRank).toBe(1);
    expect(err.message).toContain('rank 1');
    expect(eventsOf(r, 'step').filter((e) => e.rank === 0).map((e) => e.first)).toEqual([2, 2]);
    expect((await r.ranks[0].exited).code).toBe(0);
  });

  it('kill -9 of one rank mid-collective: every other rank fails with PeerLostError naming it, and exits', async () => {
    const victim = 2;
    const r = ring(4, () => ({ scenario: 'loop', length: 4 << 20, chunkBytes: 256 * 1024, timeoutMs: 30_000 }));
    await r.until(() => r.ranks.every((p) => p.events.some((e) => e.event === 'step' && (e.step as number) >= 1)), 'two steps on every rank');
    r.ranks[victim].child.kill('SIGKILL');
    const exits = await r.exits();
    expect(exits[victim].signal).toBe('SIGKILL');
    const survivors = r.ranks.filter((p) => p.rank !== victim);
    for (const p of survivors) {
      expect(exits[p.rank].code).toBe(0);
      const errors = p.events.filter((e) => e.event === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0].code).toBe('PeerLostError');
      expect(errors[0].peerRank).toBe(victim);
      expect(errors[0].message).toContain(`rank ${victim} (127.0.0.1:`);
      expect(p.events.some((e) => e.event === 'closed')).toBe(true);
      // Sum of ones over 4 ranks, for every completed step.
      expect(new Set(p.events.filter((e) => e.event === 'step').map((e) => e.first))).toEqual(new Set([4]));
    }
  });

  for (const abortBy of ['abort', 'close'] as const) {
    it(`${abortBy}() mid-collective: both ranks reject at once (not at the timeout) with named errors`, async () => {
      const timeoutMs = 60_000;
      const r = ring(2, () => ({ scenario: 'abort', length: MID_COLLECTIVE.length, abortRank: 1, abortAfterMs: MID_COLLECTIVE.afterMs, abortBy, timeoutMs }));
      const exits = await r.exits(90_000);
      expect(exits.map((e) => e.code)).toEqual([0, 0]);
      expect(eventsOf(r, 'step').map((e) => e.step)).toEqual([0, 0]);
      const rejected = eventsOf(r, 'rejected');
      expect(rejected.map((e) => e.rank).sort()).toEqual([0, 1]);
      // Far below the 60 s watchdog: only the abort can have ended the step.
      for (const e of rejected) expect(e.sinceStartMs as number).toBeLessThan(timeoutMs / 4);
      const [mine] = r.ranks[1].events.filter((e) => e.event === 'error');
      expect(mine.code).toBe('WorldAbortedError');
      expect(mine.message).toMatch(abortBy === 'abort' ? /world changed: generation 2 announced/ : /closed during all-reduce step 1/);
      const [theirs] = r.ranks[0].events.filter((e) => e.event === 'error');
      expect(theirs.code).toBe('PeerLostError');
      expect(theirs.peerRank).toBe(1);
    });
  }

  it('after abort() the collective refuses new work with WorldAbortedError', async () => {
    const r = ring(2, () => ({ scenario: 'abort', length: MID_COLLECTIVE.length, abortRank: 1, abortAfterMs: MID_COLLECTIVE.afterMs, timeoutMs: 60_000 }));
    await r.exits(90_000);
    expect(eventsOf(r, 'later').map((e) => e.code)).toEqual(['WorldAbortedError']);
  });
});
