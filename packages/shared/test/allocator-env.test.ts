// The allocator settings workers start with: the user's values win, DTRAIN_ALLOCATOR_TUNING=0 opts out,
// and (on glibc, which CI runs) they really do stop per-step buffers from page-faulting fresh memory.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ALLOCATOR_ENV, describeAllocatorEnv, withWorkerAllocatorEnv } from '../src/process/allocator-env';

/**
 * Minor page faults of a process that allocates, fills and drops 1 MiB buffers (a collection every 4,
 * as a step's messages die together), counted over the last 200 of 300 (after warm-up).
 */
function faultsOfChurn(env: NodeJS.ProcessEnv): number {
  const script = `
    let before = 0;
    for (let i = 0; i < 300; i++) {
      if (i === 100) before = process.resourceUsage().minorPageFault;
      Buffer.allocUnsafe(1 << 20).fill(i);
      if (i % 4 === 3) gc();
    }
    process.stdout.write(String(process.resourceUsage().minorPageFault - before));`;
  const run = spawnSync(process.execPath, ['--expose-gc', '-e', script], { env, encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  return Number(run.stdout);
}

describe('worker allocator environment', () => {
  it('adds both settings, keeps a value the user set, and leaves everything alone when opted out', () => {
    expect(withWorkerAllocatorEnv({ PATH: '/bin' })).toEqual({ PATH: '/bin', ...ALLOCATOR_ENV });
    expect(ALLOCATOR_ENV).toEqual({ MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '268435456' });
    const mine = withWorkerAllocatorEnv({ MALLOC_TRIM_THRESHOLD_: '1048576' });
    expect(mine).toEqual({ MALLOC_TRIM_THRESHOLD_: '1048576', MALLOC_MMAP_THRESHOLD_: '33554432' });
    expect(withWorkerAllocatorEnv({ DTRAIN_ALLOCATOR_TUNING: '0' })).toEqual({ DTRAIN_ALLOCATOR_TUNING: '0' });
    expect(describeAllocatorEnv(mine)).toBe('allocator: MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1048576');
    expect(describeAllocatorEnv({})).toMatch(/^allocator: glibc defaults .*MALLOC_MMAP_THRESHOLD_=33554432/);
  });

  it('a process started with them reuses freed buffers instead of faulting in fresh pages for each', () => {
    const { MALLOC_MMAP_THRESHOLD_: _m, MALLOC_TRIM_THRESHOLD_: _t, ...plain } = process.env;
    // The control holds glibc's default threshold (128 KiB) fixed, so every 1 MiB buffer is a fresh
    // mmap that goes back to the kernel when freed. With nothing set, glibc raises its threshold after
    // the first such free, and whether later buffers still fault depends on when V8's collections free
    // them: 359-12,800 faults in 8 idle runs, which made an unset control flaky (605 once in CI).
    const control = faultsOfChurn({ ...plain, MALLOC_MMAP_THRESHOLD_: '131072' });
    const tuned = faultsOfChurn(withWorkerAllocatorEnv(plain));
    // Nearly every page of the 200 buffers of 256 pages: measured 51,980-52,007, idle or with both cores busy.
    expect(control).toBeGreaterThan(190 * 256);
    // Tuned: the heap keeps the few MiB live between collections and reuses them; measured 135-907 (a
    // few fresh buffers of 256 pages at most), so 10 buffers' worth is the bound.
    expect(tuned).toBeLessThan(10 * 256);
  });
});
