// Builds the tfjs optimizer a job spec names, and applies its learning-rate schedule per step.
import * as tf from '@tensorflow/tfjs';
import type { OptimizerSpec } from '@dtrain/shared/job-spec';

export const DEFAULT_MOMENTUM = 0.9;

export function createOptimizer(spec: OptimizerSpec): tf.Optimizer {
  const lr = spec.learningRate;
  switch (spec.kind) {
    case 'sgd':
      return tf.train.sgd(lr);
    case 'momentum':
      return tf.train.momentum(lr, spec.momentum ?? DEFAULT_MOMENTUM);
    case 'adam':
      return tf.train.adam(lr);
    case 'rmsprop':
      return tf.train.rmsprop(lr, 0.9, spec.momentum ?? 0);
    case 'adagrad':
      return tf.train.adagrad(lr);
  }
}

/** The learning rate at a global step under the spec's schedule (constant without one). */
export function learningRateAt(spec: OptimizerSpec, globalStep: number): number {
  const s = spec.schedule;
  if (!s) return spec.learningRate;
  if (s.kind === 'exponential') return spec.learningRate * s.decayRate ** (globalStep / s.decaySteps);
  return spec.learningRate * s.factor ** Math.floor(globalStep / s.everySteps);
}

/**
 * tfjs optimizers read `learningRate` on every applyGradients; SGD and momentum cache it in a scalar
 * that `setLearningRate` replaces. Changing it keeps all other optimizer state.
 */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  const o = optimizer as tf.Optimizer & { learningRate: number; setLearningRate?: (lr: number) => void };
  if (o.learningRate === lr) return;
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}
