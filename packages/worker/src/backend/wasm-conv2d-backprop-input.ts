// Conv2DBackpropInput for wasm, stride 1: the shipped kernel is a plain C loop (~2 GFLOP/s here,
// the largest share of a CNN training step once the other kernels were fixed). With stride 1 the
// input gradient is a 'full' convolution of dy with the filter rotated 180 degrees and its in/out
// channels swapped, which runs on the XNNPACK conv2d. Strided cases go to the original kernel
// (they would need zeros inserted between dy's rows and columns).
import * as tf from '@tensorflow/tfjs';
import { type ConvPad, type KernelArgs, dispose, input, runWasmKernel, transpose } from './wasm-kernel-utils';

export function makeConv2DBackpropInputWasm(original: tf.KernelFunc): tf.KernelFunc {
  const kernel = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { inputs, backend, attrs } = args;
    const dy = input(inputs, 'dy', 'Conv2DBackpropInput');
    const filter = input(inputs, 'filter', 'Conv2DBackpropInput');
    const dataFormat = (attrs.dataFormat as string | undefined) ?? 'NHWC';
    if (dataFormat !== 'NHWC') return original(args);
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape as [number, number, number, number], filter.shape as [number, number, number, number],
      attrs.strides as number | [number, number], 1, attrs.pad as ConvPad,
      attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined, false, 'channelsLast');
    if (info.strideHeight !== 1 || info.strideWidth !== 1) return original(args);
    const { top, bottom, left, right } = info.padInfo;
    const fullPad = [[0, 0], [info.filterHeight - 1 - top, info.filterHeight - 1 - bottom],
      [info.filterWidth - 1 - left, info.filterWidth - 1 - right], [0, 0]];
    // Padding wider than the filter crops dy instead; rare, leave it to the original.
    if (fullPad.some(([a, b]) => a < 0 || b < 0)) return original(args);

    const flipped = runWasmKernel('Reverse', { x: filter }, { dims: [0, 1] }, backend);
    const swapped = transpose(flipped, [0, 1, 3, 2], backend);
    dispose(backend, flipped);
    try {
      return runWasmKernel('Conv2D', { x: dy, filter: swapped }, {
        strides: [1, 1], pad: fullPad, dataFormat: 'NHWC', dilations: [1, 1],
      }, backend);
    } finally {
      dispose(backend, swapped);
    }
  };
  return kernel as tf.KernelFunc;
}
