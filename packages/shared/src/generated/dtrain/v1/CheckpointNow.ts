// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface CheckpointNow {
  'afterGlobalStep'?: (number | string | Long);
  'path'?: (string);
  'planStateJson'?: (string);
}

export interface CheckpointNow__Output {
  'afterGlobalStep': (number);
  'path': (string);
  'planStateJson': (string);
}
