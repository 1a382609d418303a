// Coordinator restart (docs/elastic.md "Takeover"): `dtrain coordinator` and two `dtrain worker`
// processes; the coordinator is SIGKILLed mid-run and started again with the same arguments. The
// workers keep their processes, re-join, and the new coordinator continues the same job from
// coordinator-state.json and the workers' in-memory state: the job finishes with every sample of
// every epoch trained exactly once and no step trained twice.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from './harness/free-port';
import { lastJsonLine, smallMnistJob, startDtrain, tempDir, writeJob } from './harness/dtrain-cli';

describe('coordinator takeover', () => {
  it('SIGKILL of the coordinator mid-run: a restart with the same arguments finishes the same job, ledger intact', async () => {
    const dir = tempDir();
    const ckpt = join(dir, 'ckpt');
    const job = writeJob(dir, smallMnistJob({
      dataset: { kind: 'mnist', shape: 'flat', limit: 600 },
      training: { batchSize: 16, epochs: 3 },
      checkpoint: { dir: ckpt, everySteps: 10, keep: 2 },
    }));
    const port = await freePort();
    const args = ['coordinator', job, '--listen', `127.0.0.1:${port}`, '--workers', '2', '--json'];
    const first = startDtrain(args);
    await first.waitFor(/waiting for 2 worker/);
    const jobId = (await first.waitFor(/job (\S+): waiting/))[1];
    const workers = [0, 1].map((r) => startDtrain([
      'worker', '--coordinator', `127.0.0.1:${port}`, '--local-rank', String(r), '--test-delay-ms', '25',
      '--coordinator-timeout-ms', '180000',
    ]));
    await first.waitFor(/checkpoint written at step (1[0-9]|[2-9][0-9])/, 90_000);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(existsSync(join(ckpt, 'coordinator-state.json'))).toBe(true);

    const second = startDtrain(args);
    await second.waitFor(/taking over job (\S+)/, 120_000);
    const [done, ...workerExits] = await Promise.all([second.exited, ...workers.map((w) => w.exited)]);
    expect(done.code, second.stderr().slice(-3000)).toBe(0);
    expect(workerExits.map((e) => e.code)).toEqual([0, 0]);
    const summary = lastJsonLine(second.stdout());
    // 600 samples, global batch 32: 18 steps per epoch (24 carried), 3 epochs.
    expect(summary).toMatchObject({ status: 'succeeded', jobId, workers: 2, steps: 54, stepsRedone: 0, workersLost: 0 });
    expect(summary.generations).toBeGreaterThanOrEqual(2);
    expect(summary.sampleLedger).toEqual({ epochs: 3, expected: 3 * 576, trained: 3 * 576, duplicated: 0, missing: 0 });
    expect(second.stderr()).toMatch(new RegExp(`taking over job ${jobId} at generation 1`));
  }, 300_000);
});
