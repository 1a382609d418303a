// Original file: proto/dtrain.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GradientChunk as _dtrain_v1_GradientChunk, GradientChunk__Output as _dtrain_v1_GradientChunk__Output } from '../../dtrain/v1/GradientChunk';
import type { PullRequest as _dtrain_v1_PullRequest, PullRequest__Output as _dtrain_v1_PullRequest__Output } from '../../dtrain/v1/PullRequest';

export interface PeerClient extends grpc.Client {
  Pull(argument: _dtrain_v1_PullRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_dtrain_v1_GradientChunk__Output>;
  Pull(argument: _dtrain_v1_PullRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_dtrain_v1_GradientChunk__Output>;
  pull(argument: _dtrain_v1_PullRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_dtrain_v1_GradientChunk__Output>;
  pull(argument: _dtrain_v1_PullRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_dtrain_v1_GradientChunk__Output>;
  
}

export interface PeerHandlers extends grpc.UntypedServiceImplementation {
  Pull: grpc.handleServerStreamingCall<_dtrain_v1_PullRequest__Output, _dtrain_v1_GradientChunk>;
  
}

export interface PeerDefinition extends grpc.ServiceDefinition {
  Pull: MethodDefinition<_dtrain_v1_PullRequest, _dtrain_v1_GradientChunk, _dtrain_v1_PullRequest__Output, _dtrain_v1_GradientChunk__Output>
}
