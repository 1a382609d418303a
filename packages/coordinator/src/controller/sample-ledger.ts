// The per-epoch sample ledger (docs/elastic.md "Ledger"): which training samples the committed
// steps trained. Every epoch trains a prefix of one fixed order (epochOrder: the carry, then a
// seeded shuffle), whatever the world sizes along the way, so at an epoch's end "missing" is simply
// the unmarked samples of that prefix (the tail carried into the next epoch is not missing: it opens
// that epoch), and marking a sample twice is a duplicate. A world change must leave both at 0.
import { epochOrder, type ShardPlanState } from '@dtrain/shared/shard-plan';

export interface LedgerTotals {
  epochs: number;
  expected: number;
  trained: number;
  duplicated: number;
  missing: number;
}

/** JSON-able form for the coordinator state file. */
export interface LedgerSnapshot {
  /** Start of the open epoch's order (consumed 0), null before the first plan. */
  epochStart: ShardPlanState | null;
  /** base64 of one byte per sample: 1 = trained in this epoch. */
  marks: string;
  duplicated: number;
  closed: LedgerTotals;
}

export class SampleLedger {
  private epochStart: ShardPlanState | null = null;
  private marks = new Uint8Array(0);
  private trained = 0;
  private duplicated = 0;
  private closed: LedgerTotals = { epochs: 0, expected: 0, trained: 0, duplicated: 0, missing: 0 };

  get openEpoch(): number | null {
    return this.epochStart?.epoch ?? null;
  }

  /**
   * Makes `state`'s epoch the open one. A later epoch closes the open one first, at the position
   * where its order ends (`closeAt`, in samples: the plan's end of that epoch).
   */
  enterEpoch(state: ShardPlanState, closeAt: number | null): void {
    if (this.epochStart && this.epochStart.epoch === state.epoch) return;
    if (this.epochStart && closeAt !== null) this.closeEpoch(closeAt);
    this.epochStart = { ...state, carryIn: [...state.carryIn], consumed: 0 };
    this.marks = new Uint8Array(state.datasetSize);
    this.trained = 0;
    this.duplicated = 0;
  }

  /** Marks the samples of one committed step of the open epoch. */
  mark(epoch: number, indices: ArrayLike<number>): void {
    if (!this.epochStart || this.epochStart.epoch !== epoch) {
      throw new RangeError(`ledger: step of epoch ${epoch} marked while epoch ${this.openEpoch ?? 'none'} is open`);
    }
    for (let i = 0; i < indices.length; i++) {
      const s = indices[i];
      if (this.marks[s]) this.duplicated += 1;
      else { this.marks[s] = 1; this.trained += 1; }
    }
  }

  /** Ends the open epoch: the first `consumedEnd` samples of its order were due. */
  closeEpoch(consumedEnd: number): void {
    if (!this.epochStart) return;
    const order = epochOrder(this.epochStart);
    let missing = 0;
    for (let i = 0; i < consumedEnd; i++) if (!this.marks[order[i]]) missing += 1;
    this.closed = {
      epochs: this.closed.epochs + 1,
      expected: this.closed.expected + consumedEnd,
      trained: this.closed.trained + this.trained,
      duplicated: this.closed.duplicated + this.duplicated,
      missing: this.closed.missing + missing,
    };
    this.epochStart = null;
    this.marks = new Uint8Array(0);
    this.trained = 0;
    this.duplicated = 0;
  }

  /**
   * The weights went back to a checkpoint taken at `state`: what was marked after it is untrained
   * again. Epochs after the checkpoint's are forgotten; its epoch keeps exactly order[0, consumed).
   */
  rollbackTo(state: ShardPlanState): void {
    const order = epochOrder(state);
    if (!this.epochStart || this.epochStart.epoch !== state.epoch) {
      // Reopen the checkpoint's epoch; a closed copy of it is taken back out of the totals.
      if (this.closed.epochs > 0 && (this.epochStart === null || this.epochStart.epoch > state.epoch)) {
        this.closed = { ...this.closed, epochs: this.closed.epochs - 1 };
      }
      this.epochStart = { ...state, carryIn: [...state.carryIn], consumed: 0 };
      this.marks = new Uint8Array(state.datasetSize);
      this.trained = 0;
      this.duplicated = 0;
      for (let i = 0; i < state.consumed; i++) { this.marks[order[i]] = 1; this.trained += 1; }
      return;
    }
    // The checkpoint's weights include order[0, consumed) (even steps this ledger had not seen yet) and nothing after.
    for (let i = 0; i < state.consumed; i++) {
      if (!this.marks[order[i]]) { this.marks[order[i]] = 1; this.trained += 1; }
    }
    for (let i = state.consumed; i < order.length; i++) {
      if (this.marks[order[i]]) { this.marks[order[i]] = 0; this.trained -= 1; }
    }
  }

  /** Closed epochs plus the open one up to `openConsumed` samples. */
  totals(openConsumed: number | null): LedgerTotals {
    if (!this.epochStart || openConsumed === null) return { ...this.closed };
    const order = epochOrder(this.epochStart);
    let missing = 0;
    for (let i = 0; i < openConsumed; i++) if (!this.marks[order[i]]) missing += 1;
    const open = openConsumed > 0 || this.trained > 0 ? 1 : 0;
    return {
      epochs: this.closed.epochs + open,
      expected: this.closed.expected + openConsumed,
      trained: this.closed.trained + this.trained,
      duplicated: this.closed.duplicated + this.duplicated,
      missing: this.closed.missing + missing,
    };
  }

  snapshot(): LedgerSnapshot {
    return {
      epochStart: this.epochStart,
      marks: Buffer.from(this.marks.buffer, this.marks.byteOffset, this.marks.byteLength).toString('base64'),
      duplicated: this.duplicated,
      closed: { ...this.closed },
    };
  }

  static restore(s: LedgerSnapshot): SampleLedger {
    const l = new SampleLedger();
    l.epochStart = s.epochStart;
    l.marks = new Uint8Array(Buffer.from(s.marks, 'base64'));
    l.trained = l.marks.reduce((a, v) => a + v, 0);
    l.duplicated = s.duplicated;
    l.closed = { ...s.closed };
    return l;
  }
}
