// wasm matMul with a transpose flag is 7-11x slower than an explicit transpose followed by a plain
// matMul (64x784^T . 64x256: ~15 ms vs ~1.4 ms here), and every matMul gradient sets one of the
// flags. These wrappers transpose explicitly and hand the flag-free call to the original kernel.
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, dispose, input, transpose } from './wasm-kernel-utils';

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

/**
 * Wraps an original BatchMatMul or _FusedMatMul kernel function (both take inputs a, b and attrs
 * transposeA, transposeB; extra inputs/attrs such as bias and activation pass through).
 */
export function makeTransposeFirstMatMul(original: tf.KernelFunc, name: string): tf.KernelFunc {
  const kernel = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { inputs, backend, attrs } = args;
    const transposeA = attrs.transposeA === true;
    const transposeB = attrs.transposeB === true;
    if (!transposeA && !transposeB) return original(args);
    const a = input(inputs, 'a', name);
    const b = input(inputs, 'b', name);
    const aT = transposeA ? transpose(a, swapLastTwo(a.shape.length), backend) : null;
    const bT = transposeB ? transpose(b, swapLastTwo(b.shape.length), backend) : null;
    try {
      return original({
        inputs: { ...inputs, a: aT ?? a, b: bT ?? b },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      dispose(backend, aT, bT);
    }
  };
  return kernel as tf.KernelFunc;
}
