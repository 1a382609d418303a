// Original file: proto/dtrain.proto


export interface Hello {
  'backend'?: (string);
  'metricsAddress'?: (string);
}

export interface Hello__Output {
  'backend': (string);
  'metricsAddress': (string);
}
