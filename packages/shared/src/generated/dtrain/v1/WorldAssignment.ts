// Original file: proto/dtrain.proto

import type { Long } from '@grpc/proto-loader';

export interface WorldAssignment {
  'generation'?: (number | string | Long);
  'rank'?: (number);
  'worldSize'?: (number);
  'localRank'?: (number);
  'localWorldSize'?: (number);
  'ring'?: (string)[];
  'sourceRank'?: (number);
  'completedSteps'?: (number | string | Long);
  'checkpointDir'?: (string);
  'chunkBytes'?: (number);
}

export interface WorldAssignment__Output {
  'generation': (number);
  'rank': (number);
  'worldSize': (number);
  'localRank': (number);
  'localWorldSize': (number);
  'ring': (string)[];
  'sourceRank': (number);
  'completedSteps': (number);
  'checkpointDir': (string);
  'chunkBytes': (number);
}
