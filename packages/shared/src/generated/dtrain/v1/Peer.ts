// Original file: proto/dtrain.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GradientChunk as _dtrain_v1_GradientChunk, GradientChunk__Output as _dtrain_v1_GradientChunk__Output } from '../../dtrain/v1/GradientChunk';
import type { LinkFrame as _dtrain_v1_LinkFrame, LinkFrame__Output as _dtrain_v1_LinkFrame__Output } from '../../dtrain/v1/LinkFrame';
import type { LinkRequest as _dtrain_v1_LinkRequest, LinkRequest__Output as _dtrain_v1_LinkRequest__Output } from '../../dtrain/v1/LinkRequest';
import type { PullRequest as _dtrain_v1_PullRequest, PullRequest__Output as _dtrain_v1_PullRequest__Output } from '../../dtrain/v1/PullRequest';
import type { TcpOpenReply as _dtrain_v1_TcpOpenReply, TcpOpenReply__Output as _dtrain_v1_TcpOpenReply__Output } from '../../dtrain/v1/TcpOpenReply';
import type { TcpOpenRequest as _dtrain_v1_TcpOpenRequest, TcpOpenRequest__Output as _dtrain_v1_TcpOpenRequest__Output } from '../../dtrain/v1/TcpOpenRequest';

export interface PeerClient extends grpc.Client {
  Link(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_dtrain_v1_LinkRequest, _dtrain_v1_LinkFrame__Output>;
  Link(options?: grpc.CallOptions): grpc.ClientDuplexStream<_dtrain_v1_LinkRequest, _dtrain_v1_LinkFrame__Output>;
  link(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_dtrain_v1_LinkRequest, _dtrain_v1_LinkFrame__Output>;
  link(options?: grpc.CallOptions): grpc.ClientDuplexStream<_dtrain_v1_LinkRequest, _dtrain_v1_LinkFrame__Output>;
  
  OpenTcp(argument: _dtrain_v1_TcpOpenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_dtrain_v1_TcpOpenReply__Output>): grpc.ClientUnaryCall;
  OpenTcp(argument: _dtrain_v1_TcpOpenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_dtrain_v1_TcpOpenReply__Output>): grpc.ClientUnaryCall;
  OpenTcp(argument: _dtrain_v1_TcpOpenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_dtrain_v1_TcpOpenReply__Output>): grpc.ClientUnaryCall;
  OpenTcp(argument: _dtrain_v1_TcpOpenRequest, callback: grpc.requestCallback<_dtrain_v1_TcpOpenReply__Output>): grpc.ClientUnaryCall;
  openTcp(argument: _dtrain_v1_TcpOpenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_dtrain_v1_TcpOpenReply__Output>): grpc.ClientUnaryCall;
  openTcp(argument: _dtrain_v1_TcpOpenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_dtrain_v1_TcpOpenReply__Output>): grpc.ClientUnaryCall;
  openTcp(argument: _dtrain_v1_TcpOpenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_dtrain_v1_TcpOpenReply__Output>): grpc.ClientUnaryCall;
  openTcp(argument: _dtrain_v1_TcpOpenRequest, callback: grpc.requestCallback<_dtrain_v1_TcpOpenReply__Output>): grpc.ClientUnaryCall;
  
  Pull(argument: _dtrain_v1_PullRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_dtrain_v1_GradientChunk__Output>;
  Pull(argument: _dtrain_v1_PullRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_dtrain_v1_GradientChunk__Output>;
  pull(argument: _dtrain_v1_PullRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_dtrain_v1_GradientChunk__Output>;
  pull(argument: _dtrain_v1_PullRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_dtrain_v1_GradientChunk__Output>;
  
}

export interface PeerHandlers extends grpc.UntypedServiceImplementation {
  Link: grpc.handleBidiStreamingCall<_dtrain_v1_LinkRequest__Output, _dtrain_v1_LinkFrame>;
  
  OpenTcp: grpc.handleUnaryCall<_dtrain_v1_TcpOpenRequest__Output, _dtrain_v1_TcpOpenReply>;
  
  Pull: grpc.handleServerStreamingCall<_dtrain_v1_PullRequest__Output, _dtrain_v1_GradientChunk>;
  
}

export interface PeerDefinition extends grpc.ServiceDefinition {
  Link: MethodDefinition<_dtrain_v1_LinkRequest, _dtrain_v1_LinkFrame, _dtrain_v1_LinkRequest__Output, _dtrain_v1_LinkFrame__Output>
  OpenTcp: MethodDefinition<_dtrain_v1_TcpOpenRequest, _dtrain_v1_TcpOpenReply, _dtrain_v1_TcpOpenRequest__Output, _dtrain_v1_TcpOpenReply__Output>
  Pull: MethodDefinition<_dtrain_v1_PullRequest, _dtrain_v1_GradientChunk, _dtrain_v1_PullRequest__Output, _dtrain_v1_GradientChunk__Output>
}
