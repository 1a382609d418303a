// What the coordinator needs to know of the data set to plan shards: sizes and the task, never samples.
import { describeDataset } from '@dtrain/shared/data/dataset';
import type { JobSpec } from '@dtrain/shared/job-spec';

export interface DatasetSizes {
  trainSize: number;
  testSize: number;
  task: 'classification' | 'regression';
}

export async function describeDatasetSizes(spec: JobSpec): Promise<DatasetSizes> {
  const info = await describeDataset(spec.dataset);
  return { trainSize: info.trainSize, testSize: info.testSize, task: info.task };
}
