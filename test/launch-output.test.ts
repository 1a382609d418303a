// What `dtrain launch` prints, as a user reads it: one backend line per job, epochs from 1, and a
// summary samples/s equal to the last progress line's average (README: "What samples/s means"), the
// settings each worker logs; and a worker that refuses a malformed DTRAIN_HEAP_GROWING_PERCENT,
// DTRAIN_PRETENURING_OFF or DTRAIN_FLAT_OPTIMIZER before it joins.
import { describe, expect, it } from 'vitest';
import { ALLOCATOR_ENV } from '@dtrain/shared/process/allocator-env';
import { lastJsonLine, runDtrain, smallMnistJob, tempDir, writeJob } from './harness/dtrain-cli';

describe('dtrain launch output', () => {
  it('one backend line, epochs from 1, and the summary samples/s is the last progress average', async () => {
    const dir = tempDir();
    // 340 hidden units: 270,310 float32 gradients (1.03 MB), enough for grpc's buffer churn to matter.
    const job = writeJob(dir, smallMnistJob({
      backend: 'auto',
      model: { kind: 'mlp', task: 'classification', hidden: [{ units: 340, activation: 'relu' }] },
      dataset: { kind: 'mnist', shape: 'flat', limit: 512 },
      training: { batchSize: 16, epochs: 2 },
    }));
    const run = await runDtrain(['launch', '--workers', '2', job, '--json', '--no-metrics']);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const summary = lastJsonLine(run.stdout) as { samplesPerSec: number; validation: { epoch: number }; steps: number };

    const backendLines = run.stderr.split('\n').filter((l) => /backend \w+ \(/.test(l) && !l.includes('session open'));
    expect(backendLines).toHaveLength(1);
    expect(backendLines[0]).toMatch(/backend wasm \(@tensorflow\/tfjs-backend-wasm\), chosen by 'auto': .* not installed/);
    expect(run.stderr).not.toContain('its install script downloads libtensorflow');
    // Each worker process started with the allocator settings (read back from its own environment).
    const allocator = `allocator: MALLOC_MMAP_THRESHOLD_=${ALLOCATOR_ENV.MALLOC_MMAP_THRESHOLD_} ` +
      `MALLOC_TRIM_THRESHOLD_=${ALLOCATOR_ENV.MALLOC_TRIM_THRESHOLD_}`;
    expect(run.stderr.split('\n').filter((l) => l.endsWith(allocator))).toHaveLength(2);
    // ... and widened V8's heap growth when the world formed (heap-growth.ts: no mark-compact per all-reduce).
    const growth = 'heap growth: --heap-growing-percent=400, mark-compacts wait for 5x the live heap ' +
      '(grpc all-reduce of 1.03 MB)';
    expect(run.stderr.split('\n').filter((l) => l.endsWith(growth))).toHaveLength(2);
    // ... and turned V8's allocation-site pretenuring off before training (pretenuring.ts).
    const pretenuring = 'V8 pretenuring: off ' +
      "(a pretenured site would keep every step's tensors alive until a mark-compact)";
    expect(run.stderr.split('\n').filter((l) => l.endsWith(pretenuring))).toHaveLength(2);
    // 270,310 parameters: above the flat update's limit, so tfjs's optimizer (flat-optimizer.ts).
    const optimizer = "optimizer: tfjs's sgd (the flat update covers adam and sgd on wasm up to 65,536 parameters)";
    expect(run.stderr.split('\n').filter((l) => l.endsWith(optimizer))).toHaveLength(2);

    // 512 training digits (the limit) / global batch 32 = 16 steps per epoch, 2 epochs.
    expect(summary.steps).toBe(32);
    expect([...run.stderr.matchAll(/validation after epoch (\d+)/g)].map((m) => Number(m[1]))).toEqual([1, 2]);
    expect(summary.validation.epoch).toBe(2);
    const line = /^epoch (\d+)\/2 step \d+\/16 \(global (\d+)\/32\) .* ([\d,]+) samples\/s now, ([\d,]+) average$/gm;
    const progress = [...run.stderr.matchAll(line)];
    expect(new Set(progress.map((m) => Number(m[1])))).toEqual(new Set([1, 2]));
    const last = progress[progress.length - 1];
    expect(Number(last[2])).toBe(32);
    expect(Number(last[4].replace(/,/g, ''))).toBe(Math.round(summary.samplesPerSec));
    expect(run.stderr).toContain(`samples/s:    ${Math.round(summary.samplesPerSec).toLocaleString('en-US')} (average over training`);
  });

  it.each([
    ['DTRAIN_HEAP_GROWING_PERCENT', 'lots', "must be a whole number from 0 to 10000, got 'lots'"],
    ['DTRAIN_PRETENURING_OFF', 'yes', "must be 1 (pretenuring off, the default) or 0 (V8's own), got 'yes'"],
    ['DTRAIN_FLAT_OPTIMIZER', 'fast', "must be 1 (the default) or 0 (tfjs's optimizers), got 'fast'"],
  ])('a malformed %s stops a worker before it joins, naming the variable', async (name, value, problem) => {
    // Port 1: nothing listens; the worker must fail on the variable before it tries to join.
    const run = await runDtrain(['worker', '--coordinator', '127.0.0.1:1', '--insecure'], {
      env: { ...process.env, [name]: value },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`worker failed: RangeError: ${name} ${problem}`);
    expect(run.stderr).not.toMatch(/joined job|UNAVAILABLE|ECONNREFUSED/);
  });
});
