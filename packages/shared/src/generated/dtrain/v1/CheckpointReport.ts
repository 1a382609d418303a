// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface CheckpointReport {
  'globalStep'?: (number | string | Long);
  'path'?: (string);
}

export interface CheckpointReport__Output {
  'globalStep': (number);
  'path': (string);
}
