// MaxPoolGrad for wasm. The kernel shipped in tfjs 4.22 seeds its running max with
// numeric_limits<float>::min() (the smallest positive float, not the lowest), so a window whose values
// are all negative routes the gradient to the wrong cell (max diff ~1 vs cpu even for 'valid',
// stride 1). The cpu kernel is right but slow (~300 ms of a 390 ms CNN step here), so this is a
// plain loop over the wasm heap with the cpu kernel's semantics: the first maximum in the window
// (strict >) gets the gradient; padded cells never do.
import * as tf from '@tensorflow/tfjs';
import { type ConvPad, type KernelArgs, input } from './wasm-kernel-utils';

export function maxPoolGradWasm({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const dy = input(inputs, 'dy', 'MaxPoolGrad');
  const x = input(inputs, 'input', 'MaxPoolGrad');
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error(`wasm MaxPoolGrad supports float32 only, got ${x.dtype}`);
  const info = tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number], attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number], 1, attrs.pad as ConvPad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const filterHeight = info.effectiveFilterHeight;
  const filterWidth = info.effectiveFilterWidth;
  const { top, left } = info.padInfo;

  // Allocate first: makeOutput may grow the wasm memory, which detaches earlier heap views.
  const dx = backend.makeOutput(x.shape, 'float32');
  const dxv = backend.typedArrayFromHeap(dx) as Float32Array;
  const xv = backend.typedArrayFromHeap(x) as Float32Array;
  const dyv = backend.typedArrayFromHeap(dy) as Float32Array;
  dxv.fill(0);

  const best = new Float32Array(channels);
  const bestAt = new Int32Array(channels);
  const rowStride = inWidth * channels;
  const batchStride = inHeight * rowStride;
  let dyAt = 0;
  for (let b = 0; b < batchSize; b++) {
    const xBatch = b * batchStride;
    for (let yR = 0; yR < outHeight; yR++) {
      const rCorner = yR * strideHeight - top;
      const rMin = Math.max(0, rCorner);
      const rMax = Math.min(inHeight, rCorner + filterHeight);
      for (let yC = 0; yC < outWidth; yC++) {
        const cCorner = yC * strideWidth - left;
        const cMin = Math.max(0, cCorner);
        const cMax = Math.min(inWidth, cCorner + filterWidth);
        best.fill(Number.NEGATIVE_INFINITY);
        bestAt.fill(-1);
        // Row-major window order with strict '>' keeps the first maximum, as the cpu kernel does.
        for (let r = rMin; r < rMax; r++) {
          for (let c = cMin; c < cMax; c++) {
            const at = xBatch + r * rowStride + c * channels;
            for (let d = 0; d < channels; d++) {
              const v = xv[at + d];
              if (v > best[d]) {
                best[d] = v;
                bestAt[d] = at + d;
              }
            }
          }
        }
        for (let d = 0; d < channels; d++) {
          if (bestAt[d] >= 0) dxv[bestAt[d]] += dyv[dyAt + d];
        }
        dyAt += channels;
      }
    }
  }
  return dx;
}
