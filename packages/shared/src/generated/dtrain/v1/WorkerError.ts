// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface WorkerError {
  'code'?: (string);
  'message'?: (string);
  'peerRank'?: (number);
  'globalStep'?: (number | string | Long);
}

export interface WorkerError__Output {
  'code': (string);
  'message': (string);
  'peerRank': (number);
  'globalStep': (number);
}
