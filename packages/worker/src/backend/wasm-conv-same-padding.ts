// wasm conv2d (and depthwise, and their fused forms) with pad 'same' disagrees with cpu when the
// stride exceeds the kernel size (9x9 input, 2x2 kernel, stride 3: max diff ~1.3-3): the kernel
// hands 'same' to XNNPACK, whose own SAME rule differs from tfjs's. Explicit padding with the
// amounts tfjs computes matches cpu on every shape we tried, so 'same' is always rewritten to it.
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, input } from './wasm-kernel-utils';

export const SAME_PADDING_KERNELS = ['Conv2D', 'FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2D'] as const;

export function explicitSamePadding(
  xShape: number[], filterShape: number[], strides: number | [number, number],
  dilations: number | [number, number], depthwise: boolean,
): tf.backend_util.ExplicitPadding {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    strides, dilations, 'same', undefined, depthwise, 'channelsLast');
  const { top, bottom, left, right } = info.padInfo;
  return [[0, 0], [top, bottom], [left, right], [0, 0]];
}

export function makeExplicitSamePadding(original: tf.KernelFunc, name: string): tf.KernelFunc {
  const depthwise = name.includes('Depthwise');
  const kernel = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { inputs, attrs } = args;
    if (attrs.pad !== 'same') return original(args);
    const dataFormat = attrs.dataFormat as string | undefined;
    // NCHW is rejected by the wasm kernels themselves; let them say so.
    if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') return original(args);
    const dilations = (attrs.dilations as number | [number, number] | undefined) ?? 1;
    const pad = explicitSamePadding(input(inputs, 'x', name).shape, input(inputs, 'filter', name).shape, attrs.strides as number | [number, number], dilations, depthwise);
    return original({ ...args, attrs: { ...attrs, pad } });
  };
  return kernel as tf.KernelFunc;
}
