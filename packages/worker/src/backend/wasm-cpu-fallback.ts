// Kernels that wasm lacks, run by the cpu backend's own kernel on copies of the data: correct
// (cpu is the reference) but as slow as cpu, so only for ops rare in training here.
//  - DepthwiseConv2dNativeBackpropInput / ...BackpropFilter: not registered for wasm in tfjs 4.22
//    (needed to train depthwise/separable conv layers).
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, single } from './wasm-kernel-utils';

export const CPU_FALLBACK_KERNELS = [
  'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
] as const;

export function makeCpuFallback(name: string): tf.KernelFunc {
  const kernel = ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo => {
    const cpu = tf.findBackend('cpu');
    const cpuKernel = tf.getKernel(name, 'cpu');
    if (cpu === null || cpuKernel === undefined) {
      throw new Error(`wasm '${name}' falls back to the cpu backend, but cpu has no '${name}' kernel`);
    }
    const cpuInputs: tf.NamedTensorInfoMap = {};
    try {
      for (const [key, info] of Object.entries(inputs)) {
        if (info == null) continue;
        // wasm readSync returns a copy off the heap, so cpu may keep it.
        const dataId = cpu.write(backend.readSync(info.dataId), info.shape, info.dtype);
        cpuInputs[key] = { dataId, shape: info.shape, dtype: info.dtype };
      }
      const out = single(cpuKernel.kernelFunc({ inputs: cpuInputs, backend: cpu, attrs }), name);
      try {
        return backend.makeOutput(out.shape, out.dtype, undefined, cpu.readSync(out.dataId));
      } finally {
        cpu.disposeData(out.dataId, true);
      }
    } finally {
      for (const info of Object.values(cpuInputs)) if (info !== undefined) cpu.disposeData(info.dataId, true);
    }
  };
  return kernel as tf.KernelFunc;
}
