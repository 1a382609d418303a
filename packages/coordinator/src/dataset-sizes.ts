// What the coordinator needs to know of the data set to plan shards: sizes and the task, never samples.
import { describeDataset } from '@dtrain/shared/data/dataset';
import type { JobSpec } from '@dtrain/shared/job-spec';
import type { Standardization } from '@dtrain/shared/data/api';

export interface DatasetSizes {
  trainSize: number;
  /** Per-epoch validation split. */
  validationSize: number;
  /** Test split: its own file when testAtEnd, else (legacy) the validation rows. */
  testSize: number;
  task: 'classification' | 'regression';
  /** Target scaling: the coordinator reports regression errors in the label's units with it. */
  standardization?: Standardization;
  labelName?: string;
}

export async function describeDatasetSizes(spec: JobSpec): Promise<DatasetSizes> {
  const info = await describeDataset(spec.dataset);
  return {
    trainSize: info.trainSize,
    validationSize: info.validationSize ?? info.testSize,
    testSize: info.testSize,
    task: info.task,
    standardization: info.standardization,
    labelName: info.labelName,
  };
}
