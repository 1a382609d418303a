// Original file: proto/dtrain.proto

import type { CollectiveId as _dtrain_v1_CollectiveId, CollectiveId__Output as _dtrain_v1_CollectiveId__Output } from '../../dtrain/v1/CollectiveId';

export interface PullRequest {
  'id'?: (_dtrain_v1_CollectiveId | null);
  'totalLength'?: (number);
  'encoding'?: (number);
  'early'?: (boolean);
}

export interface PullRequest__Output {
  'id': (_dtrain_v1_CollectiveId__Output | null);
  'totalLength': (number);
  'encoding': (number);
  'early': (boolean);
}
