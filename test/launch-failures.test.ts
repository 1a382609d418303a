// What a user sees when things go wrong: a worker killed mid-training, Ctrl-C, a bad job file.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { REPO_ROOT, isAlive, lastJsonLine, runDtrain, smallMnistJob, startDtrain, tempDir, waitForExit, writeJob } from './harness/dtrain-cli';

function workerPids(stderr: string): number[] {
  const m = stderr.match(/started \d+ worker process\(es\): pids ([\d, ]+)/);
  if (!m) throw new Error(`no worker pids in:\n${stderr}`);
  return m[1].split(',').map((p) => Number(p.trim()));
}

/** rank -> pid, from the coordinator's "world generation 1 formed: rank 0=host/0 pid 123 ..." line. */
function ranksByPid(stderr: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of stderr.matchAll(/rank (\d+)=\S+ pid (\d+)/g)) out.set(Number(m[2]), Number(m[1]));
  return out;
}

describe('dtrain launch failures', () => {
  it('kill -9 of one worker, no replacement, below --workers MIN: waits the rendezvous timeout, fails naming it, keeps a final checkpoint, leaves no process', async () => {
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob({ training: { batchSize: 16, epochs: 200 }, checkpoint: { dir: `${dir}/ckpt`, keep: 2 } }));
    // The timeout covers the first rendezvous too: long enough for 3 process starts on a busy machine.
    const run = startDtrain(['launch', '--workers', '3', job, '--json', '--rendezvous-timeout', '120000']);
    await run.waitFor(/epoch 1\/200 step/, 180_000);
    const pids = workerPids(run.stderr());
    const ranks = ranksByPid(run.stderr());
    const victim = pids[1];
    const victimRank = ranks.get(victim);
    expect(victimRank).toBeDefined();
    process.kill(victim, 'SIGKILL');
    const { code } = await run.exited;
    expect(code).toBe(1);
    const summary = lastJsonLine(run.stdout());
    expect(summary.status).toBe('failed');
    expect(summary.errorCode).toBe('BelowMinWorkersError');
    expect(String(summary.error)).toMatch(/only 2 worker\(s\) left, below the minimum of 3/);
    expect(summary.workersLost).toBe(1);
    // The world change was shown as it happened, naming the lost rank.
    expect(run.stderr()).toMatch(new RegExp(`\\(rank ${victimRank}\\) lost from generation 1`));
    expect(run.stderr()).toMatch(/job FAILED[\s\S]*below the minimum of 3/);
    // The survivors' state was written before failing: training can resume from it.
    const state = JSON.parse(readFileSync(`${String(summary.lastCheckpoint)}/state.json`, 'utf8')) as { globalStep: number };
    expect(state.globalStep).toBeGreaterThan(0);
    expect(await waitForExit([...pids, run.child.pid!])).toEqual([]);
  }, 400_000);

  it('SIGINT stops the launcher and every worker it started', async () => {
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob({ training: { batchSize: 16, epochs: 200 } }));
    const run = startDtrain(['launch', '--workers', '2', job]);
    await run.waitFor(/epoch 1\/200 step/, 180_000);
    const pids = workerPids(run.stderr());
    expect(pids.every(isAlive)).toBe(true);
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    expect(code).toBe(130);
    expect(run.stderr()).toContain('SIGINT: stopping 2 worker process(es)');
    expect(await waitForExit(pids)).toEqual([]);
  }, 300_000);

  it('SIGKILL of the launcher itself leaves no worker behind (workers follow their launcher)', async () => {
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob({ training: { batchSize: 16, epochs: 200 } }));
    const run = startDtrain(['launch', '--workers', '2', job]);
    await run.waitFor(/epoch 1\/200 step/, 180_000);
    const pids = workerPids(run.stderr());
    run.child.kill('SIGKILL');
    await run.exited;
    expect(await waitForExit(pids)).toEqual([]);
  }, 300_000);

  it('a bad job file gets a message naming each bad field, exit code 2, and starts nothing', async () => {
    const dir = tempDir();
    const job = writeJob(dir, {
      ...smallMnistJob(),
      trainig: { batchSize: 4 },
      training: { batchSize: 'sixteen', epochs: 0 },
      optimizer: { kind: 'adamw', learningRate: 0.1 },
    });
    const run = await runDtrain(['launch', '--workers', '2', job]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`invalid job spec ${job}`);
    expect(run.stderr).toMatch(/trainig: unknown field/);
    expect(run.stderr).toMatch(/training\.batchSize: .*number/i);
    expect(run.stderr).toMatch(/training\.epochs: .*(>0|greater|positive|>=1|too small)/i);
    expect(run.stderr).toMatch(/optimizer\.kind: .*(sgd|adam)/);
    expect(run.stderr).not.toContain('started');

    const missing = writeJob(dir, { ...smallMnistJob(), dataset: undefined }, 'no-dataset.yaml');
    const run2 = await runDtrain(['launch', '--workers', '1', missing]);
    expect(run2.code).toBe(2);
    expect(run2.stderr).toMatch(/dataset: .*(required|expected)/i);
  });

  it('a non-finite loss stops every rank at the same step, keeps the last good weights in a checkpoint, and names rank and step', async () => {
    const dir = tempDir();
    const ckpt = `${dir}/ckpt`;
    // A linear net with learning rate 1 on unstandardized prices overflows float32 within a few steps.
    const job = writeJob(dir, {
      name: 'nan-loss', seed: 1, backend: 'wasm',
      model: { kind: 'mlp', task: 'regression', hidden: [{ units: 16, activation: 'linear' }] },
      dataset: { kind: 'csv', path: `${REPO_ROOT}/examples/data/house-prices.csv`, label: 'price_k', standardize: false },
      loss: 'meanSquaredError', optimizer: { kind: 'sgd', learningRate: 1 },
      training: { batchSize: 8, epochs: 5 }, checkpoint: { dir: ckpt, keep: 2 },
    });
    const run = await runDtrain(['launch', '--workers', '2', job, '--json', '--no-metrics']);
    expect(run.code).toBe(1);
    const summary = lastJsonLine(run.stdout);
    expect(summary).toMatchObject({ status: 'failed', errorCode: 'NonFiniteLossError' });
    // Whichever rank reports first: its own loss overflowed, or the summed gradient did.
    const m = String(summary.error).match(/(rank \d computed a non-finite loss \((Infinity|-Infinity|NaN)\)|the all-reduced gradient became non-finite) at step (\d+).*; weights left at the last good step/);
    expect(m, String(summary.error)).not.toBeNull();
    const failedStep = Number(m![3]);
    // Steps 0 .. failedStep-1 were applied; the checkpoint holds exactly those weights, all finite.
    expect(summary.steps).toBe(failedStep);
    const last = `${ckpt}/step-${String(failedStep).padStart(10, '0')}`;
    const state = JSON.parse(readFileSync(`${last}/state.json`, 'utf8')) as { globalStep: number };
    expect(state.globalStep).toBe(failedStep);
    const w = readFileSync(`${last}/weights.bin`);
    const weights = new Float32Array(w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength));
    expect(weights.every(Number.isFinite)).toBe(true);
  });

  it('a setup failure on one rank (model build) fails the job with that error instead of leaving the others waiting', async () => {
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob({
      name: 'setup-fails',
      model: { kind: 'custom', task: 'classification', module: `${REPO_ROOT}/test/fixtures/failing-model.ts` },
    }));
    const run = startDtrain(['launch', '--workers', '2', job, '--json', '--no-metrics']);
    const { code } = await run.exited;
    expect(code).toBe(1);
    const summary = lastJsonLine(run.stdout());
    expect(summary.status).toBe('failed');
    expect(String(summary.error)).toContain('this model refuses to build on local rank 1');
    expect(summary.steps).toBe(0);
    expect(await waitForExit(workerPids(run.stderr()))).toEqual([]);
  });

  it('workers that all fail before the first world (a CPU they may not use) fail the job at once', async () => {
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob({ name: 'bad-binding' }));
    // A 10-minute rendezvous timeout: only the launcher's check can end this job with the exit below.
    const run = await runDtrain(['launch', '--workers', '2', job, '--json', '--no-metrics', '--insecure',
      '--rendezvous-timeout', '600000'], { env: { ...process.env, DTRAIN_BIND_CPU: '4096' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('worker failed: CpuBindingError: cannot bind to CPU 4096');
    const summary = lastJsonLine(run.stdout);
    expect(summary).toMatchObject({ status: 'failed', errorCode: 'WorkerExitedError', steps: 0 });
    expect(String(summary.error)).toMatch(new RegExp('^worker process \\d \\(pid \\d+\\) exited with code 1 before ' +
      'the first world formed; [01] worker process\\(es\\) left, fewer than the 2 the job needs$'));
    expect(await waitForExit(workerPids(run.stderr))).toEqual([]);
  });

  it('a data file that does not exist fails the job with its path, exit 1, a JSON summary, and leaves no worker', async () => {
    const dir = tempDir();
    const job = writeJob(dir, {
      name: 'no-file', model: { kind: 'mlp', task: 'regression', hidden: [{ units: 4 }] },
      dataset: { kind: 'csv', path: './missing.csv', label: 'y' }, loss: 'meanSquaredError',
      optimizer: { kind: 'sgd', learningRate: 0.01 }, training: { batchSize: 4 },
    });
    const run = await runDtrain(['launch', '--workers', '2', job, '--json']);
    expect(run.code).toBe(1);
    const summary = lastJsonLine(run.stdout);
    expect(summary).toMatchObject({ status: 'failed', errorCode: 'DataFileError' });
    expect(String(summary.error)).toContain(`${dir}/missing.csv`);
    // Workers start together with the coordinator (start-up time); its failure stops them at once.
    expect(run.stderr).toContain('the coordinator did not start: stopping');
    expect(await waitForExit(workerPids(run.stderr))).toEqual([]);
  });
});
