// `dtrain coordinator` + `dtrain worker`: the multi-machine path, here as separate processes that
// only share the coordinator's address (what two hosts would share).
import { describe, expect, it } from 'vitest';
import { freePort } from './harness/free-port';
import { lastJsonLine, smallMnistJob, startDtrain, tempDir, writeJob } from './harness/dtrain-cli';

describe('dtrain coordinator + dtrain worker', () => {
  it('forms a world of separately started workers, assigns ranks 0 and 1, and trains', async () => {
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob({ training: { batchSize: 16, epochs: 1, maxSteps: 15 } }));
    const port = await freePort();
    const coordinator = startDtrain(['coordinator', job, '--listen', `127.0.0.1:${port}`, '--workers', '2', '--json']);
    await coordinator.waitFor(/waiting for 2 worker/);
    const workers = [0, 1].map((r) => startDtrain(['worker', '--coordinator', `127.0.0.1:${port}`, '--local-rank', String(r)]));
    const [done, ...workerExits] = await Promise.all([coordinator.exited, ...workers.map((w) => w.exited)]);
    expect(done.code, coordinator.stderr()).toBe(0);
    expect(workerExits.map((e) => e.code)).toEqual([0, 0]);
    const summary = lastJsonLine(coordinator.stdout());
    expect(summary).toMatchObject({ status: 'succeeded', workers: 2, steps: 15 });
    expect(summary.samplesPerSec).toBeGreaterThan(0);
    // Ranks come with the world (WorldAssignment), logged by each worker as "generation G: rank R/N".
    const ranks = workers.map((w) => Number(w.stderr().match(/generation 1: rank (\d)\/2,/)?.[1])).sort();
    expect(ranks).toEqual([0, 1]);
  }, 300_000);

  it('refuses a worker beyond --workers MAX, naming why (exit 3: a restart would be refused again)', async () => {
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob({ training: { batchSize: 16, epochs: 50 } }));
    const port = await freePort();
    const coordinator = startDtrain(['coordinator', job, '--listen', `127.0.0.1:${port}`, '--workers', '1']);
    const first = startDtrain(['worker', '--coordinator', `127.0.0.1:${port}`]);
    await coordinator.waitFor(/session open/, 180_000);
    const late = startDtrain(['worker', '--coordinator', `127.0.0.1:${port}`]);
    const lateExit = await late.exited;
    expect(lateExit.code).toBe(3);
    expect(late.stderr()).toMatch(/JoinRefusedError: join refused .*already has 1 worker\(s\) \(--workers MAX\)/);
    coordinator.child.kill('SIGTERM');
    first.child.kill('SIGTERM');
    await Promise.all([coordinator.exited, first.exited]);
  }, 300_000);
});
