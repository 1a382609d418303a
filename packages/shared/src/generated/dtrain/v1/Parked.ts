// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface Parked {
  'leftGeneration'?: (number | string | Long);
  'completedSteps'?: (number | string | Long);
  'stateDigest'?: (string);
  'reason'?: (string);
}

export interface Parked__Output {
  'leftGeneration': (number);
  'completedSteps': (number);
  'stateDigest': (string);
  'reason': (string);
}
