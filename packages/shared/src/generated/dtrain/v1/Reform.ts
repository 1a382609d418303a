// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface Reform {
  'generation'?: (number | string | Long);
  'reason'?: (string);
}

export interface Reform__Output {
  'generation': (number);
  'reason': (string);
}
