// Original file: proto/dtrain.proto


export interface JoinResponse {
  'jobId'?: (string);
  'workerId'?: (string);
  'jobSpecJson'?: (string);
}

export interface JoinResponse__Output {
  'jobId': (string);
  'workerId': (string);
  'jobSpecJson': (string);
}
