// Loads proto/dtrain.proto, the one wire contract, and exposes its typed service definitions.
// Types in ./generated are produced by `npm run proto:types` (proto-loader-gen-types).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/dtrain';

export const PROTO_PATH = fileURLToPath(new URL('../../../proto/dtrain.proto', import.meta.url));

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

let cached: ProtoGrpcType | undefined;

export function loadDtrainProto(): ProtoGrpcType {
  if (!cached) {
    const definition = protoLoader.loadSync(PROTO_PATH, PROTO_LOADER_OPTIONS);
    cached = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  }
  return cached;
}

export type { ProtoGrpcType };
export type * from './generated/dtrain/v1/JoinRequest';
export type * from './generated/dtrain/v1/JoinResponse';
export type * from './generated/dtrain/v1/WorkerMessage';
export type * from './generated/dtrain/v1/CoordinatorMessage';
export type * from './generated/dtrain/v1/EpochPlan';
export type * from './generated/dtrain/v1/StepReport';
export type * from './generated/dtrain/v1/EpochReport';
export type * from './generated/dtrain/v1/GradientChunk';
export type * from './generated/dtrain/v1/PullRequest';
export type * from './generated/dtrain/v1/CollectiveId';
export type * from './generated/dtrain/v1/TcpOpenRequest';
export type * from './generated/dtrain/v1/TcpOpenReply';
export type * from './generated/dtrain/v1/WorldAssignment';
export type * from './generated/dtrain/v1/Abandon';
export type * from './generated/dtrain/v1/Reform';
export type * from './generated/dtrain/v1/Parked';
export type * from './generated/dtrain/v1/Synced';
