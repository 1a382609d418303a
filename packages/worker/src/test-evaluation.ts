// The test file (dataset testPath) is evaluated once, after the last step: each rank its contiguous
// block, in inference mode; the coordinator sums the blocks exactly (every sample once).
import type { Dataset } from '@dtrain/shared/data/api';
import type { HeldOutSums } from '@dtrain/shared/data/held-out-results';
import { validationShard } from '@dtrain/shared/shard-plan';
import type { Trainer } from './trainer';

/** This rank's test sums, or null when the job has no test file. */
export function evaluateTestShard(trainer: Trainer, dataset: Dataset, rank: number, worldSize: number): (HeldOutSums & { epoch: number }) | null {
  if (!dataset.info.testAtEnd || dataset.info.testSize === 0) return null;
  const sums = trainer.evaluate((idx) => dataset.batch('test', idx), validationShard(dataset.info.testSize, worldSize, rank));
  return heldOutReport(-1, sums);
}

/** An EpochReport's sum fields from the trainer's held-out sums (validation per epoch, test once: epoch -1). */
export function heldOutReport(epoch: number, sums: ReturnType<Trainer['evaluate']>): HeldOutSums & { epoch: number } {
  return {
    epoch,
    valLossSum: sums.lossSum,
    valCorrect: sums.correct,
    valAbsErrorSum: sums.absErrorSum,
    valSqErrorSum: sums.squaredErrorSum,
    valCount: sums.count,
    valValues: sums.valueCount,
  };
}
