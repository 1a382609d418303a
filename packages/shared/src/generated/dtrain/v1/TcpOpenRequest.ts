// Original file: proto/dtrain.proto

import type { CollectiveId as _dtrain_v1_CollectiveId, CollectiveId__Output as _dtrain_v1_CollectiveId__Output } from '../../dtrain/v1/CollectiveId';

export interface TcpOpenRequest {
  'id'?: (_dtrain_v1_CollectiveId | null);
}

export interface TcpOpenRequest__Output {
  'id': (_dtrain_v1_CollectiveId__Output | null);
}
