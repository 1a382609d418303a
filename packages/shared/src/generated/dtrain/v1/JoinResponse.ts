// Original file: proto/dtrain.proto

import type { ResumePoint as _dtrain_v1_ResumePoint, ResumePoint__Output as _dtrain_v1_ResumePoint__Output } from '../../dtrain/v1/ResumePoint';
import type { Long } from '@grpc/proto-loader';

export interface JoinResponse {
  'jobId'?: (string);
  'generation'?: (number | string | Long);
  'rank'?: (number);
  'worldSize'?: (number);
  'localRank'?: (number);
  'localWorldSize'?: (number);
  'ring'?: (string)[];
  'jobSpecJson'?: (string);
  'resume'?: (_dtrain_v1_ResumePoint | null);
}

export interface JoinResponse__Output {
  'jobId': (string);
  'generation': (number);
  'rank': (number);
  'worldSize': (number);
  'localRank': (number);
  'localWorldSize': (number);
  'ring': (string)[];
  'jobSpecJson': (string);
  'resume': (_dtrain_v1_ResumePoint__Output | null);
}
