// Original file: proto/dtrain.proto

import type { Stop as _dtrain_v1_Stop, Stop__Output as _dtrain_v1_Stop__Output } from '../../dtrain/v1/Stop';
import type { CheckpointNow as _dtrain_v1_CheckpointNow, CheckpointNow__Output as _dtrain_v1_CheckpointNow__Output } from '../../dtrain/v1/CheckpointNow';
import type { Reform as _dtrain_v1_Reform, Reform__Output as _dtrain_v1_Reform__Output } from '../../dtrain/v1/Reform';

export interface Command {
  'stop'?: (_dtrain_v1_Stop | null);
  'checkpoint'?: (_dtrain_v1_CheckpointNow | null);
  'reform'?: (_dtrain_v1_Reform | null);
  'kind'?: "stop"|"checkpoint"|"reform";
}

export interface Command__Output {
  'stop'?: (_dtrain_v1_Stop__Output | null);
  'checkpoint'?: (_dtrain_v1_CheckpointNow__Output | null);
  'reform'?: (_dtrain_v1_Reform__Output | null);
  'kind'?: "stop"|"checkpoint"|"reform";
}
