import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { Abandon as _dtrain_v1_Abandon, Abandon__Output as _dtrain_v1_Abandon__Output } from './dtrain/v1/Abandon';
import type { Abort as _dtrain_v1_Abort, Abort__Output as _dtrain_v1_Abort__Output } from './dtrain/v1/Abort';
import type { CheckpointNow as _dtrain_v1_CheckpointNow, CheckpointNow__Output as _dtrain_v1_CheckpointNow__Output } from './dtrain/v1/CheckpointNow';
import type { CheckpointReport as _dtrain_v1_CheckpointReport, CheckpointReport__Output as _dtrain_v1_CheckpointReport__Output } from './dtrain/v1/CheckpointReport';
import type { CollectiveId as _dtrain_v1_CollectiveId, CollectiveId__Output as _dtrain_v1_CollectiveId__Output } from './dtrain/v1/CollectiveId';
import type { Command as _dtrain_v1_Command, Command__Output as _dtrain_v1_Command__Output } from './dtrain/v1/Command';
import type { CoordinatorClient as _dtrain_v1_CoordinatorClient, CoordinatorDefinition as _dtrain_v1_CoordinatorDefinition } from './dtrain/v1/Coordinator';
import type { CoordinatorMessage as _dtrain_v1_CoordinatorMessage, CoordinatorMessage__Output as _dtrain_v1_CoordinatorMessage__Output } from './dtrain/v1/CoordinatorMessage';
import type { EpochPlan as _dtrain_v1_EpochPlan, EpochPlan__Output as _dtrain_v1_EpochPlan__Output } from './dtrain/v1/EpochPlan';
import type { EpochReport as _dtrain_v1_EpochReport, EpochReport__Output as _dtrain_v1_EpochReport__Output } from './dtrain/v1/EpochReport';
import type { GradientChunk as _dtrain_v1_GradientChunk, GradientChunk__Output as _dtrain_v1_GradientChunk__Output } from './dtrain/v1/GradientChunk';
import type { Heartbeat as _dtrain_v1_Heartbeat, Heartbeat__Output as _dtrain_v1_Heartbeat__Output } from './dtrain/v1/Heartbeat';
import type { Hello as _dtrain_v1_Hello, Hello__Output as _dtrain_v1_Hello__Output } from './dtrain/v1/Hello';
import type { JoinRequest as _dtrain_v1_JoinRequest, JoinRequest__Output as _dtrain_v1_JoinRequest__Output } from './dtrain/v1/JoinRequest';
import type { JoinResponse as _dtrain_v1_JoinResponse, JoinResponse__Output as _dtrain_v1_JoinResponse__Output } from './dtrain/v1/JoinResponse';
import type { LayerNorm as _dtrain_v1_LayerNorm, LayerNorm__Output as _dtrain_v1_LayerNorm__Output } from './dtrain/v1/LayerNorm';
import type { LinkError as _dtrain_v1_LinkError, LinkError__Output as _dtrain_v1_LinkError__Output } from './dtrain/v1/LinkError';
import type { LinkFrame as _dtrain_v1_LinkFrame, LinkFrame__Output as _dtrain_v1_LinkFrame__Output } from './dtrain/v1/LinkFrame';
import type { LinkRequest as _dtrain_v1_LinkRequest, LinkRequest__Output as _dtrain_v1_LinkRequest__Output } from './dtrain/v1/LinkRequest';
import type { Parked as _dtrain_v1_Parked, Parked__Output as _dtrain_v1_Parked__Output } from './dtrain/v1/Parked';
import type { PeerClient as _dtrain_v1_PeerClient, PeerDefinition as _dtrain_v1_PeerDefinition } from './dtrain/v1/Peer';
import type { PullRequest as _dtrain_v1_PullRequest, PullRequest__Output as _dtrain_v1_PullRequest__Output } from './dtrain/v1/PullRequest';
import type { Reform as _dtrain_v1_Reform, Reform__Output as _dtrain_v1_Reform__Output } from './dtrain/v1/Reform';
import type { StepReport as _dtrain_v1_StepReport, StepReport__Output as _dtrain_v1_StepReport__Output } from './dtrain/v1/StepReport';
import type { StepReports as _dtrain_v1_StepReports, StepReports__Output as _dtrain_v1_StepReports__Output } from './dtrain/v1/StepReports';
import type { Stop as _dtrain_v1_Stop, Stop__Output as _dtrain_v1_Stop__Output } from './dtrain/v1/Stop';
import type { Synced as _dtrain_v1_Synced, Synced__Output as _dtrain_v1_Synced__Output } from './dtrain/v1/Synced';
import type { TcpOpenReply as _dtrain_v1_TcpOpenReply, TcpOpenReply__Output as _dtrain_v1_TcpOpenReply__Output } from './dtrain/v1/TcpOpenReply';
import type { TcpOpenRequest as _dtrain_v1_TcpOpenRequest, TcpOpenRequest__Output as _dtrain_v1_TcpOpenRequest__Output } from './dtrain/v1/TcpOpenRequest';
import type { WorkerDone as _dtrain_v1_WorkerDone, WorkerDone__Output as _dtrain_v1_WorkerDone__Output } from './dtrain/v1/WorkerDone';
import type { WorkerError as _dtrain_v1_WorkerError, WorkerError__Output as _dtrain_v1_WorkerError__Output } from './dtrain/v1/WorkerError';
import type { WorkerMessage as _dtrain_v1_WorkerMessage, WorkerMessage__Output as _dtrain_v1_WorkerMessage__Output } from './dtrain/v1/WorkerMessage';
import type { WorldAssignment as _dtrain_v1_WorldAssignment, WorldAssignment__Output as _dtrain_v1_WorldAssignment__Output } from './dtrain/v1/WorldAssignment';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  dtrain: {
    v1: {
      Abandon: MessageTypeDefinition<_dtrain_v1_Abandon, _dtrain_v1_Abandon__Output>
      Abort: MessageTypeDefinition<_dtrain_v1_Abort, _dtrain_v1_Abort__Output>
      CheckpointNow: MessageTypeDefinition<_dtrain_v1_CheckpointNow, _dtrain_v1_CheckpointNow__Output>
      CheckpointReport: MessageTypeDefinition<_dtrain_v1_CheckpointReport, _dtrain_v1_CheckpointReport__Output>
      CollectiveId: MessageTypeDefinition<_dtrain_v1_CollectiveId, _dtrain_v1_CollectiveId__Output>
      Command: MessageTypeDefinition<_dtrain_v1_Command, _dtrain_v1_Command__Output>
      Coordinator: SubtypeConstructor<typeof grpc.Client, _dtrain_v1_CoordinatorClient> & { service: _dtrain_v1_CoordinatorDefinition }
      CoordinatorMessage: MessageTypeDefinition<_dtrain_v1_CoordinatorMessage, _dtrain_v1_CoordinatorMessage__Output>
      EpochPlan: MessageTypeDefinition<_dtrain_v1_EpochPlan, _dtrain_v1_EpochPlan__Output>
      EpochReport: MessageTypeDefinition<_dtrain_v1_EpochReport, _dtrain_v1_EpochReport__Output>
      GradientChunk: MessageTypeDefinition<_dtrain_v1_GradientChunk, _dtrain_v1_GradientChunk__Output>
      Heartbeat: MessageTypeDefinition<_dtrain_v1_Heartbeat, _dtrain_v1_Heartbeat__Output>
      Hello: MessageTypeDefinition<_dtrain_v1_Hello, _dtrain_v1_Hello__Output>
      JoinRequest: MessageTypeDefinition<_dtrain_v1_JoinRequest, _dtrain_v1_JoinRequest__Output>
      JoinResponse: MessageTypeDefinition<_dtrain_v1_JoinResponse, _dtrain_v1_JoinResponse__Output>
      LayerNorm: MessageTypeDefinition<_dtrain_v1_LayerNorm, _dtrain_v1_LayerNorm__Output>
      LinkError: MessageTypeDefinition<_dtrain_v1_LinkError, _dtrain_v1_LinkError__Output>
      LinkFrame: MessageTypeDefinition<_dtrain_v1_LinkFrame, _dtrain_v1_LinkFrame__Output>
      LinkRequest: MessageTypeDefinition<_dtrain_v1_LinkRequest, _dtrain_v1_LinkRequest__Output>
      Parked: MessageTypeDefinition<_dtrain_v1_Parked, _dtrain_v1_Parked__Output>
      Peer: SubtypeConstructor<typeof grpc.Client, _dtrain_v1_PeerClient> & { service: _dtrain_v1_PeerDefinition }
      PullRequest: MessageTypeDefinition<_dtrain_v1_PullRequest, _dtrain_v1_PullRequest__Output>
      Reform: MessageTypeDefinition<_dtrain_v1_Reform, _dtrain_v1_Reform__Output>
      StepReport: MessageTypeDefinition<_dtrain_v1_StepReport, _dtrain_v1_StepReport__Output>
      StepReports: MessageTypeDefinition<_dtrain_v1_StepReports, _dtrain_v1_StepReports__Output>
      Stop: MessageTypeDefinition<_dtrain_v1_Stop, _dtrain_v1_Stop__Output>
      Synced: MessageTypeDefinition<_dtrain_v1_Synced, _dtrain_v1_Synced__Output>
      TcpOpenReply: MessageTypeDefinition<_dtrain_v1_TcpOpenReply, _dtrain_v1_TcpOpenReply__Output>
      TcpOpenRequest: MessageTypeDefinition<_dtrain_v1_TcpOpenRequest, _dtrain_v1_TcpOpenRequest__Output>
      WorkerDone: MessageTypeDefinition<_dtrain_v1_WorkerDone, _dtrain_v1_WorkerDone__Output>
      WorkerError: MessageTypeDefinition<_dtrain_v1_WorkerError, _dtrain_v1_WorkerError__Output>
      WorkerMessage: MessageTypeDefinition<_dtrain_v1_WorkerMessage, _dtrain_v1_WorkerMessage__Output>
      WorldAssignment: MessageTypeDefinition<_dtrain_v1_WorldAssignment, _dtrain_v1_WorldAssignment__Output>
    }
  }
}

