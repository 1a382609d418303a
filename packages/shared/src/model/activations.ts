// Activations as the models apply them. Every activation goes through the same tfjs-layers code
// the built models use (tf.layers.activation / leakyReLU / prelu), so the worked examples in the
// tests check the code that trains, not a re-implementation.
import * as tf from '@tensorflow/tfjs';
import type { ActivationName } from '../job-spec';

/** Slope for x < 0 in leaky ReLU (the common 0.01; tfjs' own default would be 0.3). */
export const LEAKY_RELU_ALPHA = 0.01;

/** Activations that are layers of their own (placed after a linear dense/conv). */
export function isLayerActivation(name: ActivationName): name is 'leakyRelu' | 'prelu' {
  return name === 'leakyRelu' || name === 'prelu';
}

/** tfjs-layers identifier for string activations ('leakyRelu'/'prelu' have none). */
export function tfActivationId(name: ActivationName): Exclude<ActivationName, 'leakyRelu' | 'prelu'> {
  if (isLayerActivation(name)) throw new Error(`activation ${name} is a layer, not an activation string`);
  return name;
}

/** The layer that applies `name` on its own, as buildModel inserts it. */
export function activationLayer(name: ActivationName, layerName?: string): tf.layers.Layer {
  if (name === 'leakyRelu') return tf.layers.leakyReLU({ alpha: LEAKY_RELU_ALPHA, name: layerName });
  // PReLU: a learned slope per unit, initialised to 0 (starts as ReLU), as in tfjs/keras.
  if (name === 'prelu') return tf.layers.prelu({ name: layerName });
  return tf.layers.activation({ activation: name, name: layerName });
}

/** Applies an activation to a tensor (softmax over the last axis). */
export function applyActivation(name: ActivationName, x: tf.Tensor): tf.Tensor {
  const layer = activationLayer(name);
  const y = tf.tidy(() => layer.apply(x) as tf.Tensor);
  // PReLU's slope is a variable that tidy does not free.
  for (const w of layer.weights) w.dispose();
  return y;
}

/** Activation of a vector of numbers (softmax over all of them). */
export function activate(name: ActivationName, values: number[]): number[] {
  const x = tf.tensor2d([values]);
  const y = applyActivation(name, x);
  const out = Array.from(y.dataSync());
  tf.dispose([x, y]);
  return out;
}

export interface NeuronOutput {
  /** Weighted sum plus bias. */
  z: number;
  /** activation(z). */
  output: number;
}

/** One neuron: z = w . x + b, output = activation(z); a dense layer with one unit computes this. */
export function neuronOutput(weights: number[], bias: number, inputs: number[], activation: ActivationName = 'sigmoid'): NeuronOutput {
  if (weights.length !== inputs.length) throw new RangeError(`neuron has ${weights.length} weights but ${inputs.length} inputs`);
  const z = tf.tidy(() => tf.add(tf.dot(tf.tensor1d(weights), tf.tensor1d(inputs)), bias).dataSync()[0]);
  return { z, output: activate(activation, [z])[0] };
}
