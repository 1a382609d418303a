// Original file: proto/dtrain.proto


export interface TcpOpenReply {
  'address'?: (string);
  'secret'?: (Buffer | Uint8Array | string);
  'tls'?: (boolean);
}

export interface TcpOpenReply__Output {
  'address': (string);
  'secret': (Buffer);
  'tls': (boolean);
}
