// Original file: proto/dtrain.proto

import type { LayerNorm as _dtrain_v1_LayerNorm, LayerNorm__Output as _dtrain_v1_LayerNorm__Output } from '../../dtrain/v1/LayerNorm';
import type { Long } from '@grpc/proto-loader';

export interface StepReport {
  'globalStep'?: (number | string | Long);
  'epoch'?: (number);
  'stepInEpoch'?: (number);
  'loss'?: (number | string);
  'samples'?: (number);
  'computeSeconds'?: (number | string);
  'allreduceSeconds'?: (number | string);
  'stepSeconds'?: (number | string);
  'allreduceBytes'?: (number | string | Long);
  'gradientNorms'?: (_dtrain_v1_LayerNorm)[];
  'weightsDigest'?: (string);
}

export interface StepReport__Output {
  'globalStep': (number);
  'epoch': (number);
  'stepInEpoch': (number);
  'loss': (number);
  'samples': (number);
  'computeSeconds': (number);
  'allreduceSeconds': (number);
  'stepSeconds': (number);
  'allreduceBytes': (number);
  'gradientNorms': (_dtrain_v1_LayerNorm__Output)[];
  'weightsDigest': (string);
}
