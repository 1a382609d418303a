// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface EpochReport {
  'epoch'?: (number);
  'valLossSum'?: (number | string);
  'valCorrect'?: (number | string);
  'valAbsErrorSum'?: (number | string);
  'valSqErrorSum'?: (number | string);
  'valCount'?: (number | string | Long);
  'valValues'?: (number | string | Long);
}

export interface EpochReport__Output {
  'epoch': (number);
  'valLossSum': (number);
  'valCorrect': (number);
  'valAbsErrorSum': (number);
  'valSqErrorSum': (number);
  'valCount': (number);
  'valValues': (number);
}
