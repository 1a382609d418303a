// The ring's reduction kernel (f32-add-kernel.ts): the wasm SIMD path must give exactly the float32
// sums of a scalar reference (Math.fround of each add), for sources in ordinary memory and in its
// own receive buffers, at every length around its block and lane boundaries; and into a reduction
// buffer in wasm memory (in place), from receive buffers beside it and from ordinary memory.
import { describe, expect, it } from 'vitest';
import { f32AddKernel, jsF32AddKernel, type F32AddKernel } from '../src/collective/f32-add-kernel';

function values(n: number, seed: number, scale: number): Float32Array {
  let x = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = ((x / 2 ** 32) - 0.5) * scale;
  }
  return out;
}

/** Index of the first element that differs bit-wise (-1: none); cheap to report on failure. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return x.length === y.length ? -1 : x.length;
}

function reference(dst: Float32Array, offset: number, src: Float32Array): Float32Array {
  const out = dst.slice();
  for (let i = 0; i < src.length; i++) out[offset + i] = Math.fround(out[offset + i] + src[i]);
  return out;
}

const LENGTHS = [0, 1, 3, 7, 8, 9, 255, 256, 257, 1023, 16_384, 16_391, 40_000, 100_003];
const kernels: Array<[string, F32AddKernel]> = [['default', f32AddKernel()], ['js', jsF32AddKernel()]];

describe.each(kernels)('f32 add kernel (%s)', (_name, kernel) => {
  it.each(LENGTHS)('adds %i elements exactly, source in ordinary memory, unaligned destination offset', (n) => {
    const offset = 5;
    const dst = values(n + 11, n + 1, 1e4);
    const src = values(n, n + 7, 1e-2); // tiny addends: every add rounds, so a wrong rounding shows
    const expected = reference(dst, offset, src);
    kernel.addInto(dst, offset, src);
    expect(firstDifference(dst, expected)).toBe(-1);
  });

  it.each(LENGTHS)('adds %i elements exactly from its own receive buffer', (n) => {
    const slot = kernel.allocateReceiveBuffer(n * 4 + 16);
    try {
      const src = new Float32Array(slot.buffer.buffer, slot.buffer.byteOffset + 8, n);
      src.set(values(n, n + 3, 3));
      const dst = values(n + 2, n + 5, 100);
      const expected = reference(dst, 2, src);
      kernel.addInto(dst, 2, src);
      expect(firstDifference(dst, expected)).toBe(-1);
    } finally {
      slot.release();
    }
  });
});

describe.each(kernels)('reduction buffers (%s kernel)', (_name, kernel) => {
  it('are zeroed, and adds into them are exact from ordinary memory and from receive buffers made after them', () => {
    const n = 100_003;
    const buffer = kernel.allocateReductionBuffer(n + 13);
    expect(buffer).toHaveLength(n + 13);
    expect(buffer.every((x) => x === 0)).toBe(true);
    buffer.set(values(n + 13, 11, 1e4));
    const slot = kernel.allocateReceiveBuffer(n * 4 + 8);
    try {
      // The wasm kernel hands out the receive slots of the newest reduction buffer's memory.
      expect(slot.buffer.buffer === buffer.buffer).toBe(kernel.kind === 'wasm-simd');
      for (const n2 of LENGTHS) {
        const fromSlot = new Float32Array(slot.buffer.buffer, slot.buffer.byteOffset, n2);
        fromSlot.set(values(n2, n2 + 17, 1e-2));
        const ordinary = values(n2, n2 + 19, 3);
        const view = buffer.subarray(7); // a view at an unaligned element, as a caller may pass
        for (const src of [fromSlot, ordinary]) {
          const expected = reference(view, 5, src);
          kernel.addInto(view, 5, src);
          expect(firstDifference(view, expected)).toBe(-1);
        }
      }
    } finally {
      slot.release();
    }
  });
});

describe('receive buffers', () => {
  it('are 8-aligned, distinct while held, reused after release, and ordinary memory when the slots run out', () => {
    const kernel = f32AddKernel();
    const held = Array.from({ length: 6 }, () => kernel.allocateReceiveBuffer(1024));
    for (const h of held) expect(h.buffer.byteOffset % 8).toBe(0);
    for (const [i, h] of held.entries()) {
      h.buffer.fill(i + 1);
    }
    held.forEach((h, i) => expect(h.buffer.every((b) => b === i + 1)).toBe(true));
    const first = held[0].buffer;
    for (const h of held) h.release();
    held[0].release(); // twice: no double free
    const again = [kernel.allocateReceiveBuffer(1024), kernel.allocateReceiveBuffer(1024)];
    if (kernel.kind === 'wasm-simd') {
      expect(again.some((a) => a.buffer.buffer === first.buffer)).toBe(true);
      expect(again[0].buffer.byteOffset).not.toBe(again[1].buffer.byteOffset);
    }
    for (const a of again) a.release();
  });

  it('the wasm SIMD kernel is the default here (Node 20 has WebAssembly SIMD)', () => {
    expect(f32AddKernel().kind).toBe(process.env.DTRAIN_F32_KERNEL === 'js' ? 'js' : 'wasm-simd');
  });
});
