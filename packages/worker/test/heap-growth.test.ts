// The heap growing factor a worker applies at start-up, read back from V8 itself: a child process applies
// it and forces a full GC with --trace-gc-verbose, whose HeapController line prints the factor the new
// old-generation limit was computed with.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { applyHeapGrowth, HEAP_GROWING_PERCENT } from '../src/heap-growth';

const MODULE = fileURLToPath(new URL('../src/heap-growth.ts', import.meta.url));

/** Applies the setting in a fresh process (env `percent`) and returns its log line and V8's factors. */
function factorsInChild(percent: string | undefined): { line: string; factors: number[] } {
  const script = `import(${JSON.stringify(MODULE)}).then((m) => {
    const keep = []; for (let i = 0; i < 200000; i++) keep.push({ i });
    console.log(m.applyHeapGrowth()); globalThis.gc(); globalThis.gc(); console.log(keep.length);
  });`;
  const env = { ...process.env };
  delete env.DTRAIN_HEAP_GROWING_PERCENT;
  if (percent !== undefined) env.DTRAIN_HEAP_GROWING_PERCENT = percent;
  const r = spawnSync(process.execPath, ['--trace-gc-verbose', '--expose-gc', '--import', 'tsx', '-e', script], {
    env, encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  const out = r.stdout.split('\n');
  const factors = out.filter((l) => l.includes('[HeapController] Limit:'))
    .map((l) => Number(/\(([\d.]+)\)\s*$/.exec(l)?.[1]));
  return { line: out.find((l) => l.startsWith('heap growth:')) ?? '', factors };
}

describe('heap growth', () => {
  it('sets V8 growing factor 1 + 400/100 by default, and the percent the environment asks for', () => {
    const byDefault = factorsInChild(undefined);
    expect(HEAP_GROWING_PERCENT).toBe(400);
    expect(byDefault.line).toBe('heap growth: --heap-growing-percent=400 (mark-compacts wait for 5x the live heap)');
    expect(byDefault.factors.length).toBeGreaterThanOrEqual(2);
    expect(byDefault.factors.every((f) => f === 5)).toBe(true);

    const asked = factorsInChild('150');
    expect(asked.line).toBe('heap growth: --heap-growing-percent=150 (mark-compacts wait for 2.5x the live heap)');
    expect(asked.factors.every((f) => f === 2.5)).toBe(true);
  });

  it('DTRAIN_HEAP_GROWING_PERCENT=0 leaves V8 its own factor (at most 4)', () => {
    const off = factorsInChild('0');
    expect(off.line).toBe('heap growth: V8 default (DTRAIN_HEAP_GROWING_PERCENT=0)');
    expect(off.factors.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...off.factors)).toBeLessThanOrEqual(4);
  });

  it('a malformed percent is a RangeError naming the variable and the value', () => {
    for (const bad of ['abc', '-5', '12.5', '20000']) {
      const message = `DTRAIN_HEAP_GROWING_PERCENT must be a whole number from 0 to 10000, got '${bad}'`;
      expect(() => applyHeapGrowth({ DTRAIN_HEAP_GROWING_PERCENT: bad })).toThrow(new RangeError(message));
    }
  });
});
