// float32 <-> IEEE half conversion used by the fp16 wire compression, against known bit patterns.
import { describe, expect, it } from 'vitest';
import { addHalf, addHalfAndRound, copyHalf, encodeHalf, fromHalfBits, HALF_MAX, HALF_TO_FLOAT32, roundToHalfInPlace, toHalfBits } from '../src/collective/half-float';

const SMALLEST_SUBNORMAL = 2 ** -24; // 5.960464477539063e-8

describe('half float', () => {
  it('encodes known values to their IEEE binary16 bit patterns', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-1, 0xbc00], [2, 0x4000], [0.5, 0x3800], [-2.5, 0xc100],
      [HALF_MAX, 0x7bff], [-HALF_MAX, 0xfbff], [65519, 0x7bff], [65520, 0x7c00], [-65520, 0xfc00], [1e6, 0x7c00],
      [Infinity, 0x7c00], [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [SMALLEST_SUBNORMAL, 0x0001], [-SMALLEST_SUBNORMAL, 0x8001], [2 ** -14 - 2 ** -24, 0x03ff], // largest subnormal
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal: to even (0)
      [1.5 * 2 ** -25, 0x0001], [3 * 2 ** -25, 0x0002], // 1.5 units: tie between 1 and 2 -> even 2
      [1e-10, 0x0000], [0.1, 0x2e66], [1 / 3, 0x3555],
      // Ties in the normal range: 1 + 2^-11 sits between 1 (0x3c00) and 1 + 2^-10 (0x3c01).
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [1 + 2 ** -11 + 2 ** -20, 0x3c01],
      [2048 + 1, 0x6800], [2048 + 3, 0x6802], // integers above 2048 step by 2: ties to even
      [2047, 0x67ff], [1024, 0x6400], [-1024, 0xe400],
    ];
    for (const [value, bits] of cases) {
      expect([value, toHalfBits(value).toString(16)]).toEqual([value, bits.toString(16)]);
    }
  });

  it('NaN stays NaN (quiet), both directions', () => {
    const h = toHalfBits(NaN);
    expect(h & 0x7c00).toBe(0x7c00);
    expect(h & 0x3ff).not.toBe(0);
    expect(fromHalfBits(h)).toBeNaN();
    expect(fromHalfBits(0x7c01)).toBeNaN();
    expect(fromHalfBits(0xfe00)).toBeNaN();
  });

  it('decodes the table to exact values', () => {
    expect(fromHalfBits(0x0001)).toBe(SMALLEST_SUBNORMAL);
    expect(fromHalfBits(0x0001)).toBeCloseTo(5.96e-8, 10);
    expect(fromHalfBits(0x7bff)).toBe(65504);
    expect(fromHalfBits(0x3c00)).toBe(1);
    expect(fromHalfBits(0xbc00)).toBe(-1);
    expect(fromHalfBits(0x7c00)).toBe(Infinity);
    expect(fromHalfBits(0xfc00)).toBe(-Infinity);
    expect(Object.is(fromHalfBits(0x8000), -0)).toBe(true);
    expect(HALF_TO_FLOAT32.length).toBe(65536);
  });

  it('round-trips every non-NaN half exactly (decode then encode is the identity)', () => {
    let checked = 0;
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
      if (toHalfBits(HALF_TO_FLOAT32[h]) !== h) throw new Error(`half 0x${h.toString(16)} does not round-trip`);
      checked++;
    }
    expect(checked).toBe(65536 - 2 * 1023);
  });

  it('rounds to the nearest half for random floats (error <= half an ulp)', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 4_000; i++) {
      const x = Math.fround((rand() - 0.5) * 2 ** Math.floor(rand() * 40 - 24));
      const h = toHalfBits(x);
      const y = fromHalfBits(h);
      if (Math.abs(x) >= 65520) continue;
      // The neighbours of h bound the error: no other half is closer.
      const up = fromHalfBits(h + 1);
      const down = h & 0x3ff || h & 0x7c00 ? fromHalfBits(h - 1) : y;
      const err = Math.abs(y - x);
      expect(err).toBeLessThanOrEqual(Math.abs(up - x));
      expect(err).toBeLessThanOrEqual(Math.abs(down - x));
    }
  });

  it('bulk encode, add, copy and in-place rounding agree with the scalar functions', () => {
    const src = Float32Array.from([0, 1, -1, 0.1, 65504, 70000, 3 * 2 ** -25, 1 + 2 ** -11]);
    const half = new Uint16Array(src.length + 2);
    encodeHalf(src, 1, 6, half, 2);
    expect(Array.from(half.subarray(2, 8))).toEqual(Array.from(src.subarray(1, 7), (v) => toHalfBits(v)));
    const dst = new Float32Array(8).fill(10);
    addHalf(dst, 1, half.subarray(2), 6);
    expect(Array.from(dst)).toEqual([10, 11, 9, Math.fround(10 + fromHalfBits(0x2e66)), 65514, Infinity, Math.fround(10 + 2 * SMALLEST_SUBNORMAL), 10]);
    copyHalf(dst, 0, half.subarray(2), 3);
    expect(Array.from(dst.subarray(0, 3))).toEqual([1, -1, fromHalfBits(0x2e66)]);
    const a = Float32Array.from([7, 1, 65000, 0.1]);
    const ah = Uint16Array.from([2 ** -11, 1000, 0.2].map(toHalfBits));
    addHalfAndRound(a, 1, ah, 3);
    // 1 + 2^-11 ties to 1; 65000 + 1000 overflows to Inf; 0.1 + half(0.2) rounds to a half again.
    expect(Array.from(a)).toEqual([7, 1, Infinity, fromHalfBits(toHalfBits(Math.fround(0.1) + fromHalfBits(toHalfBits(0.2))))]);
    const r = Float32Array.from([0.1, 1 + 2 ** -11, 70000, 5]);
    roundToHalfInPlace(r, 1, 2);
    expect(Array.from(r)).toEqual([Math.fround(0.1), 1, Infinity, 5]);
  });
});
