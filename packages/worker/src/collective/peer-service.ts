// The dtrain.v1.Peer/Pull and Peer/Link methods with the request codec from proto-loader (the contract) and the
// hand-written GradientChunk codec for the response (zero-copy friendly, same wire format).
import * as grpc from '@grpc/grpc-js';
import {
  loadDtrainProto,
  type PullRequest,
  type PullRequest__Output,
  type TcpOpenReply,
  type TcpOpenReply__Output,
  type TcpOpenRequest,
  type TcpOpenRequest__Output,
} from '@dtrain/shared/proto';
import {
  deserializeGradientChunk,
  serializeGradientChunk,
  type IncomingChunk,
  type OutgoingChunk,
} from './gradient-chunk-codec';
import {
  deserializeLinkFrame,
  deserializeLinkRequest,
  serializeLinkFrameForSend,
  serializeLinkRequest,
} from './transport/grpc-link-codec';

export const PULL_PATH = '/dtrain.v1.Peer/Pull';

/** Like grpc.MethodDefinition, but with distinct sent/received types on each side. */
export interface PullMethod {
  path: string;
  requestStream: false;
  responseStream: true;
  requestSerialize: (request: PullRequest) => Buffer;
  requestDeserialize: (bytes: Buffer) => PullRequest__Output;
  responseSerialize: (chunk: OutgoingChunk) => Buffer;
  responseDeserialize: (bytes: Buffer) => IncomingChunk;
  originalName: string;
}

let cached: PullMethod | undefined;

export function pullMethod(): PullMethod {
  if (!cached) {
    const base = loadDtrainProto().dtrain.v1.Peer.service.Pull;
    if (base.path !== PULL_PATH) throw new Error(`proto Peer.Pull path is ${base.path}, expected ${PULL_PATH}`);
    cached = {
      path: PULL_PATH,
      requestStream: false,
      responseStream: true,
      requestSerialize: base.requestSerialize,
      requestDeserialize: base.requestDeserialize,
      responseSerialize: (chunk: OutgoingChunk) => serializeGradientChunk(chunk),
      responseDeserialize: deserializeGradientChunk,
      originalName: 'pull',
    };
  }
  return cached;
}

export const LINK_PATH = '/dtrain.v1.Peer/Link';

/**
 * dtrain.v1.Peer/Link: one bidi stream per ring link and world generation (the receiving rank is
 * the client); hand-written codecs (transport/grpc-link-codec.ts) on both directions.
 */
export function linkMethod() {
  // A function, not a constant: the codec module imports this one (pullMethod), a cycle.
  return {
    path: LINK_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: serializeLinkRequest,
    requestDeserialize: deserializeLinkRequest,
    responseSerialize: serializeLinkFrameForSend,
    responseDeserialize: deserializeLinkFrame,
    originalName: 'link',
  } as const;
}

export const OPEN_TCP_PATH = '/dtrain.v1.Peer/OpenTcp';

export type OpenTcpMethod = grpc.MethodDefinition<TcpOpenRequest, TcpOpenReply> & {
  requestDeserialize: (bytes: Buffer) => TcpOpenRequest__Output;
  responseDeserialize: (bytes: Buffer) => TcpOpenReply__Output;
};

/** dtrain.v1.Peer/OpenTcp, straight from proto-loader (small unary messages). */
export function openTcpMethod(): OpenTcpMethod {
  const method = loadDtrainProto().dtrain.v1.Peer.service.OpenTcp;
  if (method.path !== OPEN_TCP_PATH) throw new Error(`proto Peer.OpenTcp path is ${method.path}, expected ${OPEN_TCP_PATH}`);
  return method as OpenTcpMethod;
}

/** HTTP/2 stream and connection window the receiving rank advertises (platform notes: 16 MiB). */
export const FLOW_CONTROL_WINDOW_BYTES = 16 * 1024 * 1024;

export const PEER_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  // A dead peer must surface as an error, not as a silent retry of the stream.
  'grpc.enable_retries': 0,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
};

export const PEER_SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
};
