// `dtrain launch --bind-cores`: each worker's main thread on a CPU of its own, its other threads unbound.
// The CPU lists as Linux writes them, the placement the launcher computes and refuses, a real binding read
// back from /proc in a child process (main thread and helper threads), and a launched job whose workers
// log the CPU they read back. A worker given a CPU it may not use, or a malformed DTRAIN_BIND_CPU, stops
// before it joins, naming the problem.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  allowedCpus, assignCpus, boundCpu, CpuBindingError, formatCpuList, parseCpuList,
} from '@dtrain/shared/process/cpu-binding';
import { lastJsonLine, runDtrain, smallMnistJob, tempDir, writeJob } from './harness/dtrain-cli';

const MODULE = fileURLToPath(new URL('../packages/shared/src/process/cpu-binding.ts', import.meta.url));

describe('CPU binding', () => {
  it('reads and writes Linux CPU lists, places one worker per CPU, and refuses more', () => {
    expect(parseCpuList('0-3,6')).toEqual([0, 1, 2, 3, 6]);
    expect(parseCpuList('5\n')).toEqual([5]);
    expect(parseCpuList('2,0-1')).toEqual([0, 1, 2]);
    expect(formatCpuList([0, 1, 2, 3, 6, 8, 9])).toBe('0-3,6,8-9');
    expect(() => parseCpuList('0-a')).toThrow(new RangeError("not a CPU list: '0-a' (expected e.g. '0-3,6')"));
    expect(() => parseCpuList('3-1')).toThrow(RangeError);
    expect(assignCpus(2, [4, 5, 7])).toEqual([4, 5]);
    let refused: unknown;
    try {
      assignCpus(3, [0, 1]);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(CpuBindingError);
    expect((refused as CpuBindingError).allowed).toEqual([0, 1]);
    expect((refused as CpuBindingError).slots).toBe(3);
    expect((refused as CpuBindingError).cpu).toBeNull();
    expect((refused as CpuBindingError).message).toBe('--bind-cores: 3 worker processes but only 2 CPU(s) ' +
      'allowed here (0-1); start at most 2 or drop --bind-cores');
    expect(boundCpu({})).toBeNull();
    expect(boundCpu({ DTRAIN_BIND_CPU: '3' })).toBe(3);
    expect(() => boundCpu({ DTRAIN_BIND_CPU: 'one' }))
      .toThrow(new RangeError("DTRAIN_BIND_CPU must be a CPU number (e.g. 0), got 'one'"));
  });

  it('binds the main thread only: read back from /proc, the other threads keep every CPU', () => {
    const before = allowedCpus();
    expect(before.length, 'this test needs 2 or more CPUs').toBeGreaterThanOrEqual(2);
    const cpu = before[before.length - 1];
    const script = `import(${JSON.stringify(MODULE)}).then((m) => {
      const line = m.bindMainThread(${cpu});
      const fs = require('node:fs');
      const threads = fs.readdirSync('/proc/self/task').map(Number).filter((t) => t !== process.pid);
      const others = threads.map((t) => m.allowedCpus(process.pid, t));
      console.log(JSON.stringify({ line, main: m.allowedCpus(), others }));
    });`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    type Threads = { line: string; main: number[]; others: number[][] };
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Threads;
    expect(out.line).toBe(`CPU binding: main thread on CPU ${cpu} (GC, compiler and I/O threads unbound)`);
    expect(out.main).toEqual([cpu]);
    // V8's platform threads and libuv's were started before the binding and keep the process's CPUs.
    expect(out.others.length).toBeGreaterThanOrEqual(4);
    for (const list of out.others) expect(list).toEqual(before);
  });

  it('dtrain launch --bind-cores: each worker logs the CPU it reads back, and the job trains', async () => {
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob({ dataset: { kind: 'mnist', shape: 'flat', limit: 256 } }));
    const args = ['launch', '--workers', '2', '--bind-cores', job, '--json', '--no-metrics', '--insecure'];
    const run = await runDtrain(args);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const cpus = allowedCpus().slice(0, 2);
    expect(run.stderr).toContain(`[launcher] --bind-cores: worker main threads on CPUs ${cpus.join(', ')}`);
    for (const [rank, cpu] of cpus.entries()) {
      expect(run.stderr).toContain(
        `[worker ${rank}] CPU binding: main thread on CPU ${cpu} (GC, compiler and I/O threads unbound)`);
    }
    // 256 digits / global batch 32 = 8 steps, every sample trained once.
    const summary = lastJsonLine(run.stdout) as { steps: number; sampleLedger: { trained: number; missing: number } };
    expect(summary.steps).toBe(8);
    expect(summary.sampleLedger).toMatchObject({ trained: 256, missing: 0 });
  });

  it('dtrain launch refuses more workers than CPUs with exit 2, before starting any', async () => {
    const n = allowedCpus().length + 1;
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob());
    const run = await runDtrain(['launch', '--workers', String(n), '--bind-cores', job, '--insecure']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--bind-cores: ${n} worker processes but only ${n - 1} CPU(s) allowed here`);
    expect(run.stderr).not.toContain('started');
  });

  it.each([
    ['one', "RangeError: DTRAIN_BIND_CPU must be a CPU number (e.g. 0), got 'one'"],
    ['4096', 'CpuBindingError: cannot bind to CPU 4096: this process may run on CPUs '],
  ])('DTRAIN_BIND_CPU=%s stops a worker before it joins, naming the problem', async (value, problem) => {
    // Port 1: nothing listens; the worker must fail on the binding before it tries to join.
    const run = await runDtrain(['worker', '--coordinator', '127.0.0.1:1', '--insecure'], {
      env: { ...process.env, DTRAIN_BIND_CPU: value },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`worker failed: ${problem}`);
    expect(run.stderr).not.toMatch(/joined job|UNAVAILABLE|ECONNREFUSED/);
  });
});
