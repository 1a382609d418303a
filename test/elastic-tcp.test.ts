// An elastic job on the TCP peer transport (collective.transport: tcp) survives a worker kill:
// the survivors abandon the generation (Collective.abort on the in-flight TCP all-reduce), re-form,
// a replacement joins and receives the state by broadcast over TCP, and the job finishes with an
// exact sample ledger and bit-identical replicas. The grpc path is covered by elastic-chaos.test.ts.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { isAlive, lastJsonLine, smallMnistJob, startDtrain, tempDir, waitForExit, writeJob } from './harness/dtrain-cli';
import {
  currentMembers, expectExactLedger, finalDigests, finalWorldSize, waitForCount, type SampleLedger,
} from './harness/elastic';

interface Summary {
  status: string;
  steps: number;
  workersLost?: number;
  workersJoined?: number;
  restarts?: number;
  sampleLedger?: SampleLedger;
}

describe('elastic training over the tcp transport', () => {
  it('--workers 2:3, kill -9 of a member, replacement joins: exact ledger, equal digests, all on tcp', async () => {
    const dir = tempDir('dtrain-elastic-tcp-');
    // 2000 digits / (3 x 16) = 42 steps per epoch at 3 workers; 2 epochs.
    const job = writeJob(dir, smallMnistJob({
      name: 'elastic-tcp',
      seed: 13,
      training: { batchSize: 16, epochs: 2 },
      checkpoint: { dir: join(dir, 'ckpt'), everySteps: 20, keep: 2 },
      collective: { transport: 'tcp', timeoutMs: 4_000 },
    }), 'elastic-tcp.yaml');
    const run = startDtrain(['launch', '--workers', '2:3', job, '--json', '--no-metrics', '--max-restarts', '1']);
    await run.waitFor(/checkpoint written at step 20:/, 240_000);
    const victim = currentMembers(run.stderr()).pids.filter(isAlive)[0];
    expect(victim).toBeGreaterThan(0);
    process.kill(victim, 'SIGKILL');
    await waitForCount(run, /started replacement pid \d+/g, 1, 60_000);
    const { code } = await run.exited;
    const stderr = run.stderr();
    expect(code, stderr.slice(-4000)).toBe(0);
    const summary = lastJsonLine(run.stdout()) as unknown as Summary;
    expect(summary.status).toBe('succeeded');
    expect(summary.workersLost).toBe(1);
    expect(summary.restarts).toBe(1);
    expectExactLedger(summary.sampleLedger);
    // Every state sync (first world and after the kill) ran over the tcp transport, none over grpc.
    const syncs = [...stderr.matchAll(/generation \d+: rank \d+\/\d+, state of rank[^\n]*/g)].map((m) => m[0]);
    expect(syncs.length).toBeGreaterThanOrEqual(4);
    for (const line of syncs) expect(line).toMatch(/, tcp transport\)$/);
    expect(new Set(syncs.map((l) => Number(/generation (\d+)/.exec(l)![1]))).size).toBeGreaterThanOrEqual(2);
    const digests = finalDigests(stderr);
    expect(digests.length).toBe(finalWorldSize(stderr));
    expect(digests.length).toBeGreaterThanOrEqual(2);
    expect(new Set(digests).size).toBe(1);
    expect(digests[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(await waitForExit([victim])).toEqual([]);
  }, 480_000);
});
