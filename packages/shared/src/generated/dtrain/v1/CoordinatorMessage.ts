// Original file: proto/dtrain.proto

import type { EpochPlan as _dtrain_v1_EpochPlan, EpochPlan__Output as _dtrain_v1_EpochPlan__Output } from '../../dtrain/v1/EpochPlan';
import type { Command as _dtrain_v1_Command, Command__Output as _dtrain_v1_Command__Output } from '../../dtrain/v1/Command';
import type { Abort as _dtrain_v1_Abort, Abort__Output as _dtrain_v1_Abort__Output } from '../../dtrain/v1/Abort';

export interface CoordinatorMessage {
  'plan'?: (_dtrain_v1_EpochPlan | null);
  'command'?: (_dtrain_v1_Command | null);
  'abort'?: (_dtrain_v1_Abort | null);
  'body'?: "plan"|"command"|"abort";
}

export interface CoordinatorMessage__Output {
  'plan'?: (_dtrain_v1_EpochPlan__Output | null);
  'command'?: (_dtrain_v1_Command__Output | null);
  'abort'?: (_dtrain_v1_Abort__Output | null);
  'body'?: "plan"|"command"|"abort";
}
