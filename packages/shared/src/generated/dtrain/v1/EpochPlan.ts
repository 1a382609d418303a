// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface EpochPlan {
  'epoch'?: (number);
  'firstStepInEpoch'?: (number);
  'steps'?: (number);
  'batchSize'?: (number);
  'indices'?: (number)[];
  'validationIndices'?: (number)[];
  'firstGlobalStep'?: (number | string | Long);
  'planStateJson'?: (string);
  'generation'?: (number | string | Long);
}

export interface EpochPlan__Output {
  'epoch': (number);
  'firstStepInEpoch': (number);
  'steps': (number);
  'batchSize': (number);
  'indices': (number)[];
  'validationIndices': (number)[];
  'firstGlobalStep': (number);
  'planStateJson': (string);
  'generation': (number);
}
