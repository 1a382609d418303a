// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface LinkError {
  'step'?: (number | string | Long);
  'code'?: (number);
  'details'?: (string);
}

export interface LinkError__Output {
  'step': (number);
  'code': (number);
  'details': (string);
}
