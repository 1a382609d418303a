// Small seeded PRNG for splits and generated data. Math.random is never used for anything a
// rank must agree on: every rank and the coordinator derive the same numbers from the same seed.

/** mulberry32: 32-bit state, fast, good enough for shuffles and synthetic data (not crypto). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed derived from a base seed and a label, so sub-streams do not overlap. */
export function deriveSeed(base: number, ...parts: Array<number | string>): number {
  // FNV-1a over the decimal/text form: stable across platforms and Node versions.
  let h = 0x811c9dc5;
  const text = [String(base >>> 0), ...parts.map(String)].join('/');
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Fisher-Yates permutation of 0..n-1. */
export function seededPermutation(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  shuffleInPlace(out, seed);
  return out;
}

export function shuffleInPlace(arr: { length: number; [i: number]: number }, seed: number): void {
  const rand = mulberry32(seed);
  for (let i = arr.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const tmp = arr[i];
    arr[i] = arr[j];
    arr[j] = tmp;
  }
}

/** Standard normal sample from two uniforms (Box-Muller). */
export function gaussian(rand: () => number): number {
  const u = Math.max(rand(), Number.EPSILON);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
