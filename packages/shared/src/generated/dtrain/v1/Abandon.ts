// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface Abandon {
  'generation'?: (number | string | Long);
  'reason'?: (string);
  'lostRanks'?: (number)[];
}

export interface Abandon__Output {
  'generation': (number);
  'reason': (string);
  'lostRanks': (number)[];
}
