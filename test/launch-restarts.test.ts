// torchrun's --max-restarts: after a worker is lost, relaunch every worker from the newest checkpoint.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lastJsonLine, smallMnistJob, startDtrain, tempDir, waitForExit, writeJob } from './harness/dtrain-cli';

describe('dtrain launch --max-restarts', () => {
  it('survives kill -9 of a worker: relaunches from the newest checkpoint as generation 2 and finishes every step', async () => {
    const dir = tempDir();
    const ckpt = join(dir, 'ckpt');
    // 2000 training digits (limit) / (2 x 16) = 62 steps per epoch; 3 epochs = 186 steps.
    const job = writeJob(dir, smallMnistJob({
      name: 'restarts',
      training: { batchSize: 16, epochs: 3 },
      checkpoint: { dir: ckpt, everySteps: 10, keep: 3 },
    }));
    const run = startDtrain(['launch', '--workers', '2', job, '--json', '--no-metrics', '--max-restarts', '1']);
    await run.waitFor(/checkpoint \(periodic\) at step 20/);
    const pids = run.stderr().match(/pids (\d+), (\d+)/)!.slice(1).map(Number);
    process.kill(pids[1], 'SIGKILL');
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(0);
    const summary = lastJsonLine(run.stdout());
    expect(summary).toMatchObject({ status: 'succeeded', restarts: 1 });
    expect(run.stderr()).toMatch(/lost worker rank \d.*; restarting all 2 workers \(restart 1 of 1\) from the newest checkpoint in /);
    expect(run.stderr()).toMatch(/world generation 2 formed/);
    const resumedAt = Number(run.stderr().match(/resuming from \S+ at global step (\d+)/)![1]);
    expect(resumedAt).toBeGreaterThanOrEqual(20);
    expect(resumedAt % 10).toBe(0);
    // The relaunched world trains to the same end as an uninterrupted run would.
    const state = JSON.parse(readFileSync(join(String(summary.lastCheckpoint), 'state.json'), 'utf8')) as { globalStep: number; planState: { epoch: number } };
    expect(state.globalStep).toBe(186);
    expect(summary.steps).toBe(186);
    expect(await waitForExit(pids)).toEqual([]);
  });
});
