// Conv2DBackpropFilter for wasm, which tfjs 4.22 lacks (so no conv net trains on wasm without it).
//
//   dW[kh,kw,ci,co] = sum_{b,i,j} xPadded[b, i*sh + kh, j*sw + kw, ci] * dy[b,i,j,co]
//
// is itself a convolution: with ci as the batch, b as the channels, dy as the filter and the
// forward strides as dilations. So: pad x explicitly, transpose x to [ci,H,W,b] and dy to
// [oh,ow,b,co], run the wasm conv2d ('valid', stride 1, dilation = stride), transpose back.
import * as tf from '@tensorflow/tfjs';
import { type ConvPad, type KernelArgs, dispose, input, runWasmKernel, transpose } from './wasm-kernel-utils';

export function conv2DBackpropFilterWasm({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const x = input(inputs, 'x', 'Conv2DBackpropFilter');
  const dy = input(inputs, 'dy', 'Conv2DBackpropFilter');
  const strides = attrs.strides as number | [number, number];
  const pad = attrs.pad as ConvPad;
  const dataFormat = (attrs.dataFormat as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC';
  const dimRoundingMode = attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined;
  const filterShape = attrs.filterShape as [number, number, number, number];
  if (dataFormat !== 'NHWC') {
    throw new Error(`wasm Conv2DBackpropFilter supports dataFormat 'NHWC' only, got '${dataFormat}'`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  // Rows/cols of the padded input that the forward conv actually read.
  const needH = (outHeight - 1) * strideHeight + filterHeight;
  const needW = (outWidth - 1) * strideWidth + filterWidth;
  const bottom = needH - inHeight - top;
  const right = needW - inWidth - left;

  let xp: tf.TensorInfo | null = null;
  if (top > 0 || left > 0 || bottom > 0 || right > 0) {
    xp = runWasmKernel('PadV2', { x }, {
      paddings: [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]],
      constantValue: 0,
    }, backend);
  }
  // 'valid' with a stride that does not divide the input leaves trailing rows/cols unread: crop.
  let xc: tf.TensorInfo | null = null;
  const src = xp ?? x;
  if (src.shape[1] !== needH || src.shape[2] !== needW) {
    xc = runWasmKernel('Slice', { x: src }, { begin: [0, 0, 0, 0], size: [batchSize, needH, needW, inChannels] }, backend);
  }
  const xT = transpose(xc ?? src, [3, 1, 2, 0], backend);
  dispose(backend, xp, xc);
  const dyT = transpose(dy, [1, 2, 0, 3], backend);
  const conv = runWasmKernel('Conv2D', { x: xT, filter: dyT }, {
    strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [strideHeight, strideWidth],
  }, backend);
  dispose(backend, xT, dyT);
  // conv is [ci, filterHeight, filterWidth, co].
  const out = transpose(conv, [1, 2, 0, 3], backend);
  dispose(backend, conv);
  return out;
}
