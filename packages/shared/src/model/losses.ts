// Losses and validation sums. Training uses the mean per-sample loss of a batch; validation
// returns SUMS (loss, correct predictions, absolute/squared errors) and counts, so the
// coordinator can add the sums of all shards and divide once: the exact metric of the whole set.
import * as tf from '@tensorflow/tfjs';
import type { LossName } from '../job-spec';

/** Probabilities are clipped to [EPSILON, 1 - EPSILON] before log (as Keras does). */
export const EPSILON = 1e-7;

export type LossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;
export type PerSampleLossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor1D;

function flatten2d(t: tf.Tensor): tf.Tensor2D {
  return t.reshape([t.shape[0], -1]) as tf.Tensor2D;
}

/**
 * Loss of each sample, shape [batch]. Models output probabilities (softmax/sigmoid), not logits.
 * - categoricalCrossentropy: -sum(y * log p) over classes (one-hot y)
 * - sparseCategoricalCrossentropy: y holds class ids ([batch] or [batch, 1])
 * - binaryCrossentropy: mean over outputs of -(y log p + (1 - y) log(1 - p))
 * - meanSquaredError / meanAbsoluteError: mean over outputs
 */
export function perSampleLoss(name: LossName): PerSampleLossFn {
  switch (name) {
    case 'categoricalCrossentropy':
      return (yTrue, yPred) => tf.tidy(() => {
        const p = tf.clipByValue(flatten2d(yPred), EPSILON, 1 - EPSILON);
        return tf.neg(tf.sum(tf.mul(flatten2d(yTrue), tf.log(p)), -1)) as tf.Tensor1D;
      });
    case 'sparseCategoricalCrossentropy':
      return (yTrue, yPred) => tf.tidy(() => {
        const p2 = flatten2d(yPred);
        const ids = tf.cast(yTrue.reshape([-1]), 'int32') as tf.Tensor1D;
        const oneHot = tf.oneHot(ids, p2.shape[1]);
        const p = tf.clipByValue(p2, EPSILON, 1 - EPSILON);
        return tf.neg(tf.sum(tf.mul(oneHot, tf.log(p)), -1)) as tf.Tensor1D;
      });
    case 'binaryCrossentropy':
      return (yTrue, yPred) => tf.tidy(() => {
        const y = flatten2d(yTrue);
        const p = tf.clipByValue(flatten2d(yPred), EPSILON, 1 - EPSILON);
        const ll = tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p))));
        return tf.neg(tf.mean(ll, -1)) as tf.Tensor1D;
      });
    case 'meanSquaredError':
      return (yTrue, yPred) => tf.tidy(() => tf.mean(tf.square(tf.sub(flatten2d(yPred), flatten2d(yTrue))), -1) as tf.Tensor1D);
    case 'meanAbsoluteError':
      return (yTrue, yPred) => tf.tidy(() => tf.mean(tf.abs(tf.sub(flatten2d(yPred), flatten2d(yTrue))), -1) as tf.Tensor1D);
  }
}

/** Mean loss over the batch, as a scalar (differentiable). */
export function lossFunction(name: LossName): LossFn {
  const perSample = perSampleLoss(name);
  return (yTrue, yPred) => tf.tidy(() => tf.mean(perSample(yTrue, yPred)) as tf.Scalar);
}

/** Validation sums of one shard. Add fields of shards together, then call finalizeEval. */
export interface EvalSums {
  /** Samples evaluated. */
  count: number;
  /** Sum of per-sample losses. */
  lossSum: number;
  /** Classification: samples whose predicted class is the true class. */
  correct: number;
  /** Regression: sums over every output value, and how many values. */
  absErrorSum: number;
  squaredErrorSum: number;
  valueCount: number;
}

export function emptyEvalSums(): EvalSums {
  return { count: 0, lossSum: 0, correct: 0, absErrorSum: 0, squaredErrorSum: 0, valueCount: 0 };
}

export function addEvalSums(a: EvalSums, b: EvalSums): EvalSums {
  return {
    count: a.count + b.count,
    lossSum: a.lossSum + b.lossSum,
    correct: a.correct + b.correct,
    absErrorSum: a.absErrorSum + b.absErrorSum,
    squaredErrorSum: a.squaredErrorSum + b.squaredErrorSum,
    valueCount: a.valueCount + b.valueCount,
  };
}

export interface EvalMetrics {
  loss: number;
  accuracy?: number;
  mse?: number;
  mae?: number;
}

export function finalizeEval(sums: EvalSums, task: 'classification' | 'regression'): EvalMetrics {
  const out: EvalMetrics = { loss: sums.count > 0 ? sums.lossSum / sums.count : Number.NaN };
  if (task === 'classification') {
    out.accuracy = sums.count > 0 ? sums.correct / sums.count : Number.NaN;
  } else {
    out.mse = sums.valueCount > 0 ? sums.squaredErrorSum / sums.valueCount : Number.NaN;
    out.mae = sums.valueCount > 0 ? sums.absErrorSum / sums.valueCount : Number.NaN;
  }
  return out;
}

/**
 * Sums for one batch from predictions. Classification: argmax over outputs, or p >= 0.5 for a
 * single sigmoid output. Regression errors are in the (standardized) units the model sees.
 */
export function evaluatePredictions(yTrue: tf.Tensor, yPred: tf.Tensor, loss: LossName, task: 'classification' | 'regression'): EvalSums {
  const n = yTrue.shape[0];
  const parts = tf.tidy(() => {
    const lossSum = tf.sum(perSampleLoss(loss)(yTrue, yPred));
    if (task === 'classification') {
      const p = flatten2d(yPred);
      const width = p.shape[1];
      let hit: tf.Tensor;
      if (width === 1) {
        hit = tf.equal(tf.greaterEqual(p, 0.5), tf.greaterEqual(flatten2d(yTrue), 0.5));
      } else if (loss === 'sparseCategoricalCrossentropy' && yTrue.size === n) {
        hit = tf.equal(tf.argMax(p, -1), tf.cast(yTrue.reshape([-1]), 'int32'));
      } else {
        hit = tf.equal(tf.argMax(p, -1), tf.argMax(flatten2d(yTrue), -1));
      }
      return [lossSum, tf.sum(tf.cast(hit, 'float32'))];
    }
    const diff = tf.sub(flatten2d(yPred), flatten2d(yTrue));
    return [lossSum, tf.sum(tf.abs(diff)), tf.sum(tf.square(diff))];
  });
  const values = parts.map((t) => t.dataSync()[0]);
  tf.dispose(parts);
  const sums = emptyEvalSums();
  sums.count = n;
  sums.lossSum = values[0];
  if (task === 'classification') {
    sums.correct = values[1];
  } else {
    sums.absErrorSum = values[1];
    sums.squaredErrorSum = values[2];
    sums.valueCount = yPred.size;
  }
  return sums;
}

/** Runs the model in inference mode on a batch and returns its validation sums. */
export function evaluateBatch(model: tf.LayersModel, batch: { xs: tf.Tensor; ys: tf.Tensor }, loss: LossName, task: 'classification' | 'regression'): EvalSums {
  const pred = model.predict(batch.xs) as tf.Tensor;
  try {
    return evaluatePredictions(batch.ys, pred, loss, task);
  } finally {
    pred.dispose();
  }
}
