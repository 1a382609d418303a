// Original file: proto/dtrain.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CoordinatorMessage as _dtrain_v1_CoordinatorMessage, CoordinatorMessage__Output as _dtrain_v1_CoordinatorMessage__Output } from '../../dtrain/v1/CoordinatorMessage';
import type { JoinRequest as _dtrain_v1_JoinRequest, JoinRequest__Output as _dtrain_v1_JoinRequest__Output } from '../../dtrain/v1/JoinRequest';
import type { JoinResponse as _dtrain_v1_JoinResponse, JoinResponse__Output as _dtrain_v1_JoinResponse__Output } from '../../dtrain/v1/JoinResponse';
import type { WorkerMessage as _dtrain_v1_WorkerMessage, WorkerMessage__Output as _dtrain_v1_WorkerMessage__Output } from '../../dtrain/v1/WorkerMessage';

export interface CoordinatorClient extends grpc.Client {
  Join(argument: _dtrain_v1_JoinRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_dtrain_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _dtrain_v1_JoinRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_dtrain_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _dtrain_v1_JoinRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_dtrain_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _dtrain_v1_JoinRequest, callback: grpc.requestCallback<_dtrain_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _dtrain_v1_JoinRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_dtrain_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _dtrain_v1_JoinRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_dtrain_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _dtrain_v1_JoinRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_dtrain_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _dtrain_v1_JoinRequest, callback: grpc.requestCallback<_dtrain_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  
  Session(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_dtrain_v1_WorkerMessage, _dtrain_v1_CoordinatorMessage__Output>;
  Session(options?: grpc.CallOptions): grpc.ClientDuplexStream<_dtrain_v1_WorkerMessage, _dtrain_v1_CoordinatorMessage__Output>;
  session(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_dtrain_v1_WorkerMessage, _dtrain_v1_CoordinatorMessage__Output>;
  session(options?: grpc.CallOptions): grpc.ClientDuplexStream<_dtrain_v1_WorkerMessage, _dtrain_v1_CoordinatorMessage__Output>;
  
}

export interface CoordinatorHandlers extends grpc.UntypedServiceImplementation {
  Join: grpc.handleUnaryCall<_dtrain_v1_JoinRequest__Output, _dtrain_v1_JoinResponse>;
  
  Session: grpc.handleBidiStreamingCall<_dtrain_v1_WorkerMessage__Output, _dtrain_v1_CoordinatorMessage>;
  
}

export interface CoordinatorDefinition extends grpc.ServiceDefinition {
  Join: MethodDefinition<_dtrain_v1_JoinRequest, _dtrain_v1_JoinResponse, _dtrain_v1_JoinRequest__Output, _dtrain_v1_JoinResponse__Output>
  Session: MethodDefinition<_dtrain_v1_WorkerMessage, _dtrain_v1_CoordinatorMessage, _dtrain_v1_WorkerMessage__Output, _dtrain_v1_CoordinatorMessage__Output>
}
