// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface ResumePoint {
  'checkpointDir'?: (string);
  'globalStep'?: (number | string | Long);
}

export interface ResumePoint__Output {
  'checkpointDir': (string);
  'globalStep': (number);
}
