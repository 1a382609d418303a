// The heap growth a worker's world trains with: which worlds get it, and that V8 really uses it (read back
// from V8: a child process applies it and forces full GCs with --trace-gc-verbose, whose HeapController
// line prints the factor each new old-generation limit was computed with).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHURN_GRADIENT_BYTES, heapGrowthFor, heapGrowthOverride, type HeapGrowthWorld } from '../src/heap-growth';

const MODULE = fileURLToPath(new URL('../src/heap-growth.ts', import.meta.url));
const MB16: HeapGrowthWorld = { transport: 'grpc', worldSize: 2, gradientBytes: 16 << 20 };

/**
 * In a fresh process: applies each world in turn (env DTRAIN_HEAP_GROWING_PERCENT = `percent`), two full GCs
 * after each. Returns the log lines and, per world, the factors V8 computed its limits with.
 */
function factorsInChild(
  worlds: HeapGrowthWorld[], percent?: string,
): { lines: (string | null)[]; factors: number[][] } {
  const script = `import(${JSON.stringify(MODULE)}).then((m) => {
    const keep = []; for (let i = 0; i < 200000; i++) keep.push({ i });
    for (const w of ${JSON.stringify(worlds)}) {
      console.log('LINE ' + JSON.stringify(m.applyHeapGrowth(w))); globalThis.gc(); globalThis.gc();
    }
    console.log(keep.length);
  });`;
  const env = { ...process.env };
  delete env.DTRAIN_HEAP_GROWING_PERCENT;
  if (percent !== undefined) env.DTRAIN_HEAP_GROWING_PERCENT = percent;
  const r = spawnSync(process.execPath, ['--trace-gc-verbose', '--expose-gc', '--import', 'tsx', '-e', script], {
    env, encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  const lines: (string | null)[] = [];
  const factors: number[][] = [];
  for (const l of r.stdout.split('\n')) {
    if (l.startsWith('LINE ')) {
      lines.push(JSON.parse(l.slice(5)) as string | null);
      factors.push([]);
    } else if (l.includes('[HeapController] Limit:') && factors.length > 0) {
      factors[factors.length - 1].push(Number(/\(([\d.]+)\)\s*$/.exec(l)?.[1]));
    }
  }
  return { lines, factors };
}

describe('heap growth', () => {
  it('only a grpc world of two or more all-reducing at least 1 MB gets 400%', () => {
    expect(CHURN_GRADIENT_BYTES).toBe(1 << 20);
    const env = {};
    expect(heapGrowthFor(MB16, env)).toEqual({ percent: 400, why: 'grpc all-reduce of 16.00 MB' });
    expect(heapGrowthFor({ ...MB16, gradientBytes: 1 << 20 }, env).percent).toBe(400);
    expect(heapGrowthFor({ ...MB16, gradientBytes: (1 << 20) - 4 }, env))
      .toEqual({ percent: 0, why: 'grpc all-reduce of 1.00 MB < 1 MB' });
    expect(heapGrowthFor({ ...MB16, transport: 'tcp' }, env))
      .toEqual({ percent: 0, why: 'tcp transport: no buffer churn' });
    expect(heapGrowthFor({ ...MB16, worldSize: 1 }, env)).toEqual({ percent: 0, why: 'world of one: no all-reduce' });
    // The environment wins either way.
    expect(heapGrowthFor({ ...MB16, transport: 'tcp' }, { DTRAIN_HEAP_GROWING_PERCENT: '150' }).percent).toBe(150);
    expect(heapGrowthFor(MB16, { DTRAIN_HEAP_GROWING_PERCENT: '0' }).percent).toBe(0);
  });

  it('V8 computes its limits with factor 5 in a churning world, and with its own again when the world changes', () => {
    const tcp: HeapGrowthWorld = { ...MB16, transport: 'tcp' };
    const run = factorsInChild([MB16, MB16, tcp]);
    expect(run.lines).toEqual([
      'heap growth: --heap-growing-percent=400, mark-compacts wait for 5x the live heap (grpc all-reduce of 16.00 MB)',
      null, // unchanged: nothing to log
      "heap growth: V8's default (tcp transport: no buffer churn)",
    ]);
    expect(run.factors[0].length).toBeGreaterThanOrEqual(2);
    expect(run.factors[0].every((f) => f === 5)).toBe(true);
    expect(run.factors[2].length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...run.factors[2])).toBeLessThanOrEqual(4);
  });

  it('DTRAIN_HEAP_GROWING_PERCENT sets the factor V8 uses', () => {
    const run = factorsInChild([{ ...MB16, transport: 'tcp' }], '150');
    expect(run.lines).toEqual([
      'heap growth: --heap-growing-percent=150, mark-compacts wait for 2.5x the live heap ' +
        '(DTRAIN_HEAP_GROWING_PERCENT)',
    ]);
    expect(run.factors[0].every((f) => f === 2.5)).toBe(true);
  });

  it('a malformed percent is a RangeError naming the variable and the value', () => {
    expect(heapGrowthOverride({})).toBeNull();
    expect(heapGrowthOverride({ DTRAIN_HEAP_GROWING_PERCENT: '0' })).toBe(0);
    for (const bad of ['abc', '-5', '12.5', '20000']) {
      const message = `DTRAIN_HEAP_GROWING_PERCENT must be a whole number from 0 to 10000, got '${bad}'`;
      expect(() => heapGrowthOverride({ DTRAIN_HEAP_GROWING_PERCENT: bad })).toThrow(new RangeError(message));
      expect(() => heapGrowthFor(MB16, { DTRAIN_HEAP_GROWING_PERCENT: bad })).toThrow(new RangeError(message));
    }
  });
});
