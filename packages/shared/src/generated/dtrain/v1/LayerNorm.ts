// Original file: proto/dtrain.proto


export interface LayerNorm {
  'layer'?: (string);
  'norm'?: (number | string);
}

export interface LayerNorm__Output {
  'layer': (string);
  'norm': (number);
}
