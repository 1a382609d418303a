// Why: after the all-reduce, the averaged gradient already sits in one Float32Array (the fused buffer),
// and tfjs's optimizers want it back as one tensor per variable and then run ~10 kernels per variable
// (Adam: mul, add, square, div, sqrt, assign...), each with its engine bookkeeping. For a small model that
// bookkeeping is the update: on the 9.7 KB small-step job, Adam's applyGradients took ~0.3-0.45 ms of a
// ~1 ms step, and a good share of the ~0.86 MB of JavaScript objects each step allocates (a scavenge every
// ~17 steps). This is the same update as one loop over the fused buffer: the optimizer's own state is
// written in place, where tfjs keeps it, and each weight variable is assigned one new tensor (see
// assignWeights). tfjs's variables stay the source of truth, so checkpoints, state sync and getWeights()
// see exactly what the tfjs optimizer would have left.
// Every operation is rounded to float32 in tfjs's order (Math.fround after each +, *, /, sqrt: double
// rounding is exact for these), so the weights are bit for bit those of tfjs's Adam and SGD.
// Where it does not apply, the worker keeps tfjs's own path: models above FLAT_MAX_PARAMETERS (where
// tfjs's vectorized kernels are faster than this loop), other optimizers, backends other than wasm
// (the native ones keep tensors outside JavaScript; cpu shares arrays between tensors, see storageView),
// the step that creates Adam's moments, and DTRAIN_FLAT_OPTIMIZER=0 (A/B runs).
import * as tf from '@tensorflow/tfjs';
import { envSwitchOn } from '@dtrain/shared/process/env-switch';
import type { FusedGradients } from './fused-gradients';

/** Applies the averaged gradients in `fused.buffer` to the model; false: take tfjs's path this step. */
export interface FlatOptimizerStep {
  readonly kind: 'adam' | 'sgd';
  apply(fused: FusedGradients): boolean;
}

const f = Math.fround;

/**
 * Above this many parameters tfjs's vectorized kernels win: one Adam update on wasm (this machine, one
 * process) took 0.79 ms through tfjs and 0.07 ms flat for 2,433 parameters, but 1.3 against 2.8 ms for
 * 235,146 and 11.9 against 22.4 ms for 1,863,690 (tfjs: ~0.75 ms of bookkeeping + ~2-6 ns per parameter;
 * the loop: ~12 ns per parameter), so they cross near 80,000.
 */
export const FLAT_MAX_PARAMETERS = 1 << 16;

/** The float32 storage of a tensor, to write in place, or null. */
type StorageView = (t: tf.Tensor) => Float32Array | null;

interface WasmData { memoryOffset: number | null; refCount: number; dtype: string }
interface WasmBackendShape { dataIdMap: { get(id: object): WasmData | undefined }; wasm: { HEAPU8: Uint8Array } }

/**
 * wasm only: it copies every tensor's values into its own heap, so a variable's storage is its own unless
 * its refCount says otherwise. The cpu backend keeps the very array a tensor was made from (after the
 * initial broadcast the weights are views of the fused buffer itself), so writing there in place is unsafe.
 */
function storageView(backendName: string): StorageView | null {
  if (backendName !== 'wasm') return null;
  const b = tf.backend() as unknown as WasmBackendShape;
  return (t) => {
    const d = b.dataIdMap.get(t.dataId);
    if (!d || d.dtype !== 'float32' || d.memoryOffset === null || d.refCount !== 1) return null;
    return new Float32Array(b.wasm.HEAPU8.buffer, d.memoryOffset, t.size);
  };
}

/**
 * A view of a variable's storage to write in place. A variable whose storage another tensor shares (made
 * from a tensor that was kept, e.g. by setWeights) first gets a copy of its own, so nothing else changes.
 */
function ownedView(view: StorageView, v: tf.Variable): Float32Array | null {
  const direct = view(v);
  if (direct) return direct;
  if (v.dtype !== 'float32' || v.isDisposed) return null;
  const copy = tf.tensor((v.dataSync() as Float32Array).slice(), v.shape, 'float32');
  v.assign(copy);
  copy.dispose();
  return view(v);
}

interface AdamInternals {
  learningRate: number; beta1: number; beta2: number; epsilon: number;
  accBeta1: tf.Variable; accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ variable: tf.Variable } | undefined)[];
  incrementIterations(): void;
}

interface SgdInternals { learningRate: number; incrementIterations(): void }

/** What both updates share: a buffer per weight variable for its new values, and how they are assigned. */
abstract class FlatUpdate {
  protected readonly next: Float32Array[];
  constructor(protected readonly view: StorageView, fused: FusedGradients) {
    this.next = fused.variables.map((v) => new Float32Array(v.size));
  }

  /** The current values of a weight variable, from its storage (a copy if it is not wasm's own). */
  protected weights(v: tf.Variable): Float32Array {
    return this.view(v) ?? (v.dataSync() as Float32Array);
  }

  /**
   * Each weight variable gets its new values as a new tensor, not in place: the wasm backend's matMul
   * keeps XNNPACK operators with the weights packed at creation, cached by the weights' storage and dropped
   * only when that storage is disposed, so weights written in place would leave the forward pass on stale
   * ones (the first version did, and learned nothing).
   */
  protected assignWeights(variables: readonly tf.Variable[]): void {
    for (let i = 0; i < variables.length; i++) {
      const t = tf.tensor(this.next[i], variables[i].shape, 'float32');
      variables[i].assign(t);
      t.dispose();
    }
  }
}

class FlatAdam extends FlatUpdate implements FlatOptimizerStep {
  readonly kind = 'adam';
  constructor(private readonly opt: AdamInternals, view: StorageView, fused: FusedGradients) {
    super(view, fused);
  }

  apply(fused: FusedGradients): boolean {
    const o = this.opt;
    const n = fused.variables.length;
    const views: [Float32Array, Float32Array, Float32Array][] = [];
    for (let i = 0; i < n; i++) {
      const m = o.accumulatedFirstMoment[i]?.variable;
      const v = o.accumulatedSecondMoment[i]?.variable;
      if (!m || !v) return false; // tfjs creates the moments on its first step
      const w = this.weights(fused.variables[i]);
      const mv = ownedView(this.view, m);
      const vv = ownedView(this.view, v);
      if (!mv || !vv) return false;
      views.push([w, mv, vv]);
    }
    const acc1 = ownedView(this.view, o.accBeta1);
    const acc2 = ownedView(this.view, o.accBeta2);
    if (!acc1 || !acc2) return false;
    const b1 = f(o.beta1);
    const b2 = f(o.beta2);
    const oneMinusB1 = f(1 - o.beta1);
    const oneMinusB2 = f(1 - o.beta2);
    const eps = f(o.epsilon);
    const minusLr = f(-o.learningRate);
    const c1 = f(1 - acc1[0]);
    const c2 = f(1 - acc2[0]);
    const g = fused.buffer;
    for (let i = 0; i < n; i++) {
      const [w, m, v] = views[i];
      const out = this.next[i];
      const offset = fused.layout[i].offset;
      for (let j = 0; j < w.length; j++) {
        const gj = g[offset + j];
        // tfjs: m' = m*b1 + g*(1-b1); v' = v*b2 + g^2*(1-b2); w' = (m'/c1) / (sqrt(v'/c2) + eps) * -lr + w
        const m1 = f(f(m[j] * b1) + f(gj * oneMinusB1));
        const v1 = f(f(v[j] * b2) + f(f(gj * gj) * oneMinusB2));
        const step = f(f(f(m1 / c1) / f(f(Math.sqrt(f(v1 / c2))) + eps)) * minusLr);
        out[j] = f(step + w[j]);
        m[j] = m1;
        v[j] = v1;
      }
    }
    this.assignWeights(fused.variables);
    acc1[0] = f(acc1[0] * b1);
    acc2[0] = f(acc2[0] * b2);
    o.incrementIterations();
    return true;
  }
}

class FlatSgd extends FlatUpdate implements FlatOptimizerStep {
  readonly kind = 'sgd';
  constructor(private readonly opt: SgdInternals, view: StorageView, fused: FusedGradients) {
    super(view, fused);
  }

  apply(fused: FusedGradients): boolean {
    const minusLr = f(-this.opt.learningRate);
    const g = fused.buffer;
    for (let i = 0; i < fused.variables.length; i++) {
      const w = this.weights(fused.variables[i]);
      const out = this.next[i];
      const offset = fused.layout[i].offset;
      // tfjs: w' = (-lr) * g + w
      for (let j = 0; j < w.length; j++) out[j] = f(f(minusLr * g[offset + j]) + w[j]);
    }
    this.assignWeights(fused.variables);
    this.opt.incrementIterations();
    return true;
  }
}

/**
 * Whether the flat update may be used (DTRAIN_FLAT_OPTIMIZER unset or '1'; '0' keeps tfjs's optimizers).
 *
 * Raises:
 *   RangeError: DTRAIN_FLAT_OPTIMIZER is set to anything but '0' or '1'.
 */
export function flatOptimizerEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return envSwitchOn(env, 'DTRAIN_FLAT_OPTIMIZER', { on: 'the default', off: "tfjs's optimizers" });
}

/**
 * The flat update for `optimizer` on the current backend, or null where tfjs's own path applies (another
 * optimizer, a backend other than wasm, more than FLAT_MAX_PARAMETERS, or DTRAIN_FLAT_OPTIMIZER=0).
 *
 * Raises:
 *   RangeError: DTRAIN_FLAT_OPTIMIZER is malformed (see flatOptimizerEnabled).
 */
export function flatOptimizerStep(
  optimizer: tf.Optimizer, fused: FusedGradients, env: NodeJS.ProcessEnv = process.env,
  backendName: string = tf.getBackend(),
): FlatOptimizerStep | null {
  if (!flatOptimizerEnabled(env) || fused.gradientLength > FLAT_MAX_PARAMETERS) return null;
  const view = storageView(backendName);
  if (!view) return null;
  // By constructor: tfjs's optimizers answer instanceof for one another, and Momentum extends SGD.
  const kind = optimizer.constructor;
  if (kind === tf.AdamOptimizer) return new FlatAdam(optimizer as unknown as AdamInternals, view, fused);
  if (kind === tf.SGDOptimizer) return new FlatSgd(optimizer as unknown as SgdInternals, view, fused);
  return null;
}
