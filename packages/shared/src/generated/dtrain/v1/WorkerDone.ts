// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface WorkerDone {
  'globalStep'?: (number | string | Long);
}

export interface WorkerDone__Output {
  'globalStep': (number);
}
