// Original file: proto/dtrain.proto

import type { Hello as _dtrain_v1_Hello, Hello__Output as _dtrain_v1_Hello__Output } from '../../dtrain/v1/Hello';
import type { Heartbeat as _dtrain_v1_Heartbeat, Heartbeat__Output as _dtrain_v1_Heartbeat__Output } from '../../dtrain/v1/Heartbeat';
import type { StepReport as _dtrain_v1_StepReport, StepReport__Output as _dtrain_v1_StepReport__Output } from '../../dtrain/v1/StepReport';
import type { EpochReport as _dtrain_v1_EpochReport, EpochReport__Output as _dtrain_v1_EpochReport__Output } from '../../dtrain/v1/EpochReport';
import type { CheckpointReport as _dtrain_v1_CheckpointReport, CheckpointReport__Output as _dtrain_v1_CheckpointReport__Output } from '../../dtrain/v1/CheckpointReport';
import type { WorkerError as _dtrain_v1_WorkerError, WorkerError__Output as _dtrain_v1_WorkerError__Output } from '../../dtrain/v1/WorkerError';
import type { WorkerDone as _dtrain_v1_WorkerDone, WorkerDone__Output as _dtrain_v1_WorkerDone__Output } from '../../dtrain/v1/WorkerDone';
import type { Parked as _dtrain_v1_Parked, Parked__Output as _dtrain_v1_Parked__Output } from '../../dtrain/v1/Parked';
import type { Synced as _dtrain_v1_Synced, Synced__Output as _dtrain_v1_Synced__Output } from '../../dtrain/v1/Synced';
import type { StepReports as _dtrain_v1_StepReports, StepReports__Output as _dtrain_v1_StepReports__Output } from '../../dtrain/v1/StepReports';
import type { Long } from '@grpc/proto-loader';

export interface WorkerMessage {
  'jobId'?: (string);
  'generation'?: (number | string | Long);
  'rank'?: (number);
  'workerId'?: (string);
  'hello'?: (_dtrain_v1_Hello | null);
  'heartbeat'?: (_dtrain_v1_Heartbeat | null);
  'step'?: (_dtrain_v1_StepReport | null);
  'epoch'?: (_dtrain_v1_EpochReport | null);
  'checkpoint'?: (_dtrain_v1_CheckpointReport | null);
  'error'?: (_dtrain_v1_WorkerError | null);
  'done'?: (_dtrain_v1_WorkerDone | null);
  'parked'?: (_dtrain_v1_Parked | null);
  'synced'?: (_dtrain_v1_Synced | null);
  'steps'?: (_dtrain_v1_StepReports | null);
  'body'?: "hello"|"heartbeat"|"step"|"epoch"|"checkpoint"|"error"|"done"|"parked"|"synced"|"steps";
}

export interface WorkerMessage__Output {
  'jobId': (string);
  'generation': (number);
  'rank': (number);
  'workerId': (string);
  'hello'?: (_dtrain_v1_Hello__Output | null);
  'heartbeat'?: (_dtrain_v1_Heartbeat__Output | null);
  'step'?: (_dtrain_v1_StepReport__Output | null);
  'epoch'?: (_dtrain_v1_EpochReport__Output | null);
  'checkpoint'?: (_dtrain_v1_CheckpointReport__Output | null);
  'error'?: (_dtrain_v1_WorkerError__Output | null);
  'done'?: (_dtrain_v1_WorkerDone__Output | null);
  'parked'?: (_dtrain_v1_Parked__Output | null);
  'synced'?: (_dtrain_v1_Synced__Output | null);
  'steps'?: (_dtrain_v1_StepReports__Output | null);
  'body'?: "hello"|"heartbeat"|"step"|"epoch"|"checkpoint"|"error"|"done"|"parked"|"synced"|"steps";
}
