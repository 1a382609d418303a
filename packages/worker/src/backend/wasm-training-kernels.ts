// Kernels that make training on the wasm backend work (conv nets) and fast (matMul gradients).
// Registered once per process, before or after tf.setBackend('wasm').
import * as tf from '@tensorflow/tfjs';
// Side effect: registers the 'wasm' backend and its kernels, which we wrap below.
import '@tensorflow/tfjs-backend-wasm';
import { makeTransposeFirstMatMul } from './wasm-batch-matmul';
import { conv2DBackpropFilterWasm } from './wasm-conv2d-backprop-filter';
import { makeConv2DBackpropInputWasm } from './wasm-conv2d-backprop-input';
import { SAME_PADDING_KERNELS, makeExplicitSamePadding } from './wasm-conv-same-padding';
import { CPU_FALLBACK_KERNELS, makeCpuFallback } from './wasm-cpu-fallback';
import { maxPoolGradWasm } from './wasm-max-pool-grad';
import { replaceWasmKernel, requireOriginal, restoreWasmKernel } from './wasm-kernel-utils';

export const TRANSPOSE_FREE_MATMUL_KERNELS = ['BatchMatMul', '_FusedMatMul'] as const;

/** Every kernel name registerWasmTrainingKernels may replace or add. */
export const WASM_TRAINING_KERNELS: readonly string[] = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  ...SAME_PADDING_KERNELS,
  'MaxPoolGrad',
  ...CPU_FALLBACK_KERNELS,
  ...TRANSPOSE_FREE_MATMUL_KERNELS,
];

export interface WasmTrainingKernelOptions {
  /** Transpose explicitly before matMul instead of passing transpose flags to wasm. Default true;
   * false only to measure the difference. */
  transposeFreeMatMul?: boolean;
}

/**
 * Registers the wasm training kernels. Idempotent: a kernel already replaced is left alone (the
 * original is never wrapped twice). Returns the names registered by this call.
 */
export function registerWasmTrainingKernels(options: WasmTrainingKernelOptions = {}): string[] {
  const registered: string[] = [];
  const add = (name: string, make: (original: tf.KernelConfig | null) => tf.KernelFunc): void => {
    if (replaceWasmKernel(name, make)) registered.push(name);
  };

  add('Conv2DBackpropFilter', (original) => {
    // A future tfjs with its own kernel: keep theirs.
    if (original !== null) return original.kernelFunc;
    return conv2DBackpropFilterWasm as unknown as tf.KernelFunc;
  });
  add('Conv2DBackpropInput', (original) => makeConv2DBackpropInputWasm(requireOriginal(original, 'Conv2DBackpropInput')));
  for (const name of SAME_PADDING_KERNELS) {
    add(name, (original) => makeExplicitSamePadding(requireOriginal(original, name), name));
  }
  add('MaxPoolGrad', () => maxPoolGradWasm as unknown as tf.KernelFunc);
  for (const name of CPU_FALLBACK_KERNELS) add(name, () => makeCpuFallback(name));
  if (options.transposeFreeMatMul !== false) {
    for (const name of TRANSPOSE_FREE_MATMUL_KERNELS) {
      add(name, (original) => makeTransposeFirstMatMul(requireOriginal(original, name), name));
    }
  }
  return registered;
}

/** Restores the original wasm kernels (all, or the named ones). Returns the names restored. */
export function unregisterWasmTrainingKernels(names: readonly string[] = WASM_TRAINING_KERNELS): string[] {
  return names.filter((name) => restoreWasmKernel(name));
}
