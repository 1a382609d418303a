// Original file: proto/dtrain.proto

import type { EpochPlan as _dtrain_v1_EpochPlan, EpochPlan__Output as _dtrain_v1_EpochPlan__Output } from '../../dtrain/v1/EpochPlan';
import type { Command as _dtrain_v1_Command, Command__Output as _dtrain_v1_Command__Output } from '../../dtrain/v1/Command';
import type { Abort as _dtrain_v1_Abort, Abort__Output as _dtrain_v1_Abort__Output } from '../../dtrain/v1/Abort';
import type { WorldAssignment as _dtrain_v1_WorldAssignment, WorldAssignment__Output as _dtrain_v1_WorldAssignment__Output } from '../../dtrain/v1/WorldAssignment';
import type { Abandon as _dtrain_v1_Abandon, Abandon__Output as _dtrain_v1_Abandon__Output } from '../../dtrain/v1/Abandon';

export interface CoordinatorMessage {
  'plan'?: (_dtrain_v1_EpochPlan | null);
  'command'?: (_dtrain_v1_Command | null);
  'abort'?: (_dtrain_v1_Abort | null);
  'world'?: (_dtrain_v1_WorldAssignment | null);
  'abandon'?: (_dtrain_v1_Abandon | null);
  'body'?: "plan"|"command"|"abort"|"world"|"abandon";
}

export interface CoordinatorMessage__Output {
  'plan'?: (_dtrain_v1_EpochPlan__Output | null);
  'command'?: (_dtrain_v1_Command__Output | null);
  'abort'?: (_dtrain_v1_Abort__Output | null);
  'world'?: (_dtrain_v1_WorldAssignment__Output | null);
  'abandon'?: (_dtrain_v1_Abandon__Output | null);
  'body'?: "plan"|"command"|"abort"|"world"|"abandon";
}
