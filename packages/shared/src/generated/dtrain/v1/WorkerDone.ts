// Original file: proto/dtrain.proto

import type { EpochReport as _dtrain_v1_EpochReport, EpochReport__Output as _dtrain_v1_EpochReport__Output } from '../../dtrain/v1/EpochReport';
import type { Long } from '@grpc/proto-loader';

export interface WorkerDone {
  'globalStep'?: (number | string | Long);
  'test'?: (_dtrain_v1_EpochReport | null);
}

export interface WorkerDone__Output {
  'globalStep': (number);
  'test': (_dtrain_v1_EpochReport__Output | null);
}
