// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface CollectiveId {
  'jobId'?: (string);
  'generation'?: (number | string | Long);
  'step'?: (number | string | Long);
  'senderRank'?: (number);
}

export interface CollectiveId__Output {
  'jobId': (string);
  'generation': (number);
  'step': (number);
  'senderRank': (number);
}
