// Original file: proto/dtrain.proto


export interface Abort {
  'reason'?: (string);
  'lostRank'?: (number);
}

export interface Abort__Output {
  'reason': (string);
  'lostRank': (number);
}
