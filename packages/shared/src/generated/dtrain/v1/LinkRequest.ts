// Original file: proto/dtrain.proto

import type { PullRequest as _dtrain_v1_PullRequest, PullRequest__Output as _dtrain_v1_PullRequest__Output } from '../../dtrain/v1/PullRequest';
import type { Long } from '@grpc/proto-loader';

export interface LinkRequest {
  'pull'?: (_dtrain_v1_PullRequest | null);
  'cancelStep'?: (number | string | Long);
  'kind'?: "pull"|"cancelStep";
}

export interface LinkRequest__Output {
  'pull'?: (_dtrain_v1_PullRequest__Output | null);
  'cancelStep'?: (number);
  'kind'?: "pull"|"cancelStep";
}
