// Original file: proto/dtrain.proto

import type { GradientChunk as _dtrain_v1_GradientChunk, GradientChunk__Output as _dtrain_v1_GradientChunk__Output } from '../../dtrain/v1/GradientChunk';
import type { LinkError as _dtrain_v1_LinkError, LinkError__Output as _dtrain_v1_LinkError__Output } from '../../dtrain/v1/LinkError';
import type { Long } from '@grpc/proto-loader';

export interface LinkFrame {
  'chunk'?: (_dtrain_v1_GradientChunk | null);
  'endStep'?: (number | string | Long);
  'error'?: (_dtrain_v1_LinkError | null);
  'kind'?: "chunk"|"endStep"|"error";
}

export interface LinkFrame__Output {
  'chunk'?: (_dtrain_v1_GradientChunk__Output | null);
  'endStep'?: (number);
  'error'?: (_dtrain_v1_LinkError__Output | null);
  'kind'?: "chunk"|"endStep"|"error";
}
