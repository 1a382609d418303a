// IEEE 754 half precision (binary16) for the fp16 wire compression of the all-reduce.
//
// Accuracy trade-off (why this is opt-in): a half has an 11-bit significand, so every value put on
// the wire is rounded to ~4.9e-4 relative error, and in the ring reduce-scatter each hop re-quantizes
// the PARTIAL sum it forwards: the final sums carry ~1e-3 relative error (N-1 roundings, plus one for
// the all-gather). Sums are always kept in float32 in the local buffer; only the wire is half.
// Magnitudes above 65504 (rounding to >= 65520) overflow to ±Inf instead of being clipped: the Inf
// then trips dtrain's non-finite gradient check and fails the step loudly rather than corrupting the
// weights silently. Values below ~6e-8 (half the smallest subnormal) flush to ±0.
//
// Hosts are assumed little-endian, like the float32 path, which views wire bytes as Float32Array.

/** Largest finite half. */
export const HALF_MAX = 65504;

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/**
 * float32 bit pattern (as int32) -> half bit pattern, round to nearest even, overflow to ±Inf, NaN
 * kept NaN. Bits are read through an Int32Array: uint32 loads >= 2^31 leave V8's small-integer fast
 * path, which made the encoder ~2x slower.
 */
function halfBitsFromFloatBits(bits: number): number {
  const sign = (bits >> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs >= 0x38800000 && abs < 0x477ff000) {
    // Normal half (the hot path): adding 0xfff plus the kept lsb, then truncating, is round to
    // nearest even; a carry into the exponent is the correct result.
    return sign | ((abs + 0xfff + ((abs >> 13) & 1) - 0x38000000) >> 13);
  }
  if (abs >= 0x477ff000) {
    // >= 65520 rounds past HALF_MAX (65520 itself is a tie that goes to the even Inf), Inf, NaN.
    if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
    return sign | 0x7c00;
  }
  if (abs <= 0x33000000) return sign; // <= 2^-25: rounds to (signed) zero; 2^-25 is a tie to even 0.
  // Subnormal half: value / 2^-24 = mantissa * 2^(e - 126), shift in 14..24.
  const e = abs >>> 23;
  const mant = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - e;
  let h = mant >>> shift;
  const rem = mant & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rem > halfway || (rem === halfway && (h & 1) !== 0)) h++;
  return sign | h;
}

/** Half bit pattern of `value` (rounded to float32 first, as the buffer being reduced holds float32). */
export function toHalfBits(value: number): number {
  f32[0] = value;
  return halfBitsFromFloatBits(i32[0]);
}

function floatFromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Every half bit pattern as float32: decoding is one table load per element. */
export const HALF_TO_FLOAT32 = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = floatFromHalfBits(h);
  return table;
})();

/** Value of a half bit pattern. */
export function fromHalfBits(h: number): number {
  return HALF_TO_FLOAT32[h & 0xffff];
}

/** dst[dstOffset + i] = half(src[srcOffset + i]) for i < length. */
export function encodeHalf(src: Float32Array, srcOffset: number, length: number, dst: Uint16Array, dstOffset = 0): void {
  const bits = new Int32Array(src.buffer, src.byteOffset + srcOffset * 4, length);
  for (let i = 0; i < length; i++) {
    // The normal-range case inlined by hand (signed shifts: '>>>' results leave V8's int32 path).
    const b = bits[i];
    const abs = b & 0x7fffffff;
    dst[dstOffset + i] = abs >= 0x38800000 && abs < 0x477ff000
      ? ((b >> 16) & 0x8000) | ((abs + 0xfff + ((abs >> 13) & 1) - 0x38000000) >> 13)
      : halfBitsFromFloatBits(b);
  }
}

/** Reduce-scatter receive: dst[dstOffset + i] += float(src[i]) for i < length (sum in float32). */
export function addHalf(dst: Float32Array, dstOffset: number, src: Uint16Array, length: number): void {
  const table = HALF_TO_FLOAT32;
  for (let i = 0; i < length; i++) dst[dstOffset + i] += table[src[i]];
}

/** All-gather receive: dst[dstOffset + i] = float(src[i]) for i < length. */
export function copyHalf(dst: Float32Array, dstOffset: number, src: Uint16Array, length: number): void {
  const table = HALF_TO_FLOAT32;
  for (let i = 0; i < length; i++) dst[dstOffset + i] = table[src[i]];
}

/** buffer[offset + i] = float(half(buffer[offset + i])): what a peer decodes from this rank's chunk. */
export function roundToHalfInPlace(buffer: Float32Array, offset: number, length: number): void {
  const table = HALF_TO_FLOAT32;
  const bits = new Int32Array(buffer.buffer, buffer.byteOffset + offset * 4, length);
  for (let i = 0; i < length; i++) buffer[offset + i] = table[halfBitsFromFloatBits(bits[i])];
}

/**
 * Last reduce-scatter add: dst[dstOffset + i] = float(half(dst[dstOffset + i] + float(src[i]))), in
 * one pass; the owner of the full sum keeps exactly what its peers will decode from it.
 */
export function addHalfAndRound(dst: Float32Array, dstOffset: number, src: Uint16Array, length: number): void {
  const table = HALF_TO_FLOAT32;
  const bits = new Int32Array(dst.buffer, dst.byteOffset + dstOffset * 4, length);
  for (let i = 0; i < length; i++) {
    dst[dstOffset + i] += table[src[i]];
    dst[dstOffset + i] = table[halfBitsFromFloatBits(bits[i])];
  }
}
