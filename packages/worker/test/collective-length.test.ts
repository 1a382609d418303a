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
