// Original file: proto/dtrain.proto

import type { CollectiveId as _dtrain_v1_CollectiveId, CollectiveId__Output as _dtrain_v1_CollectiveId__Output } from '../../dtrain/v1/CollectiveId';

export interface GradientChunk {
  'id'?: (_dtrain_v1_CollectiveId | null);
  'round'?: (number);
  'segment'?: (number);
  'offset'?: (number);
  'length'?: (number);
  'payload'?: (Buffer | Uint8Array | string);
  'encoding'?: (number);
}

export interface GradientChunk__Output {
  'id': (_dtrain_v1_CollectiveId__Output | null);
  'round': (number);
  'segment': (number);
  'offset': (number);
  'length': (number);
  'payload': (Buffer);
  'encoding': (number);
}
