// Aggregation of the ranks' reports within one generation: a step is complete when every rank
// reported it (the job's loss is the ranks' mean), an epoch when every rank sent its validation sums
// (combined exactly: sums over disjoint shards). A new generation starts both afresh.
import type { EpochReport__Output, StepReport__Output } from '@dtrain/shared/proto';
import type { ValidationResult } from '../api';

export type RankedStepReport = StepReport__Output & { rank: number };

export class RankReports<T> {
  private readonly byKey = new Map<number, Map<number, T>>();

  /** Adds one rank's report; returns all ranks' reports (by rank) once `worldSize` are in. */
  add(key: number, rank: number, report: T, worldSize: number): T[] | null {
    const m = this.byKey.get(key) ?? new Map<number, T>();
    m.set(rank, report);
    this.byKey.set(key, m);
    if (m.size < worldSize) return null;
    this.byKey.delete(key);
    return [...m.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r);
  }

  clear(): void {
    this.byKey.clear();
  }
}

export function combineValidation(
  epoch: number, globalStep: number, list: readonly EpochReport__Output[],
  task: 'classification' | 'regression', metrics: readonly string[],
): ValidationResult {
  const count = list.reduce((a, r) => a + Number(r.valCount), 0);
  const values = list.reduce((a, r) => a + Number(r.valValues), 0);
  const sum = (f: (r: EpochReport__Output) => number) => list.reduce((a, r) => a + f(r), 0);
  const result: ValidationResult = { epoch, globalStep, count, loss: count > 0 ? sum((r) => r.valLossSum) / count : Number.NaN };
  if (count > 0 && (task === 'classification' || metrics.includes('accuracy'))) result.accuracy = sum((r) => r.valCorrect) / count;
  if (values > 0 && (task === 'regression' || metrics.includes('mse'))) result.mse = sum((r) => r.valSqErrorSum) / values;
  if (values > 0 && (task === 'regression' || metrics.includes('mae'))) result.mae = sum((r) => r.valAbsErrorSum) / values;
  return result;
}
