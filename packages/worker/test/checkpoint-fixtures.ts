// Shared pieces for the checkpoint tests: a small seeded MLP, deterministic data and a training
// step that hands gradients to the optimizer in trainable-weight order (as the worker does).
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainingState } from '../src/checkpoint/api';

export const INPUT_DIM = 6;
export const OUTPUT_DIM = 3;
export const BATCH = 16;

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

export function buildMlp(seed = 1, hidden = 12): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [INPUT_DIM], units: hidden, activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.dense({ units: OUTPUT_DIM, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

/** Deterministic batch number `i` (an LCG, not Math.random). */
export function batch(i: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  let s = (i + 1) * 2654435761 >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const x = Float32Array.from({ length: BATCH * INPUT_DIM }, next);
  const y = Float32Array.from({ length: BATCH * OUTPUT_DIM }, next);
  return { x: tf.tensor2d(x, [BATCH, INPUT_DIM]), y: tf.tensor2d(y, [BATCH, OUTPUT_DIM]) };
}

export function trainStep(model: tf.LayersModel, optimizer: tf.Optimizer, i: number): void {
  const { x, y } = batch(i);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  tf.tidy(() => {
    optimizer.minimize(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor).asScalar(), false, vars);
  });
  tf.dispose([x, y]);
}

export function train(model: tf.LayersModel, optimizer: tf.Optimizer, from: number, steps: number): void {
  for (let i = from; i < from + steps; i++) trainStep(model, optimizer, i);
}

/** Model weights as raw bits, in model.weights order. getWeights() returns the live variables. */
export function weightBits(model: tf.LayersModel): Uint32Array[] {
  return model.getWeights().map((t) => new Uint32Array((t.dataSync() as Float32Array).slice().buffer));
}

export function state(globalStep: number): TrainingState {
  return {
    globalStep,
    epoch: 1,
    stepInEpoch: globalStep % 7,
    planState: { seed: 42, cursor: globalStep * BATCH, order: [3, 1, 2] },
    rngState: { s: [1, 2, 3, 4] },
    jobName: 'ckpt-test',
    worldSize: 2,
    createdAt: '2026-11-25T00:00:00.000Z',
  };
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'dtrain-ckpt-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
