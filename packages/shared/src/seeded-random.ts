// Deterministic randomness for data plans and splits: the same (seed, stream) gives the same numbers on
// every machine and Node version, which Math.random cannot promise.

/** splitmix32: a small, well-mixed 32-bit generator; state is one uint32. */
export function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
}

/** Mixes a seed with a stream id (e.g. the epoch) so streams are independent. */
export function deriveSeed(seed: number, stream: number): number {
  let h = (seed ^ 0x5bd1e995) >>> 0;
  h = Math.imul(h ^ (stream >>> 0), 0x27d4eb2d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x165667b1) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

/** In-place Fisher–Yates shuffle. */
export function seededShuffle(values: Uint32Array | number[], seed: number, stream = 0): void {
  const next = splitmix32(deriveSeed(seed, stream));
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = values[i];
    values[i] = values[j];
    values[j] = t;
  }
}

/**
 * `n` values in [-1, 1) from a 32-bit LCG: cheap, identical on every backend and machine, for test and
 * benchmark inputs that two backends must see bit for bit.
 */
export function lcgUniform(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
