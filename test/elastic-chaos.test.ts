// Chaos tests of elastic training (docs/elastic.md), with real processes killed for real:
// - 4 workers (--workers 3:4: the survivors go on at once, without waiting for the replacement),
//   >= 300 steps, kill -9 of a random member every 50 steps, each replaced by a new process that
//   joins the running world: the job succeeds, every sample of every epoch is trained exactly once,
//   all final replicas hold the same state, and the held-out loss is within 10% of an uninterrupted
//   4-worker run with the same seed;
// - --workers 2:4 with two kills and no replacement: training goes on at 2 and finishes;
// - a worker frozen with SIGSTOP past the collective deadline is removed and the others continue.
// The kill points come from the coordinator's periodic checkpoint lines (every 50 steps), so they are step-
// based, not time-based.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { isAlive, lastJsonLine, smallMnistJob, startDtrain, tempDir, waitForExit, writeJob } from './harness/dtrain-cli';
import {
  currentMembers, expectExactLedger, finalDigests, finalWorldSize, waitForCount, type SampleLedger,
} from './harness/elastic';

interface Summary {
  status: string;
  steps: number;
  loss: number | null;
  validation: { loss: number; accuracy?: number } | null;
  generations?: number;
  workersLost?: number;
  workersJoined?: number;
  stepsRedone?: number;
  recoverySeconds?: number[];
  sampleLedger?: SampleLedger;
  restarts?: number;
}

function chaosJob(dir: string, name: string, everySteps: number, epochs: number): string {
  return writeJob(dir, smallMnistJob({
    name,
    seed: 11,
    dataset: { kind: 'mnist', shape: 'flat', limit: 2000 },
    training: { batchSize: 16, epochs },
    checkpoint: { dir: join(dir, 'ckpt'), everySteps, keep: 2 },
    // Short deadlines: a frozen or cut-off peer is noticed in seconds.
    collective: { timeoutMs: 4_000 },
  }), `${name}.yaml`);
}

function pick<T>(xs: T[]): T {
  return xs[Math.floor(Math.random() * xs.length)];
}

describe('elastic chaos', () => {
  it('4 workers, kill -9 of a random worker every 50 steps, each replaced: exact ledger, equal replicas, loss as uninterrupted', async () => {
    const dir = tempDir('dtrain-chaos-');
    // 2000 training digits / (4 x 16) = 31 steps per epoch at 4 workers; 13 epochs >= 403 steps.
    const job = chaosJob(dir, 'chaos-kill', 50, 13);
    const run = startDtrain(['launch', '--workers', '3:4', job, '--json', '--no-metrics', '--max-restarts', '10']);
    const killed: number[] = [];
    for (const step of [50, 100, 150, 200, 250]) {
      await run.waitFor(new RegExp(`checkpoint written at step ${step}:`), 240_000);
      // A member of the current world (a replacement still starting up has nothing to lose yet).
      const members = currentMembers(run.stderr()).pids.filter((p) => isAlive(p) && !killed.includes(p));
      const victim = pick(members);
      process.kill(victim, 'SIGKILL');
      killed.push(victim);
      // The launcher starts a replacement as soon as it sees the exit.
      await waitForCount(run, /started replacement pid \d+/g, killed.length, 60_000);
    }
    const { code } = await run.exited;
    expect(code, run.stderr().slice(-4000)).toBe(0);
    const summary = lastJsonLine(run.stdout()) as unknown as Summary;
    expect(summary.status).toBe('succeeded');
    expect(summary.steps).toBeGreaterThanOrEqual(300);
    expect(summary.restarts).toBe(5);
    expect(summary.workersLost).toBe(5);
    expect(summary.workersJoined).toBeGreaterThanOrEqual(5);
    expect(summary.stepsRedone).toBe(0);
    expect(summary.recoverySeconds?.length).toBe(5);
    expectExactLedger(summary.sampleLedger);
    // The members of the last world hold bit-identical weights and optimizer state.
    const digests = finalDigests(run.stderr());
    expect(digests.length).toBe(finalWorldSize(run.stderr()));
    expect(digests.length).toBeGreaterThanOrEqual(3);
    expect(new Set(digests).size).toBe(1);
    expect(digests[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(await waitForExit(killed)).toEqual([]);

    // The same job without kills: the held-out loss agrees within 10% (the world ran with 3 ranks,
    // i.e. a smaller global batch, while each replacement started up).
    const refDir = tempDir('dtrain-chaos-ref-');
    const ref = startDtrain(['launch', '--workers', '4', chaosJob(refDir, 'chaos-ref', 1000, 13), '--json', '--no-metrics']);
    const refExit = await ref.exited;
    expect(refExit.code, ref.stderr().slice(-3000)).toBe(0);
    const refSummary = lastJsonLine(ref.stdout()) as unknown as Summary;
    expectExactLedger(refSummary.sampleLedger);
    const chaosLoss = summary.validation!.loss;
    const refLoss = refSummary.validation!.loss;
    process.stderr.write(`chaos held-out loss ${chaosLoss.toFixed(4)} vs uninterrupted ${refLoss.toFixed(4)}; ` +
      `recoverySeconds ${JSON.stringify(summary.recoverySeconds)}\n`);
    expect(Math.abs(chaosLoss - refLoss) / refLoss).toBeLessThan(0.1);
  }, 600_000);

  it('--workers 2:4 with two kills and no replacement: training continues at 2 and finishes', async () => {
    const dir = tempDir('dtrain-chaos-');
    const job = chaosJob(dir, 'chaos-shrink', 20, 4);
    const run = startDtrain(['launch', '--workers', '2:4', job, '--json', '--no-metrics']);
    const killed: number[] = [];
    for (const step of [20, 40]) {
      await run.waitFor(new RegExp(`checkpoint written at step ${step}:`), 180_000);
      const victim = pick(currentMembers(run.stderr()).pids.filter((p) => isAlive(p) && !killed.includes(p)));
      process.kill(victim, 'SIGKILL');
      killed.push(victim);
    }
    const { code } = await run.exited;
    expect(code, run.stderr().slice(-4000)).toBe(0);
    const summary = lastJsonLine(run.stdout()) as unknown as Summary;
    expect(summary.status).toBe('succeeded');
    expect(summary.workersLost).toBe(2);
    expect(summary.restarts ?? 0).toBe(0); // (omitted from the summary when 0)
    expectExactLedger(summary.sampleLedger);
    // A world of 2 was formed and the two survivors finished with equal state.
    expect(run.stderr()).toMatch(/generation \d+: rank 1\/2,/);
    const digests = finalDigests(run.stderr());
    expect(digests.length).toBe(2);
    expect(new Set(digests).size).toBe(1);
    expect(run.stderr()).toMatch(/no replacement \(no --max-restarts\)/);
  }, 300_000);

  it('a worker frozen with SIGSTOP past the collective deadline is removed; the others continue', async () => {
    const dir = tempDir('dtrain-chaos-');
    const job = chaosJob(dir, 'chaos-freeze', 20, 3);
    const run = startDtrain(['launch', '--workers', '2:3', job, '--json', '--no-metrics']);
    await run.waitFor(/checkpoint written at step 20:/, 180_000);
    const victim = pick(currentMembers(run.stderr()).pids);
    process.kill(victim, 'SIGSTOP');
    try {
      // The two others form a world of their own (the frozen one still holds its TCP connections).
      await run.waitFor(/generation \d+: rank 1\/2,/, 90_000);
    } finally {
      // Removed already; killing it now only cleans up (it must not count as a second loss).
      process.kill(victim, 'SIGKILL');
    }
    const { code } = await run.exited;
    expect(code, run.stderr().slice(-4000)).toBe(0);
    const summary = lastJsonLine(run.stdout()) as unknown as Summary;
    expect(summary.status).toBe('succeeded');
    expect(summary.workersLost).toBe(1);
    expectExactLedger(summary.sampleLedger);
    const digests = finalDigests(run.stderr());
    expect(digests.length).toBe(2);
    expect(new Set(digests).size).toBe(1);
  }, 300_000);
});
