// The fused gradient buffer: every trainable variable's gradient, in one fixed order, in one
// Float32Array, followed by a few control slots that ride the same all-reduce. The order is the
// model's trainableWeights order on every rank and across checkpoint restores, because optimizers
// such as Adam keep their state by position in the gradient list.
//
// Control slots (summed across ranks by the all-reduce, so every rank sees the same values):
//   STOP_VOTES      ranks that have a stop request pending: > 0 means all stop after this step
//   CHECKPOINT_VOTES ranks asked to checkpoint now: > 0 means rank 0 writes one after this step
//   NONFINITE_VOTES ranks whose loss was NaN/Inf: > 0 means nobody applies this step (a non-finite
//                   gradient needs no vote: it makes the summed buffer non-finite on every rank)
//   REFORM_VOTES    ranks told that membership changes (Command.Reform): > 0 means every rank applies
//                   this step and then leaves the generation together (Horovod's check_host_updates)
// Agreement this way costs no extra round trip and can never split the world across steps.
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { f32AddKernel } from './collective/f32-add-kernel';

export const CONTROL_SLOTS = 4;
export const SLOT_STOP_VOTES = 0;
export const SLOT_CHECKPOINT_VOTES = 1;
export const SLOT_NONFINITE_VOTES = 2;
export const SLOT_REFORM_VOTES = 3;

export interface GradientLayoutEntry {
  /** tf.Variable name: the key the optimizer uses. */
  variable: string;
  /** The layer owning the variable (for per-layer gradient norms). */
  layer: string;
  shape: number[];
  offset: number;
  length: number;
}

export class FusedGradients {
  readonly layout: GradientLayoutEntry[];
  /** Number of gradient elements (excludes control slots). */
  readonly gradientLength: number;
  /** gradients ++ control slots: the buffer that is all-reduced. */
  readonly buffer: Float32Array;

  constructor(readonly variables: tf.Variable[], layerOf: (variableIndex: number) => string) {
    let offset = 0;
    this.layout = variables.map((v, i) => {
      const length = v.size;
      const entry = { variable: v.name, layer: layerOf(i), shape: [...v.shape], offset, length };
      offset += length;
      return entry;
    });
    this.gradientLength = offset;
    // In wasm memory, so the all-reduce adds into it without copying it (f32-add-kernel.ts).
    this.buffer = f32AddKernel().allocateReductionBuffer(offset + CONTROL_SLOTS);
  }

  static forModel(model: tf.LayersModel): FusedGradients {
    const weights = model.trainableWeights;
    const layerOfWeight = new Map<string, string>();
    for (const layer of model.layers) {
      for (const w of layer.trainableWeights) layerOfWeight.set(w.name, layer.name);
    }
    const variables = weights.map((w) => w.read() as tf.Variable);
    return new FusedGradients(variables, (i) => layerOfWeight.get(weights[i].name) ?? weights[i].name.split('/')[0]);
  }

  /** Copies gradients (keyed by variable name) into the buffer, in layout order; disposes nothing. */
  fuse(grads: Record<string, tf.Tensor>): void {
    for (const e of this.layout) {
      const g = grads[e.variable];
      if (!g) throw new Error(`no gradient for variable ${e.variable}`);
      this.buffer.set(g.dataSync() as Float32Array, e.offset);
    }
  }

  /** Writes a rank's whole parameter vector (weights, not gradients) for the initial broadcast. */
  fuseValues(): void {
    for (let i = 0; i < this.variables.length; i++) {
      this.buffer.set(this.variables[i].dataSync() as Float32Array, this.layout[i].offset);
    }
  }

  /** A short digest of every trainable weight, in layout order: equal on every rank while replicas agree. */
  weightsDigest(): string {
    const hash = createHash('sha256');
    for (const v of this.variables) {
      const data = v.dataSync() as Float32Array;
      hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    return hash.digest('hex').slice(0, 16);
  }

  /** Assigns the buffer's contents to the variables (after the initial broadcast). */
  assignValues(): void {
    tf.tidy(() => {
      for (let i = 0; i < this.variables.length; i++) {
        const e = this.layout[i];
        this.variables[i].assign(tf.tensor(this.buffer.subarray(e.offset, e.offset + e.length), e.shape));
      }
    });
  }

  /**
   * Scales the gradient part in place (the average is the sum over the world size) and reports
   * whether every element is finite. A NaN or Inf on any rank survives the sum, so every rank
   * reaches the same verdict from its own copy, in the pass it makes anyway.
   */
  scaleGradients(factor: number): boolean {
    const b = this.buffer;
    let check = 0;
    for (let i = 0; i < this.gradientLength; i++) {
      const v = b[i] * factor;
      b[i] = v;
      check += v - v; // 0 for finite v, NaN otherwise
    }
    return check === 0;
  }

  /** Gradient tensors in layout order for optimizer.applyGradients; the caller disposes them. */
  namedGradients(): { name: string; tensor: tf.Tensor }[] {
    return this.layout.map((e) => ({
      name: e.variable,
      tensor: tf.tensor(this.buffer.subarray(e.offset, e.offset + e.length), e.shape),
    }));
  }

  setControl(slot: number, value: number): void {
    this.buffer[this.gradientLength + slot] = value;
  }

  control(slot: number): number {
    return this.buffer[this.gradientLength + slot];
  }

}
