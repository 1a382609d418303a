// The sample ledger on its own: duplicates and missing samples are counted, not assumed, and a
// rollback to a checkpoint leaves exactly the checkpoint's prefix marked.
import { describe, expect, it } from 'vitest';
import { epochOrder, initialPlanState } from '@dtrain/shared/shard-plan';
import { SampleLedger } from '../src/controller/sample-ledger';

const start = initialPlanState(5, 20);
const order = Array.from(epochOrder(start));

describe('sample ledger', () => {
  it('counts a sample marked twice as a duplicate and an unmarked one of the due prefix as missing', () => {
    const l = new SampleLedger();
    l.enterEpoch(start, null);
    l.mark(0, order.slice(0, 8));
    l.mark(0, order.slice(6, 10)); // 2 again
    expect(l.totals(12)).toEqual({ epochs: 1, expected: 12, trained: 10, duplicated: 2, missing: 2 });
    l.closeEpoch(12);
    expect(l.totals(null)).toEqual({ epochs: 1, expected: 12, trained: 10, duplicated: 2, missing: 2 });
  });

  it('refuses a step of another epoch than the open one', () => {
    const l = new SampleLedger();
    l.enterEpoch(start, null);
    expect(() => l.mark(1, [0])).toThrow(/epoch 1 marked while epoch 0 is open/);
  });

  it('rollbackTo keeps exactly the checkpoint prefix, then re-training it is not a duplicate', () => {
    const l = new SampleLedger();
    l.enterEpoch(start, null);
    l.mark(0, order.slice(0, 16));
    l.rollbackTo({ ...start, consumed: 8 });
    l.mark(0, order.slice(8, 20));
    expect(l.totals(20)).toEqual({ epochs: 1, expected: 20, trained: 20, duplicated: 0, missing: 0 });
  });

  it('snapshot/restore round-trips marks and totals (the state file)', () => {
    const l = new SampleLedger();
    l.enterEpoch(start, null);
    l.mark(0, order.slice(0, 4));
    const r = SampleLedger.restore(JSON.parse(JSON.stringify(l.snapshot())));
    r.mark(0, order.slice(3, 6));
    expect(r.totals(6)).toEqual({ epochs: 1, expected: 6, trained: 6, duplicated: 1, missing: 0 });
  });
});
