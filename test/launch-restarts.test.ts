// `dtrain launch --max-restarts N` is the replacement budget (docs/elastic.md): a killed worker
// process is replaced by a new one that joins the running world and gets the state from the
// survivor over the ring. With --workers 2 (2:2) the survivor waits below MIN for the replacement;
// nothing is read from a checkpoint and no step is trained twice.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lastJsonLine, smallMnistJob, startDtrain, tempDir, waitForExit, writeJob } from './harness/dtrain-cli';
import { expectExactLedger, finalDigests, type SampleLedger } from './harness/elastic';

describe('dtrain launch --max-restarts (replacement)', () => {
  it('survives kill -9 of a worker: a new process joins with the survivor\'s state and every step is trained once', async () => {
    const dir = tempDir();
    const ckpt = join(dir, 'ckpt');
    // 2000 training digits (limit) / (2 x 16) = 62 steps per epoch; 3 epochs = 186 steps.
    const job = writeJob(dir, smallMnistJob({
      name: 'restarts',
      training: { batchSize: 16, epochs: 3 },
      checkpoint: { dir: ckpt, everySteps: 10, keep: 3 },
    }));
    const run = startDtrain(['launch', '--workers', '2', job, '--json', '--no-metrics', '--max-restarts', '1']);
    await run.waitFor(/checkpoint written at step 20:/, 180_000);
    const pids = run.stderr().match(/pids (\d+), (\d+)/)!.slice(1).map(Number);
    process.kill(pids[1], 'SIGKILL');
    const { code } = await run.exited;
    expect(code, run.stderr().slice(-3000)).toBe(0);
    const summary = lastJsonLine(run.stdout()) as Record<string, unknown> & { sampleLedger?: SampleLedger };
    expect(summary).toMatchObject({ status: 'succeeded', restarts: 1, workersLost: 1, stepsRedone: 0 });
    expect(summary.workersJoined).toBeGreaterThanOrEqual(1);
    expectExactLedger(summary.sampleLedger);
    expect(run.stderr()).toMatch(/started replacement pid \d+ \(1 of 1\), it joins the running world/);
    // The state came from the survivor, not from a checkpoint.
    expect(run.stderr()).not.toMatch(/resuming from|restored weights and optimizer state from/);
    const state = JSON.parse(readFileSync(join(String(summary.lastCheckpoint), 'state.json'), 'utf8')) as { globalStep: number };
    expect(state.globalStep).toBe(186);
    expect(summary.steps).toBe(186);
    const digests = finalDigests(run.stderr());
    expect(digests.length).toBe(2);
    expect(new Set(digests).size).toBe(1);
    expect(await waitForExit(pids)).toEqual([]);
  }, 300_000);
});
