// PullRequest.total_length is checked against the serving rank's buffer; after the failure,
// close() must leave no timers or sockets behind.
import { expect, it } from 'vitest';
import { CollectiveMismatchError } from '@dtrain/shared/errors';
import { createRingCollective, startPeerServer } from '../src/collective/index';

function liveHandles(): string[] {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap' || r === 'TCPServerWrap');
}

it('ranks whose buffers differ in length both fail with a length mismatch, then close cleanly', async () => {
  const before = liveHandles();
  const servers = await Promise.all([0, 1].map(() => startPeerServer({ host: '127.0.0.1', port: 0 })));
  const ring = servers.map((s) => s.address);
  const collectives = [0, 1].map((rank) =>
    createRingCollective(servers[rank], { jobId: 'job-len', generation: 1, rank, worldSize: 2, ring, chunkBytes: 4096, timeoutMs: 10_000 }),
  );
  const results = await Promise.allSettled([collectives[0].allReduceSum(new Float32Array(1000), 0), collectives[1].allReduceSum(new Float32Array(1001), 0)]);
  const errors = results.map((r) => (r.status === 'rejected' ? (r.reason as Error) : null));
  for (const [rank, err] of errors.entries()) {
    expect(err).toBeInstanceOf(CollectiveMismatchError);
    expect((err as CollectiveMismatchError).field).toBe('length');
    expect(err!.message).toContain(`rank ${1 - rank}`);
    expect(err!.message).toMatch(/expected 100[01], got 100[01]/);
  }
  // The ring stays failed: the next step reports the same error instead of hanging.
  await expect(collectives[0].allReduceSum(new Float32Array(1000), 1)).rejects.toBe(errors[0]);
  await Promise.all(collectives.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(liveHandles().length).toBeLessThanOrEqual(before.length);
});

it('a pull of a newer generation fails the stale ring but is kept for the re-formed one', async () => {
  const servers = await Promise.all([0, 1].map(() => startPeerServer({ host: '127.0.0.1', port: 0 })));
  const ring = servers.map((s) => s.address);
  const opts = (rank: number, generation: number) => ({ jobId: 'job-gen', generation, rank, worldSize: 2, ring, chunkBytes: 4096, timeoutMs: 10_000 });
  const stale = createRingCollective(servers[0], opts(0, 1));
  const fresh1 = createRingCollective(servers[1], opts(1, 2));
  const b1 = Float32Array.from({ length: 5000 }, (_, i) => i);
  const pending1 = fresh1.allReduceSum(b1, 0);
  // Rank 0 is still on generation 1: the generation-2 pull tells it its ring is stale.
  const staleErr = await stale.allReduceSum(new Float32Array(5000), 0).then(
    () => new Error('stale ring succeeded'),
    (e: unknown) => e as Error,
  );
  expect(staleErr).toBeInstanceOf(CollectiveMismatchError);
  expect((staleErr as CollectiveMismatchError).field).toBe('generation');
  expect(staleErr.message).toContain('expected 1, got 2');
  await stale.close();
  // Rank 0 re-forms; the pull that arrived early is served by the new ring.
  const fresh0 = createRingCollective(servers[0], opts(0, 2));
  const b0 = Float32Array.from({ length: 5000 }, (_, i) => 2 * i);
  const [s0, s1] = await Promise.all([fresh0.allReduceSum(b0, 0), pending1]);
  for (let i = 0; i < 5000; i += 7) {
    expect(b0[i]).toBe(3 * i);
    expect(b1[i]).toBe(3 * i);
  }
  expect(s0.bytesSent + s1.bytesSent).toBe(2 * 5000 * 4);
  await Promise.all([fresh0.close(), fresh1.close()]);
  await Promise.all(servers.map((s) => s.close()));
});
