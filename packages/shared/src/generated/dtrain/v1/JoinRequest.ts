// Original file: proto/dtrain.proto


export interface JoinRequest {
  'jobId'?: (string);
  'peerAddress'?: (string);
  'hostname'?: (string);
  'pid'?: (number);
  'localRankHint'?: (number);
  'backend'?: (string);
  'metricsAddress'?: (string);
  'workerId'?: (string);
  'cpus'?: (number);
}

export interface JoinRequest__Output {
  'jobId': (string);
  'peerAddress': (string);
  'hostname': (string);
  'pid': (number);
  'localRankHint': (number);
  'backend': (string);
  'metricsAddress': (string);
  'workerId': (string);
  'cpus': (number);
}
