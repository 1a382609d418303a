// Original file: proto/dtrain.proto

import type { StepReport as _dtrain_v1_StepReport, StepReport__Output as _dtrain_v1_StepReport__Output } from '../../dtrain/v1/StepReport';

export interface StepReports {
  'reports'?: (_dtrain_v1_StepReport)[];
}

export interface StepReports__Output {
  'reports': (_dtrain_v1_StepReport__Output)[];
}
