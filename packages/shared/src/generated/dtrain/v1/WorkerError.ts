// Original file: proto/dtrain.proto


export interface WorkerError {
  'code'?: (string);
  'message'?: (string);
  'peerRank'?: (number);
}

export interface WorkerError__Output {
  'code': (string);
  'message': (string);
  'peerRank': (number);
}
