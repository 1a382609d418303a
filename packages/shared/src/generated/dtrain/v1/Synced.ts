// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface Synced {
  'generation'?: (number | string | Long);
  'completedSteps'?: (number | string | Long);
  'stateDigest'?: (string);
}

export interface Synced__Output {
  'generation': (number);
  'completedSteps': (number);
  'stateDigest': (string);
}
