// Combining the ranks' held-out sums into what the summary and the --json line report: the
// per-epoch validation's errors in the label's units, and the test file's result (evaluated once,
// after training). The coordinator calls these; it holds only numbers, never tensors.
import type { Standardization } from './api';
import { labelUnitErrors } from './model-bundle';

/** What a rank reports for a held-out shard (proto EpochReport fields). */
export interface HeldOutSums {
  valLossSum: number;
  valCorrect: number;
  valAbsErrorSum: number;
  valSqErrorSum: number;
  valCount: number | string;
  valValues: number | string;
}

/** The test file's result: accuracy (classification), or RMSE and MAE in the label's units. */
export interface TestResult {
  count: number;
  /** Mean loss (standardized units for regression, as in training). */
  loss: number;
  accuracy?: number;
  rmse?: number;
  mae?: number;
}

export interface LabelUnits {
  rmse: number;
  mae: number;
}

function totals(reports: readonly HeldOutSums[]) {
  const sum = (f: (r: HeldOutSums) => number) => reports.reduce((a, r) => a + f(r), 0);
  return {
    count: sum((r) => Number(r.valCount)),
    values: sum((r) => Number(r.valValues)),
    lossSum: sum((r) => r.valLossSum),
    correct: sum((r) => r.valCorrect),
    absErrorSum: sum((r) => r.valAbsErrorSum),
    squaredErrorSum: sum((r) => r.valSqErrorSum),
  };
}

/** Validation errors in the label's units (regression only; undefined otherwise or when empty). */
export function validationLabelUnits(
  reports: readonly HeldOutSums[],
  task: 'classification' | 'regression',
  standardization: Standardization | null | undefined,
): LabelUnits | undefined {
  if (task !== 'regression') return undefined;
  const t = totals(reports);
  if (t.values <= 0) return undefined;
  return labelUnitErrors({ absErrorSum: t.absErrorSum, squaredErrorSum: t.squaredErrorSum, valueCount: t.values }, standardization);
}

/** The ranks' test shards combined; null when no rank evaluated a test file. */
export function combineTestReports(
  reports: readonly HeldOutSums[],
  task: 'classification' | 'regression',
  standardization: Standardization | null | undefined,
): TestResult | null {
  const t = totals(reports);
  if (reports.length === 0 || t.count <= 0) return null;
  const out: TestResult = { count: t.count, loss: t.lossSum / t.count };
  if (task === 'classification') {
    out.accuracy = t.correct / t.count;
  } else {
    const units = labelUnitErrors({ absErrorSum: t.absErrorSum, squaredErrorSum: t.squaredErrorSum, valueCount: t.values }, standardization);
    out.rmse = units.rmse;
    out.mae = units.mae;
  }
  return out;
}

/** Collects the test sums that ranks send with their `done`; the coordinator reads `result()` at the end. */
export class TestResultCollector {
  private readonly reports: HeldOutSums[] = [];

  constructor(
    private readonly task: 'classification' | 'regression',
    private readonly standardization: Standardization | null | undefined,
  ) {}

  add(report: HeldOutSums | null | undefined): void {
    if (report && Number(report.valCount) > 0) this.reports.push(report);
  }

  result(): TestResult | null {
    return combineTestReports(this.reports, this.task, this.standardization);
  }
}

/** Summary lines for a job's held-out results (dtrain launch's end-of-job summary). */
export function formatHeldOutSummary(test: TestResult | null | undefined, labelName?: string): string[] {
  if (!test) return [];
  const unit = labelName ? ` (${labelName} units)` : ' (label units)';
  if (test.accuracy !== undefined) return [`  test accuracy: ${(100 * test.accuracy).toFixed(2)}% (${test.count} samples, evaluated once after training)`];
  return [`  test rmse:    ${fmt(test.rmse)}  mae: ${fmt(test.mae)}${unit}, loss ${test.loss.toFixed(5)} (${test.count} samples, evaluated once after training)`];
}

/** Four significant digits: label units can be anything from ppm to dollars. */
function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

export function formatLabelUnits(units: LabelUnits | undefined): string {
  return units ? `rmse ${fmt(units.rmse)} mae ${fmt(units.mae)} (label units)` : '';
}

/**
 * A regression training loss in the label's units: an MSE loss over standardized targets is
 * (RMSE / std)^2, an MAE loss is MAE / std. Undefined for other losses or without a target scale.
 */
export function lossInLabelUnits(loss: number, lossName: string, standardization: Standardization | null | undefined): Partial<LabelUnits> | undefined {
  const std = standardization?.targetStd?.[0];
  if (std === undefined || !Number.isFinite(loss)) return undefined;
  if (lossName === 'meanSquaredError') return { rmse: std * Math.sqrt(Math.max(0, loss)) };
  if (lossName === 'meanAbsoluteError') return { mae: std * loss };
  return undefined;
}

/** " (rmse 12.3 in label units)" beside a step's standardized loss, or "". */
export function formatLossUnits(units: Partial<LabelUnits> | undefined): string {
  if (!units) return '';
  const parts = [units.rmse !== undefined ? `rmse ${fmt(units.rmse)}` : '', units.mae !== undefined ? `mae ${fmt(units.mae)}` : ''].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(' ')} label units)` : '';
}
